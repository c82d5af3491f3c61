"""Issue 19: asking for a reset does the same work in the request whether or not the address has an account.

Sending the email in the request made a known address answer more slowly than an unknown one (a timing oracle).
The rule tested here: both requests run the same SQL statements (values aside) and queue the same task, which
holds no address in clear; the worker then emails the known address only.
"""

from __future__ import annotations

import re

from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test import Client, TransactionTestCase, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from circlekeeper.accounts.models import User
from circlekeeper.testing import make_network, make_organization, make_user

RESET = reverse("accounts:password_reset")
KNOWN = "known.person@harbor.example"
UNKNOWN = "unknown.person@harbor.example"
DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def shape(sql: str) -> str:
    """A statement without its values: quoted text and numbers become '?'."""
    return re.sub(r"\b\d+(\.\d+)?\b", "?", re.sub(r"'(?:[^']|'')*'", "?", sql))


@override_settings(TASKS=DATABASE_QUEUE, PUBLIC_URL="https://circles.example.org")
class ResetRequestSameWorkTests(TransactionTestCase):
    def setUp(self) -> None:
        network = make_network(name="Test Network", slug="test-network")
        harbor = make_organization(network=network, name="Harbor", slug="harbor", case_prefix="HAR")
        make_user(KNOWN, organization=harbor)

    def ask(self, email: str, address: str) -> tuple[list[str], int]:
        with CaptureQueriesContext(connection) as queries:
            response = Client().post(RESET, {"email": email}, REMOTE_ADDR=address)
        return [shape(query["sql"]) for query in queries.captured_queries], response.status_code

    maxDiff = None

    def test_a_known_and_an_unknown_address_run_the_same_queries_and_queue_the_same_task(self):
        self.ask(
            "first.asker@harbor.example", "203.0.113.3"
        )  # the audit chain's head is made once, by the first
        known_queries, known_status = self.ask(KNOWN, "203.0.113.1")
        unknown_queries, unknown_status = self.ask(UNKNOWN, "203.0.113.2")

        self.assertEqual((known_status, unknown_status), (200, 200))
        self.assertEqual(known_queries, unknown_queries)
        users_table = User._meta.db_table
        self.assertFalse(
            [q for q in known_queries if users_table in q and "SELECT" in q.upper()],
            "the request looked the address up itself",
        )
        self.assertEqual(mail.outbox, [], "nothing is sent inside the request")

        queued = list(DBTaskResult.objects.order_by("enqueued_at"))
        self.assertEqual(len(queued), 3)
        self.assertEqual(
            {task.task_path for task in queued}, {"circlekeeper.accounts.tasks.send_reset_link_task"}
        )
        for task in queued:
            self.assertNotIn("harbor.example", str(task.args_kwargs), "the typed address waits sealed")

    def test_the_worker_emails_the_known_address_only(self):
        self.ask(KNOWN, "203.0.113.1")
        self.ask(UNKNOWN, "203.0.113.2")
        call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)

        self.assertEqual([message.to for message in mail.outbox], [[KNOWN]])
        self.assertIn("https://circles.example.org/accounts/password-reset/", str(mail.outbox[0].body))
        results = DBTaskResult.objects.all()
        self.assertEqual({task.status for task in results}, {"SUCCESSFUL"})
        self.assertEqual({str(task.return_value) for task in results}, {"None"}, "the result tells nothing")

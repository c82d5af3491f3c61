"""A database outage is answered with a 503 that says so, never a 500 (issue 20: a PostgreSQL restart during
load recovers with no manual action; requests fail briefly with 503, then succeed).

The outage is made with Django's own query hook (connection.execute_wrapper): every query, or one insert,
fails as a restarting database makes it fail. The rule from the issue: 503 with Retry-After, nothing
half-saved; any other database error is still a 500.
"""

from __future__ import annotations

from django.db import IntegrityError, OperationalError, connection
from django.urls import reverse

from circlekeeper.cases.models import CaseNote
from circlekeeper.testing import PersonaTestCase


def outage_message() -> str:
    # What each database says when it is away: PostgreSQL restarting; SQLite locked past the busy timeout.
    return (
        "database is locked" if connection.vendor == "sqlite" else "server closed the connection unexpectedly"
    )


def database_down(execute, sql, params, many, context):
    raise OperationalError(outage_message())


class DatabaseOutagePageTests(PersonaTestCase):
    def setUp(self) -> None:
        self.login(self.alice)
        self.client.raise_request_exception = False

    def test_a_page_while_the_database_is_down_is_a_503_that_says_so(self):
        with connection.execute_wrapper(database_down):
            response = self.client.get(reverse("cases:detail", args=[self.case.pk]))
        self.assertEqual(response.status_code, 503)
        self.assertEqual(response["Retry-After"], "5")
        self.assertContains(response, "cannot reach its database", status_code=503)
        self.assertEqual(self.client.get(reverse("cases:detail", args=[self.case.pk])).status_code, 200)

    def test_a_note_sent_while_the_database_fails_is_a_503_and_nothing_is_half_saved(self):
        def note_insert_fails(execute, sql, params, many, context):
            if sql.startswith('INSERT INTO "cases_casenote"'):
                raise OperationalError(outage_message())
            return execute(sql, params, many, context)

        with connection.execute_wrapper(note_insert_fails):
            response = self.client.post(
                reverse("cases:note_add", args=[self.case.pk]), {"text": "Called back."}
            )
        self.assertEqual(response.status_code, 503)
        self.assertFalse(CaseNote.objects.filter(case=self.case).exists())

    def test_a_missing_column_on_sqlite_is_a_bug_and_still_a_500(self):
        if connection.vendor != "sqlite":
            self.skipTest("PostgreSQL reports a missing column as a ProgrammingError (next test's kind)")

        def upgraded_badly(execute, sql, params, many, context):
            raise OperationalError("no such column: cases_case.progress_views_disagree")

        with connection.execute_wrapper(upgraded_badly):
            response = self.client.get(reverse("cases:detail", args=[self.case.pk]))
        self.assertEqual(response.status_code, 500)

    def test_any_other_database_error_is_still_a_500(self):
        def broken(execute, sql, params, many, context):
            raise IntegrityError("a bug, not an outage")

        with connection.execute_wrapper(broken):
            response = self.client.get(reverse("cases:detail", args=[self.case.pk]))
        self.assertEqual(response.status_code, 500)

"""Reads are audited off the chain head's lock (issue 23 item 3; SECURITY.md 16-17: every access is logged, in a
tamper-evident log).

A page view that changes nothing writes one pending event (its own hash, no lock on the chain head), in the
request's transaction; a sealer chains the pending events in order. Nothing may be lost, reordered or edited
unseen on the way.
"""

from __future__ import annotations

import io

from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_tasks import TaskResultStatus

from circlekeeper.accounts.audit import READ_ACTIONS, Action, audit
from circlekeeper.lib import tasks as lib_tasks
from circlekeeper.lib.audit import (
    AuditChainHead,
    AuditEvent,
    AuditLogIsAppendOnly,
    PendingAuditEvent,
    record,
    seal,
    verify_chain,
)
from circlekeeper.lib.worker import queue_periodic_tasks
from circlekeeper.testing import PersonaTestCase, audit_log

CASES = reverse("cases:list")
AUDIT = reverse("accounts:audit")


def head_sequence() -> int:
    head = AuditChainHead.objects.filter(pk=1).first()
    return head.sequence if head else 0


class ReadsArePendingTests(PersonaTestCase):
    def test_a_read_writes_one_pending_event_and_leaves_the_chain_head_alone(self):
        self.login(self.alice)
        record(None, action="test.start")  # the head exists and is at 1
        before = head_sequence()
        with CaptureQueriesContext(connection) as queries:
            response = self.client.get(CASES)
        self.assertEqual(response.status_code, 200)
        pending = list(PendingAuditEvent.objects.all())
        self.assertEqual([(p.action, p.actor_id) for p in pending], [("case.list", self.alice.pk)])
        self.assertEqual(pending[0].hash, pending[0].compute_hash())
        self.assertEqual(head_sequence(), before)
        self.assertFalse(AuditEvent.objects.filter(action="case.list").exists())
        self.assertFalse(
            [q["sql"] for q in queries.captured_queries if "lib_auditchainhead" in q["sql"]],
            "a read must not read, lock or move the chain head",
        )

    def test_changes_and_refusals_are_chained_at_once(self):
        self.login(self.alice)
        self.client.post(reverse("cases:note_add", args=[self.case.pk]), {"text": "A note."})
        self.assertTrue(AuditEvent.objects.filter(action="case.note.add").exists())
        self.client.get(reverse("cases:detail", args=[self.valley_case.pk]))
        self.assertTrue(AuditEvent.objects.filter(outcome="refused").exists())
        self.assertFalse(PendingAuditEvent.objects.exclude(outcome="ok").exists())

    def test_exports_downloads_prints_and_lookups_are_not_reads(self):
        for action in (
            Action.EVALUATION_EXPORT,
            Action.FUNDER_REPORT,
            Action.CALENDAR_FEED,
            Action.PLAN_PRINT,
            Action.AGREEMENT_PRINT,
            Action.KNOWN_LOOKUP,
            Action.API_CALL,
            Action.NOTE_ADD,
        ):
            self.assertNotIn(action, READ_ACTIONS)
        for action in (Action.CASE_LIST, Action.CASE_VIEW, Action.INTAKE_VIEW, Action.AUDIT_VIEW):
            self.assertIn(action, READ_ACTIONS)

    def test_a_read_whose_request_is_rolled_back_leaves_no_event(self):
        request = RequestFactory().post("/cases/")
        request.user = self.alice
        request.session = {}

        class Failed(Exception):
            pass

        with self.assertRaises(Failed), transaction.atomic():
            audit(request, action=Action.CASE_VIEW, object_type="case", object_id=self.case.pk)
            self.assertEqual(PendingAuditEvent.objects.count(), 1)
            raise Failed
        self.assertEqual(PendingAuditEvent.objects.count(), 0)
        self.assertEqual(audit_log().filter(action="case.view").count(), 0)

    def test_pending_events_are_append_only(self):
        self.login(self.alice)
        self.client.get(CASES)
        event = PendingAuditEvent.objects.get()
        event.action = "case.edited"
        with self.assertRaises(AuditLogIsAppendOnly):
            event.save()
        with self.assertRaises(AuditLogIsAppendOnly):
            event.delete()
        with self.assertRaises(AuditLogIsAppendOnly):
            PendingAuditEvent.objects.all().delete()
        with self.assertRaises(AuditLogIsAppendOnly):
            PendingAuditEvent.objects.update(action="x")


class SealingTests(PersonaTestCase):
    def read_three(self) -> list[PendingAuditEvent]:
        self.login(self.alice)
        self.client.get(CASES)
        self.client.get(reverse("cases:detail", args=[self.case.pk]))
        self.client.get(reverse("cases:intake", args=[self.case.pk]))
        return list(PendingAuditEvent.objects.order_by("id"))

    def test_sealing_chains_the_reads_in_order_keeping_their_times_and_the_chain_verifies(self):
        record(None, action="test.start")
        pending = self.read_three()
        self.assertEqual([p.action for p in pending], ["case.list", "case.view", "case.intake.view"])
        self.assertEqual(seal(), 3)
        self.assertFalse(PendingAuditEvent.objects.exists())
        chained = list(AuditEvent.objects.order_by("sequence"))
        self.assertEqual(
            [(e.sequence, e.action) for e in chained],
            [(1, "test.start"), (2, "case.list"), (3, "case.view"), (4, "case.intake.view")],
        )
        self.assertEqual([e.occurred_at for e in chained[1:]], [p.occurred_at for p in pending])
        for before, after in zip(chained, chained[1:], strict=False):
            self.assertEqual(after.prev_hash, before.hash)
        report = verify_chain()
        self.assertTrue(report.intact, report.reason)
        self.assertEqual((report.events, report.pending), (4, 0))
        self.assertEqual(seal(), 0)

    def test_a_chained_write_seals_the_earlier_reads_first(self):
        self.read_three()
        self.client.post(reverse("cases:note_add", args=[self.case.pk]), {"text": "A note."})
        self.assertFalse(PendingAuditEvent.objects.exists())
        self.assertEqual(
            list(AuditEvent.objects.order_by("sequence").values_list("action", flat=True)),
            ["case.list", "case.view", "case.intake.view", "case.note.add"],
        )
        self.assertTrue(verify_chain().intact)

    def test_an_edited_pending_event_is_reported_and_never_sealed(self):
        pending = self.read_three()
        # An edit in SQL, around the model's refusal.
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {PendingAuditEvent._meta.db_table} SET object_id = %s WHERE id = %s",  # noqa: S608
                ["999", pending[1].pk],
            )
        report = verify_chain()
        self.assertFalse(report.intact)
        self.assertEqual((report.pending, report.pending_edited), (3, (pending[1].pk,)))
        with self.assertRaises(CommandError) as refused:
            call_command("verify_audit", stdout=io.StringIO())
        self.assertIn(str(pending[1].pk), str(refused.exception))
        # Sealing would hash the edit anew and hide it: the edited event stays pending, still reported.
        self.assertEqual(seal(), 2)
        self.assertEqual(list(PendingAuditEvent.objects.values_list("pk", flat=True)), [pending[1].pk])
        self.assertFalse(AuditEvent.objects.filter(object_id="999").exists())
        self.assertEqual(verify_chain().pending_edited, (pending[1].pk,))

    def test_verify_audit_reports_the_pending_count_and_seals_with_seal(self):
        self.read_three()
        out = io.StringIO()
        call_command("verify_audit", stdout=out)
        self.assertIn("3 pending events", out.getvalue())
        self.assertFalse(AuditEvent.objects.exists())
        out = io.StringIO()
        call_command("verify_audit", "--seal", stdout=out)
        self.assertIn("Sealed 3 pending events", out.getvalue())
        self.assertIn("3 events, chain intact.", out.getvalue())
        self.assertIn("0 pending events", out.getvalue())

    def test_the_worker_task_seals_and_queues_its_next_run(self):
        self.read_three()
        result = lib_tasks.seal_audit_task.call()
        self.assertEqual(result, 3)
        self.assertFalse(PendingAuditEvent.objects.exists())
        self.assertEqual(AuditEvent.objects.count(), 3)
        waiting = list(lib_tasks.pending_seals())
        self.assertEqual(len(waiting), 1)
        self.assertEqual(waiting[0].status, TaskResultStatus.READY)
        # Never more than one run waiting.
        lib_tasks.seal_audit_task.call()
        self.assertEqual(lib_tasks.pending_seals().count(), 1)
        self.assertLessEqual(lib_tasks.SEAL_SECONDS, 15)

    def test_the_worker_queues_the_sealer_when_it_starts(self):
        queue_periodic_tasks()
        queue_periodic_tasks()
        [waiting] = lib_tasks.pending_seals()
        self.assertLessEqual((waiting.run_after - timezone.now()).total_seconds(), lib_tasks.SEAL_SECONDS)

    def test_the_audit_page_shows_the_reads_just_made(self):
        self.login(self.alice)
        self.client.get(reverse("cases:detail", args=[self.case.pk]))
        self.login(self.pat)
        response = self.client.get(AUDIT)
        actions = [row.event.action for row in response.context["rows"]]
        self.assertIn("case.view", actions)

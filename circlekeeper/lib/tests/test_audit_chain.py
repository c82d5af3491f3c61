from __future__ import annotations

import io
from collections.abc import Callable

from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import RequestFactory, TestCase

from circlekeeper.lib.audit import GENESIS, AuditChainHead, AuditEvent, AuditLogIsAppendOnly, Outcome, record


def verify(*args: str) -> str:
    out = io.StringIO()
    call_command("verify_audit", *args, stdout=out)
    return out.getvalue()


def sql(statement: str, *params: str | int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


class AuditChainTests(TestCase):
    def record_events(self, n: int) -> list[AuditEvent]:
        return [
            record(
                None, action="case.view", object_type="case", object_id=i, organization_id=7, roles=["keeper"]
            )
            for i in range(1, n + 1)
        ]

    def assert_broken_at(self, sequence: int, why: str, *args: str) -> None:
        with self.assertRaises(CommandError) as raised:
            verify(*args)
        self.assertEqual(raised.exception.returncode, 1)
        self.assertIn(f"broken at event {sequence}:", str(raised.exception))
        self.assertIn(why, str(raised.exception))

    def test_each_event_carries_the_hash_of_the_one_before(self):
        events = self.record_events(3)
        self.assertEqual([e.sequence for e in events], [1, 2, 3])
        self.assertEqual(events[0].prev_hash, GENESIS)
        self.assertEqual(events[1].prev_hash, events[0].hash)
        self.assertEqual(events[2].prev_hash, events[1].hash)
        head = AuditChainHead.objects.get()
        self.assertEqual((head.sequence, head.hash), (3, events[2].hash))

    def test_recorded_events_verify_as_intact(self):
        events = self.record_events(5)
        output = verify()
        self.assertIn("5 events, chain intact.", output)
        self.assertIn(f"Anchor: 5:{events[-1].hash}", output)

    def test_an_empty_log_is_intact(self):
        self.assertIn("0 events, chain intact.", verify())

    def test_the_hash_survives_the_round_trip_through_the_database(self):
        self.record_events(1)
        stored = AuditEvent.objects.get(sequence=1)
        self.assertEqual(stored.compute_hash(), stored.hash)

    def test_editing_an_event_in_sql_is_reported_at_its_sequence(self):
        self.record_events(5)
        sql("UPDATE lib_auditevent SET object_id = %s WHERE sequence = %s", "999", 3)
        self.assert_broken_at(3, "edited")

    def test_editing_only_the_time_is_caught_too(self):
        self.record_events(3)
        sql("UPDATE lib_auditevent SET occurred_at = %s WHERE sequence = %s", "2020-01-01 00:00:00", 2)
        self.assert_broken_at(2, "edited")

    def test_deleting_an_event_in_sql_is_reported_as_a_gap(self):
        self.record_events(5)
        sql("DELETE FROM lib_auditevent WHERE sequence = %s", 3)
        self.assert_broken_at(3, "missing")

    def test_deleting_the_newest_events_is_caught_by_the_chain_head(self):
        self.record_events(5)
        sql("DELETE FROM lib_auditevent WHERE sequence >= %s", 4)
        self.assert_broken_at(4, "missing at the end")

    def test_an_event_renumbered_with_a_fresh_hash_no_longer_follows_the_one_before(self):
        self.record_events(5)
        fourth = AuditEvent.objects.get(sequence=4)
        sql("DELETE FROM lib_auditevent WHERE sequence = %s", 3)
        fourth.sequence = 3
        sql(
            "UPDATE lib_auditevent SET sequence = %s, hash = %s WHERE sequence = %s",
            3,
            fourth.compute_hash(),
            4,
        )
        self.assert_broken_at(3, "does not follow event 2")

    def test_a_chain_rewritten_from_the_start_is_caught_by_an_anchor_kept_elsewhere(self):
        events = self.record_events(3)
        anchor = f"3:{events[-1].hash}"
        # Someone with SQL access edits event 2, then recomputes every hash after it and the head.
        sql("UPDATE lib_auditevent SET object_id = %s WHERE sequence = %s", "999", 2)
        prev = AuditEvent.objects.get(sequence=1).hash
        for sequence in (2, 3):
            event = AuditEvent.objects.get(sequence=sequence)
            event.prev_hash = prev
            prev = event.compute_hash()
            sql(
                "UPDATE lib_auditevent SET prev_hash = %s, hash = %s WHERE sequence = %s",
                event.prev_hash,
                prev,
                sequence,
            )
        sql("UPDATE lib_auditchainhead SET hash = %s", prev)
        self.assertIn("3 events, chain intact.", verify())
        self.assert_broken_at(3, "anchor", "--anchor", anchor)

    def test_an_anchor_that_still_matches_passes(self):
        events = self.record_events(4)
        self.assertIn("4 events, chain intact.", verify("--anchor", f"2:{events[1].hash}"))

    def test_small_batches_walk_the_whole_chain(self):
        self.record_events(7)
        self.assertIn("7 events, chain intact.", verify("--batch-size", "2"))
        sql("UPDATE lib_auditevent SET action = %s WHERE sequence = %s", "case.list", 6)
        self.assert_broken_at(6, "edited", "--batch-size", "2")

    def test_the_orm_refuses_to_change_or_delete_events(self):
        event = self.record_events(1)[0]
        event.object_id = "999"
        attempts: dict[str, Callable[[], object]] = {
            "save": event.save,
            "delete": event.delete,
            "queryset update": lambda: AuditEvent.objects.filter(sequence=1).update(object_id="999"),
            "manager update": lambda: AuditEvent.objects.update(object_id="999"),
            "queryset delete": lambda: AuditEvent.objects.all().delete(),
            "bulk update": lambda: AuditEvent.objects.bulk_update([event], ["object_id"]),
            "bulk create": lambda: AuditEvent.objects.bulk_create([AuditEvent(sequence=2)]),
        }
        for name, attempt in attempts.items():
            with self.subTest(name), self.assertRaises(AuditLogIsAppendOnly):
                attempt()
        self.assertEqual(AuditEvent.objects.get().object_id, "1")
        self.assertIn("1 events, chain intact.", verify())

    def test_it_takes_the_address_browser_and_path_from_the_request_never_the_query(self):
        request = RequestFactory().get(
            "/cases/5/%00x/?q=planted-secret",
            REMOTE_ADDR="2001:db8:0:0:0:0:0:1",
            HTTP_USER_AGENT="Browser\x00/1.0\n" + "x" * 500,
        )
        event = record(request, action="case.view")
        self.assertEqual(event.ip_address, "2001:db8::1")
        self.assertEqual(event.path, "/cases/5/x/")
        self.assertTrue(event.user_agent.startswith("Browser/1.0x"))
        self.assertEqual(len(event.user_agent), 200)
        self.assertIsNone(event.actor_id)
        self.assertEqual(event.actor_label, "")
        self.assertIn("1 events, chain intact.", verify())

    def test_it_refuses_events_without_an_action_or_with_an_unknown_outcome(self):
        with self.assertRaises(ValueError):
            record(None, action="")
        with self.assertRaises(ValueError):
            record(None, action="case.view", outcome="maybe")
        self.assertFalse(AuditEvent.objects.exists())

    def test_outcomes_are_kept(self):
        record(None, action="login.failure", outcome=Outcome.FAILED)
        record(None, action="access.refused", outcome=Outcome.REFUSED)
        self.assertEqual(
            list(AuditEvent.objects.order_by("sequence").values_list("outcome", flat=True)),
            ["failed", "refused"],
        )

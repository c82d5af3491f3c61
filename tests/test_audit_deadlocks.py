"""No deadlocks between the audit chain head and row locks on cases (issue 20, lib/audit.py explains the design).

PostgreSQL only: SQLite has one write lock for the whole database, so no lock cycle can form there (CI runs this
file on PostgreSQL). Real commits and one database connection per thread (TransactionTestCase).

The rule the tests hold the code to, from the issue: two colleagues adding notes while a third schedules meetings
on the same case all succeed. What PostgreSQL does (its manual, "Explicit Locking"): a foreign-key check takes
FOR KEY SHARE on the row referred to, which conflicts with FOR UPDATE but not with FOR NO KEY UPDATE, and a
deferred foreign key is checked at COMMIT unless SET CONSTRAINTS ALL IMMEDIATE asks for it sooner.
"""

from __future__ import annotations

import datetime
import threading
import unittest
from collections.abc import Callable

from django.db import connection, transaction
from django.test import TransactionTestCase
from django.urls import reverse
from django.utils import timezone

from circlekeeper.accounts.models import Role
from circlekeeper.cases.models import Case, CaseNote, TeamRole
from circlekeeper.cases.services import add_case_note
from circlekeeper.lib import audit as lib_audit
from circlekeeper.protocol import services as protocol
from circlekeeper.protocol.models import Meeting, MeetingKind
from circlekeeper.protocol.tests.walk import Walk
from circlekeeper.testing import make_case, make_organization, make_user, sign_in


def _in_thread(target: Callable[[], None], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - every failure is counted by the test
            errors.append(exc)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@unittest.skipUnless(connection.vendor == "postgresql", "lock cycles need row locks: PostgreSQL only")
class AuditDeadlockTests(TransactionTestCase):
    def setUp(self) -> None:
        self.harbor = make_organization(name="Harbor", case_prefix="HAR")
        self.alice = make_user("alice@harbor.example", organization=self.harbor, roles=(Role.KEEPER,))
        self.ada = make_user("ada@harbor.example", organization=self.harbor, roles=(Role.SAFETY_ADVOCATE,))
        self.sam = make_user("sam@harbor.example", organization=self.harbor, roles=(Role.SUPERVISOR,))
        self.case = make_case(
            self.harbor,
            team=(
                (self.alice, TeamRole.KEEPER),
                (self.ada, TeamRole.SAFETY_ADVOCATE),
                (self.sam, TeamRole.SUPERVISOR),
            ),
        )

    def _event(self, action: str) -> None:
        lib_audit.record(
            None, action=action, object_type="case", object_id=self.case.pk, organization_id=self.harbor.pk
        )

    def test_a_note_whose_event_holds_the_head_never_deadlocks_with_a_case_locked_for_update(self):
        # The interleaving of the issue, made certain with two events: the note's request has appended its event
        # (holding the head) when a colleague's request locks the case FOR UPDATE and then appends its own.
        note_has_head, case_locked = threading.Event(), threading.Event()
        errors: list[BaseException] = []

        def add_note() -> None:
            with transaction.atomic():
                add_case_note(case=self.case, author=self.alice, text="She would like to meet in spring.")
                self._event("note.add")
                note_has_head.set()
                case_locked.wait(timeout=1.5)  # then COMMIT, which once checked the note's case reference

        def change_case() -> None:
            assert note_has_head.wait(timeout=20)
            with transaction.atomic():
                Case.objects.select_for_update().get(pk=self.case.pk)  # FOR UPDATE, as any service might
                case_locked.set()
                self._event("meeting.schedule")

        threads = [_in_thread(add_note, errors), _in_thread(change_case, errors)]
        for thread in threads:
            thread.join(timeout=60)
        self.assertEqual([str(e) for e in errors], [])
        self.assertEqual(CaseNote.objects.filter(case=self.case).count(), 1)
        self.assertEqual(
            list(lib_audit.AuditEvent.objects.order_by("sequence").values_list("action", flat=True)),
            ["note.add", "meeting.schedule"],
        )
        self.assertTrue(lib_audit.verify_chain().intact)

    def test_adding_a_note_never_waits_for_a_colleague_who_holds_the_case(self):
        # Scheduling a meeting locks the case row; a note's foreign-key check on that row must not wait for it.
        walk = Walk(self.case, self.alice, self.sam)
        walk.to_preparation()
        holding, release = threading.Event(), threading.Event()
        errors: list[BaseException] = []

        def schedule() -> None:
            with transaction.atomic():
                protocol.schedule_meeting(
                    case=self.case,
                    kind=MeetingKind.PREPARATION,
                    starts_at=timezone.now() + datetime.timedelta(days=2),
                    invitees=[walk.survivor],
                    by=self.alice,
                )
                holding.set()
                release.wait(timeout=20)

        scheduler = _in_thread(schedule, errors)
        try:
            self.assertTrue(holding.wait(timeout=20))
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '2s'")
                add_case_note(case=self.case, author=self.ada, text="Called the survivor back.")
                self._event("note.add")
        finally:
            release.set()
            scheduler.join(timeout=60)
        self.assertEqual(errors, [])
        self.assertEqual(CaseNote.objects.filter(case=self.case).count(), 1)

    def test_two_colleagues_add_notes_while_a_third_schedules_meetings_and_nothing_fails(self):
        walk = Walk(self.case, self.alice, self.sam)
        walk.to_preparation()
        clients = {}
        for user in (self.alice, self.ada, self.sam):
            clients[user.pk] = self.client_class()
            sign_in(clients[user.pk], user)
        notes_url = reverse("cases:note_add", args=[self.case.pk])
        meetings_url = reverse("protocol:meetings", args=[self.case.pk])
        rounds = 12
        meetings_before = Meeting.objects.filter(case=self.case).count()
        statuses: list[int] = []
        errors: list[BaseException] = []
        start = threading.Barrier(3)
        day = timezone.localdate() + datetime.timedelta(days=3)

        def add_notes(user_pk: int) -> None:
            start.wait(timeout=20)
            for i in range(rounds):
                statuses.append(clients[user_pk].post(notes_url, {"text": f"note {user_pk}-{i}"}).status_code)

        def schedule_meetings() -> None:
            start.wait(timeout=20)
            for i in range(rounds):
                answer = clients[self.sam.pk].post(
                    meetings_url,
                    {
                        "kind": MeetingKind.PREPARATION,
                        "day": day.isoformat(),
                        "time": f"{8 + i:02d}:00",
                        "invitees": [walk.survivor.pk],
                    },
                )
                statuses.append(answer.status_code)

        threads = [
            _in_thread(lambda: add_notes(self.alice.pk), errors),
            _in_thread(lambda: add_notes(self.ada.pk), errors),
            _in_thread(schedule_meetings, errors),
        ]
        for thread in threads:
            thread.join(timeout=300)
        self.assertEqual([str(e) for e in errors], [])
        self.assertEqual(statuses, [302] * len(statuses))
        self.assertEqual(len(statuses), 3 * rounds)
        # Verified against the database: every success is there once.
        self.assertEqual(CaseNote.objects.filter(case=self.case).count(), 2 * rounds)
        self.assertEqual(Meeting.objects.filter(case=self.case).count() - meetings_before, rounds)
        self.assertTrue(lib_audit.verify_chain().intact)

import datetime
import io
import signal
from unittest import mock

import time_machine
from django.core.management import call_command
from django.db import connection
from django.test import TransactionTestCase, override_settings
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from circlekeeper.cases import retention
from circlekeeper.cases.models import Case, CaseNote, CaseStatus, PurgeTombstone, RetentionPolicy
from circlekeeper.cases.tasks import PurgeFailed, next_purge_at, pending_purges, purge_expired_task
from circlekeeper.testing import PersonaTestCase, make_case, make_organization, make_user


def local(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime.datetime:
    """A wall-clock time in the server's time zone (settings.TIME_ZONE)."""
    return datetime.datetime(year, month, day, hour, minute, second, tzinfo=timezone.get_default_timezone())


class NextRunTests(PersonaTestCase):
    def test_a_run_at_3_queues_the_next_for_3_the_next_day(self):
        self.assertEqual(next_purge_at(local(2026, 6, 15, 3, 0, 0)), local(2026, 6, 16, 3, 0))
        self.assertEqual(next_purge_at(local(2026, 6, 15, 3, 0, 41)), local(2026, 6, 16, 3, 0))
        self.assertEqual(next_purge_at(local(2026, 6, 15, 23, 59)), local(2026, 6, 16, 3, 0))

    def test_before_3_the_next_run_is_the_same_night(self):
        # e.g. a run held up past midnight by a stopped worker: the next night is not skipped.
        self.assertEqual(next_purge_at(local(2026, 6, 16, 0, 30)), local(2026, 6, 16, 3, 0))

    @override_settings(TIME_ZONE="America/Los_Angeles")
    def test_it_is_3_local_time_across_a_change_of_clocks(self):
        # Clocks go forward at 02:00 on 8 March 2026 in California: 03:00 is 10:00 UTC on the 8th, 11:00 the day before.
        self.assertEqual(
            next_purge_at(local(2026, 3, 7, 3, 0, 5)),
            datetime.datetime(2026, 3, 8, 10, 0, tzinfo=datetime.UTC),
        )
        self.assertEqual(
            next_purge_at(local(2026, 3, 6, 3, 0, 5)),
            datetime.datetime(2026, 3, 7, 11, 0, tzinfo=datetime.UTC),
        )


class PurgeTaskTests(PersonaTestCase):
    def setUp(self):
        RetentionPolicy.objects.create(organization=self.harbor, narrative_months=1)
        self.closed = make_case(
            self.harbor,
            status=CaseStatus.CLOSED,
            opened_on=datetime.date(2026, 1, 5),
            closed_on=datetime.date(2026, 4, 1),
            summary="What happened.",
        )
        CaseNote.objects.create(organization=self.harbor, case=self.closed, author=self.alice, text="a note")

    def test_it_purges_as_of_today_and_queues_exactly_one_run_for_3_tomorrow(self):
        with time_machine.travel(local(2026, 6, 15, 3, 0, 20), tick=False):
            counts = purge_expired_task.call()
        self.assertEqual(counts, {"organizations": 1, "cases": 0, "summaries": 1, "notes": 1})
        self.assertIsNone(Case.objects.get(pk=self.closed.pk).summary)
        self.assertEqual(PurgeTombstone.objects.filter(organization=self.harbor).count(), 1)
        [waiting] = pending_purges()
        self.assertEqual(waiting.run_after, local(2026, 6, 16, 3, 0))
        self.assertEqual(waiting.task_path, "circlekeeper.cases.tasks.purge_expired_task")

    def test_it_never_leaves_two_runs_waiting(self):
        for minute in (0, 5, 10):
            with time_machine.travel(local(2026, 6, 15, 3, minute), tick=False):
                purge_expired_task.call()
        self.assertEqual(pending_purges().count(), 1)
        self.assertEqual(PurgeTombstone.objects.count(), 1, "the second and third runs found nothing left")

    @override_settings(TIME_ZONE="America/Los_Angeles")
    def test_its_date_is_the_local_date_not_the_utc_one(self):
        # 20:00 on 30 April in California is already 1 May in UTC; the rule's month is counted from 30 April.
        with time_machine.travel(local(2026, 4, 30, 20, 0), tick=False):
            purge_expired_task.call()
        self.assertEqual(Case.objects.get(pk=self.closed.pk).summary, "What happened.")


def refuse_to_delete(case):
    """Fault injection: the database refuses to delete this one case, as a lost connection or a bug would."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION refuse_delete() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected fault'; "
                "END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER refuse_delete BEFORE DELETE ON cases_case FOR EACH ROW "
                f"WHEN (OLD.id = {int(case.pk)}) EXECUTE FUNCTION refuse_delete()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER refuse_delete BEFORE DELETE ON cases_case WHEN OLD.id = {int(case.pk)} "
                "BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
            )


class FailedPurgeTests(PersonaTestCase):
    def closed(self, organization, closed_on):
        return make_case(
            organization,
            status=CaseStatus.CLOSED,
            opened_on=datetime.date(2015, 1, 5),
            closed_on=closed_on,
            summary="What happened.",
        )

    def test_an_organization_whose_purge_fails_keeps_everything_and_the_others_are_still_purged(self):
        RetentionPolicy.objects.create(organization=self.harbor, narrative_months=1, case_years=1)
        RetentionPolicy.objects.create(organization=self.valley, case_years=1)
        deletable = self.closed(self.harbor, datetime.date(2020, 1, 1))
        refusing = self.closed(self.harbor, datetime.date(2020, 1, 2))
        narrative = self.closed(self.harbor, datetime.date(2026, 1, 1))
        valley_case = self.closed(self.valley, datetime.date(2020, 1, 1))
        refuse_to_delete(refusing)
        # One case per batch, so the first case is already deleted when the second one fails.
        with (
            mock.patch.object(retention, "BATCH_SIZE", 1),
            time_machine.travel(local(2026, 6, 15, 3, 0, 20), tick=False),
            self.assertRaisesMessage(PurgeFailed, f"[{self.harbor.pk}]"),
        ):
            purge_expired_task.call()
        # Harbor's purge was rolled back as a whole, narratives included; Valley's went through.
        self.assertEqual(Case.objects.filter(pk__in=[deletable.pk, refusing.pk]).count(), 2)
        self.assertEqual(Case.objects.get(pk=narrative.pk).summary, "What happened.")
        self.assertFalse(PurgeTombstone.objects.filter(organization=self.harbor).exists())
        self.assertFalse(Case.objects.filter(pk=valley_case.pk).exists())
        self.assertEqual(PurgeTombstone.objects.filter(organization=self.valley).count(), 1)
        # And the nightly purges go on.
        self.assertEqual(pending_purges().get().run_after, local(2026, 6, 16, 3, 0))


class ScheduleTasksCommandTests(PersonaTestCase):
    def test_it_queues_the_first_run_once_however_often_it_runs(self):
        with time_machine.travel(local(2026, 6, 15, 14, 0), tick=False):
            out = io.StringIO()
            call_command("schedule_tasks", stdout=out)
            call_command("schedule_tasks", stdout=out)
        self.assertEqual(pending_purges().count(), 1)
        self.assertEqual(pending_purges().get().run_after, local(2026, 6, 16, 3, 0))
        self.assertIn("queued for 2026-06-16 03:00", out.getvalue())
        self.assertIn("already queued for 2026-06-16 03:00", out.getvalue())

    def test_a_finished_or_failed_run_does_not_count_as_waiting(self):
        with time_machine.travel(local(2026, 6, 15, 14, 0), tick=False):
            call_command("schedule_tasks", stdout=io.StringIO())
            DBTaskResult.objects.update(status=TaskResultStatus.FAILED)
            call_command("schedule_tasks", stdout=io.StringIO())
        self.assertEqual(pending_purges().count(), 1)


class WorkerRunsThePurgeTests(TransactionTestCase):
    """The real worker (`db_worker --batch`) picks the queued purge up at 03:00, not before, and it requeues itself."""

    def setUp(self):
        self.organization = make_organization(name="Harbor", slug="harbor", case_prefix="HAR")
        keeper = make_user(organization=self.organization, roles=("keeper",))
        RetentionPolicy.objects.create(organization=self.organization, case_years=1)
        self.old = make_case(
            self.organization,
            status=CaseStatus.CLOSED,
            opened_on=datetime.date(2024, 1, 5),
            closed_on=datetime.date(2025, 6, 15),
            summary="What happened.",
        )
        CaseNote.objects.create(organization=self.organization, case=self.old, author=keeper, text="a note")
        # The worker installs its own signal handlers; give the test run back its own.
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
        self.addCleanup(lambda: [signal.signal(sig, handler) for sig, handler in handlers.items()])

    def work(self):
        call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)

    def test_the_worker_runs_it_at_3_and_it_queues_the_next_night(self):
        with time_machine.travel(local(2026, 6, 14, 12, 0), tick=False):
            call_command("schedule_tasks", stdout=io.StringIO())
        with time_machine.travel(local(2026, 6, 15, 2, 59), tick=False):
            self.work()
        self.assertTrue(Case.objects.filter(pk=self.old.pk).exists(), "too early: it must wait for 03:00")
        self.assertEqual(DBTaskResult.objects.get().status, TaskResultStatus.READY)

        with time_machine.travel(local(2026, 6, 15, 3, 0, 30), tick=False):
            self.work()
        self.assertFalse(Case.objects.filter(pk=self.old.pk).exists())
        self.assertEqual(
            list(
                PurgeTombstone.objects.values_list(
                    "rule", "cases_purged", "narratives_purged", "notes_purged"
                )
            ),
            [("cases_after_years=1", 1, 1, 1)],
        )
        done = DBTaskResult.objects.get(status=TaskResultStatus.SUCCESSFUL)
        self.assertEqual(done.return_value, {"organizations": 1, "cases": 1, "summaries": 1, "notes": 1})
        [waiting] = pending_purges()
        self.assertEqual(waiting.run_after, local(2026, 6, 16, 3, 0))

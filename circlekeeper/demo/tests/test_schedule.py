"""The demo's evaluation history: most cases enrolled, answers at the past timepoints scored by the definitions,
enough survivors at T0 and T3 for dashboards (n >= 11) with felt safety rising, some missed, and a second run that
adds nothing."""

import io

import time_machine
from django.core.management import call_command
from django.test import TestCase

from circlekeeper.accounts.models import Organization
from circlekeeper.cases.models import CaseTask, TaskKind
from circlekeeper.demo.schedule import seed_schedule
from circlekeeper.evaluation.dataset import Scope, scores_frame, timepoints_frame
from circlekeeper.evaluation.models import Enrollment, Timepoint, TimepointStatus
from circlekeeper.evaluation.tests.schedule_helpers import local
from circlekeeper.instruments.models import Response, ResponseStatus

NOW = local(2026, 6, 15, 10)


class ScheduleDemoTests(TestCase):
    made: int

    @classmethod
    def setUpTestData(cls):
        # The clock ticks: the protocol demo needs each of its records later than the one before. seed_demo
        # calls seed_schedule itself, last.
        with time_machine.travel(NOW, tick=True):
            call_command("seed_demo", "--force", stdout=io.StringIO())
        cls.made = Enrollment.objects.count()

    def test_most_demo_cases_are_enrolled_and_a_second_run_adds_nothing(self):
        self.assertGreater(self.made, 80)
        counts = (
            Enrollment.objects.count(),
            Timepoint.objects.count(),
            Response.objects.count(),
            CaseTask.objects.count(),
        )
        with time_machine.travel(NOW, tick=False):
            self.assertEqual(seed_schedule(NOW), 0)
        self.assertEqual(
            counts,
            (
                Enrollment.objects.count(),
                Timepoint.objects.count(),
                Response.objects.count(),
                CaseTask.objects.count(),
            ),
        )

    def test_each_organization_has_enough_survivors_at_t0_and_t3_and_felt_safety_rises(self):
        for organization in Organization.objects.filter(slug__in=["harbor", "valley", "bridge"]):
            frame = scores_frame(
                Scope.for_organization(organization),
                instrument="outcome_safety",
                score="felt_safety",
                roles=["survivor"],
            )
            by_point = frame.groupby("timepoint")["value"]
            counts, means = by_point.count(), by_point.mean()
            self.assertGreaterEqual(counts["T0"], 11, organization.slug)
            self.assertGreaterEqual(counts["T3"], 11, organization.slug)
            self.assertGreater(means["T3"], means["T0"] + 0.3, organization.slug)
            statuses = timepoints_frame(Scope.for_organization(organization))["status"].value_counts()
            missed_share = statuses["missed"] / (statuses["missed"] + statuses["completed"])
            self.assertTrue(0.05 < missed_share < 0.3, (organization.slug, missed_share))
            self.assertGreater(statuses["pending"], 0)

    def test_answers_are_submitted_scored_and_dated_inside_their_windows(self):
        completed = list(
            Timepoint.objects.filter(status=TimepointStatus.COMPLETED).select_related(
                "response", "instrument"
            )
        )
        self.assertGreater(len(completed), 500)
        for row in completed[:400]:
            response = row.response
            self.assertEqual(response.status, ResponseStatus.SUBMITTED)
            self.assertEqual(response.case_id, row.case_id)
            self.assertTrue(row.opens_at <= response.submitted_at < row.closes_at)
            self.assertLessEqual(response.submitted_at, NOW)
        safety = [r.response for r in completed if r.instrument.code == "outcome_safety"]
        self.assertTrue(all(1 <= r.scores["felt_safety"] <= 5 for r in safety))
        self.assertTrue(all(r.answers for r in safety))  # encrypted answers, readable by the team
        # Nothing missed has a response; missed windows closed before now.
        self.assertFalse(
            Timepoint.objects.filter(status=TimepointStatus.MISSED, response__isnull=False).exists()
        )
        self.assertFalse(Timepoint.objects.filter(status=TimepointStatus.MISSED, closes_at__gt=NOW).exists())

    def test_windows_open_now_were_handed_to_the_scheduler(self):
        self.assertTrue(Timepoint.objects.filter(status=TimepointStatus.OPEN).exists())
        self.assertFalse(
            Timepoint.objects.filter(status=TimepointStatus.SCHEDULED, opens_at__lte=NOW).exists()
        )
        # The demo's safe-contact rules give no email address: the teams have tasks instead.
        self.assertTrue(CaseTask.objects.filter(kind=TaskKind.EVALUATION_DUE).exists())
        self.assertFalse(Timepoint.objects.filter(link__isnull=False).exists())

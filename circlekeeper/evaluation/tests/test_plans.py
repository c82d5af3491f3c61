"""Evaluation plans and enrolment: the default plan, made once; changes affect the future only; the version check
against concurrent edits; who is scheduled (consent to take part; children and barriers never)."""

import datetime
from typing import Any

import time_machine
from django.core.exceptions import ValidationError

from circlekeeper.cases.models import Participant, ParticipantRole, Track
from circlekeeper.evaluation import scheduling
from circlekeeper.evaluation.models import Anchor, EvaluationPlan, PlanTimepoint, Timepoint, TimepointStatus
from circlekeeper.evaluation.scheduling import TimepointChange, run_scheduler
from circlekeeper.evaluation.tests.schedule_helpers import (
    enrolled,
    local,
    rows,
    set_up_builtins,
    survivor_and_harm,
)
from circlekeeper.instruments.models import Instrument
from circlekeeper.testing import PersonaTestCase, make_case, make_participant, make_reachable


def change_of(timepoint: PlanTimepoint, **changes: Any) -> TimepointChange:
    values: dict[str, Any] = {
        "code": timepoint.code,
        "label": timepoint.label,
        "anchor": timepoint.anchor,
        "offset_days": timepoint.offset_days,
        "opens_days_before": timepoint.opens_days_before,
        "closes_days_after": timepoint.closes_days_after,
        "instruments": list(timepoint.instruments.all()),
        "roles": list(timepoint.roles),
    }
    values.update(changes)
    return TimepointChange(**values)


class DefaultPlanTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        set_up_builtins()

    def test_the_default_plan_is_made_once_with_t0_to_t5_and_the_builtin_questionnaires(self):
        plan = scheduling.default_plan_for(self.harbor)
        self.assertEqual(scheduling.default_plan_for(self.harbor), plan)
        self.assertEqual(EvaluationPlan.objects.filter(organization=self.harbor).count(), 1)
        timepoints = list(plan.timepoints.order_by("position"))
        self.assertEqual([t.code for t in timepoints], ["T0", "T1", "T2", "T3", "T4", "T5"])
        self.assertEqual(
            [(t.anchor, t.offset_days) for t in timepoints],
            [
                (Anchor.ENROLMENT, 0),
                (Anchor.PREPARATION, 7),
                (Anchor.AFTER_DIALOGUE, 14),
                (Anchor.ENROLMENT, 90),
                (Anchor.ENROLMENT, 180),
                (Anchor.ENROLMENT, 365),
            ],
        )
        t3 = timepoints[3]
        self.assertEqual((t3.opens_days_before, t3.closes_days_after), (14, 14))
        asked = {i.code: scheduling.respondent_roles(t3, i) for i in t3.instruments.all()}
        self.assertEqual(asked["outcome_safety"], [ParticipantRole.SURVIVOR])
        self.assertEqual(asked["outcome_accountability"], [ParticipantRole.PERSON_WHO_CAUSED_HARM])
        self.assertEqual(
            asked["experience_of_process"], [ParticipantRole.SURVIVOR, ParticipantRole.PERSON_WHO_CAUSED_HARM]
        )
        # Another organization gets its own.
        self.assertNotEqual(scheduling.default_plan_for(self.valley), plan)

    def test_a_network_plan_may_be_used_by_its_organizations_only(self):
        shared = EvaluationPlan.objects.create(network=self.network, name="Network plan")
        own = scheduling.default_plan_for(self.harbor)
        self.assertEqual(scheduling.plans_for(self.harbor), [own, shared])
        other = make_case(self.harbor, team=((self.alice, "keeper"),))
        with time_machine.travel(local(2026, 3, 2, 9), tick=False):
            enrollment = scheduling.enrol(
                case=other,
                plan=shared,
                by=self.alice,
                enrolled_on=datetime.date(2026, 3, 2),
                now=local(2026, 3, 2, 9),
            )
        self.assertEqual(enrollment.plan, shared)
        from circlekeeper.testing import make_network, make_organization

        stranger = make_organization(network=make_network())
        foreign = EvaluationPlan.objects.create(organization=stranger, name="Theirs")
        third = make_case(self.harbor)
        with self.assertRaises(ValidationError) as refused:
            scheduling.enrol(
                case=third,
                plan=foreign,
                by=self.alice,
                enrolled_on=datetime.date(2026, 3, 2),
                now=local(2026, 3, 2, 9),
            )
        self.assertIn("plan", refused.exception.message_dict)
        self.assertFalse(Timepoint.objects.filter(case=third).exists())


class EnrolmentTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        set_up_builtins()

    def test_only_people_with_consent_to_take_part_are_scheduled_never_children_or_barriers(self):
        survivor, harm = survivor_and_harm(self.case)
        child = make_participant(self.case, role=ParticipantRole.CHILD, label="Child")
        barrier = make_participant(
            self.case, role=ParticipantRole.SURVIVOR, label="Survivor who is a barrier"
        )
        Participant.objects.filter(pk=barrier.pk).update(barrier=True)
        unconsenting = make_participant(
            self.case, role=ParticipantRole.SURVIVOR, label="No consent", reachable=False
        )
        with time_machine.travel(local(2026, 3, 2, 9), tick=False):
            enrolled(self.case, self.alice)
        self.assertTrue(rows(survivor))
        self.assertTrue(rows(harm))
        for nobody in (child, barrier, unconsenting):
            self.assertEqual(rows(nobody), [], nobody.label)
        # Consent given later: that person's rows come with the next run, for the windows still to close.
        make_reachable(unconsenting)
        with time_machine.travel(local(2026, 3, 5, 10), tick=False):
            run_scheduler(local(2026, 3, 5, 10))
        self.assertEqual({r.code for r in rows(unconsenting)}, {"T0", "T3", "T4", "T5"})
        self.assertEqual(rows(child), [])
        self.assertEqual(rows(barrier), [])

    def test_a_case_is_enrolled_once_and_only_while_open_within_its_dates(self):
        survivor_and_harm(self.case)
        plan = scheduling.default_plan_for(self.harbor)
        now = local(2026, 3, 2, 9)
        with time_machine.travel(now, tick=False):
            with self.assertRaises(ValidationError) as early:
                scheduling.enrol(
                    case=self.case, plan=plan, by=self.alice, enrolled_on=datetime.date(2026, 2, 1), now=now
                )
            self.assertIn("enrolled_on", early.exception.message_dict)
            with self.assertRaises(ValidationError):
                scheduling.enrol(
                    case=self.case, plan=plan, by=self.alice, enrolled_on=datetime.date(2026, 3, 9), now=now
                )
            enrolled(self.case, self.alice)
            count = Timepoint.objects.count()
            with self.assertRaises(ValidationError):
                enrolled(self.case, self.alice)
        self.assertEqual(Timepoint.objects.count(), count)

    def test_ending_an_enrolment_cancels_what_is_not_open_yet(self):
        survivor, _harm = survivor_and_harm(self.case)
        Participant.objects.filter(pk=survivor.pk)  # keep
        type(self.case).objects.filter(pk=self.case.pk).update(track=Track.SUPPORT_ONLY)
        with time_machine.travel(local(2026, 3, 2, 9), tick=False):
            enrollment = enrolled(self.case, self.alice)
            run_scheduler(local(2026, 3, 2, 10))
            scheduling.end_enrollment(enrollment=enrollment, by=self.alice, now=local(2026, 3, 2, 11))
        self.assertEqual({r.status for r in rows(survivor, "T0")}, {TimepointStatus.OPEN})
        self.assertEqual({r.status for r in rows(survivor, "T3")}, {TimepointStatus.CANCELLED})
        with time_machine.travel(local(2026, 5, 20), tick=False):
            report = run_scheduler(local(2026, 5, 20))
        self.assertEqual((report.made, report.opened), (0, 0))


class PlanChangeTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        set_up_builtins()

    def setUp(self):
        self.survivor, self.harm = survivor_and_harm(self.case)
        self.plan = scheduling.default_plan_for(self.harbor)
        with time_machine.travel(local(2026, 3, 2, 9), tick=False):
            enrolled(self.case, self.alice)
            run_scheduler(local(2026, 3, 2, 10))  # T0 is open now
        self.now = local(2026, 3, 3, 9)
        self.t0 = self.plan.timepoints.get(code="T0")
        self.t3 = self.plan.timepoints.get(code="T3")

    def windows(self, code):
        return sorted(
            Timepoint.objects.filter(participant=self.survivor, code=code).values_list(
                "opens_at", "due_at", "closes_at", "status"
            )
        )

    def test_changing_a_timepoint_recomputes_the_scheduled_rows_and_leaves_open_ones_alone(self):
        t0_before = self.windows("T0")
        with time_machine.travel(self.now, tick=False):
            scheduling.change_timepoint(
                timepoint=self.t0,
                change=change_of(self.t0, closes_days_after=30),
                lock_version=1,
                by=self.pat,
                now=self.now,
            )
            scheduling.change_timepoint(
                timepoint=self.t3,
                change=change_of(self.t3, offset_days=120),
                lock_version=2,
                by=self.pat,
                now=self.now,
            )
        self.assertEqual(self.windows("T0"), t0_before)  # open: keeps its window
        t3 = Timepoint.objects.filter(participant=self.survivor, code="T3").first()
        assert t3 is not None
        self.assertEqual(scheduling.due_day(t3), datetime.date(2026, 6, 30))
        self.assertEqual(t3.opens_at, local(2026, 6, 16, 0))
        self.plan.refresh_from_db()
        self.assertEqual(self.plan.lock_version, 3)

    def test_taking_a_questionnaire_out_cancels_its_scheduled_rows_only(self):
        kept = [i for i in self.t3.instruments.all() if i.code != "outcome_healing"]
        with time_machine.travel(self.now, tick=False):
            scheduling.change_timepoint(
                timepoint=self.t3,
                change=change_of(self.t3, instruments=kept),
                lock_version=1,
                by=self.pat,
                now=self.now,
            )
            scheduling.change_timepoint(
                timepoint=self.t0,
                change=change_of(self.t0, instruments=kept),
                lock_version=2,
                by=self.pat,
                now=self.now,
            )
        healing = {r.code: r.status for r in rows(self.survivor) if r.instrument.code == "outcome_healing"}
        self.assertEqual(healing["T3"], TimepointStatus.CANCELLED)
        self.assertEqual(healing["T4"], TimepointStatus.SCHEDULED)
        self.assertEqual(healing["T0"], TimepointStatus.OPEN)  # already open: not taken away

    def test_retiring_a_timepoint_cancels_its_rows_not_yet_open(self):
        with time_machine.travel(self.now, tick=False):
            scheduling.retire_timepoint(timepoint=self.t3, lock_version=1, by=self.pat, now=self.now)
            scheduling.retire_timepoint(timepoint=self.t0, lock_version=2, by=self.pat, now=self.now)
        self.assertEqual({r.status for r in rows(self.survivor, "T3")}, {TimepointStatus.CANCELLED})
        self.assertEqual({r.status for r in rows(self.survivor, "T0")}, {TimepointStatus.OPEN})
        with time_machine.travel(local(2026, 5, 20), tick=False):
            run_scheduler(local(2026, 5, 20))
        self.assertEqual({r.status for r in rows(self.survivor, "T3")}, {TimepointStatus.CANCELLED})

    def test_a_new_timepoint_is_scheduled_for_enrolled_cases_in_future_windows_only(self):
        safety = Instrument.objects.get(owner__isnull=True, code="outcome_safety")
        change = TimepointChange(
            "T6", "Two years", Anchor.ENROLMENT, 730, 30, 30, [safety], [ParticipantRole.SURVIVOR]
        )
        with time_machine.travel(self.now, tick=False):
            scheduling.add_timepoint(plan=self.plan, change=change, lock_version=1, by=self.pat, now=self.now)
        self.assertEqual([r.instrument.code for r in rows(self.survivor, "T6")], ["outcome_safety"])
        self.assertEqual(rows(self.harm, "T6"), [])

    def test_a_second_editor_working_from_an_older_page_is_refused_and_nothing_changes(self):
        before = self.windows("T3")
        with time_machine.travel(self.now, tick=False):
            scheduling.change_timepoint(
                timepoint=self.t3,
                change=change_of(self.t3, label="Three months"),
                lock_version=1,
                by=self.pat,
                now=self.now,
            )
            with self.assertRaises(ValidationError) as stale:
                scheduling.change_timepoint(
                    timepoint=self.t3,
                    change=change_of(self.t3, offset_days=100),
                    lock_version=1,
                    by=self.pat,
                    now=self.now,
                )
        self.assertIn("Someone else changed this plan", stale.exception.messages[0])
        self.t3.refresh_from_db()
        self.assertEqual((self.t3.label, self.t3.offset_days), ("Three months", 90))
        self.assertEqual(self.windows("T3"), before)

    def test_bad_input_says_what_was_wrong_and_writes_nothing(self):
        with time_machine.travel(self.now, tick=False), self.assertRaises(ValidationError) as bad:
            scheduling.change_timepoint(
                timepoint=self.t3,
                change=change_of(self.t3, code="T0", roles=[ParticipantRole.CHILD], instruments=[]),
                lock_version=1,
                by=self.pat,
                now=self.now,
            )
        self.assertEqual(set(bad.exception.message_dict), {"code", "roles", "instruments"})
        self.t3.refresh_from_db()
        self.assertEqual(self.t3.code, "T3")
        self.plan.refresh_from_db()
        self.assertEqual(self.plan.lock_version, 1)

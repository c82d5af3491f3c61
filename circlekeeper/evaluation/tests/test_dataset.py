"""The de-identified frames: codes instead of people, months instead of dates, numbers only, scope kept."""

import datetime

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import RequestFactory

from circlekeeper.accounts.models import Role
from circlekeeper.accounts.sessions import SessionStore
from circlekeeper.cases.models import Participant, ParticipantRole, Track
from circlekeeper.evaluation import access, dataset
from circlekeeper.evaluation.models import (
    Anchor,
    Enrollment,
    EvaluationPlan,
    PlanTimepoint,
    Timepoint,
    TimepointStatus,
)
from circlekeeper.instruments.builtins import load_builtins
from circlekeeper.instruments.models import Instrument, InstrumentVersion, Response
from circlekeeper.protocol.models import (
    Answer,
    CheckMoment,
    Meeting,
    MeetingKind,
    MeetingStatus,
    SafetyCheckIn,
    Transition,
    TransitionKind,
)
from circlekeeper.safety.models import CheckKind, RiskLevel, SafetyCheck
from circlekeeper.testing import (
    PersonaTestCase,
    make_network,
    make_organization,
    make_participant,
    make_user,
)

AT = datetime.datetime(2026, 3, 17, 15, 30, tzinfo=datetime.UTC)


class FrameTests(PersonaTestCase):
    instrument: Instrument
    version: InstrumentVersion
    survivor: Participant
    harm: Participant
    child: Participant
    valley_survivor: Participant
    t0: PlanTimepoint
    t3: PlanTimepoint
    enrollment: Enrollment

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        load_builtins()
        cls.instrument = Instrument.objects.get(code="outcome_safety", owner=None)
        version = cls.instrument.latest_version()
        assert version is not None
        cls.version = version
        cls.case.track = Track.DIRECT_DIALOGUE
        cls.case.save()
        cls.survivor = make_participant(cls.case, label="Marker-Label-Survivor")
        cls.harm = make_participant(
            cls.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Marker-Label-Harm"
        )
        cls.child = make_participant(cls.case, role=ParticipantRole.CHILD, reachable=False, label="Kid")
        cls.valley_survivor = make_participant(cls.valley_case, label="Valley survivor")
        plan = EvaluationPlan.objects.create(organization=cls.harbor, name="Plan")
        cls.t0 = PlanTimepoint.objects.create(plan=plan, code="T0", label="Intake", anchor=Anchor.ENROLMENT)
        cls.t3 = PlanTimepoint.objects.create(
            plan=plan, code="T3", label="3 months", anchor=Anchor.ENROLMENT, offset_days=90
        )
        cls.enrollment = Enrollment.objects.create(
            organization=cls.harbor, case=cls.case, plan=plan, enrolled_on=datetime.date(2026, 3, 1)
        )

    def respond(self, participant, scores, *, when=AT, timepoint=None):
        response = Response.objects.create(
            organization_id=participant.organization_id,
            version=self.version,
            participant=participant,
            case=participant.case,
            answers={"comment": "Marker-Free-Text"},
            scores=scores,
            status="submitted",
            started_at=when,
            submitted_at=when,
        )
        if timepoint is not None:
            timepoint.response = response
            timepoint.status = TimepointStatus.COMPLETED
            timepoint.save()
        return response

    def timepoint(self, participant, plan_timepoint, status, *, instrument=None, due=AT):
        return Timepoint.objects.create(
            organization=self.harbor,
            enrollment=self.enrollment,
            case=participant.case,
            participant=participant,
            plan_timepoint=plan_timepoint,
            code=plan_timepoint.code,
            instrument=instrument or self.instrument,
            opens_at=due,
            due_at=due,
            closes_at=due + datetime.timedelta(days=14),
            status=status,
        )

    def test_scores_are_rows_of_codes_months_and_numbers_only(self):
        point = self.timepoint(self.survivor, self.t0, TimepointStatus.OPEN)
        self.respond(self.survivor, {"felt_safety": 3.5, "level": "elevated", "flag": True}, timepoint=point)
        self.respond(self.harm, {"felt_safety": 4})
        self.respond(self.child, {"felt_safety": 1})
        self.respond(self.valley_survivor, {"felt_safety": 2})
        scope = dataset.Scope.for_organization(self.harbor)

        frame = dataset.scores_frame(scope)

        self.assertEqual(list(frame.columns), dataset.SCORE_COLUMNS)
        # Numbers only: the level (a word) and the flag (a boolean) are left out; the child never appears;
        # Valley is another organization.
        self.assertEqual(sorted(frame["value"]), [3.5, 4.0])
        survivor_row = frame[frame["role"] == ParticipantRole.SURVIVOR].iloc[0]
        self.assertEqual(survivor_row["participant"], scope.evaluation.code_for(self.survivor.uid))
        self.assertEqual(survivor_row["timepoint"], "T0")
        self.assertEqual(survivor_row["month"], "2026-03")
        self.assertEqual(survivor_row["organization"], "harbor")
        self.assertEqual(survivor_row["track"], Track.DIRECT_DIALOGUE)
        self.assertEqual(
            frame[frame["role"] == ParticipantRole.PERSON_WHO_CAUSED_HARM].iloc[0]["timepoint"], ""
        )
        text = frame.to_csv()
        for secret in ("Marker", str(self.survivor.uid), self.case.reference, "17", "15:30"):
            self.assertNotIn(secret, text)

    def test_filters_by_instrument_score_track_period_and_role(self):
        self.respond(self.survivor, {"felt_safety": 3, "other": 1})
        scope = dataset.Scope.for_organization(self.harbor)
        self.assertEqual(len(dataset.scores_frame(scope, score="felt_safety")), 1)
        self.assertEqual(len(dataset.scores_frame(scope, instrument="outcome_repair")), 0)
        self.assertEqual(len(dataset.scores_frame(scope, track=Track.SUPPORT_ONLY)), 0)
        self.assertEqual(len(dataset.scores_frame(scope, track=Track.DIRECT_DIALOGUE)), 2)
        # The period is the cases' opening date (1 March 2026 here).
        self.assertEqual(len(dataset.scores_frame(scope, since=datetime.date(2026, 3, 2))), 0)
        self.assertEqual(len(dataset.scores_frame(scope, until=datetime.date(2026, 3, 1))), 2)
        self.assertEqual(len(dataset.scores_frame(scope, roles=[ParticipantRole.PERSON_WHO_CAUSED_HARM])), 0)

    def test_a_response_without_the_score_is_an_empty_value_when_asked_for_so_it_is_not_dropped_from_n(self):
        # Issue 21: "T0 says 26 where 28 answered": a response whose score could not be computed is counted.
        self.respond(self.survivor, {"felt_safety": None})
        self.respond(self.harm, {"felt_safety": 4})
        scope = dataset.Scope.for_organization(self.harbor)
        code = self.version.instrument.code
        frame = dataset.scores_frame(scope, instrument=code, score="felt_safety", include_unscored=True)
        self.assertEqual(len(frame), 2)
        self.assertEqual(int(frame["value"].isna().sum()), 1)
        # Without asking, only numbers (the exports and the public pages are unchanged).
        self.assertEqual(len(dataset.scores_frame(scope, instrument=code, score="felt_safety")), 1)

    def test_codes_are_stable_within_an_evaluation_and_differ_between_evaluations(self):
        organization = dataset.Scope.for_organization(self.harbor)
        again = dataset.Scope.for_organization(self.harbor)
        network = dataset.Scope.for_network(self.network)
        self.assertEqual(organization.evaluation.pk, again.evaluation.pk)
        code = organization.evaluation.code_for(self.survivor.uid)
        self.assertEqual(code, again.evaluation.code_for(self.survivor.uid))
        self.assertNotEqual(code, network.evaluation.code_for(self.survivor.uid))
        self.assertNotEqual(code, organization.evaluation.code_for(self.harm.uid))
        self.assertNotIn(self.survivor.label, code)

    def test_a_network_scope_pools_its_organizations_and_takes_its_threshold(self):
        self.respond(self.survivor, {"felt_safety": 3})
        self.respond(self.valley_survivor, {"felt_safety": 2})
        self.network.suppression_threshold = 20
        self.network.save()
        scope = dataset.Scope.for_network(self.network)
        frame = dataset.scores_frame(scope)
        self.assertEqual(sorted(frame["organization"]), ["harbor", "valley"])
        self.assertEqual(scope.threshold, 20)
        self.assertEqual(dataset.Scope.for_organization(self.harbor).threshold, 20)

    def test_a_participant_timepoint_is_completed_missed_or_pending(self):
        other = Instrument.objects.get(code="outcome_repair", owner=None)
        # T0: one questionnaire answered, one missed -> completed.
        answered = self.timepoint(self.survivor, self.t0, TimepointStatus.OPEN)
        self.respond(self.survivor, {"felt_safety": 3}, timepoint=answered)
        self.timepoint(self.survivor, self.t0, TimepointStatus.MISSED, instrument=other)
        # T3: every questionnaire missed -> missed; the other person's T3 is still open -> pending.
        self.timepoint(self.survivor, self.t3, TimepointStatus.MISSED)
        self.timepoint(self.harm, self.t3, TimepointStatus.OPEN)
        # Cancelled timepoints are left out.
        self.timepoint(self.harm, self.t0, TimepointStatus.CANCELLED)

        frame = dataset.timepoints_frame(dataset.Scope.for_organization(self.harbor))

        found = {(row.role, row.timepoint): row.status for row in frame.itertuples()}
        self.assertEqual(
            found,
            {
                (ParticipantRole.SURVIVOR, "T0"): "completed",
                (ParticipantRole.SURVIVOR, "T3"): "missed",
                (ParticipantRole.PERSON_WHO_CAUSED_HARM, "T3"): "pending",
            },
        )


class FidelityTests(PersonaTestCase):
    survivor: Participant

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.survivor = make_participant(cls.case)

    def meeting(self, *, check_in_at, held_at, check_out_at):
        meeting = Meeting.objects.create(
            organization=self.harbor,
            case=self.case,
            kind=MeetingKind.PREPARATION,
            starts_at=held_at,
            status=MeetingStatus.HELD,
            held_at=held_at,
            scheduled_by=self.alice,
        )
        for moment, at in ((CheckMoment.CHECK_IN, check_in_at), (CheckMoment.CHECK_OUT, check_out_at)):
            if at is not None:
                SafetyCheckIn.objects.create(
                    organization=self.harbor,
                    meeting=meeting,
                    participant=self.survivor,
                    moment=moment,
                    feels_safe=Answer.YES,
                    threatened=Answer.NO,
                    wants_to_stop=Answer.NO,
                    by=self.alice,
                    at=at,
                )
        return meeting

    def test_meetings_and_stage_changes_are_on_time_only_with_their_checks(self):
        hour = datetime.timedelta(hours=1)
        self.meeting(check_in_at=AT - hour, held_at=AT, check_out_at=AT + hour)  # on time
        self.meeting(check_in_at=AT + hour, held_at=AT, check_out_at=AT + 2 * hour)  # checked in after
        self.meeting(check_in_at=AT - hour, held_at=AT, check_out_at=None)  # no check-out
        # A survivor's check 3 days before the first stage change, none in the 7 days before the second.
        load_builtins()
        version = Instrument.objects.get(code="safety_check", owner=None).latest_version()
        assert version is not None
        check = Response.objects.create(
            organization=self.harbor,
            version=version,
            participant=self.survivor,
            case=self.case,
            status="submitted",
            submitted_at=AT - datetime.timedelta(days=3),
        )
        SafetyCheck.objects.create(
            organization=self.harbor,
            case=self.case,
            participant=self.survivor,
            response=check,
            kind=CheckKind.FULL,
            level=RiskLevel.LOW,
            checked_at=AT - datetime.timedelta(days=3),
        )
        for at in (AT, AT + datetime.timedelta(days=30)):
            Transition.objects.create(
                organization=self.harbor,
                case=self.case,
                kind=TransitionKind.ADVANCE,
                from_stage="referral",
                to_stage="intake",
                by=self.alice,
                at=at,
            )

        frame = dataset.fidelity_frame(dataset.Scope.for_organization(self.harbor))

        meetings = frame[frame["kind"] == "meeting"]
        self.assertEqual(sorted(meetings["on_time"]), [False, False, True])
        self.assertEqual(list(frame[frame["kind"] == "stage"]["on_time"]), [True, False])
        self.assertEqual(set(frame["month"]), {"2026-03", "2026-04"})


class AccessTests(PersonaTestCase):
    def request_for(self, user, organization=None):
        request = RequestFactory().get("/")
        request.user = user
        request.session = SessionStore()
        if organization is not None:
            request.session["active_organization_id"] = organization.pk
        return request

    def test_aggregates_rows_and_network_scopes_follow_the_roles(self):
        self.assertEqual(access.organization_aggregate_scope(self.request_for(self.eve)).slug, "harbor")
        self.assertEqual(access.organization_aggregate_scope(self.request_for(self.pat)).slug, "harbor")
        self.assertEqual(access.organization_aggregate_scope(self.request_for(self.sam)).slug, "harbor")
        with self.assertRaises(PermissionDenied):
            access.organization_aggregate_scope(self.request_for(self.alice))
        self.assertEqual(access.organization_row_scope(self.request_for(self.eve)).slug, "harbor")
        for user in (self.pat, self.sam, self.alice, self.nora):
            with self.assertRaises(PermissionDenied):
                access.organization_row_scope(self.request_for(user))
        self.assertEqual(
            access.network_aggregate_scope(self.request_for(self.nora), self.network.slug).slug,
            "test-network",
        )
        self.assertEqual(
            access.network_aggregate_scope(self.request_for(self.eve), self.network.slug).slug, "test-network"
        )
        with self.assertRaises(PermissionDenied):
            access.network_aggregate_scope(self.request_for(self.alice), self.network.slug)
        elsewhere = make_network(name="Elsewhere", slug="elsewhere")
        stranger = make_user(
            "x@far.example",
            organization=make_organization(network=elsewhere, name="Far", slug="far", case_prefix="FAR"),
            roles=(Role.EVALUATOR,),
        )
        with self.assertRaises(Http404):
            access.network_aggregate_scope(self.request_for(stranger), self.network.slug)
        with self.assertRaises(Http404):
            access.network_aggregate_scope(self.request_for(self.eve), "elsewhere")
        self.assertEqual(
            [n.slug for n in access.networks_visible(self.request_for(self.eve))], ["test-network"]
        )
        self.assertEqual(access.networks_visible(self.request_for(self.alice)), [])


class PoolTests(PersonaTestCase):
    def test_an_organization_that_left_the_pool_disappears_from_pooled_results_and_can_come_back(self):
        from circlekeeper.evaluation.models import PoolDecision

        make_participant(self.valley_case)
        self.assertEqual(
            [o.slug for o in dataset.Scope.for_network(self.network).organizations], ["harbor", "valley"]
        )
        PoolDecision.objects.create(
            organization=self.valley, pooled=False, by=self.nora, reason="board decision"
        )
        self.assertEqual([o.slug for o in dataset.Scope.for_network(self.network).organizations], ["harbor"])
        PoolDecision.objects.create(organization=self.valley, pooled=True, by=self.nora)
        self.assertEqual(
            [o.slug for o in dataset.Scope.for_network(self.network).organizations], ["harbor", "valley"]
        )

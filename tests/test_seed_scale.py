"""seed_demo --scale N: every synthetic case gets its people, checks, stages, meetings, pods, agreement and answers
(community.scale.fill_scale), in the proportions its docstring states, as valid rows the real pages and gates read,
and a second run adds nothing to cases already filled."""

from __future__ import annotations

import datetime
import re
from io import StringIO

from django.core.management import call_command
from django.db import connection
from django.db.models import F
from django.test import TestCase, override_settings
from django.urls import reverse
from django.utils import timezone

from circlekeeper.accountability.models import (
    Affirmation,
    Agreement,
    AgreementVersion,
    CheckIn,
    Commitment,
    StaircaseStep,
    StepCommitment,
)
from circlekeeper.accounts.models import User
from circlekeeper.cases.models import (
    TRACK_CONTACT,
    Case,
    CaseEvent,
    CaseStatus,
    CaseTask,
    Consent,
    ConsentKind,
    ContactRules,
    Intake,
    Participant,
    ParticipantRole,
    Stage,
    Track,
    TrackChoice,
)
from circlekeeper.demo.cases import NETWORK, seed_scale
from circlekeeper.demo.scale import fill_scale
from circlekeeper.evaluation.models import Enrollment, Timepoint, TimepointStatus
from circlekeeper.instruments.models import Response, ResponseStatus
from circlekeeper.protocol import gates
from circlekeeper.protocol.models import (
    Acknowledgment,
    Approval,
    Invitation,
    Meeting,
    MeetingKind,
    MeetingStatus,
    SafetyCheckIn,
    Transition,
    TransitionKind,
)
from circlekeeper.safety.models import (
    SafetyAlert,
    SafetyCheck,
    SafetyHold,
    SafetyPlan,
    SafetyPlanRevision,
    is_high,
)
from circlekeeper.safety.services import is_supervisor_of
from circlekeeper.support.models import PodMeasure, PodMember, PodTie
from circlekeeper.testing import sign_in

SCALE = 420  # the hand-made demo has 120 cases: 300 synthetic ones
SYNTHETIC = 300

# Rows per synthetic case: what the module's docstring says, with room for chance at 300 cases (most of them
# ended: cases.demo.seed_scale opens about one in eight, as a real program's six years would).
PROPORTIONS = {
    Participant: (3.0, 4.2),
    Consent: (4.5, 6.2),
    ContactRules: (2.0, 2.0),
    TrackChoice: (0.6, 1.0),
    SafetyCheck: (2.5, 5.0),
    SafetyPlan: (0.5, 1.0),
    Transition: (3.0, 6.5),
    Meeting: (0.4, 1.5),
    Invitation: (0.7, 2.5),
    SafetyCheckIn: (0.5, 1.6),
    PodMember: (1.0, 2.6),
    PodMeasure: (1.5, 3.6),
    Agreement: (0.08, 0.45),
    CaseEvent: (5.0, 11.0),
}
# Every table the scale fills, with the rows the services write (each must have some).
FILLED = [
    Participant,
    Consent,
    ContactRules,
    TrackChoice,
    Intake,
    Response,
    SafetyCheck,
    SafetyPlan,
    SafetyPlanRevision,
    SafetyHold,
    SafetyAlert,
    CaseTask,
    Transition,
    Meeting,
    Invitation,
    SafetyCheckIn,
    Acknowledgment,
    Approval,
    PodMember,
    PodTie,
    PodMeasure,
    Agreement,
    AgreementVersion,
    Commitment,
    Affirmation,
    CheckIn,
    StaircaseStep,
    StepCommitment,
    Enrollment,
    Timepoint,
    CaseEvent,
]


def synthetic_cases():
    """The scale's cases: the demo network's cases opened after the hand-made ones were made (by id)."""
    hand_made = Case.objects.filter(organization__network__slug=NETWORK[1]).order_by("pk")[119].pk
    return Case.objects.filter(organization__network__slug=NETWORK[1], pk__gt=hand_made)


@override_settings(DEMO_MODE=True)
class SeedScaleTests(TestCase):
    output: str

    @classmethod
    def setUpTestData(cls):
        out = StringIO()
        call_command("seed_demo", "--scale", str(SCALE), stdout=out)
        cls.output = out.getvalue()

    def test_the_planner_statistics_are_refreshed_after_the_bulk_load(self):
        self.assertIn("planner statistics refreshed", self.output)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT count(*) FROM pg_stats WHERE tablename = 'cases_case'")
            else:
                cursor.execute("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'cases_case'")
            self.assertGreater(cursor.fetchone()[0], 0)

    def counts(self) -> dict[str, int]:
        cases = synthetic_cases()
        counted = {}
        for model in FILLED:
            if model is Participant or hasattr(model, "case"):
                rows = model.objects.filter(case__in=cases)
            else:
                rows = model.objects.filter(organization__network__slug=NETWORK[1])
            counted[model.__name__] = rows.count()
        return counted

    def test_every_synthetic_case_is_filled_and_every_table_gets_rows(self):
        cases = synthetic_cases()
        self.assertEqual(cases.count(), SYNTHETIC)
        self.assertFalse(cases.filter(participants=None).exists())
        self.assertEqual(cases.filter(participants__role=ParticipantRole.SURVIVOR).count(), SYNTHETIC)
        counts = self.counts()
        for model in FILLED:
            self.assertGreater(counts[model.__name__], 0, model.__name__)
        # Every stage and every way a case ends shows among them.
        self.assertEqual(set(cases.values_list("stage", flat=True)), set(Stage.values))
        self.assertEqual(set(cases.values_list("status", flat=True)), set(CaseStatus.values))
        self.assertTrue(
            cases.filter(on_hold=True).exists() or SafetyHold.objects.filter(case__in=cases).exists()
        )

    def test_the_proportions_are_those_the_module_states(self):
        cases = list(synthetic_cases().values_list("pk", flat=True))
        for model, (low, high) in PROPORTIONS.items():
            path = {Consent: "participant__", ContactRules: "participant__", SafetyPlan: "participant__"}.get(
                model, "meeting__" if model in (Invitation, SafetyCheckIn) else ""
            )
            rows = model.objects.filter(**{f"{path}case__in": cases}).count()
            self.assertGreaterEqual(rows / SYNTHETIC, low, model.__name__)
            self.assertLessEqual(rows / SYNTHETIC, high, model.__name__)
        # Each safety check keeps its answers on a submitted, scored response of the same survivor.
        checks = SafetyCheck.objects.filter(case__in=cases)
        self.assertFalse(checks.exclude(response__participant=F("participant")).exists())
        self.assertFalse(checks.exclude(response__status=ResponseStatus.SUBMITTED).exists())
        for level, scores in checks.values_list("level", "response__scores"):
            self.assertEqual(level, scores["risk"])
        self.assertFalse(checks.exclude(participant__role=ParticipantRole.SURVIVOR).exists())

    def test_the_command_reports_the_rows_made_per_table(self):
        self.assertIn(f"Scale: {SYNTHETIC} synthetic cases added.", self.output)
        self.assertIn(f"Scale: {SYNTHETIC} synthetic cases filled", self.output)
        reported = dict(re.findall(r"^  (\w+): (\d+)$", self.output, re.MULTILINE))
        counts = self.counts()
        for name in ("Participant", "SafetyCheck", "Meeting", "PodMember", "Agreement", "Transition"):
            self.assertEqual(int(reported[name]), counts[name], name)

    def test_the_rows_are_valid(self):
        cases = synthetic_cases()
        for model in FILLED:
            rows = model.objects.filter(organization__network__slug=NETWORK[1])
            if model is not Participant and hasattr(model, "case"):
                rows = rows.filter(case__in=cases)
            for row in rows.order_by("pk")[:: max(1, rows.count() // 15)][:15]:
                # The encrypted fields decrypt (full_clean reads them all) and every field validates.
                row.full_clean()
        responses = Response.objects.filter(case__in=cases)
        self.assertFalse(responses.exclude(status=ResponseStatus.SUBMITTED).exists())
        for response in responses.order_by("?")[:20]:
            self.assertTrue(response.answers)
            self.assertEqual(response.organization_id, response.case.organization_id)
        self.assertTrue(
            all(m.place.startswith("Demo place") for m in Meeting.objects.filter(case__in=cases)[:20])
        )
        self.assertTrue(
            all(t.reason for t in Transition.objects.filter(case__in=cases, kind=TransitionKind.WITHDRAW))
        )
        member = PodMember.objects.filter(case__in=cases).first()
        self.assertTrue(member.relationship.startswith("Demo"))
        self.assertTrue(Commitment.objects.filter(version__agreement__case__in=cases)[0].description)

    def test_every_row_is_in_its_case_s_organization(self):
        for model in FILLED:
            if model is Participant or not hasattr(model, "case"):
                continue
            self.assertFalse(
                model.objects.exclude(organization_id=F("case__organization_id")).exists(), model.__name__
            )
        for model, path in (
            (Consent, "participant"),
            (ContactRules, "participant"),
            (Invitation, "meeting"),
            (SafetyCheckIn, "meeting"),
            (SafetyPlan, "participant"),
            (SafetyPlanRevision, "plan"),
            (AgreementVersion, "agreement"),
            (Commitment, "version"),
            (Affirmation, "version"),
            (CheckIn, "commitment"),
            (StepCommitment, "step"),
            (Timepoint, "enrollment"),
        ):
            self.assertFalse(
                model.objects.exclude(organization_id=F(f"{path}__organization_id")).exists(), model.__name__
            )
        self.assertFalse(Invitation.objects.exclude(participant__case=F("meeting__case")).exists())
        # Whoever recorded something is on the case's team.
        for model, person in (
            (Transition, "by"),
            (Meeting, "scheduled_by"),
            (TrackChoice, "recorded_by"),
            (SafetyHold, "lifted_by"),
            (Approval, "approved_by"),
        ):
            for row in model.objects.filter(case__in=synthetic_cases()).exclude(**{person: None})[:200]:
                team = set(row.case.assignments.values_list("user_id", flat=True))
                self.assertIn(getattr(row, f"{person}_id"), team, model.__name__)
        self.assertFalse(
            Commitment.objects.exclude(supporter=None)
            .exclude(supporter__case=F("version__agreement__case"))
            .exists()
        )

    def test_stages_statuses_and_dates_agree(self):
        now = timezone.now()
        for case in synthetic_cases().prefetch_related("transitions"):
            transitions = sorted(case.transitions.all(), key=lambda t: (t.at, t.pk))
            advances = [t for t in transitions if t.kind == TransitionKind.ADVANCE]
            # The stage is where the last move took the case; each move starts where the one before ended.
            self.assertEqual(advances[-1].to_stage if advances else Stage.REFERRAL, case.stage, case)
            for before, after in zip(advances, advances[1:], strict=False):
                self.assertEqual(before.to_stage, after.from_stage)
            ends = [t for t in transitions if t.kind != TransitionKind.ADVANCE]
            if case.status == CaseStatus.OPEN:
                self.assertEqual(ends, [])
                self.assertIsNone(case.closed_on)
            else:
                kind = {
                    CaseStatus.CLOSED: TransitionKind.CLOSE,
                    CaseStatus.WITHDRAWN: TransitionKind.WITHDRAW,
                    CaseStatus.REFERRED_OUT: TransitionKind.REFER_OUT,
                }[CaseStatus(case.status)]
                self.assertEqual([t.kind for t in ends], [kind])
                self.assertEqual(transitions[-1], ends[0])
                self.assertEqual(timezone.localdate(ends[0].at), case.closed_on)
            for transition in transitions:
                self.assertGreaterEqual(timezone.localdate(transition.at), case.opened_on)
                self.assertLessEqual(transition.at, now)
            if case.status == CaseStatus.CLOSED:
                self.assertEqual(case.stage, Stage.CLOSURE)
            if case.stage not in (Stage.REFERRAL, Stage.INTAKE):
                self.assertTrue(case.track)
            if case.track:
                self.assertEqual(TrackChoice.objects.filter(case=case).get().track, case.track)

    def test_the_gates_of_every_stage_a_case_left_hold(self):
        """Each open case, put back (in memory) at each stage it has left, passes that stage's gate as the real
        gates read it. The gates read the case as it is now: only what changed since may be unmet (a plan due for
        review after a later change of risk; the referral gate's "safety first" when the latest check is high)."""
        cases = synthetic_cases().filter(status=CaseStatus.OPEN).exclude(stage=Stage.REFERRAL)
        checked = 0
        for case in cases.order_by("pk")[:120]:
            stage = case.stage
            path = gates.path_for(case)
            for earlier in path[: path.index(Stage(stage))]:
                case.stage = earlier
                unmet = {c.code for c in gates.unmet(gates.stage_conditions(case))}
                if "plan" in unmet:
                    self.assertIsNotNone(SafetyPlan.objects.get(participant__case=case).review_due_since)
                allowed = {"plan", "safety_first"} if is_high(case.risk_level) else {"plan"}
                self.assertLessEqual(unmet, allowed, (case, earlier))
                checked += 1
            case.stage = stage
        # About one case in eight is open (cases.demo.seed_scale): some 35 of the 300, two or three gates each.
        self.assertGreater(checked, 50)

    def test_the_joint_dialogue_gate_held_when_each_circle_was_held(self):
        circles = Meeting.objects.filter(
            case__in=synthetic_cases(), kind=MeetingKind.CIRCLE, status=MeetingStatus.HELD
        ).select_related("case")
        self.assertTrue(circles.exists())
        for circle in circles:
            self.assertEqual(circle.case.track, Track.DIRECT_DIALOGUE)
            checkin = circle.checks.get(moment="in")
            conditions = gates.joint_gate(circle.case, now=checkin.at)
            # What changed later (a newer check, the plan reviewed again) is not the gate as it stood then;
            # the conditions of record must all have held, the approval after them.
            self.assertTrue(all(c["met"] for c in circle.gate_at_holding.values()))
            approval = Approval.objects.get(case=circle.case)
            self.assertTrue(is_supervisor_of(approval.approved_by, circle.case))
            self.assertLess(approval.approved_at, checkin.at)
            since = [
                datetime.datetime.fromisoformat(c["since"])
                for code, c in circle.gate_at_holding.items()
                if c["since"] and code != "approval"
            ]
            self.assertLessEqual(max(since), approval.approved_at)
            self.assertTrue({c.code for c in conditions} >= set(circle.gate_at_holding))

    def test_safety_state_agrees_with_the_checks_and_holds(self):
        for case in synthetic_cases():
            latest = (
                SafetyCheck.objects.filter(case=case).exclude(level="").order_by("-checked_at", "-id").first()
            )
            self.assertEqual(case.risk_level, latest.level if latest else "", case)
            open_hold = SafetyHold.objects.filter(case=case, lifted_at=None).first()
            self.assertEqual(case.on_hold, open_hold is not None)
            if open_hold is not None:
                self.assertTrue(is_high(case.risk_level))
                self.assertEqual(case.status, CaseStatus.OPEN)
        for hold in SafetyHold.objects.filter(case__in=synthetic_cases()):
            self.assertTrue(is_high(hold.opening_check.level))
            self.assertEqual(hold.alerts.count(), 1)
            if hold.lifted_at is not None:
                self.assertTrue(is_supervisor_of(hold.lifted_by, hold.case))
                self.assertGreater(hold.lift_check.checked_at, hold.opened_at)
                self.assertFalse(is_high(hold.lift_check.level))
                # Nothing with the other side while it was open.
                self.assertFalse(
                    Meeting.objects.filter(
                        case=hold.case,
                        status=MeetingStatus.HELD,
                        held_at__gt=hold.opened_at,
                        starts_at__lt=hold.lifted_at,
                        invitations__participant__role=ParticipantRole.PERSON_WHO_CAUSED_HARM,
                    ).exists()
                )

    def test_agreements_past_the_agreement_stage_are_affirmed_with_progress(self):
        past = synthetic_cases().filter(stage__in=[Stage.MONITORING, Stage.CLOSURE]).exclude(track="")
        contact = [case for case in past if TRACK_CONTACT[Track(case.track)] > 0]
        self.assertTrue(contact)
        for case in contact:
            version = AgreementVersion.objects.get(agreement__case=case)
            self.assertIsNotNone(version.affirmed_at)
            self.assertEqual(case.agreement_affirmed_at, version.affirmed_at)
            self.assertEqual(version.affirmations.count(), 2)
            self.assertGreaterEqual(version.commitments.count(), 2)
            self.assertGreater(version.drafted_at, version.reached_in.held_at)
        self.assertTrue(CheckIn.objects.filter(commitment__version__agreement__case__in=contact).exists())

    def test_evaluation_rows_are_as_the_scheduler_makes_them(self):
        now = timezone.now()
        rows = Timepoint.objects.filter(case__in=synthetic_cases())
        self.assertFalse(rows.filter(status=TimepointStatus.COMPLETED, response=None).exists())
        self.assertFalse(rows.filter(closes_at__gt=now).exclude(status=TimepointStatus.SCHEDULED).exists())
        self.assertFalse(rows.exclude(participant__consents__kind=ConsentKind.TAKE_PART).exists())
        self.assertFalse(rows.filter(participant__role=ParticipantRole.CHILD).exists())
        for row in rows.filter(status=TimepointStatus.COMPLETED).select_related("response")[:20]:
            self.assertEqual(row.response.version.instrument_id, row.instrument_id)
            self.assertTrue(row.opens_at <= row.completed_at <= row.closes_at)

    def test_case_pages_show_for_a_keeper_on_the_team(self):
        keeper = User.objects.get(email="keeper@harbor.example")
        sign_in(self.client, keeper)
        cases = synthetic_cases().filter(organization__slug="harbor", assignments__user=keeper)
        chosen = {}
        for case in cases:
            chosen.setdefault(case.stage, case)
        self.assertGreater(len(chosen), 5)
        for case in chosen.values():
            for name in (
                "cases:detail",
                "safety:case",
                "protocol:case",
                "protocol:meetings",
                "protocol:timeline",
                "accountability:agreement",
                "support:pods",
                "instruments:case_questionnaires",
            ):
                response = self.client.get(reverse(name, args=[case.pk]))
                self.assertEqual(response.status_code, 200, (name, case.stage))

    def test_a_second_run_adds_nothing_to_cases_already_filled(self):
        before = self.counts()
        self.assertEqual(seed_scale(SCALE, timezone.localdate()), 0)
        self.assertEqual(fill_scale(), {})
        self.assertEqual(self.counts(), before)
        # New synthetic cases are filled, the others left as they were.
        self.assertEqual(seed_scale(SCALE + 20, timezone.localdate()), 20)
        made = fill_scale()
        self.assertEqual(made["cases filled"], 20)
        after = self.counts()
        self.assertEqual(after["Participant"] - before["Participant"], made["Participant"])
        self.assertFalse(synthetic_cases().filter(participants=None).exists())

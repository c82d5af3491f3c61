"""Stages and their gates: a case moves only through `advance`, only when its gate holds, along its track."""

import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone

from circlekeeper.cases.models import CaseEvent, CaseStatus, EventKind, ParticipantRole, Stage
from circlekeeper.instruments.links import issue_link
from circlekeeper.protocol import gates, services
from circlekeeper.protocol.models import MeetingKind, MeetingStatus, Transition
from circlekeeper.protocol.services import GateClosed
from circlekeeper.protocol.tests.walk import Walk
from circlekeeper.safety.tests.checks import builtin_version, run_check
from circlekeeper.testing import PersonaTestCase


class StageTests(PersonaTestCase):
    def walk(self, track: str = "direct_dialogue") -> Walk:
        return Walk(self.case, self.alice, self.sam, track)

    def test_a_new_case_starts_at_referral_and_cannot_move_without_a_survivor_and_a_screen(self):
        self.assertEqual(self.case.stage, Stage.REFERRAL)
        with self.assertRaises(GateClosed) as refused:
            services.advance(case=self.case, by=self.alice)
        self.assertEqual({c.code for c in refused.exception.missing}, {"survivor", "screen"})
        self.assertIn("The survivor is recorded", str(refused.exception))
        self.assertFalse(Transition.objects.exists())

    def test_a_direct_track_case_walks_from_referral_to_agreement_with_every_step_recorded(self):
        walk = self.walk()
        walk.to_agreement()
        self.assertEqual(
            list(Transition.objects.filter(case=self.case).values_list("to_stage", flat=True)),
            [
                Stage.INTAKE,
                Stage.SAFETY_PLANNING,
                Stage.MAPPING_SUPPORT,
                Stage.PREPARATION,
                Stage.DIALOGUE,
                Stage.AGREEMENT,
            ],
        )
        self.assertEqual(CaseEvent.objects.filter(case=self.case, kind=EventKind.STAGE_CHANGED).count(), 6)

    def test_the_agreement_gate_waits_for_an_affirmed_agreement(self):
        walk = self.walk()
        walk.to_agreement()
        with self.assertRaises(GateClosed) as refused:
            services.advance(case=self.case, by=self.alice)
        self.assertEqual([c.code for c in refused.exception.missing], ["agreement"])

    def test_intake_needs_the_account_or_harm_types_a_full_check_and_the_survivors_choice(self):
        walk = self.walk()
        walk.to_intake()
        missing = {c.code for c in gates.unmet(gates.stage_conditions(self.case))}
        self.assertEqual(missing, {"intake", "assessment", "track"})

    def test_danger_at_the_screen_puts_safety_actions_first(self):
        walk = self.walk()
        walk.people()
        run_check(walk.survivor, "danger_now", code="immediate_danger")
        self.case.refresh_from_db()
        missing = {c.code for c in gates.unmet(gates.stage_conditions(self.case))}
        self.assertEqual(missing, {"safety_first"})

    def test_safety_planning_needs_a_plan_or_a_recorded_decline(self):
        walk = self.walk()
        walk.to_safety_planning()
        self.assertEqual([c.code for c in gates.unmet(gates.stage_conditions(self.case))], ["plan"])
        from circlekeeper.safety.services import save_plan

        save_plan(survivor=walk.survivor, revision=0, by=self.ada, declined=True)
        walk.advance()
        self.assertEqual(self.case.stage, Stage.MAPPING_SUPPORT)

    def test_mapping_support_needs_supporters_for_both_parties_and_a_safety_monitor_on_a_track_with_contact(
        self,
    ):
        walk = self.walk()
        walk.to_mapping_support()
        missing = {c.code for c in gates.unmet(gates.stage_conditions(self.case))}
        self.assertEqual(missing, {"survivor_supporter", "harm_supporter", "monitor"})

    def test_support_only_cases_never_enter_preparation_or_dialogue(self):
        walk = self.walk("support_only")
        walk.to_mapping_support()
        from circlekeeper.testing import make_participant

        make_participant(self.case, role=ParticipantRole.SURVIVOR_SUPPORTER, label="Sister")
        walk.advance()
        self.assertEqual(self.case.stage, Stage.MONITORING)
        with self.assertRaises(ValidationError):
            walk.advance()  # from monitoring: a reason is needed
        walk.advance("The survivor's goals are met.")
        self.assertEqual(self.case.stage, Stage.CLOSURE)
        with self.assertRaises(GateClosed):
            walk.advance()  # the exit safety check first
        run_check(walk.survivor)
        walk.advance("Closed with the survivor.")
        self.case.refresh_from_db()
        self.assertEqual(self.case.status, CaseStatus.CLOSED)
        self.assertFalse(Transition.objects.filter(case=self.case, to_stage=Stage.DIALOGUE).exists())

    def test_preparation_needs_meetings_with_each_party_and_the_acknowledgment(self):
        walk = self.walk()
        walk.to_preparation()
        missing = {c.code for c in gates.unmet(gates.stage_conditions(self.case))}
        self.assertEqual(missing, {"prep_survivor", "prep_harm", "acknowledgment"})


class WithdrawalTests(PersonaTestCase):
    def test_withdrawal_is_immediate_and_stops_everything_with_the_other_side(self):
        walk = Walk(self.case, self.alice, self.sam)
        walk.to_preparation()
        later = timezone.now() + datetime.timedelta(days=2)
        with_harm = services.schedule_meeting(
            case=self.case, kind=MeetingKind.PREPARATION, starts_at=later, invitees=[walk.harm], by=self.alice
        )
        with_survivor = services.schedule_meeting(
            case=self.case,
            kind=MeetingKind.PREPARATION,
            starts_at=later,
            invitees=[walk.survivor],
            by=self.alice,
        )
        link, _token = issue_link(
            participant=walk.harm,
            version=builtin_version("experience_of_process"),
            purpose="T1",
            expires_at=later,
            by=self.alice,
            channel="phone_call",
            when=timezone.now(),
        )
        services.withdraw(case=self.case, by=self.ada, reason="Told Ada on the phone")
        self.case.refresh_from_db()
        with_harm.refresh_from_db()
        with_survivor.refresh_from_db()
        link.refresh_from_db()
        self.assertEqual(self.case.status, CaseStatus.WITHDRAWN)
        self.assertEqual(with_harm.status, MeetingStatus.CANCELLED)
        self.assertEqual(with_survivor.status, MeetingStatus.SCHEDULED)  # her own support goes on
        self.assertIsNotNone(link.revoked_at)
        with self.assertRaises(ValidationError):
            services.schedule_meeting(
                case=self.case,
                kind=MeetingKind.PREPARATION,
                starts_at=later,
                invitees=[walk.harm],
                by=self.alice,
            )

    def test_a_referral_out_records_where_and_why(self):
        transition = services.refer_out(
            case=self.case, by=self.alice, referred_to="County shelter", reason="Wants a safe place tonight"
        )
        self.case.refresh_from_db()
        self.assertEqual(self.case.status, CaseStatus.REFERRED_OUT)
        self.assertEqual(Transition.objects.get(pk=transition.pk).referred_to, "County shelter")
        with self.assertRaises(ValidationError):
            services.refer_out(case=self.case, by=self.alice, referred_to="x", reason="y")

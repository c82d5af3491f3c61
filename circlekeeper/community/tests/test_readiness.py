"""A community facilitator's readiness: required competencies from completed trainings, checked before they join
the team of a case on a dialogue track, before a dialogue meeting is scheduled on a case whose team they are on,
and before such a case moves to a dialogue track. Each refusal names who is not ready and what they miss, and
writes nothing."""

import datetime
from decimal import Decimal

import time_machine
from django.core.exceptions import ValidationError

from circlekeeper.cases import choice
from circlekeeper.cases.models import CaseAssignment, Stage, Track, TrackChoice
from circlekeeper.community import activities
from circlekeeper.community.models import Competency
from circlekeeper.community.readiness import readiness_of
from circlekeeper.community.tests.test_facilitators_factory import (
    make_facilitator,
    make_facilitator_account,
    train,
)
from circlekeeper.protocol import services as protocol
from circlekeeper.protocol.models import Meeting, MeetingKind
from circlekeeper.testing import PersonaTestCase, make_case, make_participant

NOW = datetime.datetime(2026, 5, 4, 10, 0, tzinfo=datetime.UTC)


@time_machine.travel(NOW, tick=False)
class ReadinessTests(PersonaTestCase):
    def setUp(self):
        activities.set_requirement(
            organization=self.harbor,
            competency=Competency.CIRCLE_KEEPING,
            minimum_hours=Decimal(12),
            by=self.pat,
        )
        activities.set_requirement(
            organization=self.harbor,
            competency=Competency.SAFETY_PLANNING,
            minimum_hours=Decimal(0),
            by=self.pat,
        )
        self.rosa = make_facilitator_account(
            self.harbor, self.pat, "rosa@harbor.example", name="Rosa Planted"
        )

    def test_a_facilitator_without_training_is_not_ready_and_the_shortfall_names_each_competency(self):
        readiness = readiness_of(self.rosa)
        self.assertFalse(readiness.ready)
        self.assertEqual(
            readiness.missing_text(),
            "Keeping a circle (0 of 12 hours of completed training); Safety planning and risk (not yet covered)",
        )

    def test_completed_trainings_covering_each_competency_make_them_ready(self):
        train(self.rosa, self.pat, competencies=[Competency.CIRCLE_KEEPING], hours="8")
        self.assertEqual(
            readiness_of(self.rosa).missing_text(),
            "Keeping a circle (8 of 12 hours of completed training); Safety planning and risk (not yet covered)",
        )
        train(
            self.rosa,
            self.pat,
            competencies=[Competency.CIRCLE_KEEPING, Competency.SAFETY_PLANNING],
            hours="4",
            date=datetime.date(2026, 2, 2),
        )
        readiness = readiness_of(self.rosa)
        self.assertTrue(readiness.ready)
        self.assertEqual(readiness.total_hours, Decimal(12))
        self.assertEqual(readiness.competency_labels, ["Safety planning and risk", "Keeping a circle"])

    def test_a_training_not_completed_does_not_count(self):
        train(self.rosa, self.pat, competencies=[Competency.CIRCLE_KEEPING], hours="12", completed=False)
        train(
            self.rosa,
            self.pat,
            competencies=[Competency.SAFETY_PLANNING],
            hours="2",
            date=datetime.date(2026, 2, 1),
        )
        readiness = readiness_of(self.rosa)
        self.assertFalse(readiness.ready)
        self.assertEqual(readiness.total_hours, Decimal(14))
        self.assertEqual(readiness.completed_hours, Decimal(2))
        self.assertEqual([s.competency for s in readiness.missing], [Competency.CIRCLE_KEEPING])

    def test_a_competency_recorded_from_elsewhere_meets_a_requirement_of_no_hours_only(self):
        activities.change_facilitator(
            facilitator=self.rosa,
            by=self.pat,
            lock_version=self.rosa.lock_version,
            name="Rosa Planted",
            role=self.rosa.role,
            competencies=[Competency.SAFETY_PLANNING, Competency.CIRCLE_KEEPING],
            user=self.rosa.user,
        )
        self.rosa.refresh_from_db()
        missing = readiness_of(self.rosa).missing
        self.assertEqual([(s.competency, s.hours, s.minimum) for s in missing], [("circle_keeping", 0, 12)])

    def test_no_requirements_means_ready(self):
        bridge_like = make_facilitator(self.valley, self.pat, name="Vale")
        self.assertTrue(readiness_of(bridge_like).ready)


@time_machine.travel(NOW, tick=False)
class TeamAndDialogueChecksTests(PersonaTestCase):
    def setUp(self):
        activities.set_requirement(
            organization=self.harbor,
            competency=Competency.CIRCLE_KEEPING,
            minimum_hours=Decimal(12),
            by=self.pat,
        )
        self.rosa = make_facilitator_account(
            self.harbor, self.pat, "rosa@harbor.example", name="Rosa Planted"
        )
        assert self.rosa.user is not None
        self.rosa_user = self.rosa.user

    def _ready(self):
        train(self.rosa, self.pat, competencies=[Competency.CIRCLE_KEEPING], hours="12")

    def test_joining_a_dialogue_case_is_refused_naming_what_is_missing_and_allowed_once_trained(self):
        case = make_case(self.harbor, track=Track.DIRECT_DIALOGUE, team=((self.sam, "supervisor"),))
        with self.assertRaises(ValidationError) as refused:
            activities.add_to_team(case=case, facilitator=self.rosa, by=self.sam)
        self.assertEqual(
            refused.exception.message_dict["facilitator"],
            [
                "rosa is not yet ready for a dialogue: missing Keeping a circle "
                "(0 of 12 hours of completed training)."
            ],
        )
        self.assertFalse(CaseAssignment.objects.filter(case=case, user=self.rosa_user).exists())
        self._ready()
        activities.add_to_team(case=case, facilitator=self.rosa, by=self.sam)
        self.assertEqual(
            list(
                CaseAssignment.objects.filter(case=case, user=self.rosa_user).values_list("role", flat=True)
            ),
            ["keeper"],
        )

    def test_an_unready_facilitator_may_join_a_case_without_dialogue(self):
        case = make_case(self.harbor, track=Track.SUPPORT_ONLY)
        activities.add_to_team(case=case, facilitator=self.rosa, by=self.sam)
        activities.add_to_team(case=case, facilitator=self.rosa, by=self.sam)  # sent twice: one assignment
        self.assertEqual(CaseAssignment.objects.filter(case=case, user=self.rosa_user).count(), 1)

    def test_a_dialogue_meeting_is_refused_while_an_unready_facilitator_is_on_the_team(self):
        case = make_case(
            self.harbor,
            track=Track.INDIRECT_DIALOGUE,
            stage=Stage.PREPARATION,
            team=((self.alice, "keeper"), (self.sam, "supervisor")),
        )
        survivor = make_participant(case)
        # She joined the team before the organization set its requirement.
        CaseAssignment.objects.create(organization=self.harbor, case=case, user=self.rosa_user, role="keeper")
        starts = NOW + datetime.timedelta(days=3)

        def schedule(kind):
            return protocol.schedule_meeting(
                case=case, kind=kind, starts_at=starts, invitees=[survivor], by=self.alice
            )

        with self.assertRaises(ValidationError) as refused:
            schedule(MeetingKind.SHUTTLE)
        self.assertEqual(
            refused.exception.message_dict["kind"],
            [
                "This dialogue meeting cannot be scheduled yet.",
                "rosa is not yet ready for a dialogue: missing Keeping a circle "
                "(0 of 12 hours of completed training).",
            ],
        )
        self.assertFalse(Meeting.objects.filter(case=case).exists())
        # A preparation meeting is not a dialogue: it goes ahead.
        schedule(MeetingKind.PREPARATION)
        self._ready()
        shuttle = schedule(MeetingKind.SHUTTLE)
        self.assertEqual(shuttle.kind, MeetingKind.SHUTTLE)

    def test_a_circle_is_refused_before_the_joint_gate_is_even_asked(self):
        case = make_case(
            self.harbor, track=Track.DIRECT_DIALOGUE, stage=Stage.DIALOGUE, team=((self.alice, "keeper"),)
        )
        survivor = make_participant(case)
        harm = make_participant(case, role="person_who_caused_harm")
        CaseAssignment.objects.create(organization=self.harbor, case=case, user=self.rosa_user, role="keeper")
        with self.assertRaises(ValidationError) as refused:
            protocol.schedule_meeting(
                case=case,
                kind=MeetingKind.CIRCLE,
                starts_at=NOW + datetime.timedelta(days=3),
                invitees=[survivor, harm],
                by=self.alice,
            )
        self.assertIn("kind", refused.exception.message_dict)
        self.assertIn("rosa is not yet ready", " ".join(refused.exception.messages))

    def test_moving_a_case_to_a_dialogue_track_is_refused_while_an_unready_facilitator_is_on_the_team(self):
        case = make_case(self.harbor, team=((self.alice, "keeper"), (self.sam, "supervisor")))
        survivor = make_participant(case)
        activities.add_to_team(case=case, facilitator=self.rosa, by=self.sam)

        def choose(track):
            return choice.choose_track(
                case=case,
                survivor=survivor,
                track=track,
                explained_by=self.alice,
                explained_on=datetime.date(2026, 5, 1),
                by=self.alice,
            )

        choose(Track.COMMUNITY_ACCOUNTABILITY)
        with self.assertRaises(ValidationError) as refused:
            choose(Track.DIRECT_DIALOGUE)
        self.assertEqual(
            refused.exception.message_dict["track"],
            [
                "A dialogue track cannot be chosen while a community facilitator on the team is not ready.",
                "rosa is not yet ready for a dialogue: missing Keeping a circle "
                "(0 of 12 hours of completed training).",
            ],
        )
        case.refresh_from_db()
        self.assertEqual(case.track, Track.COMMUNITY_ACCOUNTABILITY)
        self.assertEqual(TrackChoice.objects.filter(case=case).count(), 1)
        self._ready()
        choose(Track.DIRECT_DIALOGUE)
        case.refresh_from_db()
        self.assertEqual(case.track, Track.DIRECT_DIALOGUE)

    def test_a_facilitator_without_account_or_inactive_cannot_join_a_team(self):
        case = make_case(self.harbor)
        no_account = make_facilitator(self.harbor, self.pat, name="No Account")
        with self.assertRaises(ValidationError) as refused:
            activities.add_to_team(case=case, facilitator=no_account, by=self.sam)
        self.assertIn("no account", refused.exception.messages[0])
        activities.change_facilitator(
            facilitator=self.rosa,
            by=self.pat,
            lock_version=self.rosa.lock_version,
            name="Rosa Planted",
            role=self.rosa.role,
            active=False,
            user=self.rosa_user,
        )
        self.rosa.refresh_from_db()
        with self.assertRaises(ValidationError) as refused:
            activities.add_to_team(case=case, facilitator=self.rosa, by=self.sam)
        self.assertEqual(refused.exception.messages, ["This facilitator is not active."])

    def test_a_facilitator_of_another_organization_is_refused(self):
        valley_case = make_case(self.valley)
        with self.assertRaises(ValidationError):
            activities.add_to_team(case=valley_case, facilitator=self.rosa, by=self.sam)
        self.assertFalse(CaseAssignment.objects.filter(case=valley_case).exists())

"""Agreement versions: a draft may change (the second editor is refused), the first affirmation freezes it, every
party's affirmation puts it in force; a change is a new version copied from the latest, with the same commitment
numbers, which must be affirmed again; old versions are kept. The protocol's agreement gate follows."""

import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone

from circlekeeper.accountability import services
from circlekeeper.accountability.models import (
    Affirmation,
    AgreementVersion,
    Commitment,
    CommitmentKind,
    HowAffirmed,
    VersionStatus,
    in_force,
)
from circlekeeper.accountability.tests.helpers import walked
from circlekeeper.cases.choice import choose_track
from circlekeeper.cases.models import CaseEvent, EventKind, ParticipantRole, Stage
from circlekeeper.cases.participants import StaleEdit
from circlekeeper.protocol import services as protocol
from circlekeeper.protocol.services import GateClosed
from circlekeeper.safety.services import report_new_violence, save_plan
from circlekeeper.testing import PersonaTestCase, make_participant


class VersioningTests(PersonaTestCase):
    def setUp(self):
        self.walk = walked(self.case, self.alice, self.sam)

    def test_a_draft_can_change_until_a_party_affirms_it_and_then_it_is_frozen(self):
        version = self.walk.draft()
        commitment = self.walk.add(version, supporter=self.walk.uncle)
        services.change_commitment(
            commitment=commitment,
            by=self.alice,
            lock_version=version.lock_version,
            kind=CommitmentKind.STOP_BEHAVIOR,
            description="No shouting at home",
            evidence="The uncle checks in every Sunday",
            supporter=self.walk.uncle,
            cadence="weekly",
            concerns=["threats"],
        )
        commitment.refresh_from_db()
        self.assertEqual((commitment.kind, commitment.description), ("stop_behavior", "No shouting at home"))
        self.walk.affirm(version, self.walk.survivor)
        version.refresh_from_db()
        self.assertIsNotNone(version.frozen_at)
        self.assertIsNone(version.affirmed_at)
        with self.assertRaisesMessage(ValidationError, "it can no longer change"):
            self.walk.add(version)
        with self.assertRaisesMessage(ValidationError, "it can no longer change"):
            services.remove_commitment(
                commitment=commitment, by=self.alice, lock_version=version.lock_version
            )
        self.assertEqual(Commitment.objects.filter(version=version).count(), 1)

    def test_a_second_editor_working_from_an_older_page_is_refused_and_nothing_is_written(self):
        version = self.walk.draft()
        seen = version.lock_version
        self.walk.add(version, description="First")
        with self.assertRaises(StaleEdit):
            services.add_commitment(
                version=version,
                by=self.ada,
                lock_version=seen,
                kind=CommitmentKind.OTHER,
                description="Second, from an older page",
                evidence="Seen",
                cadence="once",
            )
        self.assertEqual(Commitment.objects.filter(version=version).count(), 1)

    def test_the_same_commitment_sent_twice_is_one_record(self):
        version = self.walk.draft()
        first = self.walk.add(version, description="Pay back the rent money")
        again = services.add_commitment(
            version=version,
            by=self.alice,
            lock_version=version.lock_version - 1,
            kind=CommitmentKind.ATTEND_PROGRAM,
            description="Pay back the rent money",
            evidence="The group leader confirms attendance",
            cadence="weekly",
        )
        self.assertEqual(again, first)
        self.assertEqual(Commitment.objects.count(), 1)

    def test_the_version_is_in_force_once_every_party_affirmed_it_and_the_case_knows_when(self):
        version = self.walk.draft()
        self.walk.add(version)
        self.walk.affirm(version, self.walk.survivor)
        self.case.refresh_from_db()
        self.assertIsNone(self.case.agreement_affirmed_at)
        self.walk.affirm(version, self.walk.harm)
        version.refresh_from_db()
        self.assertIsNotNone(version.affirmed_at)
        self.assertEqual(self.case.agreement_affirmed_at, version.affirmed_at)
        kinds = list(
            CaseEvent.objects.filter(case=self.case, kind__startswith="agreement.")
            .order_by("at", "id")
            .values_list("kind", "facts")
        )
        self.assertEqual(
            kinds,
            [
                (EventKind.AGREEMENT_DRAFTED, {"version": "1"}),
                (EventKind.AGREEMENT_PARTY_AFFIRMED, {"version": "1", "participant": "Survivor A"}),
                (EventKind.AGREEMENT_PARTY_AFFIRMED, {"version": "1", "participant": "Person B"}),
                (EventKind.AGREEMENT_AFFIRMED, {"version": "1"}),
            ],
        )

    def test_a_new_version_copies_the_commitments_with_their_numbers_and_must_be_affirmed_again(self):
        first, (one, two) = self.walk.in_force({"description": "One"}, {"description": "Two"})
        affirmed_at = self.case.agreement_affirmed_at
        second = self.walk.draft()
        self.assertEqual(second.number, 2)
        copied = list(second.commitments.order_by("number"))
        self.assertEqual(
            [(c.number, c.description) for c in copied], [(one.number, "One"), (two.number, "Two")]
        )
        services.remove_commitment(commitment=copied[0], by=self.alice, lock_version=second.lock_version)
        three = self.walk.add(second, description="Three")
        self.assertEqual(three.number, 3)  # a number is never given twice
        self.assertEqual(in_force(list(AgreementVersion.objects.all())), first)
        self.walk.affirm(second, self.walk.survivor)
        self.assertEqual(self.case.agreement_affirmed_at, affirmed_at)  # the first version is still in force
        self.walk.affirm(second, self.walk.harm)
        second.refresh_from_db()
        self.assertEqual(in_force(list(AgreementVersion.objects.all())), second)
        self.assertEqual(self.case.agreement_affirmed_at, second.affirmed_at)
        first.refresh_from_db()
        self.assertEqual(
            [c.description for c in first.commitments.order_by("number")], ["One", "Two"]
        )  # old versions are kept as they were
        numbers = {"in_force": 2, "latest": 2}
        self.assertEqual(first.status(**numbers), VersionStatus.REPLACED)
        self.assertEqual(second.status(**numbers), VersionStatus.IN_FORCE)

    def test_only_one_draft_at_a_time(self):
        self.walk.draft()
        with self.assertRaisesMessage(ValidationError, "A draft is already open"):
            services.draft_version(
                case=self.case, by=self.ada, risk_reviewed=True, reached_in=self.walk.dialogue()
            )

    def test_drafting_twice_in_a_double_click_is_one_version(self):
        first = self.walk.draft()
        self.assertEqual(self.walk.draft(), first)
        self.assertEqual(AgreementVersion.objects.count(), 1)

    def test_the_plan_must_be_reviewed_with_the_survivor_for_risk(self):
        with self.assertRaisesMessage(ValidationError, "must not raise the risk"):
            self.walk.draft(risk_reviewed=False)
        self.assertFalse(AgreementVersion.objects.exists())

    def test_on_the_direct_track_the_first_version_names_the_circle_it_was_reached_in(self):
        with self.assertRaisesMessage(ValidationError, "choose the circle or conference"):
            self.walk.draft(reached_in=None)
        preparation = self.case.meetings.filter(kind="preparation").first()
        with self.assertRaisesMessage(
            ValidationError, "Choose a dialogue meeting of this case that was held"
        ):
            self.walk.draft(reached_in=preparation)
        self.assertFalse(AgreementVersion.objects.exists())

    def test_affirmation_needs_a_commitment_a_party_and_a_date_not_in_the_future(self):
        version = self.walk.draft()

        def affirm(**kwargs):
            values = {
                "participant": self.walk.survivor,
                "affirmed_on": timezone.localdate(),
                "how": HowAffirmed.WRITTEN,
                **kwargs,
            }
            services.record_affirmation(version=version, by=self.alice, **values)

        with self.assertRaisesMessage(ValidationError, "at least one commitment"):
            affirm()
        self.walk.add(version)
        with self.assertRaisesMessage(ValidationError, "Choose a party"):
            affirm(participant=self.walk.uncle)
        with self.assertRaisesMessage(ValidationError, "cannot be in the future"):
            affirm(affirmed_on=timezone.localdate() + datetime.timedelta(days=1))
        self.assertFalse(Affirmation.objects.exists())
        affirm()
        affirm()  # the same affirmation sent twice
        self.assertEqual(Affirmation.objects.count(), 1)

    def test_the_person_who_caused_harm_cannot_affirm_while_the_case_is_on_hold(self):
        version = self.walk.draft()
        self.walk.add(version)
        self.walk.affirm(version, self.walk.survivor)
        report_new_violence(case=self.case, by=self.alice, details="He came to the house")
        self.case.refresh_from_db()
        with self.assertRaisesMessage(ValidationError, "safety hold"):
            self.walk.affirm(version, self.walk.harm)
        version.refresh_from_db()
        self.assertIsNone(version.affirmed_at)
        self.assertEqual(Affirmation.objects.count(), 1)

    def test_a_later_version_sets_aside_one_that_was_never_affirmed_by_everyone(self):
        first = self.walk.draft()
        self.walk.add(first)
        self.walk.affirm(first, self.walk.survivor)
        second = self.walk.draft()
        self.assertEqual(second.number, 2)
        self.assertEqual(first.status(in_force=None, latest=2), VersionStatus.SET_ASIDE)
        with self.assertRaisesMessage(ValidationError, "A later version replaced this one"):
            self.walk.affirm(first, self.walk.harm)

    def test_an_agreement_needs_a_track_with_contact(self):
        choose_track(
            case=self.case,
            survivor=self.walk.survivor,
            track="support_only",
            explained_by=self.alice,
            explained_on=timezone.localdate(),
            by=self.alice,
        )
        self.case.refresh_from_db()
        with self.assertRaisesMessage(ValidationError, "brings no contact"):
            self.walk.draft()


class AgreementGateTests(PersonaTestCase):
    def test_the_case_moves_on_from_the_agreement_stage_only_once_every_party_affirmed(self):
        walk = walked(self.case, self.alice, self.sam)
        version = walk.draft()
        walk.add(version)
        with self.assertRaises(GateClosed):
            protocol.advance(case=self.case, by=self.alice)
        walk.affirm(version, walk.survivor)
        with self.assertRaises(GateClosed):
            protocol.advance(case=self.case, by=self.alice)
        walk.affirm(version, walk.harm)
        protocol.advance(case=self.case, by=self.alice)
        self.case.refresh_from_db()
        self.assertEqual(self.case.stage, Stage.MONITORING)

    def test_on_the_community_track_the_agreement_is_reached_through_the_keeper(self):
        walk = walked(self.case, self.alice, self.sam, track="community_accountability")
        version = walk.draft(reached_in=None)
        walk.add(version)
        walk.affirm(version)
        self.assertIsNotNone(self.case.agreement_affirmed_at)

    def test_a_second_survivor_must_affirm_too(self):
        walk = walked(self.case, self.alice, self.sam)
        other = make_participant(self.case, role=ParticipantRole.SURVIVOR, label="Survivor C")
        # Each survivor's plan (or decision not to have one) before anything involves the other side (issue 17).
        save_plan(survivor=other, revision=0, by=self.alice, declined=True)
        version = walk.draft()
        walk.add(version)
        walk.affirm(version, walk.survivor, walk.harm)
        version.refresh_from_db()
        self.assertIsNone(version.affirmed_at)
        walk.affirm(version, other)
        version.refresh_from_db()
        self.assertIsNotNone(version.affirmed_at)

"""Consent: dated, written or oral, revocable at once; the survivor's withdrawal stops every action that
involves the person who caused harm immediately (PROTOCOL.md principle 1)."""

import datetime

from django.core.exceptions import ValidationError

from circlekeeper.cases import participants as services
from circlekeeper.cases.choice import choose_track
from circlekeeper.cases.contact import contact_allowed, harm_action_refusal
from circlekeeper.cases.models import (
    CaseEvent,
    Consent,
    ConsentKind,
    EventKind,
    Participant,
    ParticipantRole,
    Track,
)
from circlekeeper.instruments.links import ContactRefused
from circlekeeper.instruments.tests.survey import make_link, make_survey_version
from circlekeeper.testing import PersonaTestCase, make_participant, ready_for_contact

NOW = datetime.datetime(2026, 5, 4, 10, 0, tzinfo=datetime.UTC)


class ConsentTests(PersonaTestCase):
    survivor: Participant
    harm: Participant
    supporter: Participant

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.survivor = make_participant(cls.case, label="Survivor A")
        cls.harm = make_participant(cls.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Person B")
        cls.supporter = make_participant(cls.case, role=ParticipantRole.HARM_SUPPORTER, label="Supporter C")
        choose_track(
            case=cls.case,
            survivor=cls.survivor,
            track=Track.COMMUNITY_ACCOUNTABILITY,
            explained_by=cls.alice,
            explained_on=NOW.date(),
            by=cls.alice,
        )
        ready_for_contact(cls.case, cls.alice)

    def take_part(self):
        return Consent.objects.get(participant=self.survivor, kind=ConsentKind.TAKE_PART)

    def test_with_current_consent_and_a_track_with_contact_the_person_who_caused_harm_may_be_contacted(self):
        self.assertIsNone(harm_action_refusal(self.case))
        self.assertTrue(contact_allowed(self.harm, "phone_call", NOW).allowed)

    def test_the_survivors_withdrawal_stops_contact_with_the_other_side_at_once(self):
        services.withdraw_consent(consent=self.take_part(), how="oral", by=self.alice)
        for participant in (self.harm, self.supporter):
            decision = contact_allowed(participant, "phone_call", NOW)
            self.assertFalse(decision.allowed)
            self.assertIn("no current consent to take part", decision.reason)
        # The survivor's own support does not depend on it.
        self.assertTrue(contact_allowed(self.survivor, "phone_call", NOW).allowed)

    def test_after_withdrawal_no_link_goes_to_the_person_who_caused_harm(self):
        version = make_survey_version()
        services.withdraw_consent(consent=self.take_part(), how="written", by=self.alice)
        with self.assertRaises(ContactRefused):
            make_link(self.harm, version, when=NOW, by=self.alice, channel="phone_call")
        self.assertFalse(self.harm.links.exists())

    def test_withdrawal_is_dated_kept_and_counted_once(self):
        consent = self.take_part()
        self.assertTrue(services.withdraw_consent(consent=consent, how="oral", by=self.alice))
        first = consent.revoked_at
        self.assertFalse(services.withdraw_consent(consent=consent, how="written", by=self.sam))
        consent.refresh_from_db()
        self.assertEqual(
            (consent.revoked_at, consent.revoked_how, consent.revoked_by), (first, "oral", self.alice)
        )
        self.assertEqual(
            CaseEvent.objects.filter(case=self.case, kind=EventKind.CONSENT_WITHDRAWN).count(), 1
        )

    def test_consent_given_again_makes_contact_possible_again(self):
        services.withdraw_consent(consent=self.take_part(), how="oral", by=self.alice)
        services.record_consent(
            participant=self.survivor,
            kind=ConsentKind.TAKE_PART,
            how_given="oral",
            given_on=NOW.date(),
            by=self.alice,
        )
        self.assertTrue(contact_allowed(self.harm, "phone_call", NOW).allowed)

    def test_a_participants_own_consent_to_be_contacted_is_needed_too(self):
        contact = Consent.objects.get(participant=self.harm, kind=ConsentKind.CONTACT)
        services.withdraw_consent(consent=contact, how="oral", by=self.alice)
        self.assertIn(
            "no current consent to be contacted", contact_allowed(self.harm, "phone_call", NOW).reason
        )

    def test_a_track_without_contact_refuses_contact_with_the_person_who_caused_harm(self):
        choose_track(
            case=self.case,
            survivor=self.survivor,
            track=Track.SUPPORT_ONLY,
            explained_by=self.alice,
            explained_on=NOW.date(),
            by=self.alice,
        )
        self.assertIn("Support only", contact_allowed(self.harm, "phone_call", NOW).reason)

    def test_a_case_without_a_chosen_track_refuses_it(self):
        harm = make_participant(self.other_team_case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM)
        make_participant(self.other_team_case, label="Survivor Z")
        self.assertIn("not chosen a track", contact_allowed(harm, "phone_call", NOW).reason)

    def test_a_case_without_a_survivor_refuses_it(self):
        harm = make_participant(self.other_team_case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM)
        self.assertIn("No survivor", contact_allowed(harm, "phone_call", NOW).reason)

    def test_consent_to_share_names_who_with(self):
        with self.assertRaises(ValidationError) as refused:
            services.record_consent(
                participant=self.survivor,
                kind=ConsentKind.SHARE,
                how_given="written",
                given_on=NOW.date(),
                by=self.alice,
            )
        self.assertIn("share_with", refused.exception.message_dict)

    def test_consent_cannot_be_dated_in_the_future(self):
        with self.assertRaises(ValidationError):
            services.record_consent(
                participant=self.survivor,
                kind=ConsentKind.CONTACT,
                how_given="oral",
                given_on=datetime.date.today() + datetime.timedelta(days=2),
                by=self.alice,
            )

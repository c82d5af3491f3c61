"""The survivor's choice of track: recorded with who explained it and when, history kept, gates enforced."""

import datetime

from django.core.exceptions import ValidationError

from circlekeeper.cases import participants as services
from circlekeeper.cases.choice import OPTIONS, choose_track
from circlekeeper.cases.models import Consent, ConsentKind, Participant, ParticipantRole, Track, TrackChoice
from circlekeeper.testing import PersonaTestCase, make_participant

TODAY = datetime.date(2026, 5, 4)


class TrackChoiceTests(PersonaTestCase):
    survivor: Participant

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.survivor = make_participant(cls.case, label="Survivor A")

    def choose(self, track, **kwargs):
        kwargs.setdefault("explained_by", self.ada)
        return choose_track(
            case=self.case, survivor=self.survivor, track=track, explained_on=TODAY, by=self.alice, **kwargs
        )

    def test_every_track_of_the_protocol_is_offered(self):
        self.assertEqual([option.track for option in OPTIONS], list(Track))

    def test_changes_of_track_keep_their_history(self):
        self.choose(Track.SUPPORT_ONLY, in_their_words="I just want to be safe for now")
        self.choose(Track.COMMUNITY_ACCOUNTABILITY)
        self.case.refresh_from_db()
        self.assertEqual(self.case.track, Track.COMMUNITY_ACCOUNTABILITY)
        history = list(TrackChoice.objects.filter(case=self.case).order_by("recorded_at", "id"))
        self.assertEqual(
            [(c.previous_track, c.track) for c in history],
            [("", Track.SUPPORT_ONLY), (Track.SUPPORT_ONLY, Track.COMMUNITY_ACCOUNTABILITY)],
        )
        self.assertEqual(history[0].explained_by, self.ada)
        self.assertEqual(history[0].in_their_words, "I just want to be safe for now")

    def test_a_track_with_contact_needs_the_survivors_current_consent_to_take_part(self):
        consent = Consent.objects.get(participant=self.survivor, kind=ConsentKind.TAKE_PART)
        services.withdraw_consent(consent=consent, how="oral", by=self.alice)
        with self.assertRaises(ValidationError):
            self.choose(Track.INDIRECT_DIALOGUE)
        self.choose(Track.SUPPORT_ONLY)  # support never depends on it

    def test_the_one_who_explained_must_be_on_the_team(self):
        with self.assertRaises(ValidationError) as refused:
            self.choose(Track.SUPPORT_ONLY, explained_by=self.bob)
        self.assertIn("explained_by", refused.exception.message_dict)
        self.assertFalse(TrackChoice.objects.exists())

    def test_only_a_survivor_of_this_case_chooses(self):
        harm = make_participant(self.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Person B")
        with self.assertRaises(ValidationError):
            choose_track(
                case=self.case,
                survivor=harm,
                track=Track.SUPPORT_ONLY,
                explained_by=self.alice,
                explained_on=TODAY,
                by=self.alice,
            )

    def test_while_on_hold_moving_to_more_contact_is_refused(self):
        self.choose(Track.COMMUNITY_ACCOUNTABILITY)
        self.case.on_hold = True  # set by the safety app; see safety/tests/test_holds.py for the real path
        self.case.save(update_fields=["on_hold"])
        with self.assertRaises(ValidationError):
            self.choose(Track.DIRECT_DIALOGUE)
        self.choose(Track.INDIRECT_DIALOGUE)  # same contact: allowed
        self.case.refresh_from_db()
        self.assertEqual(self.case.track, Track.INDIRECT_DIALOGUE)

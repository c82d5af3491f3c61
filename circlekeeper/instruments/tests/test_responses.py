"""A response points to the exact version answered, keeps every answer encrypted, and scores on submit."""

import datetime

import time_machine
from django.db.models import ProtectedError
from django.test import TestCase

from circlekeeper.accounts.models import Organization
from circlekeeper.cases.models import Case, Participant, ParticipantRole
from circlekeeper.instruments import expressions
from circlekeeper.instruments.definition import PNTS
from circlekeeper.instruments.models import InstrumentVersion, Response, ResponseStatus, Source
from circlekeeper.instruments.services import save_version
from circlekeeper.instruments.tests.helpers import make_definition
from circlekeeper.testing import make_case, make_organization, make_user

NOW = datetime.datetime(2026, 5, 4, 10, 0, tzinfo=datetime.UTC)


class ResponseTests(TestCase):
    harbor: Organization
    case: Case
    participant: Participant
    version: InstrumentVersion

    @classmethod
    def setUpTestData(cls):
        cls.harbor = make_organization(slug="harbor")
        cls.case = make_case(cls.harbor)
        cls.participant = Participant.objects.create(
            organization=cls.harbor, case=cls.case, role=ParticipantRole.SURVIVOR, label="Survivor A"
        )
        definition = make_definition()
        # Asked only to someone who said they were threatened.
        definition["sections"][0]["items"].append(
            {
                "code": "when",
                "type": "long_text",
                "label": {"en": "When?"},
                "show_if": expressions.translate_redcap("[threat] = '1'"),
            }
        )
        cls.version, _created = save_version(definition=definition, source=Source.MANUAL, owner=cls.harbor)

    def make_response(self, answers, **kwargs):
        return Response.objects.create(
            organization=self.harbor,
            version=self.version,
            participant=self.participant,
            case=self.case,
            purpose="T0",
            answers=answers,
            **kwargs,
        )

    def test_answers_are_stored_encrypted(self):
        response = self.make_response({"q1": "5", "when": "Last night, near the bus stop"})
        [raw] = Response.objects.filter(pk=response.pk).values_list("answers", flat=True)
        self.assertNotIn(b"bus stop", bytes(raw))
        self.assertEqual(
            Response.objects.get(pk=response.pk).answers["when"], "Last night, near the bus stop"
        )

    @time_machine.travel(NOW, tick=False)
    def test_submitting_records_skipped_items_scores_and_drops_answers_to_hidden_items(self):
        response = self.make_response(
            {
                "q1": "5",
                "q2": "4",
                "q3": "4",
                "q4": "2",
                "threat": "0",
                "weapon": PNTS,
                "when": "typed, then hidden",
            }
        )
        response.submit()
        response = Response.objects.get(pk=response.pk)
        self.assertEqual(response.status, ResponseStatus.SUBMITTED)
        self.assertEqual(response.submitted_at, NOW)
        self.assertEqual(response.skipped, ["when"])
        self.assertNotIn("when", response.answers)
        self.assertEqual(response.scores, {"total": 4.25, "risk": "high"})

    def test_a_visible_follow_up_keeps_its_answer(self):
        response = self.make_response({"threat": "1", "when": "Yesterday"})
        response.submit()
        self.assertEqual(response.skipped, [])
        self.assertEqual(response.answers["when"], "Yesterday")
        self.assertEqual(response.scores["risk"], "high")

    def test_a_version_with_responses_cannot_be_deleted(self):
        self.make_response({})
        with self.assertRaises(ProtectedError):
            self.version.delete()

    def test_staff_entering_for_a_participant_is_recorded(self):
        alice = make_user(organization=self.harbor)
        response = self.make_response({"q1": "1"}, entered_by_staff=alice)
        self.assertEqual(Response.objects.get(pk=response.pk).entered_by_staff, alice)

    def test_responses_are_read_per_organization(self):
        self.make_response({})
        self.assertEqual(Response.objects.for_organization(self.harbor).count(), 1)
        self.assertEqual(Response.objects.for_organization(make_organization()).count(), 0)

"""Planted data for the item-level, export and data-page tests (a base class: it holds no tests itself).

An instrument with every item type, answered by a survivor and a person who caused harm at Harbor, and by a
survivor at Valley. Markers are planted where nothing may leak from: the participants' labels, names and
emails, an identifying item, free text, a date, and an identifying number.
"""

import datetime

from django.test import override_settings

from circlekeeper.cases.models import Participant, ParticipantRole, Track
from circlekeeper.evaluation.models import (
    Anchor,
    Enrollment,
    EvaluationPlan,
    PlanTimepoint,
    Timepoint,
    TimepointStatus,
)
from circlekeeper.instruments.definition import PNTS
from circlekeeper.instruments.models import Instrument, InstrumentVersion, Response
from circlekeeper.instruments.services import save_version
from circlekeeper.lib import keys
from circlekeeper.testing import PersonaTestCase, make_participant

AT = datetime.datetime(2026, 3, 17, 15, 30, tzinfo=datetime.UTC)
LONG_A = "a_very_long_item_code_that_goes_past_thirty_two_characters_first"
LONG_B = "a_very_long_item_code_that_goes_past_thirty_two_characters_second"
MARKERS = (
    "Marker-Label-Survivor",
    "Marker-Label-Harm",
    "Marker Name Survivor",
    "marker-email@example.org",
    "Marker-Identifying-Answer",
    "Marker-Free-Text",
    "Marker-Long-Text",
    "1979-11-23",
    "4242424",
    "HAR-2026-0001",
)


def _text(en, es=None):
    return {"en": en, "es": es or f"{en} (es)"}


def _choices(*pairs):
    return [{"code": code, "label": _text(label)} for code, label in pairs]


def planted_definition(code="planted"):
    return {
        "code": code,
        "title": _text("Planted questionnaire", "Cuestionario plantado"),
        "languages": ["en", "es"],
        "default_language": "en",
        "sections": [
            {
                "code": "main",
                "title": _text("Main"),
                "items": [
                    {"code": "intro", "type": "descriptive", "label": _text("Think about the last month.")},
                    {
                        "code": "full_name",
                        "type": "short_text",
                        "identifying": True,
                        "label": _text("Your name"),
                    },
                    {"code": "story", "type": "long_text", "label": _text("Tell us more")},
                    {"code": "note", "type": "short_text", "label": _text("A short note")},
                    {"code": "born", "type": "date", "label": _text("Date of birth")},
                    {
                        "code": "case_number",
                        "type": "integer",
                        "identifying": True,
                        "label": _text("Your court case number"),
                    },
                    {
                        "code": "feel",
                        "type": "single_choice",
                        "prefer_not_to_say": True,
                        "label": _text("How safe do you feel?", "¿Qué tan a salvo se siente?"),
                        "choices": _choices(
                            ("1", "Not safe"), ("2", "Somewhat"), ("3", "Safe"), ("na", "No home")
                        ),
                    },
                    {"code": "helped", "type": "yes_no", "label": _text("Did the program help?")},
                    {
                        "code": "supports",
                        "type": "multiple_choice",
                        "prefer_not_to_say": True,
                        "label": _text("Who supports you?"),
                        "choices": _choices(
                            ("friends", "Friends"), ("family", "Family"), ("faith-group", "Faith")
                        ),
                    },
                    {"code": "visits", "type": "integer", "min": 0, "max": 50, "label": _text("Visits")},
                    {"code": "hours", "type": "decimal", "label": _text("Hours of sleep")},
                    {"code": "mood", "type": "slider", "min": 0, "max": 10, "label": _text("Mood")},
                    {
                        "code": LONG_A,
                        "type": "single_choice",
                        "label": _text("Long A"),
                        "choices": _choices(("1", "One"), ("2", "Two")),
                    },
                    {
                        "code": LONG_B,
                        "type": "single_choice",
                        "label": _text("Long B"),
                        "choices": _choices(("1", "One"), ("2", "Two")),
                    },
                ],
            }
        ],
        "scoring": {
            "scores": [
                {"code": "wellbeing", "label": _text("Well-being"), "method": "mean", "items": ["mood"]}
            ],
            "bands": [],
        },
    }


SURVIVOR_ANSWERS = {
    "full_name": "Marker-Identifying-Answer",
    "story": "Marker-Long-Text =cmd|' /C calc'!A0",
    "note": "Marker-Free-Text",
    "born": "1979-11-23",
    "case_number": 4242424,
    "feel": "2",
    "helped": "1",
    "supports": ["friends", "faith-group"],
    "visits": 7,
    "hours": 6.5,
    "mood": 8,
    LONG_A: "1",
    LONG_B: "2",
}
HARM_ANSWERS = {
    "full_name": "Marker-Identifying-Answer",
    "note": "Marker-Free-Text",
    "feel": "na",
    "helped": "0",
    "supports": PNTS,
    "visits": PNTS,
}


# These tests check each file's mechanics on a handful of planted people, every one of them unique: at k = 1 the
# k-anonymity plan (deidentify.py) changes nothing, so the rows are the planted ones. k = 5, the default, is
# tested in test_deidentify.py on the demo's data and on random data.
@override_settings(CIRCLEKEEPER_DEIDENTIFICATION_K=1)
class PlantedData(PersonaTestCase):
    """The personas, and the planted instrument and its responses (no tests of its own)."""

    version: InstrumentVersion
    instrument: Instrument
    survivor: Participant
    harm: Participant
    child: Participant
    valley_survivor: Participant
    survivor_response: Response
    harm_response: Response

    @classmethod
    def setUpTestData(cls):
        # Keys cached by an earlier test class belong to rows rolled back since (the per-test cache clearing
        # runs after setUpTestData): start without them, so this class makes and uses its own.
        keys.clear_key_cache(everything=True)
        super().setUpTestData()
        cls.version, _new = save_version(definition=planted_definition(), source="manual", owner=cls.harbor)
        cls.instrument = cls.version.instrument
        cls.case.track = Track.DIRECT_DIALOGUE
        cls.case.save()
        cls.survivor = make_participant(
            cls.case,
            label="Marker-Label-Survivor",
            name="Marker Name Survivor",
            email="marker-email@example.org",
        )
        cls.harm = make_participant(
            cls.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Marker-Label-Harm"
        )
        cls.child = make_participant(cls.case, role=ParticipantRole.CHILD, reachable=False, label="Kid")
        cls.valley_survivor = make_participant(cls.valley_case, label="Valley survivor")
        plan = EvaluationPlan.objects.create(organization=cls.harbor, name="Plan")
        t0 = PlanTimepoint.objects.create(plan=plan, code="T0", label="Intake", anchor=Anchor.ENROLMENT)
        enrollment = Enrollment.objects.create(
            organization=cls.harbor, case=cls.case, plan=plan, enrolled_on=datetime.date(2026, 3, 1)
        )
        cls.survivor_response = cls.respond(cls.survivor, SURVIVOR_ANSWERS, {"wellbeing": 2, "band": "low"})
        Timepoint.objects.create(
            organization=cls.harbor,
            enrollment=enrollment,
            case=cls.case,
            participant=cls.survivor,
            plan_timepoint=t0,
            code="T0",
            instrument=cls.instrument,
            opens_at=AT,
            due_at=AT,
            closes_at=AT + datetime.timedelta(days=14),
            status=TimepointStatus.COMPLETED,
            response=cls.survivor_response,
        )
        cls.harm_response = cls.respond(
            cls.harm, HARM_ANSWERS, {"wellbeing": None}, when=AT + datetime.timedelta(days=20)
        )
        cls.respond(cls.child, {"feel": "3"}, {"wellbeing": 3})
        cls.respond(cls.valley_survivor, {"feel": "3"}, {"wellbeing": 3}, organization=cls.valley)

    @classmethod
    def respond(cls, participant, answers, scores, *, when=AT, organization=None):
        return Response.objects.create(
            organization=organization or cls.harbor,
            version=cls.version,
            participant=participant,
            case=participant.case,
            answers=answers,
            scores=scores,
            status="submitted",
            started_at=when,
            submitted_at=when,
        )

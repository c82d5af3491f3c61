"""A small three-part questionnaire with skip logic, and factories for links and responses to it.

Part 1 asks `hurt` (yes/no); a yes shows `hurt_when` on the same page. Part 2 asks `safe` (a 0–10 scale)
and, only after a yes in part 1, `support`; then a decimal and a date. Part 3 is asked only of adults.
"""

from __future__ import annotations

import copy
import datetime
from typing import Any

from circlekeeper import testing
from circlekeeper.cases.models import Case, Participant
from circlekeeper.instruments.links import issue_link
from circlekeeper.instruments.models import InstrumentVersion, ParticipantLink, Source
from circlekeeper.instruments.services import save_version

SURVEY: dict[str, Any] = {
    "code": "checkin",
    "title": {"en": "Check-in", "es": "Seguimiento"},
    "languages": ["en", "es"],
    "default_language": "en",
    "description": {"en": "A few questions about how you are.", "es": "Unas preguntas sobre cómo estás."},
    "sections": [
        {
            "code": "about",
            "title": {"en": "Since we last spoke", "es": "Desde la última vez"},
            "items": [
                {
                    "code": "intro",
                    "type": "descriptive",
                    "label": {"en": "Answer only what you want to.", "es": "Responde solo lo que quieras."},
                },
                {
                    "code": "hurt",
                    "type": "yes_no",
                    "required": True,
                    "prefer_not_to_say": True,
                    "label": {
                        "en": "Has anyone hurt you since we last spoke?",
                        "es": "¿Alguien te ha hecho daño desde la última vez?",
                    },
                    "help": {"en": "Any kind of harm counts.", "es": "Cuenta cualquier tipo de daño."},
                },
                {
                    "code": "hurt_when",
                    "type": "single_choice",
                    "required": True,
                    "show_if": "hurt = '1'",
                    "label": {"en": "When did it happen?", "es": "¿Cuándo pasó?"},
                    "choices": [
                        {"code": "week", "label": {"en": "In the last week", "es": "En la última semana"}},
                        {"code": "month", "label": {"en": "In the last month", "es": "En el último mes"}},
                    ],
                },
                {
                    "code": "age",
                    "type": "integer",
                    "min": 16,
                    "max": 120,
                    "prefer_not_to_say": True,
                    "label": {"en": "How old are you?", "es": "¿Cuántos años tienes?"},
                },
            ],
        },
        {
            "code": "feelings",
            "title": {"en": "How you feel", "es": "Cómo te sientes"},
            "items": [
                {
                    "code": "safe",
                    "type": "slider",
                    "min": 0,
                    "max": 10,
                    "required": True,
                    "anchors": [{"en": "Not safe", "es": "Nada segura"}, {"en": "Safe", "es": "Segura"}],
                    "label": {"en": "How safe do you feel?", "es": "¿Qué tan segura te sientes?"},
                },
                {
                    "code": "support",
                    "type": "multiple_choice",
                    "show_if": "hurt = '1'",
                    "prefer_not_to_say": True,
                    "label": {"en": "Who could you turn to?", "es": "¿A quién podrías acudir?"},
                    "choices": [
                        {"code": "friends", "label": {"en": "Friends", "es": "Amistades"}},
                        {"code": "family", "label": {"en": "Family", "es": "Familia"}},
                        {"code": "none", "label": {"en": "No one", "es": "Nadie"}},
                    ],
                },
                {
                    "code": "hours",
                    "type": "decimal",
                    "min": 0,
                    "max": 24,
                    "label": {"en": "Hours of sleep last night", "es": "Horas de sueño anoche"},
                },
                {
                    "code": "visit",
                    "type": "date",
                    "max": "today",
                    "label": {"en": "Date of your last visit", "es": "Fecha de tu última visita"},
                },
                {
                    "code": "nickname",
                    "type": "short_text",
                    "constraint": "length(.) <= 10",
                    "constraint_message": {"en": "At most 10 letters.", "es": "Como mucho 10 letras."},
                    "label": {"en": "A word for how you feel", "es": "Una palabra para cómo te sientes"},
                },
            ],
        },
        {
            "code": "adults",
            "title": {"en": "Anything else", "es": "Algo más"},
            "show_if": "age >= 18",
            "items": [
                {
                    "code": "comments",
                    "type": "long_text",
                    "label": {"en": "Anything else to tell us?", "es": "¿Algo más que contarnos?"},
                }
            ],
        },
    ],
    "scoring": {
        "scores": [
            {
                "code": "safety",
                "label": {"en": "Felt safety", "es": "Seguridad"},
                "method": "sum",
                "items": ["safe"],
            }
        ],
        "bands": [
            {
                "code": "concern",
                "label": {"en": "Concern", "es": "Preocupación"},
                "levels": [
                    {"code": "low", "label": {"en": "Low", "es": "Baja"}},
                    {"code": "high", "label": {"en": "High", "es": "Alta"}},
                ],
                "default": "low",
                "rules": [{"items": ["hurt"], "codes": ["1"], "level": "high"}],
            }
        ],
    },
}

NOW = datetime.datetime(2026, 5, 4, 10, 0, tzinfo=datetime.UTC)


def make_survey_version(**overrides: Any) -> InstrumentVersion:
    definition = copy.deepcopy(SURVEY)
    definition.update(overrides)
    version, _created = save_version(definition=definition, source=Source.MANUAL, owner=None)
    return version


def make_participant(case: Case, **kwargs: Any) -> Participant:
    """A participant who agreed to be contacted any way at any time (`agreed_to_contact=False`: no consent)."""
    kwargs.setdefault("label", f"Survivor {Participant.objects.filter(case=case).count() + 1}")
    return testing.make_participant(case, reachable=kwargs.pop("agreed_to_contact", True), **kwargs)


def make_link(
    participant: Participant, version: InstrumentVersion, **kwargs: Any
) -> tuple[ParticipantLink, str]:
    when = kwargs.pop("when", None) or datetime.datetime.now(datetime.UTC)
    kwargs.setdefault("purpose", "T1")
    kwargs.setdefault("channel", "email")
    kwargs.setdefault("expires_at", when + datetime.timedelta(days=14))
    return issue_link(participant=participant, version=version, when=when, **kwargs)

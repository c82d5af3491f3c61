"""Small definitions and the shared fixture folder, for the instrument tests."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

FIXTURES = Path(settings.BASE_DIR).parent / "shared" / "fixtures"


def fixture_files(folder: str, pattern: str) -> list[Path]:
    return sorted((FIXTURES / folder).glob(pattern))


def require_fixtures() -> None:
    """The real files are outside the repository: missing fails under CI, and skips elsewhere."""
    if FIXTURES.is_dir():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"the interoperability fixtures are missing: {FIXTURES}")
    pytest.skip(f"the interoperability fixtures are not here: {FIXTURES}")


AGREEMENT = [{"code": str(n), "label": {"en": f"level {n}", "es": f"nivel {n}"}} for n in range(1, 6)]


def make_definition(**overrides: Any) -> dict[str, Any]:
    """A small valid definition: four 1–5 items (q4 reverse-coded), a critical yes/no pair, a mean score."""
    definition: dict[str, Any] = {
        "code": "check",
        "title": {"en": "Check", "es": "Control"},
        "languages": ["en", "es"],
        "default_language": "en",
        "choice_lists": {"agreement": copy.deepcopy(AGREEMENT)},
        "sections": [
            {
                "code": "main",
                "title": {"en": "Main"},
                "items": [
                    {
                        "code": f"q{n}",
                        "type": "single_choice",
                        "label": {"en": f"Question {n}", "es": f"Pregunta {n}"},
                        "choice_list": "agreement",
                        "prefer_not_to_say": True,
                    }
                    for n in range(1, 5)
                ]
                + [
                    {
                        "code": "threat",
                        "type": "yes_no",
                        "label": {"en": "Threatened?"},
                        "prefer_not_to_say": True,
                    },
                    {
                        "code": "weapon",
                        "type": "yes_no",
                        "label": {"en": "Weapon?"},
                        "prefer_not_to_say": True,
                    },
                    {"code": "age", "type": "integer", "label": {"en": "Age"}, "min": 0, "max": 120},
                ],
            }
        ],
        "scoring": {
            "scores": [
                {
                    "code": "total",
                    "method": "mean",
                    "items": ["q1", "q2", "q3", "q4"],
                    "reverse": {"q4": {"min": 1, "max": 5}},
                    "min_answered": 3,
                }
            ],
            "bands": [
                {
                    "code": "risk",
                    "levels": [{"code": "low"}, {"code": "medium"}, {"code": "high"}],
                    "default": "low",
                    "score": "total",
                    "thresholds": [{"min": 3, "level": "medium"}, {"min": 4.5, "level": "high"}],
                    "rules": [{"items": ["threat", "weapon"], "codes": ["1"], "level": "high"}],
                }
            ],
        },
    }
    definition.update(overrides)
    return definition

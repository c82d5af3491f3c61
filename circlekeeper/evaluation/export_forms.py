"""Forms of the de-identified data page and of the exports: which table, which file, which language."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from circlekeeper.evaluation.exports import INSTRUMENT_ONLY, Format
from circlekeeper.instruments.models import Instrument

# Not a possible instrument code (codes start with a letter or _), so it can never shadow one.
TIMEPOINTS = ":timepoints"


def _instrument_choices(instruments: list[Instrument]) -> list[tuple[str, str]]:
    return [(instrument.code, f"{instrument.name} ({instrument.code})") for instrument in instruments]


class DataForm(forms.Form):
    instrument = forms.ChoiceField(label=_("Questionnaire"))
    # Optional so that a plain link (?instrument=...) works: the page's language then.
    language = forms.ChoiceField(
        label=_("Language of the labels"), choices=settings.LANGUAGES, required=False
    )

    def __init__(self, *args: Any, instruments: list[Instrument], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["instrument"].choices = _instrument_choices(instruments)  # type: ignore[attr-defined]


class ExportForm(forms.Form):
    dataset = forms.ChoiceField(label=_("Data"))
    format = forms.ChoiceField(label=_("File"), choices=Format.choices, widget=forms.RadioSelect)
    language = forms.ChoiceField(label=_("Language of the labels"), choices=settings.LANGUAGES)

    def __init__(self, *args: Any, instruments: list[Instrument], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["dataset"].choices = [  # type: ignore[attr-defined]
            *_instrument_choices(instruments),
            (TIMEPOINTS, _("Evaluation timepoints: completed, missed or pending, per participant")),
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("dataset") == TIMEPOINTS and cleaned.get("format") in INSTRUMENT_ONLY:
            self.add_error(
                "format",
                _(
                    "REDCap files describe one questionnaire: choose a questionnaire, or a CSV, SPSS or Stata file."
                ),
            )
        return cleaned

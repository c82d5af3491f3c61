"""Forms of the safety pages. Plain forms: each says exactly which fields a person may set."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.db import models
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from circlekeeper.accounts.models import Organization
from circlekeeper.instruments.definition import localized
from circlekeeper.instruments.models import Instrument, InstrumentVersion
from circlekeeper.safety.models import PLAN_FIELDS, CheckKind, RiskLevel, SafetyPlanRevision

# --- safety checks --------------------------------------------------------------------------------


def version_label(version: InstrumentVersion) -> str:
    builtin = _("built in") if version.instrument.owner_id is None else _("your organization's")
    return f"{version.instrument.name} (v{version.number}, {builtin})"


class CheckStartForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind of check"), choices=CheckKind.choices)
    version = forms.TypedChoiceField(
        label=_("Instrument"), coerce=int, required=False, empty_value=None, choices=()
    )

    def __init__(self, *args: Any, versions: dict[str, list[InstrumentVersion]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.versions = versions
        self.fields["version"].choices = [  # type: ignore[attr-defined]
            (v.pk, version_label(v)) for kind_versions in versions.values() for v in kind_versions
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("kind")
        if kind is None:
            return data
        usable = self.versions.get(kind, [])
        chosen = data.get("version")
        if chosen is not None:
            version = next((v for v in usable if v.pk == chosen), None)
            if version is None:
                raise forms.ValidationError(_("That instrument is not used for this kind of check here."))
        else:
            # The built-in one unless the organization has only its own.
            version = next(
                (v for v in usable if v.instrument.owner_id is None), usable[0] if usable else None
            )
        if version is None:
            raise forms.ValidationError(
                _("No instrument for this kind of check is loaded. Ask your program admin to load them.")
            )
        data["instrument_version"] = version
        return data


# --- holds ----------------------------------------------------------------------------------------


class ViolenceForm(forms.Form):
    details = forms.CharField(
        label=_("What happened, and when"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_(
            "Briefly, for the team: what was reported, when, and by whom. Only the case team sees it. "
            "Reporting puts the case on hold at once."
        ),
    )


class LiftForm(forms.Form):
    reason = forms.CharField(
        label=_("Why the hold can be lifted"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_(
            "What the newer safety check and the team's review showed. Kept with the case's history."
        ),
    )


# --- the safety plan ------------------------------------------------------------------------------

PLAN_HELP = {
    "people_to_call": _("Who the survivor can call, and how to reach them safely."),
    "signals": _("Warning signs the survivor watches for, and signals agreed with people who help."),
    "safe_places": _("Where the survivor can go if they need to leave quickly."),
    "items_ready": _("Documents, money, keys, medicine and other things to keep ready."),
    "children_plan": _("What the children know to do, and who looks after them."),
    "backup_person": _("Who helps if the first person cannot be reached."),
    "in_their_words": _(
        "What the survivor wants the plan to say, in their own words: write what they say, not a summary. "
        "If they chose not to have a plan, this is the only part kept with that decision."
    ),
}


def _plan_field(name: str) -> models.Field[Any, Any]:
    field = SafetyPlanRevision._meta.get_field(name)
    assert isinstance(field, models.Field)
    return field


def plan_field_label(name: str) -> str:
    return str(_plan_field(name).verbose_name).capitalize()


class PlanForm(forms.Form):
    revision = forms.IntegerField(widget=forms.HiddenInput, min_value=0)
    declined = forms.BooleanField(
        label=_("The survivor chose not to have a safety plan"),
        required=False,
        help_text=_("Their decision is recorded and respected; they can ask for a plan at any time."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in PLAN_FIELDS:
            self.fields[name] = forms.CharField(
                label=plan_field_label(name),
                required=False,
                max_length=_plan_field(name).max_length,
                widget=forms.Textarea(attrs={"rows": 4}),
                help_text=PLAN_HELP[name],
            )

    def plan_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in PLAN_FIELDS]


class RevisionForm(forms.Form):
    revision = forms.IntegerField(widget=forms.HiddenInput, min_value=0)


# --- risk instruments (program admins) ------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    """A band of the latest version of one of the organization's own instruments: one it can map."""

    instrument: Instrument
    version: InstrumentVersion
    code: str
    label: str
    levels: tuple[tuple[str, str], ...]

    @property
    def key(self) -> str:
        return f"{self.instrument.pk}:{self.code}"

    @property
    def title(self) -> str:
        return f"{self.instrument.name} (v{self.version.number}) — {self.label}"


def mappable_bands(organization: Organization) -> list[Band]:
    """The bands of the latest version of each of the organization's own instruments."""
    language = translation.get_language() or "en"
    instruments = Instrument.objects.filter(owner=organization).order_by("name", "id")
    latest = {
        v.instrument_id: v
        for v in InstrumentVersion.objects.filter(instrument__in=instruments).order_by(
            "instrument_id", "number"
        )
    }
    bands = []
    for instrument in instruments:
        version = latest.get(instrument.pk)
        if version is None:
            continue
        definition = version.definition
        for band in (definition.get("scoring") or {}).get("bands") or []:
            levels = tuple(
                (
                    str(level["code"]),
                    localized(level.get("label"), language, definition) or str(level["code"]),
                )
                for level in band.get("levels") or []
            )
            if not levels:
                continue
            label = localized(band.get("label"), language, definition) or str(band["code"])
            bands.append(Band(instrument, version, str(band["code"]), label, levels))
    return bands


class BandForm(forms.Form):
    """First step: which instrument and band give the level, and which kind of check it is."""

    band = forms.ChoiceField(
        label=_("Instrument and band"),
        error_messages={
            "invalid_choice": _(
                "That band does not exist in the latest version of any of your organization's instruments."
            )
        },
    )
    kind = forms.ChoiceField(label=_("Used as"), choices=CheckKind.choices)

    def __init__(self, *args: Any, bands: list[Band], mapped: set[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bands = {band.key: band for band in bands}
        self.mapped = mapped
        self.fields["band"].choices = [("", _("Choose…")), *((b.key, b.title) for b in bands)]  # type: ignore[attr-defined]

    def clean_band(self) -> str:
        key: str = self.cleaned_data["band"]
        if self.bands[key].instrument.pk in self.mapped:
            raise forms.ValidationError(
                _("This instrument already gives risk levels here: remove its mapping first to map it again.")
            )
        return key

    def chosen(self) -> Band:
        return self.bands[self.cleaned_data["band"]]


class LevelMapForm(forms.Form):
    """Second step: every level code of the band mapped to one of our risk levels; none may be left out."""

    def __init__(self, *args: Any, band: Band, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.band = band
        for position, (code, label) in enumerate(band.levels):
            self.fields[f"level_{position}"] = forms.ChoiceField(
                label=_("“%(label)s” (code %(code)s) means") % {"label": label, "code": code},
                choices=[("", _("Choose…")), *RiskLevel.choices],
                error_messages={"required": _("Map this level too: every level of the band must be mapped.")},
            )

    def level_map(self) -> dict[str, str]:
        return {code: self.cleaned_data[f"level_{n}"] for n, (code, _label) in enumerate(self.band.levels)}

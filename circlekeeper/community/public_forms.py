"""Forms of the directory, the impact page's and the pool's decisions, and the public directory's filters.

Plain forms: they read what a person may set; the services (community.directory, impact, hub) check the rules.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.utils.translation import gettext_lazy as _

from circlekeeper.cases.models import Track
from circlekeeper.community.directory import LIST_FIELDS, TEXT_FIELDS

YES_NO = [("yes", _("Yes")), ("no", _("No"))]


def _yes(value: str) -> bool:
    return value == "yes"


class DirectoryFilterForm(forms.Form):
    """The public directory's filters: a GET form that works without JavaScript."""

    track = forms.ChoiceField(label=_("Option"), required=False)
    language = forms.ChoiceField(label=_("Language"), required=False)
    area = forms.ChoiceField(label=_("Area"), required=False)
    harm = forms.ChoiceField(
        label=_("Works with people who caused harm"),
        required=False,
        choices=[("", _("Does not matter")), *YES_NO],
    )

    def __init__(self, data: Any, *, languages: list[str], areas: list[str]) -> None:
        super().__init__(data)
        choices: dict[str, list[tuple[str, Any]]] = {
            "track": [("", _("Any option")), *Track.choices],
            "language": [("", _("Any language")), *((v, v) for v in languages)],
            "area": [("", _("Any area")), *((v, v) for v in areas)],
        }
        for name, options in choices.items():
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)
            field.choices = options
        # Its label is on the page ("Language" in the header's switch): an id of its own keeps them apart.
        self.auto_id = "filter-%s"

    def works_with_harm(self) -> bool | None:
        value = self.cleaned_data.get("harm") or ""
        return None if not value else _yes(value)


class DirectoryEntryForm(forms.Form):
    tracks = forms.MultipleChoiceField(
        label=_("Options you offer"),
        choices=Track.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    languages = forms.CharField(
        label=_("Languages"),
        required=False,
        max_length=1300,
        help_text=_("Separated by commas, e.g. English, Spanish, Tagalog."),
    )
    areas = forms.CharField(
        label=_("Areas served"),
        required=False,
        max_length=1300,
        help_text=_("Separated by commas: towns, counties or neighborhoods."),
    )
    works_with_harm = forms.ChoiceField(
        label=_("Do you work with people who caused harm?"),
        choices=YES_NO,
        widget=forms.RadioSelect,
        required=False,
    )
    lock_version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, (label, required, limit) in TEXT_FIELDS.items():
            long_text = limit > 300
            for language, language_label in (("en", _("English")), ("es", _("Spanish"))):
                self.fields[f"{name}_{language}"] = forms.CharField(
                    label=f"{label} ({language_label})",
                    required=False,
                    max_length=limit,
                    widget=forms.Textarea(attrs={"rows": 4}) if long_text else forms.TextInput,
                    help_text=_("Required.") if required and language == "en" else _("Optional."),
                )

    def entry_data(self) -> dict[str, Any]:
        """The fields as the service takes them (it checks them: required ones, lengths, the tracks)."""
        data: dict[str, Any] = {name: self.cleaned_data.get(name, "") for name in self.fields}
        data.pop("lock_version")
        for name in LIST_FIELDS:
            data[name] = data.get(name) or ""
        value = self.cleaned_data.get("works_with_harm") or ""
        data["works_with_harm"] = _yes(value) if value else None
        return data

    @staticmethod
    def initial_from(entry_data: dict[str, Any], lock_version: int) -> dict[str, Any]:
        initial = dict(entry_data)
        for name in LIST_FIELDS:
            initial[name] = ", ".join(entry_data.get(name) or [])
        if isinstance(entry_data.get("works_with_harm"), bool):
            initial["works_with_harm"] = "yes" if entry_data["works_with_harm"] else "no"
        initial["lock_version"] = lock_version
        return initial


class VersionForm(forms.Form):
    lock_version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Your decision"),
        choices=[
            ("approve", _("Approve: make this version public")),
            ("return", _("Return it with a comment")),
        ],
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label=_("Comment for the program"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Required when you return the entry: say what needs to change."),
    )
    lock_version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)


class _DecisionForm(forms.Form):
    """A yes/no decision (in the field named by `choice`) with its reason for the record."""

    choice: ClassVar[str]
    reason = forms.CharField(
        label=_("Why (for the record)"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def decision(self) -> bool:
        return _yes(self.cleaned_data[self.choice])


class ImpactDecisionForm(_DecisionForm):
    choice = "shown"
    shown = forms.ChoiceField(
        label=_("On the network's public impact page"),
        choices=[
            ("yes", _("Show our numbers (pooled with others, small counts hidden)")),
            ("no", _("Do not show our numbers")),
        ],
        widget=forms.RadioSelect,
    )


class PoolDecisionForm(_DecisionForm):
    choice = "pooled"
    pooled = forms.ChoiceField(
        label=_("In the network's pooled evaluation data"),
        choices=[
            ("yes", _("Join: our de-identified results count in the network's pooled results")),
            ("no", _("Leave: our results are not counted in the network's pooled results")),
        ],
        widget=forms.RadioSelect,
    )

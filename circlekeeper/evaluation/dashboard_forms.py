"""The dashboards' filters: a period (months the cases were opened in), a track, and on a network's pages an
organization. Read from the query string, so a filtered page can be bookmarked and works without JavaScript."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from circlekeeper.accounts.models import Organization
from circlekeeper.cases.models import Track

FILTER_NAMES = ("since", "until", "track", "organization")


class MonthInput(forms.TextInput):
    input_type = "month"


def _month(value: str, field: str) -> str:
    if not value:
        return ""
    try:
        datetime.datetime.strptime(value, "%Y-%m")
    except ValueError:
        raise forms.ValidationError(
            _("Write the month as year and month, e.g. 2026-03."), code="invalid", params={"field": field}
        ) from None
    return value


class DashboardFilterForm(forms.Form):
    since = forms.CharField(
        label=_("Cases opened from (month)"), required=False, max_length=7, widget=MonthInput
    )
    until = forms.CharField(label=_("to (month)"), required=False, max_length=7, widget=MonthInput)
    track = forms.ChoiceField(label=_("Track"), required=False)
    organization = forms.ChoiceField(label=_("Organization"), required=False)

    def __init__(self, *args: Any, organizations: list[Organization] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        track = self.fields["track"]
        assert isinstance(track, forms.ChoiceField)
        track.choices = [("", _("All tracks")), *Track.choices]
        if organizations is None:
            del self.fields["organization"]
        else:
            chosen = self.fields["organization"]
            assert isinstance(chosen, forms.ChoiceField)
            chosen.choices = [("", _("All organizations in the pool"))] + [
                (organization.slug, organization.name) for organization in organizations
            ]

    def clean_since(self) -> str:
        return _month(self.cleaned_data["since"], "since")

    def clean_until(self) -> str:
        return _month(self.cleaned_data["until"], "until")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", _("The period ends before it begins: choose a later month."))
        return data

    def filters(self) -> dict[str, str]:
        """The filters as stored with a computation: every name present, empty when not chosen."""
        data = self.cleaned_data if self.is_bound else {}
        return {name: str(data.get(name) or "") for name in FILTER_NAMES}

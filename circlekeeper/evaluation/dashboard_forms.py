"""The dashboards' filters: a period (the calendar year the cases were opened in, from a fixed list), a track, and
on a network's pages an organization. Read from the query string, so a filtered page can be bookmarked and works
without JavaScript."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from circlekeeper.accounts.models import Organization
from circlekeeper.cases.models import Track

FILTER_NAMES = ("period", "track", "organization")
# How many calendar years back the period filter offers (the current year included).
YEARS_OFFERED = 6


def period_choices(today: datetime.date | None = None) -> list[tuple[str, str]]:
    """The periods a page may be filtered by: all, or one calendar year. A fixed set of coarse cells, never free
    dates: two filters whose cases differ by a month (or by any small group) would give that group's numbers
    by subtraction (issue 21, finding 1)."""
    year = (today or timezone.localdate()).year
    return [("", str(_("All years")))] + [(str(y), str(y)) for y in range(year, year - YEARS_OFFERED, -1)]


class DashboardFilterForm(forms.Form):
    period = forms.ChoiceField(label=_("Cases opened in"), required=False)
    track = forms.ChoiceField(label=_("Track"), required=False)
    organization = forms.ChoiceField(label=_("Organization"), required=False)

    def __init__(self, *args: Any, organizations: list[Organization] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        track = self.fields["track"]
        assert isinstance(track, forms.ChoiceField)
        track.choices = [("", _("All tracks")), *Track.choices]
        period = self.fields["period"]
        assert isinstance(period, forms.ChoiceField)
        period.choices = period_choices()
        if organizations is None:
            del self.fields["organization"]
        else:
            chosen = self.fields["organization"]
            assert isinstance(chosen, forms.ChoiceField)
            chosen.choices = [("", _("All organizations in the pool"))] + [
                (organization.slug, organization.name) for organization in organizations
            ]

    def filters(self) -> dict[str, str]:
        """The filters as stored with a computation: every name present, empty when not chosen."""
        data = self.cleaned_data if self.is_bound else {}
        return {name: str(data.get(name) or "") for name in FILTER_NAMES}

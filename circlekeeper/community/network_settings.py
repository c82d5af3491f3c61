"""A network's own settings that its admins change: the smallest count of people shown in shared results, and
the base the counts shown are rounded to (0: not rounded)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from circlekeeper.accounts.models import Network


class ThresholdForm(forms.Form):
    suppression_threshold = forms.IntegerField(
        label=_("Smallest count of people shown"),
        min_value=5,
        max_value=100,
        help_text=_(
            "Counts of people below this are shown as “<N” on every dashboard, report and public page of "
            "the network. 11 is the usual rule; it can be raised, never set below 5."
        ),
    )

    rounding_base = forms.IntegerField(
        label=_("Round the counts shown to a multiple of"),
        min_value=0,
        max_value=10,
        required=False,
        help_text=_(
            "0 (the default): counts are shown as they are. 5, for example: every count shown, on every "
            "dashboard, report and public page of the network, is rounded to a multiple of 5, and the page says so."
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("suppression_threshold", "rounding_base"):
            self.fields[name].widget.attrs["aria-describedby"] = f"id_{name}_help"


@transaction.atomic
def set_suppression_threshold(network: Network, value: int, rounding: int | None = None) -> Network:
    """Change the network's threshold (and its rounding base, when given); a value outside 5–100 (or 0–10) is
    refused and nothing is written."""
    locked = Network.objects.select_for_update().get(pk=network.pk)
    locked.suppression_threshold = value
    fields = ["suppression_threshold"]
    if rounding is not None:
        locked.rounding_base = rounding
        fields.append("rounding_base")
    locked.full_clean(validate_unique=False)
    locked.save(update_fields=fields)
    return locked

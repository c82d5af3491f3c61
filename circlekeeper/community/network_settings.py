"""A network's own settings that its admins change: for now, the smallest count of people shown in shared results."""

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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["suppression_threshold"].widget.attrs["aria-describedby"] = (
            "id_suppression_threshold_help"
        )


@transaction.atomic
def set_suppression_threshold(network: Network, value: int) -> Network:
    """Change the network's threshold; a value outside 5–100 is refused and nothing is written."""
    locked = Network.objects.select_for_update().get(pk=network.pk)
    locked.suppression_threshold = value
    locked.full_clean(validate_unique=False)
    locked.save(update_fields=["suppression_threshold"])
    return locked

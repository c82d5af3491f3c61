from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class TokenForm(forms.Form):
    scope = forms.ChoiceField(
        label=_("Whose data"),
        help_text=_(
            "An organization's token reads its de-identified data and results; a network's token reads the "
            "network's pooled results only."
        ),
    )
    name = forms.CharField(
        label=_("What the token is for"),
        max_length=100,
        help_text=_("For example “PyCap on my laptop”. Only you see it, in the list below."),
    )
    days = forms.IntegerField(
        label=_("Days until it expires"),
        min_value=1,
        max_value=365,
        initial=settings.CIRCLEKEEPER_API_TOKEN_DAYS,
        help_text=_("Between 1 and 365 days. You can revoke it at any time."),
    )

    def __init__(self, *args: Any, scopes: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["scope"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = scopes
        field.initial = scopes[0][0]

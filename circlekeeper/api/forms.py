from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class TokenForm(forms.Form):
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

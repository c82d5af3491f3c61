from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from circlekeeper.accounts.models import User
from circlekeeper.cases.models import CaseStatus

SORTS = {
    "opened": ("opened_on", "id"),
    "-opened": ("-opened_on", "-id"),
    "reference": ("reference",),
    "-reference": ("-reference",),
    "status": ("status", "-opened_on", "-id"),
    "-status": ("-status", "-opened_on", "-id"),
}


class CaseFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any status")), *CaseStatus.choices]
    )
    assignee = forms.TypedChoiceField(label=_("Team member"), required=False, coerce=int, empty_value=None)
    sort = forms.ChoiceField(
        label=_("Sort by"),
        required=False,
        choices=[
            ("-opened", _("Newest first")),
            ("opened", _("Oldest first")),
            ("reference", _("Reference A–Z")),
            ("-reference", _("Reference Z–A")),
            ("status", _("Status")),
        ],
    )

    def __init__(self, *args: Any, colleagues: list[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [("", _("Anyone")), *((u.pk, str(u)) for u in colleagues)]  # type: ignore[attr-defined]

    def ordering(self) -> tuple[str, ...]:
        sort = self.cleaned_data.get("sort") if self.is_valid() else None
        return SORTS.get(sort or "-opened", SORTS["-opened"])

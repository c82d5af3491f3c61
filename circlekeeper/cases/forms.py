from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from circlekeeper.accounts.models import User
from circlekeeper.cases.models import CaseStatus, ParticipantRole, ReleasableField

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


class NoteForm(forms.Form):
    text = forms.CharField(
        label=_("New note"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "Keep it short. Write only what the team needs to keep: notes can be requested by courts."
        ),
    )


class ParticipantForm(forms.Form):
    role = forms.ChoiceField(label=_("Role in the case"), choices=ParticipantRole.choices)
    label = forms.CharField(
        label=_("Label"),
        max_length=60,
        help_text=_("A pseudonymous label used everywhere, e.g. “Survivor A”. Never a real name."),
    )


class _DisclosureFields(forms.Form):
    recipient = forms.CharField(
        label=_("Recipient"), max_length=200, help_text=_("One person or agency, named as on the form.")
    )
    information = forms.MultipleChoiceField(
        label=_("Information covered"), choices=ReleasableField.choices, widget=forms.CheckboxSelectMultiple
    )


class ReleaseForm(_DisclosureFields):
    purpose = forms.CharField(label=_("Purpose"), max_length=1000, widget=forms.Textarea(attrs={"rows": 3}))
    how_given = forms.ChoiceField(
        label=_("How the participant gave it"),
        choices=[("signed", _("Signed")), ("affirmed", _("Affirmed (recorded by staff)"))],
        widget=forms.RadioSelect,
    )
    affirmed_on = forms.DateField(
        label=_("Signed or affirmed on"), widget=forms.DateInput(attrs={"type": "date"})
    )
    expires_on = forms.DateField(label=_("Expires on"), widget=forms.DateInput(attrs={"type": "date"}))


class CompelledDisclosureForm(_DisclosureFields):
    legal_basis = forms.CharField(
        label=_("Legal basis"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("The court order, subpoena or statute that required it."),
    )
    disclosed_on = forms.DateField(label=_("Disclosed on"), widget=forms.DateInput(attrs={"type": "date"}))

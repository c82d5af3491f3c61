"""Forms of the community activity pages. Plain forms: each names exactly what a person may set; the
organization, who recorded a thing and when always come from the request and the services."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from circlekeeper.accounts.models import User
from circlekeeper.community.models import (
    AttendeeRole,
    CommunityEvent,
    Competency,
    EventKind,
    Facilitator,
    FacilitatorRole,
)


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def attendance_field(role: str) -> str:
    return f"attendance_{role}"


class EventForm(forms.Form):
    # Made when the blank form is shown: a second send of the same form finds the event the first one made.
    uid = forms.UUIDField(widget=forms.HiddenInput, required=False)
    lock_version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    kind = forms.ChoiceField(label=_("Kind"), choices=EventKind.choices)
    title = forms.CharField(label=_("Title"), max_length=200)
    date = forms.DateField(label=_("Date"), widget=_date_input())
    place = forms.CharField(label=_("Place"), max_length=200, required=False)
    language = forms.CharField(
        label=_("Language"), max_length=40, help_text=_("The language it was held in, e.g. English, Spanish.")
    )
    facilitators = forms.TypedMultipleChoiceField(
        label=_("Community facilitators who facilitated"),
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    staff_facilitators = forms.TypedMultipleChoiceField(
        label=_("Staff who facilitated"), coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    hours = forms.DecimalField(
        label=_("Hours (trainings only)"),
        max_digits=5,
        decimal_places=1,
        min_value=0,
        required=False,
        help_text=_("How long the training was. Leave empty for other events."),
    )
    competencies = forms.MultipleChoiceField(
        label=_("Competencies covered (trainings only)"),
        choices=Competency.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    materials = forms.CharField(
        label=_("Materials"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    follow_up = forms.CharField(
        label=_("Follow-up actions"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Stored encrypted. Seen by the staff who record events."),
    )

    def __init__(self, *args: Any, facilitators: list[Facilitator], staff: list[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.facilitator_objects = {f.pk: f for f in facilitators}
        self.staff_objects = {u.pk: u for u in staff}
        self.fields["facilitators"].choices = [(f.pk, f.name) for f in facilitators]  # type: ignore[attr-defined]
        self.fields["staff_facilitators"].choices = [(u.pk, u.display_name) for u in staff]  # type: ignore[attr-defined]
        for role, label in AttendeeRole.choices:
            self.fields[attendance_field(role)] = forms.IntegerField(
                label=label, min_value=0, max_value=100000, required=False, initial=0
            )

    @property
    def attendance_fields(self) -> list[forms.BoundField]:
        return [self[attendance_field(role)] for role in AttendeeRole.values]

    @classmethod
    def initial_for(cls, event: CommunityEvent, counts: dict[str, int]) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "lock_version": event.lock_version,
            "kind": event.kind,
            "title": event.title,
            "date": event.date,
            "place": event.place,
            "language": event.language,
            "facilitators": [f.pk for f in event.facilitators.all()],
            "staff_facilitators": [u.pk for u in event.staff_facilitators.all()],
            "hours": event.hours,
            "competencies": event.competencies,
            "materials": event.materials,
            "follow_up": event.follow_up or "",
        }
        for role in AttendeeRole.values:
            initial[attendance_field(role)] = counts.get(role, 0)
        return initial

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "kind": data["kind"],
            "title": data["title"],
            "date": data["date"],
            "place": data["place"],
            "language": data["language"],
            "facilitators": [self.facilitator_objects[pk] for pk in data["facilitators"]],
            "staff_facilitators": [self.staff_objects[pk] for pk in data["staff_facilitators"]],
            "hours": data["hours"],
            "competencies": data["competencies"],
            "materials": data["materials"],
            "follow_up": data["follow_up"],
            "attendance": {role: data[attendance_field(role)] or 0 for role in AttendeeRole.values},
        }


class EventFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Kind"), choices=[("", _("Any kind")), *EventKind.choices], required=False
    )
    since = forms.DateField(label=_("From"), required=False, widget=_date_input())
    until = forms.DateField(label=_("Until"), required=False, widget=_date_input())

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError(_("The start of the period is after its end."))
        return data


class FacilitatorForm(forms.Form):
    uid = forms.UUIDField(widget=forms.HiddenInput, required=False)
    lock_version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    name = forms.CharField(label=_("Name"), max_length=200, help_text=_("Stored encrypted."))
    role = forms.ChoiceField(label=_("Role"), choices=FacilitatorRole.choices)
    languages = forms.CharField(label=_("Languages"), max_length=200, required=False)
    availability = forms.CharField(
        label=_("Availability"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Stored encrypted."),
    )
    competencies = forms.MultipleChoiceField(
        label=_("Competencies from elsewhere"),
        choices=Competency.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Competencies gained outside this program's trainings. Those from completed trainings are added "
            "on their own."
        ),
    )
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    user = forms.TypedChoiceField(
        label=_("Account"),
        coerce=int,
        empty_value=None,
        required=False,
        help_text=_(
            "A keeper account of this organization. With one, a supervisor can put the facilitator on a case "
            "team: they then see that case, and no other."
        ),
    )

    def __init__(self, *args: Any, accounts: list[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.accounts = {u.pk: u for u in accounts}
        self.fields["user"].choices = [  # type: ignore[attr-defined]
            ("", _("No account")),
            *((u.pk, f"{u.display_name} ({u.email})") for u in accounts),
        ]

    @classmethod
    def initial_for(cls, facilitator: Facilitator) -> dict[str, Any]:
        return {
            "lock_version": facilitator.lock_version,
            "name": facilitator.name,
            "role": facilitator.role,
            "languages": facilitator.languages,
            "availability": facilitator.availability or "",
            "competencies": facilitator.competencies,
            "active": facilitator.active,
            "user": facilitator.user_id,
        }

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "role": data["role"],
            "languages": data["languages"],
            "availability": data["availability"],
            "competencies": data["competencies"],
            "active": data["active"],
            "user": self.accounts.get(data["user"]) if data["user"] is not None else None,
        }


class SupervisionNoteForm(forms.Form):
    uid = forms.UUIDField(widget=forms.HiddenInput)
    text = forms.CharField(
        label=_("Supervision note"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Stored encrypted. Only supervisors and program admins read it."),
    )


class TrainingRecordForm(forms.Form):
    facilitator = forms.TypedChoiceField(label=_("Facilitator"), coerce=int)
    hours = forms.DecimalField(label=_("Hours attended"), max_digits=5, decimal_places=1, min_value=0)
    completed = forms.BooleanField(label=_("Completed the training"), required=False)

    def __init__(self, *args: Any, facilitators: list[Facilitator], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.facilitator_objects = {f.pk: f for f in facilitators}
        self.fields["facilitator"].choices = [(f.pk, f.name) for f in facilitators]  # type: ignore[attr-defined]

    def chosen(self) -> Facilitator:
        return self.facilitator_objects[self.cleaned_data["facilitator"]]


class RequirementForm(forms.Form):
    competency = forms.ChoiceField(label=_("Competency"), choices=Competency.choices)
    minimum_hours = forms.DecimalField(
        label=_("At least this many hours of completed training covering it"),
        max_digits=5,
        decimal_places=1,
        min_value=0,
        initial=0,
    )


class TeamAddForm(forms.Form):
    facilitator = forms.TypedChoiceField(label=_("Community facilitator"), coerce=int)

    def __init__(self, *args: Any, facilitators: list[tuple[Facilitator, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.facilitator_objects = {f.pk: f for f, _label in facilitators}
        self.fields["facilitator"].choices = [(f.pk, label) for f, label in facilitators]  # type: ignore[attr-defined]

    def chosen(self) -> Facilitator:
        return self.facilitator_objects[self.cleaned_data["facilitator"]]


class QuarterForm(forms.Form):
    quarter = forms.ChoiceField(label=_("Quarter"))

    def __init__(self, *args: Any, quarters: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["quarter"].choices = quarters  # type: ignore[attr-defined]


def new_uid() -> uuid.UUID:
    return uuid.uuid4()

"""Forms of the protocol pages. Plain forms: each says exactly which fields a person may set; the stage, the
status and everything the gates decide are never among them."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from circlekeeper.cases.models import Participant, Stage
from circlekeeper.protocol.models import (
    Answer,
    CheckMoment,
    Invitation,
    MeetingChannel,
    MeetingKind,
    ReachedOutHow,
    ReachedOutSide,
)

REASON_MAX = 2000


def participant_choice(participant: Participant) -> tuple[int, str]:
    return participant.pk, f"{participant.label} ({participant.get_role_display()})"


class AdvanceForm(forms.Form):
    # The stage the page showed: a second click (or a second person) never moves the case on twice.
    stage = forms.ChoiceField(choices=Stage.choices, widget=forms.HiddenInput)
    reason = forms.CharField(
        label=_("Why (optional; required when leaving monitoring)"),
        required=False,
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Kept with the case's history. Write only what the team needs to keep."),
    )


class WithdrawForm(forms.Form):
    reason = forms.CharField(
        label=_("What the survivor said, if they want it noted (optional)"),
        required=False,
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("No reason is needed: withdrawing is the survivor's right."),
    )
    # Withdrawing closes the case: the server asks for this confirmation, not only the page (issue 17).
    confirm = forms.BooleanField(
        label=_("The survivor confirms: they withdraw, and the case closes"),
        required=True,
        error_messages={
            "required": _(
                "Nothing was recorded. Withdrawing closes the case: confirm it with the survivor, then tick the box."
            )
        },
    )


class ReferOutForm(forms.Form):
    referred_to = forms.CharField(
        label=_("Referred to"),
        max_length=300,
        help_text=_("Where the survivor is referred, e.g. a shelter, legal advocacy or counseling."),
    )
    reason = forms.CharField(label=_("Why"), max_length=REASON_MAX, widget=forms.Textarea(attrs={"rows": 3}))


class ScheduleForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind of meeting"), choices=MeetingKind.choices)
    day = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    time = forms.TimeField(
        label=_("Start time"), widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    channel = forms.ChoiceField(
        label=_("How"),
        choices=MeetingChannel.choices,
        initial=MeetingChannel.IN_PERSON,
        required=False,
        help_text=_("Each invitee's safe-contact rules must allow this way, on this day and at this time."),
    )
    place = forms.CharField(
        label=_("Place"),
        required=False,
        max_length=300,
        help_text=_(
            "Stored encrypted, seen only by the case team, and never put in a calendar feed: a place can "
            "reveal where the survivor is."
        ),
    )
    invitees = forms.TypedMultipleChoiceField(
        label=_("Who is invited"),
        coerce=int,
        choices=(),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Children are never asked to take part."),
    )

    def __init__(self, *args: Any, participants: list[Participant], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.participants = {p.pk: p for p in participants}
        self.fields["invitees"].choices = [participant_choice(p) for p in participants]  # type: ignore[attr-defined]

    def starts_at(self) -> datetime.datetime:
        moment = datetime.datetime.combine(self.cleaned_data["day"], self.cleaned_data["time"])
        return timezone.make_aware(moment)

    def chosen(self) -> list[Participant]:
        return [self.participants[pk] for pk in self.cleaned_data["invitees"]]


class CheckForm(forms.Form):
    """The survivor's three questions at the start or the end of a meeting; one form per survivor and moment."""

    participant = forms.TypedChoiceField(coerce=int, choices=(), widget=forms.HiddenInput)
    moment = forms.ChoiceField(choices=CheckMoment.choices, widget=forms.HiddenInput)
    feels_safe = forms.ChoiceField(
        label=_("Do you feel safe right now?"), choices=Answer.choices, widget=forms.RadioSelect
    )
    threatened = forms.ChoiceField(
        label=_("Has anyone threatened or pressured you about this meeting?"),
        choices=Answer.choices,
        widget=forms.RadioSelect,
    )
    wants_to_stop = forms.ChoiceField(
        label=_("Do you want to stop?"), choices=Answer.choices, widget=forms.RadioSelect
    )

    def __init__(self, *args: Any, survivors: list[Participant], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.survivors = {p.pk: p for p in survivors}
        self.fields["participant"].choices = [(p.pk, p.label) for p in survivors]  # type: ignore[attr-defined]

    def survivor(self) -> Participant:
        return self.survivors[self.cleaned_data["participant"]]


class HeldForm(forms.Form):
    attended = forms.TypedMultipleChoiceField(
        label=_("Who came"), coerce=int, choices=(), widget=forms.CheckboxSelectMultiple
    )
    notes = forms.CharField(
        label=_("Keeper's notes (optional)"),
        required=False,
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "Write only what the team needs to keep. Notes are encrypted and seen only by the case team."
        ),
    )

    def __init__(self, *args: Any, invitations: list[Invitation], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.invited = {i.participant_id: i.participant for i in invitations}
        self.fields["attended"].choices = [participant_choice(i.participant) for i in invitations]  # type: ignore[attr-defined]

    def chosen(self) -> list[Participant]:
        return [self.invited[pk] for pk in self.cleaned_data["attended"]]


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Why (optional)"), required=False, max_length=200)


class AcknowledgmentForm(forms.Form):
    participant = forms.TypedChoiceField(label=_("Who acknowledged"), coerce=int, choices=())
    in_their_words = forms.CharField(
        label=_("What they acknowledged, in their words"),
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "Their own words about what they did and its harm, without excuses. Encrypted; only the case "
            "team sees it."
        ),
    )

    def __init__(self, *args: Any, people: list[Participant], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.people = {p.pk: p for p in people}
        self.fields["participant"].choices = [(p.pk, p.label) for p in people]  # type: ignore[attr-defined]

    def chosen(self) -> Participant:
        return self.people[self.cleaned_data["participant"]]


class EnteredInErrorForm(forms.Form):
    reason = forms.CharField(
        label=_("Why it was entered in error"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("E.g. “added twice”, “recorded on the wrong case”. The team sees it, with your name."),
    )


class ReopenForm(forms.Form):
    reason = forms.CharField(
        label=_("Why the case is reopened"), max_length=REASON_MAX, widget=forms.Textarea(attrs={"rows": 3})
    )
    survivor_request = forms.CharField(
        label=_("The survivor's request (for a withdrawn case)"),
        required=False,
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What the survivor asked, when and how. A withdrawn case reopens only at their request."),
    )
    stage = forms.ChoiceField(label=_("Reopen at the stage"), choices=Stage.choices)


class ReachOutForm(forms.Form):
    """The person who caused harm, or their side, contacted the program themselves: what the keeper records."""

    side = forms.ChoiceField(label=_("Who reached out"), choices=ReachedOutSide.choices)
    participant = forms.TypedChoiceField(
        label=_("Which participant, if they are recorded on the case"),
        coerce=int,
        empty_value=None,
        required=False,
        choices=(),
    )
    reached_on = forms.DateField(
        label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    time = forms.TimeField(
        label=_("Time (about)"), widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    how = forms.ChoiceField(label=_("How"), choices=ReachedOutHow.choices)
    summary = forms.CharField(
        label=_("What they said or asked"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_(
            "Stored encrypted; only the case team sees it. Recording it arranges nothing: any reply goes through "
            "the contact policy like every other contact."
        ),
    )

    def __init__(self, *args: Any, participants: list[Participant], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.participants = {p.pk: p for p in participants}
        self.fields["participant"].choices = [("", _("Not recorded, or not known"))] + [  # type: ignore[attr-defined]
            participant_choice(p) for p in participants
        ]

    def reached_at(self) -> datetime.datetime:
        moment = datetime.datetime.combine(self.cleaned_data["reached_on"], self.cleaned_data["time"])
        return timezone.make_aware(moment)

    def chosen(self) -> Participant | None:
        pk = self.cleaned_data.get("participant")
        return self.participants.get(pk) if pk is not None else None

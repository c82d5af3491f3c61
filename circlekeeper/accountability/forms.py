"""Forms of the accountability pages. Plain forms: each says exactly which fields a person may set; a version's
number, its affirmation, a commitment's number and everything the services decide are never among them."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from circlekeeper.accountability.models import (
    DESCRIPTION_MAX,
    NOTE_MAX,
    Cadence,
    CheckIn,
    Commitment,
    CommitmentKind,
    Concern,
    HowAffirmed,
    ProgressStatus,
    ReportedBy,
    Step,
)
from circlekeeper.cases.models import ContactChannel, Participant
from circlekeeper.protocol.models import Meeting


def _labelled(participant: Participant) -> tuple[int, str]:
    return participant.pk, f"{participant.label} ({participant.get_role_display()})"


class DraftForm(forms.Form):
    # The draft's edit count the page showed (empty when starting a new draft): a second editor is refused.
    lock_version = forms.IntegerField(required=False, widget=forms.HiddenInput)
    reached_in = forms.TypedChoiceField(
        label=_("Reached in"),
        coerce=int,
        required=False,
        empty_value=None,
        choices=(),
        help_text=_(
            "The circle, conference, shuttle session or pod meeting where it was agreed. On the direct track the "
            "first version names the circle or conference; on the other tracks it may be reached through the "
            "keeper."
        ),
    )
    risk_reviewed = forms.BooleanField(
        label=_(
            "Each commitment was gone through with the survivor, and none raises the risk to them or the children"
        ),
        required=False,
    )

    def __init__(self, *args: Any, meetings: list[Meeting], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.meetings = {m.pk: m for m in meetings}
        choices = [
            (
                m.pk,
                f"{m.get_kind_display()} · "
                f"{date_format(timezone.localtime(m.held_at or m.starts_at), 'SHORT_DATE_FORMAT')}",
            )
            for m in meetings
        ]
        self.fields["reached_in"].choices = [("", _("Through the keeper (no meeting)")), *choices]  # type: ignore[attr-defined]

    def meeting(self) -> Meeting | None:
        chosen = self.cleaned_data["reached_in"]
        return self.meetings[chosen] if chosen is not None else None


class CommitmentForm(forms.Form):
    lock_version = forms.IntegerField(widget=forms.HiddenInput)
    kind = forms.ChoiceField(label=_("Kind of commitment"), choices=CommitmentKind.choices)
    description = forms.CharField(
        label=_("What the person who caused harm commits to"),
        max_length=DESCRIPTION_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "Concrete and in the parties' words. Encrypted; only the case team and the parties see it."
        ),
    )
    supporter = forms.TypedChoiceField(
        label=_("Who helps them keep it"),
        coerce=int,
        required=False,
        empty_value=None,
        choices=(),
        help_text=_(
            "Only people who consented to take part; never a party, a child or someone named a barrier."
        ),
    )
    due_on = forms.DateField(
        label=_("Due date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    cadence = forms.ChoiceField(
        label=_("How often"),
        required=False,
        choices=[("", _("Not a repeated commitment")), *Cadence.choices],
        help_text=_("Give a due date, how often, or both."),
    )
    evidence = forms.CharField(
        label=_("How it will be known that it was kept"),
        max_length=DESCRIPTION_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    concerns = forms.MultipleChoiceField(
        label=_("If it were broken, it would concern"),
        required=False,
        choices=Concern.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "A commitment about any of these that is not kept puts the case on safety hold at once; any other "
            "creates a task to review it."
        ),
    )
    survivor_wants_updates = forms.BooleanField(
        label=_("The survivor wants to be told about its progress"), required=False
    )

    def __init__(self, *args: Any, supporters: list[Participant], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.supporters = {p.pk: p for p in supporters}
        self.fields["supporter"].choices = [  # type: ignore[attr-defined]
            ("", _("No one named")),
            *(_labelled(p) for p in supporters),
        ]

    @classmethod
    def initial_for(cls, commitment: Commitment) -> dict[str, Any]:
        return {
            "kind": commitment.kind,
            "description": commitment.description,
            "supporter": commitment.supporter_id,
            "due_on": commitment.due_on,
            "cadence": commitment.cadence,
            "evidence": commitment.evidence,
            "concerns": list(commitment.concerns or []),
            "survivor_wants_updates": commitment.survivor_wants_updates,
        }

    def values(self) -> dict[str, Any]:
        """The keyword arguments of the commitment services."""
        data = self.cleaned_data
        chosen = data["supporter"]
        return {
            "kind": data["kind"],
            "description": data["description"],
            "evidence": data["evidence"],
            "supporter": self.supporters[chosen] if chosen is not None else None,
            "due_on": data["due_on"],
            "cadence": data["cadence"],
            "survivor_wants_updates": data["survivor_wants_updates"],
            "concerns": data["concerns"],
        }


class RemoveForm(forms.Form):
    lock_version = forms.IntegerField(widget=forms.HiddenInput)


class AffirmForm(forms.Form):
    participant = forms.TypedChoiceField(label=_("Who affirmed it"), coerce=int, choices=())
    affirmed_on = forms.DateField(
        label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    how = forms.ChoiceField(label=_("How"), choices=HowAffirmed.choices)

    def __init__(self, *args: Any, parties: list[Participant], **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "affirm-%s")
        super().__init__(*args, **kwargs)
        self.parties = {p.pk: p for p in parties}
        self.fields["participant"].choices = [_labelled(p) for p in parties]  # type: ignore[attr-defined]

    def chosen(self) -> Participant:
        return self.parties[self.cleaned_data["participant"]]


class CheckInForm(forms.Form):
    status = forms.ChoiceField(label=_("Progress"), choices=ProgressStatus.choices, widget=forms.RadioSelect)
    reported_by = forms.ChoiceField(label=_("Reported by"), choices=ReportedBy.choices)
    reporter = forms.TypedChoiceField(
        label=_("Who reported it"),
        coerce=int,
        required=False,
        empty_value=None,
        choices=(),
        help_text=_("For a report by the supporter or the safety monitor: who it was."),
    )
    note = forms.CharField(
        label=_("Short note (optional)"),
        required=False,
        max_length=NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("What the team needs to know, briefly. Encrypted; only the case team sees it."),
    )

    def __init__(self, *args: Any, reporters: list[Participant], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reporters = {p.pk: p for p in reporters}
        self.fields["reporter"].choices = [  # type: ignore[attr-defined]
            ("", _("The keeper (no one else)")),
            *(_labelled(p) for p in reporters),
        ]

    def chosen(self) -> Participant | None:
        chosen = self.cleaned_data["reporter"]
        return self.reporters[chosen] if chosen is not None else None


class StepForm(forms.Form):
    step = forms.TypedChoiceField(
        label=_("Step reached"), coerce=int, choices=Step.choices, widget=forms.RadioSelect
    )
    commitments = forms.TypedMultipleChoiceField(
        label=_("Evidence: commitments"),
        coerce=int,
        required=False,
        choices=(),
        widget=forms.CheckboxSelectMultiple,
    )
    checkins = forms.TypedMultipleChoiceField(
        label=_("Evidence: check-ins"),
        coerce=int,
        required=False,
        choices=(),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Link at least one commitment or check-in."),
    )
    note = forms.CharField(
        label=_("Keeper's note (optional)"),
        required=False,
        max_length=DESCRIPTION_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Encrypted; only the case team sees it."),
    )

    def __init__(
        self, *args: Any, commitments: list[Commitment], checkins: list[CheckIn], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.commitment_rows = {c.pk: c for c in commitments}
        self.checkin_rows = {c.pk: c for c in checkins}
        self.fields["commitments"].choices = [  # type: ignore[attr-defined]
            (c.pk, f"{c.number} · {c.get_kind_display()}") for c in commitments
        ]
        self.fields["checkins"].choices = [  # type: ignore[attr-defined]
            (
                c.pk,
                f"{c.commitment.number} · {c.get_status_display()} · "
                f"{date_format(timezone.localtime(c.at), 'SHORT_DATE_FORMAT')}",
            )
            for c in checkins
        ]

    def chosen_commitments(self) -> list[Commitment]:
        return [self.commitment_rows[pk] for pk in self.cleaned_data["commitments"]]

    def chosen_checkins(self) -> list[CheckIn]:
        return [self.checkin_rows[pk] for pk in self.cleaned_data["checkins"]]


class ProgressLinkForm(forms.Form):
    channel = forms.ChoiceField(
        label=_("How the link reaches them"),
        choices=ContactChannel.choices,
        help_text=_("Their safe-contact rules must allow it, now."),
    )

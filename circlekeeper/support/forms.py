"""Forms of the support network pages. Plain forms: a person sets who someone is to a party and how they stand;
the case, the organization, the barrier flag on a participant and the measures are never among the fields."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from circlekeeper.cases.models import Participant
from circlekeeper.support.models import LABEL_MAX_LENGTH, HelpKind, PodMember, PodSide, Stance
from circlekeeper.support.services import MemberFields

NOT_A_PARTICIPANT = ""


def _choice(participant: Participant, side: str | None) -> str:
    text = f"{participant.label} ({participant.get_role_display()})"
    if side is None:
        return text
    return str(_("%(person)s · already in %(pod)s")) % {
        "person": text,
        "pod": str(PodSide(side).label).lower(),
    }


class MemberForm(forms.Form):
    side = forms.ChoiceField(label=_("Pod"), choices=PodSide.choices, widget=forms.RadioSelect)
    participant = forms.TypedChoiceField(
        label=_("Participant"),
        coerce=int,
        empty_value=None,
        required=False,
        choices=(),
        help_text=_(
            "Someone recorded as a participant of the case, or not a participant yet. Consent is recorded on "
            "the participant's page: someone not yet a participant has not been asked."
        ),
    )
    label = forms.CharField(
        label=_("Label"),
        max_length=LABEL_MAX_LENGTH,
        required=False,
        help_text=_(
            "A pseudonymous label, e.g. “Aunt R”; never a full name. Empty: the participant's label."
        ),
    )
    relationship = forms.CharField(
        label=_("Relationship"),
        max_length=200,
        help_text=_(
            "Who they are to the party, e.g. “sister” or “neighbour”. Encrypted; only the team sees it."
        ),
    )
    stance = forms.ChoiceField(
        label=_("Ally, barrier or unsure"),
        choices=Stance.choices,
        widget=forms.RadioSelect,
        help_text=_("A barrier is never invited or contacted, and never counted as a supporter."),
    )
    help = forms.MultipleChoiceField(
        label=_("Can help with"),
        choices=HelpKind.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    active = forms.BooleanField(label=_("Active: taking part in the pod now"), required=False, initial=True)
    both_reason = forms.CharField(
        label=_("Why in both pods (only for someone in both)"),
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Someone is in both pods only with a recorded reason. Encrypted; only the team sees it."),
    )

    def __init__(
        self, *args: Any, participants: list[Participant], placed: dict[int, str], **kwargs: Any
    ) -> None:
        """`placed`: the pod each participant already in one is in (offered still, so that choosing them
        again says what to do rather than hiding them)."""
        super().__init__(*args, **kwargs)
        self.participants = {p.pk: p for p in participants}
        self.fields["participant"].choices = [  # type: ignore[attr-defined]
            (NOT_A_PARTICIPANT, _("Not a participant yet")),
            *((p.pk, _choice(p, placed.get(p.pk))) for p in participants),
        ]

    def member_fields(self) -> MemberFields:
        data = self.cleaned_data
        return MemberFields(
            side=data["side"],
            label=data["label"],
            relationship=data["relationship"],
            stance=data["stance"],
            help=list(data["help"]),
            active=data["active"],
            both_reason=data["both_reason"],
            participant=self.participants.get(data["participant"]) if data["participant"] else None,
        )


class EditMemberForm(MemberForm):
    # The version the page was drawn from: a second editor working from an older page is refused.
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    @staticmethod
    def initial_for(member: PodMember) -> dict[str, Any]:
        return {
            "side": member.side,
            "participant": member.participant_id or NOT_A_PARTICIPANT,
            "label": member.label,
            "relationship": member.relationship,
            "stance": member.stance,
            "help": list(member.help),
            "active": member.active,
            "both_reason": member.both_reason or "",
            "version": member.version,
        }


class TieForm(forms.Form):
    a = forms.TypedChoiceField(label=_("This person"), coerce=int, choices=())
    b = forms.TypedChoiceField(label=_("knows this person"), coerce=int, choices=())

    def __init__(self, *args: Any, members: list[PodMember], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.members = {m.pk: m for m in members}
        choices = [(m.pk, m.label) for m in members]
        self.fields["a"].choices = choices  # type: ignore[attr-defined]
        self.fields["b"].choices = choices  # type: ignore[attr-defined]

    def pair(self) -> tuple[PodMember, PodMember]:
        return self.members[self.cleaned_data["a"]], self.members[self.cleaned_data["b"]]

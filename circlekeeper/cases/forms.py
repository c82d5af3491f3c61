from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from django import forms
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from circlekeeper.accounts.models import User
from circlekeeper.cases.history import RISK_LEVELS
from circlekeeper.cases.models import (
    REFERRAL_FIRST_ROLES,
    CaseStatus,
    ConsentKind,
    ContactChannel,
    Escalation,
    Frequency,
    HarmType,
    HowGiven,
    Participant,
    ParticipantRole,
    ReachedOutBy,
    ReferralSource,
    ReleasableField,
    Stage,
    Track,
    Weekday,
    YesNoPreferNot,
)

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

SORTS: dict[str, tuple[Any, ...]] = {
    "opened": ("opened_on", "id"),
    "-opened": ("-opened_on", "-id"),
    "reference": ("reference",),
    "-reference": ("-reference",),
    "status": ("status", "-opened_on", "-id"),
    "-status": ("-status", "-opened_on", "-id"),
    # What is due soonest first; cases with nothing due (not open) last.
    "due": (F("due_on").asc(nulls_last=True), "reference"),
}

# The levels a safety check gives (safety.models.RiskLevel, whose labels cases.history repeats).
RISK_CHOICES = [(code, label) for code, label in RISK_LEVELS.items()]


class CaseFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any status")), *CaseStatus.choices]
    )
    assignee = forms.TypedChoiceField(label=_("Team member"), required=False, coerce=int, empty_value=None)
    reference = forms.CharField(
        label=_("Reference"),
        required=False,
        max_length=20,
        help_text=_("The whole reference, or its start (e.g. HAR-2026-00)."),
    )
    stage = forms.ChoiceField(
        label=_("Stage"), required=False, choices=[("", _("Any stage")), *Stage.choices]
    )
    track = forms.ChoiceField(
        label=_("Track"),
        required=False,
        choices=[("", _("Any track")), ("none", _("Not chosen yet")), *Track.choices],
    )
    risk = forms.ChoiceField(
        label=_("Latest risk level"),
        required=False,
        choices=[("", _("Any level")), ("none", _("No safety check yet")), *RISK_CHOICES],
    )
    hold = forms.ChoiceField(
        label=_("Safety hold"),
        required=False,
        choices=[("", _("On hold or not")), ("yes", _("On hold")), ("no", _("Not on hold"))],
    )
    needs_me = forms.BooleanField(
        label=_("Needs me"),
        required=False,
        help_text=_(
            "Something due today or overdue on a case where you are the keeper or safety advocate, "
            "or a safety hold on a case you supervise."
        ),
    )
    sort = forms.ChoiceField(
        label=_("Sort by"),
        required=False,
        choices=[
            ("due", _("Due soonest")),
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

    def clean_reference(self) -> str:
        return str(self.cleaned_data["reference"]).strip().upper()

    def ordering(self) -> tuple[Any, ...]:
        sort = self.cleaned_data.get("sort") if self.is_valid() else None
        return SORTS.get(sort or "due", SORTS["due"])


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
    # Asked only when a support network names a barrier under this label (cases.disclosure.add_participant).
    same_person = forms.BooleanField(
        label=_("This is the same person as the barrier named under this label: flag them a barrier"),
        required=False,
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


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _time_input() -> forms.TimeInput:
    return forms.TimeInput(attrs={"type": "time"}, format="%H:%M")


class ParticipantDetailsForm(forms.Form):
    """Identifying details; `version` is the details_version the page was drawn from (SECURITY.md 23)."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    pronouns = forms.CharField(label=_("Pronouns"), max_length=60, required=False)
    date_of_birth = forms.DateField(label=_("Date of birth"), required=False, widget=_date_input())
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)
    email = forms.EmailField(label=_("Email"), max_length=254, required=False)
    address = forms.CharField(
        label=_("Address"), max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    languages = forms.CharField(
        label=_("Languages"),
        max_length=200,
        required=False,
        help_text=_("The languages they prefer to speak and read, e.g. “Spanish, English”."),
    )

    def details(self) -> dict[str, Any]:
        return {name: value for name, value in self.cleaned_data.items() if name != "version"}


class KnownLookupForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    date_of_birth = forms.DateField(
        label=_("Date of birth"),
        required=False,
        widget=_date_input(),
        help_text=_("Optional, with the name: it makes a match on the name much surer."),
    )
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)
    email = forms.CharField(label=_("Email"), max_length=254, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("date_of_birth") and not data.get("name"):
            self.add_error("name", _("Type the name too: a date of birth alone is not looked up."))
        elif not any(data.get(name) for name in ("name", "phone", "email")):
            raise forms.ValidationError(_("Type a name, a phone number or an email address to look for."))
        return data

    def identifier_kinds(self) -> str:
        """Which kinds of identifier were typed (for the audit log), never what was typed."""
        data = self.cleaned_data
        return ",".join(
            kind
            for kind, field in (
                ("name", "name"),
                ("dob", "date_of_birth"),
                ("phone", "phone"),
                ("email", "email"),
            )
            if data.get(field)
        )


class ConsentForm(forms.Form):
    kind = forms.ChoiceField(label=_("Consent"), choices=ConsentKind.choices, widget=forms.RadioSelect)
    how_given = forms.ChoiceField(
        label=_("How they gave it"), choices=HowGiven.choices, widget=forms.RadioSelect
    )
    given_on = forms.DateField(label=_("Given on"), widget=_date_input(), initial=timezone.localdate)
    share_with = forms.CharField(
        label=_("Shared with"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("For consent to share: who the information may go to, and what information."),
    )


class WithdrawConsentForm(forms.Form):
    how = forms.ChoiceField(label=_("How they withdrew it"), choices=HowGiven.choices)


class ContactRulesForm(forms.Form):
    """Safe-contact rules; `version` is empty when none were recorded yet."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)
    channels = forms.MultipleChoiceField(
        label=_("Ways the program may contact them"),
        choices=ContactChannel.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    days = forms.TypedMultipleChoiceField(
        label=_("Days contact is allowed"),
        choices=Weekday.choices,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    from_time = forms.TimeField(
        label=_("From"),
        required=False,
        widget=_time_input(),
        help_text=_("Leave both times empty for any time of the allowed days."),
    )
    until_time = forms.TimeField(label=_("Until"), required=False, widget=_time_input())
    code_word = forms.CharField(
        label=_("Code word or phrase"),
        max_length=200,
        required=False,
        help_text=_("Said at the start of a call so they know it is safe to talk."),
    )
    never_leave_messages = forms.BooleanField(label=_("Never leave messages"), required=False)
    named_person = forms.CharField(
        label=_("Named person"),
        max_length=200,
        required=False,
        help_text=_("Someone the program may contact them through, if they chose that way."),
    )
    notes = forms.CharField(
        label=_("Other instructions"),
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def rules(self) -> dict[str, Any]:
        return {name: value for name, value in self.cleaned_data.items() if name != "version"}


class SurvivorChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Participant) -> str:
        return obj.label


class TrackChoiceForm(forms.Form):
    survivor = SurvivorChoiceField(label=_("Survivor"), queryset=Participant.objects.none(), empty_label=None)
    track = forms.ChoiceField(label=_("Their choice"), choices=Track.choices, widget=forms.RadioSelect)
    explained_by = forms.ModelChoiceField(
        label=_("Every track was explained by"), queryset=User.objects.none(), empty_label=None
    )
    explained_on = forms.DateField(label=_("Explained on"), widget=_date_input())
    in_their_words = forms.CharField(
        label=_("In their words (optional)"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What the survivor said about their choice, if they want it written down."),
    )

    def __init__(
        self,
        *args: Any,
        survivors: QuerySet[Participant],
        team: QuerySet[User],
        user: User,
        today: datetime.date,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["survivor"].queryset = survivors  # type: ignore[attr-defined]
        self.fields["explained_by"].queryset = team  # type: ignore[attr-defined]
        self.fields["explained_by"].initial = user.pk
        self.fields["explained_on"].initial = today


class ReferralForm(forms.Form):
    """A new referral. `referral_token` names this page: sent twice, it opens one case; `checked` says the
    "already known?" answer was shown for what is typed now."""

    # Not named form_token: that is the name of every form's idempotency token (lib/idempotency.py).
    referral_token = forms.UUIDField(widget=forms.HiddenInput)
    checked = forms.CharField(widget=forms.HiddenInput, required=False)
    reached_out_by = forms.ChoiceField(
        label=_("Who reached out"), choices=ReachedOutBy.choices, widget=forms.RadioSelect
    )
    reached_out_other = forms.CharField(
        label=_("Who, if someone else"),
        max_length=200,
        required=False,
        help_text=_("An agency or a role is enough, e.g. “the school counsellor”."),
    )
    safe_contact = forms.CharField(
        label=_("How to reach the survivor safely"),
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Which way and when it is safe, and what never to do (e.g. “no voicemail; text after 6 pm”). "
            "Kept encrypted; the safe-contact rules are set on the participant's page next."
        ),
    )
    first_role = forms.ChoiceField(
        label=_("The first participant is"),
        choices=[(role.value, role.label) for role in REFERRAL_FIRST_ROLES],
        initial=ParticipantRole.SURVIVOR,
        help_text=_("The survivor, or whoever reached out."),
    )
    first_label = forms.CharField(
        label=_("Their label"),
        max_length=60,
        initial=_("Survivor A"),
        help_text=_("A pseudonymous label used everywhere, e.g. “Survivor A”. Never a real name."),
    )
    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    date_of_birth = forms.DateField(label=_("Date of birth"), required=False, widget=_date_input())
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)
    email = forms.EmailField(label=_("Email"), max_length=254, required=False)
    supervisor = forms.TypedChoiceField(label=_("Supervisor on the team"), coerce=int)

    def __init__(self, *args: Any, supervisors: list[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.supervisors = {user.pk: user for user in supervisors}
        choices = [("", _("Choose a supervisor")), *((u.pk, str(u)) for u in supervisors)]
        self.fields["supervisor"].choices = choices  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("reached_out_by") == ReachedOutBy.OTHER and not data.get("reached_out_other", "").strip():
            self.add_error("reached_out_other", _("Say who reached out."))
        return data

    def chosen_supervisor(self) -> User:
        return self.supervisors[self.cleaned_data["supervisor"]]


def _story(label: StrOrPromise, hint: StrOrPromise, rows: int = 3, max_length: int = 2000) -> forms.CharField:
    return forms.CharField(
        label=label,
        help_text=hint,
        max_length=max_length,
        required=False,
        widget=forms.Textarea(attrs={"rows": rows}),
    )


def _choice(label: StrOrPromise, hint: StrOrPromise, choices: list[tuple[str, Any]]) -> forms.ChoiceField:
    return forms.ChoiceField(
        label=label, help_text=hint, choices=choices, required=False, widget=forms.RadioSelect
    )


class IntakeForm(forms.Form):
    """The intake, in plain words; every question may be left or answered "prefer not to say".

    `version` is the intake's version the page was drawn from (0 when there is none yet)."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)
    account = _story(
        _("What happened, in the survivor's words"),
        _("Write it as they tell it, in their words. Only what they choose to say. Kept encrypted."),
        rows=8,
        max_length=10000,
    )
    harm_types = forms.MultipleChoiceField(
        label=_("Types of harm"),
        help_text=_("Tick every kind they name. “Prefer not to say” is a full answer."),
        choices=HarmType.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    harm_other = forms.CharField(label=_("Other harm, in a few words"), max_length=300, required=False)
    first_happened = forms.CharField(
        label=_("When it first happened"),
        help_text=_("Rough is fine: “about three years ago”, “after the baby was born”."),
        max_length=200,
        required=False,
    )
    most_recent = forms.CharField(
        label=_("The most recent time"),
        help_text=_("Rough is fine: “last weekend”."),
        max_length=200,
        required=False,
    )
    frequency = _choice(_("How often"), _("As the survivor sees it."), Frequency.choices)
    escalation = _choice(
        _("Is it getting worse?"),
        _("More often, or more dangerous, than before? Tell the safety advocate if yes."),
        Escalation.choices,
    )
    children_in_home = _choice(
        _("Are there children in the home?"),
        _("Children are never asked to take part."),
        YesNoPreferNot.choices,
    )
    children_exposure = _story(
        _("What the children saw or heard"),
        _("Only what the survivor chooses to say; it helps the children's safety plan."),
    )
    goals = _story(
        _("What the survivor wants"),
        _("In their words: what would help, what would feel like things are better."),
    )
    does_not_want = _story(
        _("What the survivor does not want"),
        _("Things the program must not do, e.g. “no police”, “don't contact my family”."),
    )
    languages_access = _story(
        _("Languages and access needs"),
        _("Languages they speak and read; interpreters, disability access, childcare, transport."),
        rows=2,
        max_length=1000,
    )
    referral_source = _choice(
        _("How they heard of us"),
        _("For the program's records, not for the survivor."),
        ReferralSource.choices,
    )

    def answers(self) -> dict[str, Any]:
        return {name: value for name, value in self.cleaned_data.items() if name != "version"}

"""Pages that correct mistakes: marking a record entered in error, and reopening a case. Each first says what
will happen and asks for confirmation, on its own page (no JavaScript needed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from circlekeeper.accounts.audit import Action, audit
from circlekeeper.accounts.models import User
from circlekeeper.cases.access import get_case_for, get_consent_for, get_participant_for
from circlekeeper.cases.models import Case, CaseStatus, Stage
from circlekeeper.lib.forms import add_service_errors
from circlekeeper.protocol import corrections
from circlekeeper.protocol.access import get_meeting_for
from circlekeeper.protocol.forms import EnteredInErrorForm, ReopenForm
from circlekeeper.safety.access import get_survivor_for_plan
from circlekeeper.safety.models import SafetyPlanRevision
from circlekeeper.safety.services import is_supervisor_of


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _confirm(
    request: HttpRequest,
    *,
    case: Case,
    kind: str,
    record: Any,
    label: str,
    mark: Callable[..., bool],
    back: str,
) -> HttpResponse:
    form = EnteredInErrorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            marked = mark(by=_user(request), reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if marked:
                audit(request, action=Action.ENTERED_IN_ERROR, object_type=kind, object_id=record.pk)
            messages.success(request, _("Marked as entered in error: %(label)s.") % {"label": label})
            return redirect(back)
    name, effect = corrections.KINDS[kind]
    context = {"case": case, "form": form, "name": name, "effect": effect, "label": label, "back": back}
    status = 400 if request.method == "POST" else 200
    return render(request, "protocol/entered_in_error.html", context, status=status)


@login_required
def participant_error(request: HttpRequest, case_id: int, participant_id: int) -> HttpResponse:
    participant = get_participant_for(request, case_id, participant_id)
    return _confirm(
        request,
        case=participant.case,
        kind="participant",
        record=participant,
        label=participant.label,
        mark=lambda **kw: corrections.participant_in_error(participant=participant, **kw),
        back=reverse("cases:detail", args=[case_id]) + "#participants",
    )


@login_required
def consent_error(request: HttpRequest, case_id: int, consent_id: int) -> HttpResponse:
    consent = get_consent_for(request, case_id, consent_id)
    participant = consent.participant
    return _confirm(
        request,
        case=participant.case,
        kind="consent",
        record=consent,
        label=f"{participant.label} · {consent.get_kind_display()}",
        mark=lambda **kw: corrections.consent_in_error(consent=consent, **kw),
        back=reverse("cases:participant_detail", args=[case_id, participant.pk]) + "#consents",
    )


@login_required
def meeting_error(request: HttpRequest, case_id: int, meeting_id: int) -> HttpResponse:
    meeting = get_meeting_for(request, case_id, meeting_id)
    return _confirm(
        request,
        case=meeting.case,
        kind="meeting",
        record=meeting,
        label=f"{meeting.get_kind_display()} · {meeting.starts_at:%Y-%m-%d %H:%M}",
        mark=lambda **kw: corrections.meeting_in_error(meeting=meeting, **kw),
        back=reverse("protocol:meetings", args=[case_id]),
    )


@login_required
def note_error(request: HttpRequest, case_id: int, note_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    note = case.notes.filter(pk=note_id).first()
    if note is None:
        raise Http404
    return _confirm(
        request,
        case=case,
        kind="note",
        record=note,
        label=_("note of %(date)s") % {"date": f"{note.created_at:%Y-%m-%d}"},
        mark=lambda **kw: corrections.note_in_error(note=note, **kw),
        back=reverse("cases:detail", args=[case_id]) + "#notes",
    )


@login_required
def choice_error(request: HttpRequest, case_id: int, choice_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    choice = case.track_choices.filter(pk=choice_id).first()
    if choice is None:
        raise Http404
    return _confirm(
        request,
        case=case,
        kind="track_choice",
        record=choice,
        label=f"{choice.get_track_display()} · {choice.explained_on:%Y-%m-%d}",
        mark=lambda **kw: corrections.track_choice_in_error(choice=choice, **kw),
        back=reverse("cases:track_choice", args=[case_id]) + "#history",
    )


@login_required
def plan_revision_error(request: HttpRequest, case_id: int, participant_id: int, number: int) -> HttpResponse:
    survivor = get_survivor_for_plan(request, case_id, participant_id)
    revision = SafetyPlanRevision.objects.filter(plan__participant=survivor, number=number).first()
    if revision is None:
        raise Http404
    return _confirm(
        request,
        case=survivor.case,
        kind="plan_revision",
        record=revision,
        label=_("%(label)s, revision %(number)s") % {"label": survivor.label, "number": number},
        mark=lambda **kw: corrections.plan_revision_in_error(revision=revision, **kw),
        back=reverse("safety:plan_history", args=[case_id, participant_id]),
    )


@login_required
def reopen(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    if not is_supervisor_of(_user(request), case):
        raise PermissionDenied
    ended_at = Stage.INTAKE if case.stage == Stage.CLOSURE else Stage(case.stage)
    form = ReopenForm(request.POST or None, initial={"stage": ended_at})
    form.fields["stage"].choices = [  # type: ignore[attr-defined]
        (stage.value, stage.label) for stage in list(Stage)[: list(Stage).index(ended_at) + 1]
    ]
    status = 400 if request.method == "POST" else 200
    if request.method == "POST" and form.is_valid():
        try:
            transition = corrections.reopen(case=case, by=_user(request), **form.cleaned_data)
        except ValidationError as exc:
            status = 400 if add_service_errors(form, exc) else 409
        else:
            audit(request, action=Action.CASE_REOPEN, object_type="transition", object_id=transition.pk)
            messages.success(request, _("The case is open again. Every gate is passed again from here."))
            return redirect("protocol:case", case.pk)
    context = {"case": case, "form": form, "withdrawn": case.status == CaseStatus.WITHDRAWN}
    return render(request, "protocol/reopen.html", context, status=status)

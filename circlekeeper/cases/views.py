from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from circlekeeper.accounts.audit import Action, audit
from circlekeeper.accounts.models import CASE_ROLES, User
from circlekeeper.cases import disclosure, services
from circlekeeper.cases.access import (
    case_worker_context,
    cases_for,
    get_case_for,
    get_participant_for,
    get_release_for,
    get_task_for,
)
from circlekeeper.cases.forms import (
    CaseFilterForm,
    CompelledDisclosureForm,
    NoteForm,
    ParticipantForm,
    ReleaseForm,
)
from circlekeeper.cases.models import Case, CaseAssignment, ReleaseOfInformation

NOTES_SHOWN = 20

_TEAM = Prefetch(
    "assignments", queryset=CaseAssignment.objects.select_related("user").order_by("role", "user_id")
)


@login_required
def case_list(request: HttpRequest) -> HttpResponse:
    context = case_worker_context(request)
    colleagues = list(
        User.objects.filter(
            memberships__organization=context.organization, memberships__role__in=CASE_ROLES, is_active=True
        ).distinct()
    )
    form = CaseFilterForm(request.GET or None, colleagues=colleagues)
    cases = cases_for(context)
    if form.is_valid():
        if form.cleaned_data["status"]:
            cases = cases.filter(status=form.cleaned_data["status"])
        if form.cleaned_data["assignee"]:
            cases = cases.filter(
                pk__in=CaseAssignment.objects.filter(user_id=form.cleaned_data["assignee"]).values("case_id")
            )
    page = Paginator(
        cases.order_by(*form.ordering()).prefetch_related(_TEAM), settings.CASES_PER_PAGE
    ).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    audit(request, action=Action.CASE_LIST)
    return render(request, "cases/case_list.html", {"form": form, "page": page, "query": query.urlencode()})


def _detail_context(case: Case, note_form: NoteForm | None = None) -> dict[str, Any]:
    today = timezone.localdate()
    participants = list(
        case.participants.prefetch_related(
            Prefetch("releases", queryset=ReleaseOfInformation.objects.order_by("-affirmed_on", "-id")),  # type: ignore[arg-type]
            "compelled_disclosures",
        )
    )
    for participant in participants:
        for release in participant.releases.all():
            release.current = release.is_current(today)
    return {
        "case": case,
        "team": list(case.assignments.select_related("user").order_by("role", "user__display_name")),
        "notes": list(case.notes.select_related("author").order_by("-created_at", "-id")[:NOTES_SHOWN]),
        "participants": participants,
        "tasks": list(case.tasks.filter(done_at__isnull=True).select_related("participant")),
        "note_form": note_form or NoteForm(),
    }


@login_required
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    audit(request, action=Action.CASE_VIEW, object_type="case", object_id=case.pk)
    return render(request, "cases/case_detail.html", _detail_context(case))


@login_required
@require_POST
def note_add(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    form = NoteForm(request.POST)
    if not form.is_valid():
        # The case page comes back with the error, so this is a read of the case like any other.
        audit(request, action=Action.CASE_VIEW, object_type="case", object_id=case.pk)
        return render(request, "cases/case_detail.html", _detail_context(case, form), status=400)
    note = services.add_case_note(case=case, author=request.user, text=form.cleaned_data["text"])  # type: ignore[arg-type]
    audit(request, action=Action.NOTE_ADD, object_type="case", object_id=case.pk)
    messages.success(request, _("Note saved."))
    return redirect(f"{reverse('cases:detail', args=[case.pk])}#note-{note.pk}")


@login_required
def participant_add(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    form = ParticipantForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            participant = disclosure.add_participant(case=case, **form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            audit(request, action=Action.PARTICIPANT_ADD, object_type="participant", object_id=participant.pk)
            return redirect(f"{reverse('cases:detail', args=[case.pk])}#participants")
    return render(request, "cases/participant_form.html", {"case": case, "form": form})


@login_required
def release_add(request: HttpRequest, case_id: int, participant_id: int) -> HttpResponse:
    participant = get_participant_for(request, case_id, participant_id)
    form = ReleaseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            data = form.cleaned_data
            release = disclosure.record_release(
                participant=participant,
                recipient=data["recipient"],
                fields=data["information"],
                purpose=data["purpose"],
                how_given=data["how_given"],
                affirmed_on=data["affirmed_on"],
                expires_on=data["expires_on"],
                by=request.user,  # type: ignore[arg-type]
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            audit(request, action=Action.RELEASE_ADD, object_type="release", object_id=release.pk)
            messages.success(request, _("Release of information recorded."))
            return redirect(f"{reverse('cases:detail', args=[case_id])}#participants")
    return render(
        request,
        "cases/disclosure_form.html",
        {"case": participant.case, "participant": participant, "form": form},
    )


@login_required
@require_POST
def release_revoke(request: HttpRequest, case_id: int, release_id: int) -> HttpResponse:
    release = get_release_for(request, case_id, release_id)
    if disclosure.revoke_release(release=release, by=request.user):  # type: ignore[arg-type]
        audit(request, action=Action.RELEASE_REVOKE, object_type="release", object_id=release.pk)
        messages.success(request, _("The release is revoked. Nothing more may be shared under it."))
    return redirect(f"{reverse('cases:detail', args=[case_id])}#participants")


@login_required
def compelled_add(request: HttpRequest, case_id: int, participant_id: int) -> HttpResponse:
    participant = get_participant_for(request, case_id, participant_id)
    form = CompelledDisclosureForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            data = form.cleaned_data
            disclosure.record_compelled_disclosure(
                participant=participant,
                recipient=data["recipient"],
                legal_basis=data["legal_basis"],
                fields=data["information"],
                disclosed_on=data["disclosed_on"],
                by=request.user,  # type: ignore[arg-type]
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            audit(
                request,
                action=Action.DISCLOSURE_COMPELLED,
                object_type="participant",
                object_id=participant.pk,
            )
            messages.success(request, _("Recorded. A task to tell the participant is on the case."))
            return redirect(f"{reverse('cases:detail', args=[case_id])}#tasks")
    context = {"case": participant.case, "participant": participant, "form": form, "compelled": True}
    return render(request, "cases/disclosure_form.html", context)


@login_required
@require_POST
def task_done(request: HttpRequest, case_id: int, task_id: int) -> HttpResponse:
    task = get_task_for(request, case_id, task_id)
    disclosure.complete_task(task=task)
    audit(request, action=Action.TASK_DONE, object_type="task", object_id=task.pk)
    return redirect(f"{reverse('cases:detail', args=[case_id])}#tasks")


def _add_errors(form: forms.Form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)

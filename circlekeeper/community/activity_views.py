"""The community activity pages: events and trainings, the facilitator roster with training, readiness and
supervision notes, a case's community facilitators, and the quarterly funder report (page and CSV).

Who may open what is in access.py; every rule is in activities.py, readiness.py and funder_report.py. These
views find the object, read the form, call one service and answer. A refusal is shown with its reason, and
writes nothing.
"""

from __future__ import annotations

import csv
import uuid
from collections import defaultdict
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from circlekeeper.accounts.audit import Action, audit
from circlekeeper.accounts.models import Membership, Organization, Role, User
from circlekeeper.accounts.reauth import guard_export
from circlekeeper.cases.models import Case, CaseAssignment
from circlekeeper.community import activities
from circlekeeper.community.access import (
    ROSTER_WRITE_ROLES,
    SUPERVISION_ROLES,
    TRAINING_ROLES,
    event_context,
    funder_report_context,
    get_event_for,
    get_facilitator_for,
    get_team_case_for,
    roster_context,
    supervision_context,
    training_context,
)
from circlekeeper.community.activity_forms import (
    EventFilterForm,
    EventForm,
    FacilitatorForm,
    QuarterForm,
    RequirementForm,
    SupervisionNoteForm,
    TeamAddForm,
    TrainingRecordForm,
)
from circlekeeper.community.funder_report import Quarter, build_report, csv_rows, incomplete_message
from circlekeeper.community.models import (
    Attendance,
    AttendeeRole,
    CommunityEvent,
    Competency,
    Facilitator,
    ReadinessRequirement,
    SupervisionNote,
    TrainingRecord,
)
from circlekeeper.community.readiness import DIALOGUE_TRACKS, readiness_for, readiness_of
from circlekeeper.lib.audit import Outcome
from circlekeeper.lib.csv_safety import escape_row
from circlekeeper.lib.forms import add_service_errors

EVENTS_PER_PAGE = 50


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _status(form: forms.Form, exc: ValidationError) -> int:
    """400 for what the person can correct on the form, 409 for the record's state (e.g. a stale edit)."""
    return 400 if add_service_errors(form, exc) else 409


# --- events and trainings ------------------------------------------------------------------------------------


@login_required
@require_GET
def event_list(request: HttpRequest) -> HttpResponse:
    _staff, organization = event_context(request)
    form = EventFilterForm(request.GET or None)
    events = CommunityEvent.objects.for_organization(organization).order_by("-date", "-id")
    status = 200
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        if data["kind"]:
            events = events.filter(kind=data["kind"])
        if data["since"]:
            events = events.filter(date__gte=data["since"])
        if data["until"]:
            events = events.filter(date__lte=data["until"])
    elif form.is_bound:
        status, events = 400, events.none()
    page = Paginator(events.defer("follow_up"), EVENTS_PER_PAGE).get_page(request.GET.get("page"))
    reached: dict[int, int] = defaultdict(int)
    for event_id, count in (
        Attendance.objects.for_organization(organization)
        .filter(event_id__in=[e.pk for e in page])
        .values_list("event_id", "count")
    ):
        reached[event_id] += count
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "rows": [(e, reached[e.pk]) for e in page],
        "query": query.urlencode(),
    }
    return render(request, "community/activities/event_list.html", context, status=status)


def _event_choices(organization: Organization, event: CommunityEvent | None) -> dict[str, Any]:
    """The facilitators and staff an event form offers: the active ones, and whoever the event already names."""
    named = set(event.facilitators.values_list("pk", flat=True)) if event else set()
    facilitators = [
        f
        for f in Facilitator.objects.for_organization(organization).order_by("id")
        if f.active or f.pk in named
    ]
    staff_ids = (
        Membership.objects.active()
        .filter(organization=organization)
        .exclude(role=Role.EVALUATOR)
        .values("user_id")
    )
    staff = list(User.objects.filter(pk__in=staff_ids).order_by("display_name", "id"))
    return {"facilitators": facilitators, "staff": staff}


@login_required
def event_add(request: HttpRequest) -> HttpResponse:
    _staff, organization = event_context(request)
    choices = _event_choices(organization, None)
    if request.method != "POST":
        form = EventForm(initial={"uid": uuid.uuid4(), "date": timezone.localdate()}, **choices)
        return render(request, "community/activities/event_form.html", {"form": form})
    form = EventForm(request.POST, **choices)
    status = 400
    if form.is_valid():
        try:
            event = activities.record_event(
                organization=organization,
                by=_user(request),
                uid=form.cleaned_data["uid"] or uuid.uuid4(),
                **form.values(),
            )
        except ValidationError as exc:
            status = _status(form, exc)
        else:
            audit(
                request, action=Action.COMMUNITY_EVENT_SAVE, object_type="community_event", object_id=event.pk
            )
            messages.success(request, _("The event is recorded."))
            return redirect("community:event_detail", event.pk)
    audit(request, action=Action.COMMUNITY_EVENT_SAVE, outcome=Outcome.REFUSED)
    return render(request, "community/activities/event_form.html", {"form": form}, status=status)


def _counts(event: CommunityEvent) -> dict[str, int]:
    return dict(Attendance.objects.filter(event=event).values_list("role", "count"))


@login_required
def event_edit(request: HttpRequest, event_id: int) -> HttpResponse:
    event = get_event_for(request, event_id)
    choices = _event_choices(event.organization, event)
    context: dict[str, Any] = {"event": event}
    if request.method != "POST":
        context["form"] = EventForm(initial=EventForm.initial_for(event, _counts(event)), **choices)
        audit(request, action=Action.COMMUNITY_EVENT_VIEW, object_type="community_event", object_id=event.pk)
        return render(request, "community/activities/event_form.html", context)
    form = context["form"] = EventForm(request.POST, **choices)
    status = 400
    if form.is_valid():
        try:
            activities.change_event(
                event=event,
                by=_user(request),
                lock_version=form.cleaned_data["lock_version"] or 0,
                **form.values(),
            )
        except ValidationError as exc:
            status = _status(form, exc)
        else:
            audit(
                request, action=Action.COMMUNITY_EVENT_SAVE, object_type="community_event", object_id=event.pk
            )
            messages.success(request, _("The event is changed."))
            return redirect("community:event_detail", event.pk)
    audit(
        request,
        action=Action.COMMUNITY_EVENT_SAVE,
        object_type="community_event",
        object_id=event.pk,
        outcome=Outcome.REFUSED,
    )
    return render(request, "community/activities/event_form.html", context, status=status)


def _event_page(
    request: HttpRequest, event: CommunityEvent, *, training_form: TrainingRecordForm | None = None
) -> dict[str, Any]:
    staff = event_context(request)[0]
    counts = _counts(event)
    trainees = list(
        TrainingRecord.objects.for_organization(event.organization)
        .filter(event=event)
        .select_related("facilitator")
        .order_by("id")
    )
    may_record = event.is_training and staff.has_role(*TRAINING_ROLES)
    if may_record and training_form is None:
        active = list(
            Facilitator.objects.for_organization(event.organization).filter(active=True).order_by("id")
        )
        training_form = TrainingRecordForm(
            facilitators=active, initial={"hours": event.hours, "completed": True}
        )
    return {
        "event": event,
        "attendance": [(label, counts.get(role, 0)) for role, label in AttendeeRole.choices],
        "reached": sum(counts.values()),
        "competencies": [str(label) for value, label in Competency.choices if value in event.competencies],
        "facilitators": list(event.facilitators.order_by("id")),
        "staff_facilitators": list(event.staff_facilitators.order_by("display_name", "id")),
        "trainees": trainees,
        "training_form": training_form if may_record else None,
    }


@login_required
@require_GET
def event_detail(request: HttpRequest, event_id: int) -> HttpResponse:
    event = get_event_for(request, event_id)
    audit(request, action=Action.COMMUNITY_EVENT_VIEW, object_type="community_event", object_id=event.pk)
    return render(request, "community/activities/event_detail.html", _event_page(request, event))


@login_required
@require_POST
def training_record(request: HttpRequest, event_id: int) -> HttpResponse:
    event = get_event_for(request, event_id)
    _staff, organization = training_context(request)
    facilitators = list(Facilitator.objects.for_organization(organization).filter(active=True).order_by("id"))
    form = TrainingRecordForm(request.POST, facilitators=facilitators)
    status = 400
    if form.is_valid():
        try:
            record = activities.record_training(
                event=event,
                facilitator=form.chosen(),
                hours=form.cleaned_data["hours"],
                completed=form.cleaned_data["completed"],
                by=_user(request),
            )
        except ValidationError as exc:
            status = _status(form, exc)
        else:
            audit(request, action=Action.TRAINING_RECORD, object_type="training_record", object_id=record.pk)
            messages.success(request, _("The facilitator's training is recorded."))
            return redirect("community:event_detail", event.pk)
    audit(
        request,
        action=Action.TRAINING_RECORD,
        object_type="community_event",
        object_id=event.pk,
        outcome=Outcome.REFUSED,
    )
    context = _event_page(request, event, training_form=form)
    return render(request, "community/activities/event_detail.html", context, status=status)


# --- facilitators ------------------------------------------------------------------------------------------------


@login_required
@require_GET
def facilitator_list(request: HttpRequest) -> HttpResponse:
    staff, organization = roster_context(request)
    facilitators = list(
        Facilitator.objects.for_organization(organization).select_related("user").order_by("id")
    )
    readiness = readiness_for(organization, facilitators)
    requirements = list(ReadinessRequirement.objects.for_organization(organization))
    audit(request, action=Action.FACILITATOR_VIEW, object_type="organization", object_id=organization.pk)
    context = {
        "rows": [readiness[f.pk] for f in facilitators],
        "has_requirements": bool(requirements),
        "may_edit": staff.has_role(*ROSTER_WRITE_ROLES),
    }
    return render(request, "community/activities/facilitator_list.html", context)


def _accounts(organization: Organization) -> list[User]:
    keepers = (
        Membership.objects.active().filter(organization=organization, role=Role.KEEPER).values("user_id")
    )
    return list(User.objects.filter(pk__in=keepers).order_by("display_name", "id"))


@login_required
def facilitator_add(request: HttpRequest) -> HttpResponse:
    _staff, organization = roster_context(request, write=True)
    accounts = _accounts(organization)
    if request.method != "POST":
        form = FacilitatorForm(initial={"uid": uuid.uuid4(), "active": True}, accounts=accounts)
        return render(request, "community/activities/facilitator_form.html", {"form": form})
    form = FacilitatorForm(request.POST, accounts=accounts)
    status = 400
    if form.is_valid():
        try:
            facilitator = activities.add_facilitator(
                organization=organization,
                by=_user(request),
                uid=form.cleaned_data["uid"] or uuid.uuid4(),
                **form.values(),
            )
        except ValidationError as exc:
            status = _status(form, exc)
        else:
            audit(
                request, action=Action.FACILITATOR_SAVE, object_type="facilitator", object_id=facilitator.pk
            )
            messages.success(request, _("The facilitator is added to the roster."))
            return redirect("community:facilitator_detail", facilitator.pk)
    audit(request, action=Action.FACILITATOR_SAVE, outcome=Outcome.REFUSED)
    return render(request, "community/activities/facilitator_form.html", {"form": form}, status=status)


@login_required
def facilitator_edit(request: HttpRequest, facilitator_id: int) -> HttpResponse:
    facilitator = get_facilitator_for(request, facilitator_id, write=True)
    accounts = _accounts(facilitator.organization)
    if facilitator.user is not None and facilitator.user not in accounts:
        accounts.append(facilitator.user)  # shown, so the refusal can name it if it is kept
    context: dict[str, Any] = {"facilitator": facilitator}
    if request.method != "POST":
        context["form"] = FacilitatorForm(initial=FacilitatorForm.initial_for(facilitator), accounts=accounts)
        audit(request, action=Action.FACILITATOR_VIEW, object_type="facilitator", object_id=facilitator.pk)
        return render(request, "community/activities/facilitator_form.html", context)
    form = context["form"] = FacilitatorForm(request.POST, accounts=accounts)
    status = 400
    if form.is_valid():
        try:
            activities.change_facilitator(
                facilitator=facilitator,
                by=_user(request),
                lock_version=form.cleaned_data["lock_version"] or 0,
                **form.values(),
            )
        except ValidationError as exc:
            status = _status(form, exc)
        else:
            audit(
                request, action=Action.FACILITATOR_SAVE, object_type="facilitator", object_id=facilitator.pk
            )
            messages.success(request, _("The facilitator's record is changed."))
            return redirect("community:facilitator_detail", facilitator.pk)
    audit(
        request,
        action=Action.FACILITATOR_SAVE,
        object_type="facilitator",
        object_id=facilitator.pk,
        outcome=Outcome.REFUSED,
    )
    return render(request, "community/activities/facilitator_form.html", context, status=status)


def _facilitator_page(
    request: HttpRequest, facilitator: Facilitator, *, note_form: SupervisionNoteForm | None = None
) -> dict[str, Any]:
    staff = roster_context(request)[0]
    records = list(
        TrainingRecord.objects.for_organization(facilitator.organization)
        .filter(facilitator=facilitator)
        .select_related("event")
        .order_by("event__date", "id")
    )
    cases: list[Case] = []
    other_cases = 0
    if facilitator.user_id is not None:
        served = Case.objects.for_organization(facilitator.organization).filter(
            pk__in=CaseAssignment.objects.filter(user_id=facilitator.user_id).values("case_id")
        )
        # Staff outside a case's team see nothing of it, not even its reference: only a count of the others.
        cases = list(served.for_team_member(_user(request)).order_by("reference"))
        other_cases = served.count() - len(cases)
    notes = list(
        SupervisionNote.objects.for_organization(facilitator.organization)
        .filter(facilitator=facilitator)
        .select_related("by")
        .order_by("-at", "-id")
    )
    return {
        "facilitator": facilitator,
        "readiness": readiness_of(facilitator),
        "records": records,
        "cases": cases,
        "other_cases": other_cases,
        "dialogue_tracks": DIALOGUE_TRACKS,
        "notes": notes,
        "note_form": note_form or SupervisionNoteForm(initial={"uid": uuid.uuid4()}),
        "may_edit": staff.has_role(*ROSTER_WRITE_ROLES),
        "may_note": staff.has_role(*SUPERVISION_ROLES),
    }


@login_required
@require_GET
def facilitator_detail(request: HttpRequest, facilitator_id: int) -> HttpResponse:
    facilitator = get_facilitator_for(request, facilitator_id)
    # The page shows the supervision notes: every read is audited (SECURITY.md 16).
    audit(request, action=Action.SUPERVISION_NOTES_VIEW, object_type="facilitator", object_id=facilitator.pk)
    return render(
        request, "community/activities/facilitator_detail.html", _facilitator_page(request, facilitator)
    )


@login_required
@require_POST
def supervision_note_add(request: HttpRequest, facilitator_id: int) -> HttpResponse:
    facilitator = get_facilitator_for(request, facilitator_id)
    supervision_context(request)
    form = SupervisionNoteForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            note = activities.add_supervision_note(
                facilitator=facilitator,
                by=_user(request),
                uid=form.cleaned_data["uid"],
                text=form.cleaned_data["text"],
            )
        except ValidationError as exc:
            status = _status(form, exc)
        else:
            audit(
                request, action=Action.SUPERVISION_NOTE_ADD, object_type="supervision_note", object_id=note.pk
            )
            messages.success(request, _("The supervision note is added."))
            return redirect("community:facilitator_detail", facilitator.pk)
    audit(
        request,
        action=Action.SUPERVISION_NOTE_ADD,
        object_type="facilitator",
        object_id=facilitator.pk,
        outcome=Outcome.REFUSED,
    )
    audit(request, action=Action.SUPERVISION_NOTES_VIEW, object_type="facilitator", object_id=facilitator.pk)
    context = _facilitator_page(request, facilitator, note_form=form)
    return render(request, "community/activities/facilitator_detail.html", context, status=status)


# --- readiness requirements --------------------------------------------------------------------------------------


@login_required
def readiness(request: HttpRequest) -> HttpResponse:
    staff, organization = roster_context(request, write=request.method == "POST")
    form = RequirementForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                requirement = activities.set_requirement(
                    organization=organization, by=_user(request), **form.cleaned_data
                )
            except ValidationError as exc:
                status = _status(form, exc)
            else:
                audit(
                    request,
                    action=Action.READINESS_CHANGE,
                    object_type="readiness_requirement",
                    object_id=requirement.pk,
                )
                messages.success(request, _("The requirement is saved."))
                return redirect("community:readiness")
        audit(request, action=Action.READINESS_CHANGE, outcome=Outcome.REFUSED)
    context = {
        "requirements": list(ReadinessRequirement.objects.for_organization(organization)),
        "form": form,
        "may_edit": staff.has_role(*ROSTER_WRITE_ROLES),
    }
    return render(request, "community/activities/readiness.html", context, status=status)


@login_required
@require_POST
def readiness_remove(request: HttpRequest, requirement_id: int) -> HttpResponse:
    _staff, organization = roster_context(request, write=True)
    requirement = (
        ReadinessRequirement.objects.for_organization(organization).filter(pk=requirement_id).first()
    )
    if requirement is None:
        raise Http404
    activities.remove_requirement(requirement=requirement, by=_user(request))
    audit(
        request, action=Action.READINESS_CHANGE, object_type="readiness_requirement", object_id=requirement_id
    )
    messages.success(request, _("The requirement is removed."))
    return redirect("community:readiness")


# --- a case's community facilitators ---------------------------------------------------------------------------


def _team_page(case: Case, data: Any = None) -> dict[str, Any]:
    """Who of the community facilitators is on the case team, and the form to add one (each with readiness)."""
    team_users = set(CaseAssignment.objects.filter(case=case).values_list("user_id", flat=True))
    facilitators = list(
        Facilitator.objects.for_organization(case.organization)
        .filter(user__isnull=False)
        .select_related("user")
        .order_by("id")
    )
    readiness = readiness_for(case.organization, facilitators)
    on_team = [readiness[f.pk] for f in facilitators if f.user_id in team_users]
    offered = [readiness[f.pk] for f in facilitators if f.user_id not in team_users and f.active]
    labelled = [
        (
            r.facilitator,
            f"{r.facilitator.name} ({r.facilitator.user.display_name}) · "  # type: ignore[union-attr]
            + (_("ready") if r.ready else _("not ready")),
        )
        for r in offered
    ]
    return {
        "case": case,
        "on_team": on_team,
        "offered": offered,
        "form": TeamAddForm(data, facilitators=labelled),
        "dialogue": case.track in DIALOGUE_TRACKS,
    }


@login_required
def case_facilitators(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_team_case_for(request, case_id)
    if request.method != "POST":
        audit(request, action=Action.FACILITATOR_VIEW, object_type="case", object_id=case.pk)
        return render(request, "community/activities/case_facilitators.html", _team_page(case))
    context = _team_page(case, request.POST)
    form = context["form"]
    status = 400
    if form.is_valid():
        facilitator = form.chosen()
        try:
            activities.add_to_team(case=case, facilitator=facilitator, by=_user(request))
        except ValidationError as exc:
            status = _status(form, exc)
        else:
            audit(request, action=Action.FACILITATOR_TEAM, object_type="case", object_id=case.pk)
            messages.success(
                request,
                _("%(who)s is on the case team now, as a keeper.") % {"who": facilitator.user.display_name},
            )
            return redirect("community:case_facilitators", case.pk)
    audit(
        request,
        action=Action.FACILITATOR_TEAM,
        object_type="case",
        object_id=case.pk,
        outcome=Outcome.REFUSED,
    )
    return render(request, "community/activities/case_facilitators.html", context, status=status)


@login_required
@require_POST
def case_facilitator_remove(request: HttpRequest, case_id: int, facilitator_id: int) -> HttpResponse:
    case = get_team_case_for(request, case_id)
    facilitator = Facilitator.objects.for_organization(case.organization).filter(pk=facilitator_id).first()
    if facilitator is None:
        raise Http404
    try:
        activities.remove_from_team(case=case, facilitator=facilitator, by=_user(request))
    except ValidationError as exc:
        audit(
            request,
            action=Action.FACILITATOR_TEAM,
            object_type="case",
            object_id=case.pk,
            outcome=Outcome.REFUSED,
        )
        messages.error(request, " ".join(exc.messages))
        return redirect("community:case_facilitators", case.pk)
    audit(request, action=Action.FACILITATOR_TEAM, object_type="case", object_id=case.pk)
    messages.success(request, _("The facilitator is off the case team."))
    return redirect("community:case_facilitators", case.pk)


# --- the funder report ---------------------------------------------------------------------------------------------


def _quarter(request: HttpRequest) -> tuple[QuarterForm, Quarter | None]:
    today = timezone.localdate()
    offered = Quarter.offered(today)
    choices = [(q.code, q.label) for q in offered]
    default = Quarter.last_full(today)
    if "quarter" not in request.GET:
        return QuarterForm(initial={"quarter": default.code}, quarters=choices), default
    form = QuarterForm(request.GET, quarters=choices)
    asked = Quarter.parse(request.GET.get("quarter", ""))
    if asked is not None and asked > default:
        # The current quarter changes from day to day, and a future one has nothing yet (issue 21).
        form.is_valid()
        form.errors.clear()
        form.add_error("quarter", incomplete_message(default))
        return form, None
    if not form.is_valid():
        return form, None
    return form, Quarter.parse(form.cleaned_data["quarter"])


@login_required
@require_GET
def funder_report(request: HttpRequest) -> HttpResponse:
    _staff, organization = funder_report_context(request)
    form, quarter = _quarter(request)
    if quarter is None:
        return render(request, "community/activities/funder_report.html", {"form": form}, status=400)
    report = build_report(organization, quarter, timezone.localdate())
    audit(request, action=Action.FUNDER_REPORT, object_type="funder_report", object_id=quarter.code)
    context = {"form": form, "report": report, "generated": timezone.localdate()}
    return render(request, "community/activities/funder_report.html", context)


@login_required
@require_GET
def funder_report_csv(request: HttpRequest) -> HttpResponse:
    _staff, organization = funder_report_context(request)
    # The same re-authentication as every other file that leaves the system (accounts.reauth.guard_export).
    needed = guard_export(request)
    if needed is not None:
        return needed
    form, quarter = _quarter(request)
    if quarter is None:
        return render(request, "community/activities/funder_report.html", {"form": form}, status=400)
    report = build_report(organization, quarter, timezone.localdate())
    audit(request, action=Action.FUNDER_REPORT, object_type="funder_report", object_id=f"{quarter.code}.csv")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="funder-report-{organization.slug}-{quarter.code}.csv"'
    )
    writer = csv.writer(response)
    writer.writerow(escape_row([_("Section"), _("What"), _("Column"), _("Value")]))
    for row in csv_rows(report):
        writer.writerow(escape_row(row))
    return response

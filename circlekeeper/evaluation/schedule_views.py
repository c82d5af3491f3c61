"""The evaluation plan (program admins), the network's shared plan (its network admins), a case's evaluation
timepoints (its team), and what is due this week.

Rules live in scheduling.py; these views find the object, read the form, call one service and answer. A refusal
is shown with its reason and writes nothing.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from circlekeeper.accounts.access import program_admin_context, staff_context
from circlekeeper.accounts.audit import Action, audit
from circlekeeper.accounts.models import Network, Organization, User
from circlekeeper.cases.access import case_worker_context, cases_for, get_case_for
from circlekeeper.cases.models import Case, CaseAssignment, Participant, ParticipantRole, TeamRole
from circlekeeper.evaluation import scheduling
from circlekeeper.evaluation.models import (
    Enrollment,
    EvaluationPlan,
    PlanTimepoint,
    Timepoint,
    TimepointStatus,
)
from circlekeeper.evaluation.schedule_forms import EnrolForm, LockForm, TimepointForm
from circlekeeper.instruments.links import ContactRefused
from circlekeeper.lib.audit import Outcome
from circlekeeper.lib.forms import add_service_errors

# Team roles that may enrol a case or end its enrolment (the safety advocate sees the schedule, and may enter
# answers, but the decision to take part in the evaluation is the keeper's or the supervisor's).
ENROLLING_ROLES = (TeamRole.KEEPER, TeamRole.SUPERVISOR)
DUE_WITHIN_DAYS = 7


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


# --- access --------------------------------------------------------------------------------------------------


def _get_plan_timepoint_for(request: HttpRequest, timepoint_id: int) -> tuple[PlanTimepoint, Organization]:
    """A timepoint of the program admin's own plan; 403 for anyone else, 404 for another plan's."""
    _context, organization = program_admin_context(request)
    timepoint = (
        PlanTimepoint.objects.filter(pk=timepoint_id, plan__organization=organization)
        .select_related("plan")
        .first()
    )
    if timepoint is None:
        raise Http404
    return timepoint, organization


def _get_administered_network(request: HttpRequest, slug: str) -> Network:
    """A network this person administers: 403 for anyone who administers none, 404 for another network."""
    context = staff_context(request)
    if context is None or not context.admin_of_networks:
        raise PermissionDenied
    network = next((n for n in context.admin_of_networks if n.slug == slug), None)
    if network is None:
        raise Http404
    return network


def _get_network_plan_timepoint_for(
    request: HttpRequest, slug: str, timepoint_id: int
) -> tuple[PlanTimepoint, Network]:
    """A timepoint of the shared plan of a network this person administers; 404 for another plan's."""
    network = _get_administered_network(request, slug)
    timepoint = (
        PlanTimepoint.objects.filter(pk=timepoint_id, plan__network=network).select_related("plan").first()
    )
    if timepoint is None:
        raise Http404
    return timepoint, network


def _may_enrol(request: HttpRequest, case: Case) -> bool:
    return CaseAssignment.objects.filter(case=case, user=_user(request), role__in=ENROLLING_ROLES).exists()


def _get_case_to_enrol(request: HttpRequest, case_id: int) -> Case:
    """A case the person's team role lets them enrol (keeper, supervisor): 404 off the team, 403 otherwise."""
    case = get_case_for(request, case_id)
    if not _may_enrol(request, case):
        raise PermissionDenied
    return case


def _get_timepoint_for(request: HttpRequest, case_id: int, timepoint_id: int) -> Timepoint:
    case = get_case_for(request, case_id)
    timepoint = (
        Timepoint.objects.for_organization(case.organization).filter(pk=timepoint_id, case=case).first()
    )
    if timepoint is None:
        raise Http404
    timepoint.case = case
    return timepoint


# --- the plan ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AskedRow:
    instrument_name: str
    roles: list[str]


def _plan_rows(plan: EvaluationPlan) -> list[tuple[PlanTimepoint, list[AskedRow]]]:
    rows = []
    for timepoint in plan.timepoints.all():
        asked = [
            AskedRow(instrument.name, _role_labels(scheduling.respondent_roles(timepoint, instrument)))
            for instrument in timepoint.instruments.all()
        ]
        rows.append((timepoint, asked))
    return rows


def _role_labels(roles: list[str]) -> list[str]:
    return [str(ParticipantRole(role).label) for role in roles]


@login_required
def plan(request: HttpRequest) -> HttpResponse:
    context, organization = program_admin_context(request)
    own = scheduling.default_plan_for(organization, by=_user(request))
    plans = list(
        EvaluationPlan.objects.for_organization(organization)
        .select_related("network")
        .prefetch_related("timepoints__instruments")
        .order_by("id")
    )
    own = next(p for p in plans if p.pk == own.pk)
    shared = [p for p in plans if p.network_id is not None]
    audit(request, action=Action.EVALUATION_SCHEDULE_VIEW, object_type="evaluation_plan", object_id=own.pk)
    administered = {n.pk for n in context.admin_of_networks}
    context_data = {
        "plan": own,
        "rows": _plan_rows(own),
        # The shared plan is read-only here; a program admin who also administers the network gets its link.
        "shared": [(p, _plan_rows(p), p.network_id in administered) for p in shared],
        "lock_form": LockForm(initial={"lock_version": own.lock_version}),
    }
    return render(request, "evaluation/schedule/plan.html", context_data)


def _save_timepoint(
    request: HttpRequest,
    form: TimepointForm,
    plan: EvaluationPlan,
    timepoint: PlanTimepoint | None,
    plan_url: str,
) -> HttpResponse | None:
    """Run the service for a valid form; the redirect on success, None (errors on the form) on refusal."""
    now = timezone.now()
    try:
        if timepoint is None:
            saved = scheduling.add_timepoint(
                plan=plan,
                change=form.change(),
                lock_version=form.cleaned_data["lock_version"],
                by=_user(request),
                now=now,
            )
        else:
            saved = scheduling.change_timepoint(
                timepoint=timepoint,
                change=form.change(),
                lock_version=form.cleaned_data["lock_version"],
                by=_user(request),
                now=now,
            )
    except ValidationError as exc:
        add_service_errors(form, exc)
        return None
    audit(request, action=Action.EVALUATION_PLAN_CHANGE, object_type="plan_timepoint", object_id=saved.pk)
    messages.success(
        request,
        _("Timepoint %(code)s saved. Timepoints already open, answered or missed keep their window.")
        % {"code": saved.code},
    )
    return redirect(plan_url + f"#timepoint-{saved.pk}")


def _timepoint_page(
    request: HttpRequest,
    *,
    plan: EvaluationPlan,
    organization: Organization | None,
    timepoint: PlanTimepoint | None,
    plan_url: str,
    network: Network | None = None,
) -> HttpResponse:
    """Add (timepoint None) or change a timepoint of an organization's plan or of a network's shared one."""
    if timepoint is not None and timepoint.retired_at is not None:
        raise Http404
    form = TimepointForm(request.POST or None, organization=organization, plan=plan, timepoint=timepoint)
    if request.method == "POST" and form.is_valid():
        done = _save_timepoint(request, form, plan, timepoint, plan_url)
        if done is not None:
            return done
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "plan": plan, "timepoint": timepoint, "plan_url": plan_url, "network": network}
    return render(request, "evaluation/schedule/timepoint_form.html", context, status=status)


def _retire_timepoint(request: HttpRequest, timepoint: PlanTimepoint, plan_url: str) -> HttpResponse:
    form = LockForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The form was incomplete: nothing was changed."))
        return redirect(plan_url)
    try:
        scheduling.retire_timepoint(
            timepoint=timepoint,
            lock_version=form.cleaned_data["lock_version"],
            by=_user(request),
            now=timezone.now(),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(plan_url)
    audit(request, action=Action.EVALUATION_PLAN_CHANGE, object_type="plan_timepoint", object_id=timepoint.pk)
    messages.success(
        request,
        _(
            "Timepoint %(code)s retired. Its timepoints not yet open are cancelled; the others stay as they were."
        )
        % {"code": timepoint.code},
    )
    return redirect(plan_url)


@login_required
def plan_timepoint_add(request: HttpRequest) -> HttpResponse:
    _context, organization = program_admin_context(request)
    own = scheduling.default_plan_for(organization, by=_user(request))
    return _timepoint_page(
        request, plan=own, organization=organization, timepoint=None, plan_url=reverse("evaluation:plan")
    )


@login_required
def plan_timepoint_edit(request: HttpRequest, timepoint_id: int) -> HttpResponse:
    timepoint, organization = _get_plan_timepoint_for(request, timepoint_id)
    return _timepoint_page(
        request,
        plan=timepoint.plan,
        organization=organization,
        timepoint=timepoint,
        plan_url=reverse("evaluation:plan"),
    )


@login_required
@require_POST
def plan_timepoint_retire(request: HttpRequest, timepoint_id: int) -> HttpResponse:
    timepoint, _organization = _get_plan_timepoint_for(request, timepoint_id)
    return _retire_timepoint(request, timepoint, reverse("evaluation:plan"))


# --- a network's shared plan (its network admins) ------------------------------------------------------------


@login_required
def network_plan(request: HttpRequest, slug: str) -> HttpResponse:
    network = _get_administered_network(request, slug)
    shared = scheduling.default_network_plan_for(network, by=_user(request))
    shared = EvaluationPlan.objects.prefetch_related("timepoints__instruments").get(pk=shared.pk)
    audit(request, action=Action.EVALUATION_SCHEDULE_VIEW, object_type="evaluation_plan", object_id=shared.pk)
    context = {
        "network": network,
        "plan": shared,
        "rows": _plan_rows(shared),
        "plan_url": reverse("evaluation:network_plan", args=[network.slug]),
    }
    return render(request, "evaluation/schedule/network_plan.html", context)


@login_required
def network_plan_timepoint_add(request: HttpRequest, slug: str) -> HttpResponse:
    network = _get_administered_network(request, slug)
    shared = scheduling.default_network_plan_for(network, by=_user(request))
    return _timepoint_page(
        request,
        plan=shared,
        organization=None,
        timepoint=None,
        plan_url=reverse("evaluation:network_plan", args=[network.slug]),
        network=network,
    )


@login_required
def network_plan_timepoint_edit(request: HttpRequest, slug: str, timepoint_id: int) -> HttpResponse:
    timepoint, network = _get_network_plan_timepoint_for(request, slug, timepoint_id)
    return _timepoint_page(
        request,
        plan=timepoint.plan,
        organization=None,
        timepoint=timepoint,
        plan_url=reverse("evaluation:network_plan", args=[network.slug]),
        network=network,
    )


@login_required
@require_POST
def network_plan_timepoint_retire(request: HttpRequest, slug: str, timepoint_id: int) -> HttpResponse:
    timepoint, network = _get_network_plan_timepoint_for(request, slug, timepoint_id)
    return _retire_timepoint(request, timepoint, reverse("evaluation:network_plan", args=[network.slug]))


# --- a case's evaluation -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    timepoint: Timepoint
    due_on: Any
    last_day: Any
    link_status: str


def _schedule_context(request: HttpRequest, case: Case, form: EnrolForm | None = None) -> dict[str, Any]:
    """Everything the page shows, in a fixed number of queries however many timepoints there are."""
    now = timezone.now()
    enrollment = Enrollment.objects.filter(case=case).select_related("plan", "enrolled_by").first()
    participants = list(Participant.objects.filter(case=case).order_by("id"))
    rows: dict[int, list[Row]] = defaultdict(list)
    if enrollment is not None:
        timepoints = (
            Timepoint.objects.for_organization(case.organization)
            .filter(case=case)
            .select_related("instrument", "link", "response")
            .order_by("due_at", "code", "instrument__name", "id")
        )
        for timepoint in timepoints:
            link_status = str(timepoint.link.status(now)) if timepoint.link is not None else ""
            rows[timepoint.participant_id].append(
                Row(timepoint, scheduling.due_day(timepoint), scheduling.last_day(timepoint), link_status)
            )
    may_enrol = _may_enrol(request, case)
    plans: list[EvaluationPlan] = []
    if may_enrol and (enrollment is None or enrollment.ended_at is not None):
        # The organization's default plan is made on first need, as on the plan page: the team need not wait
        # for a program admin to open it.
        scheduling.default_plan_for(case.organization)
        plans = scheduling.plans_for(case.organization)
    if plans and form is None:
        form = EnrolForm(plans=plans, today=timezone.localdate())
    return {
        "case": case,
        "enrollment": enrollment,
        "participants": [(p, rows.get(p.pk, [])) for p in participants],
        "may_enrol": may_enrol,
        "enrol_form": form,
        "Status": TimepointStatus,
    }


@login_required
def case_schedule(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    audit(request, action=Action.EVALUATION_SCHEDULE_VIEW, object_type="case", object_id=case.pk)
    return render(request, "evaluation/schedule/case.html", _schedule_context(request, case))


@login_required
@require_POST
def case_enrol(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _get_case_to_enrol(request, case_id)
    plans = scheduling.plans_for(case.organization)
    form = EnrolForm(request.POST, plans=plans, today=timezone.localdate())
    status = 400
    if form.is_valid():
        try:
            enrollment = scheduling.enrol(
                case=case,
                plan=form.cleaned_data["plan"],
                by=_user(request),
                enrolled_on=form.cleaned_data["enrolled_on"],
                now=timezone.now(),
            )
        except ValidationError as exc:
            status = 400 if add_service_errors(form, exc) else 409
        else:
            audit(request, action=Action.EVALUATION_ENROL, object_type="enrollment", object_id=enrollment.pk)
            messages.success(request, _("The case is enrolled. Its timepoints are listed below."))
            return redirect("evaluation:case_schedule", case.pk)
    audit(
        request,
        action=Action.EVALUATION_ENROL,
        object_type="case",
        object_id=case.pk,
        outcome=Outcome.REFUSED,
    )
    return render(
        request, "evaluation/schedule/case.html", _schedule_context(request, case, form), status=status
    )


@login_required
@require_POST
def case_enrolment_end(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _get_case_to_enrol(request, case_id)
    enrollment = Enrollment.objects.filter(case=case).first()
    if enrollment is None:
        raise Http404
    try:
        cancelled = scheduling.end_enrollment(enrollment=enrollment, by=_user(request), now=timezone.now())
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("evaluation:case_schedule", case.pk)
    audit(request, action=Action.EVALUATION_ENROL, object_type="enrollment", object_id=enrollment.pk)
    messages.success(
        request,
        _("The enrolment has ended: %(count)s timepoints not yet open are cancelled. Open ones stay open.")
        % {"count": cancelled},
    )
    return redirect("evaluation:case_schedule", case.pk)


@login_required
@require_POST
def timepoint_entry(request: HttpRequest, case_id: int, timepoint_id: int) -> HttpResponse:
    """Enter a participant's answers for an open timepoint, with them in person or on the phone."""
    timepoint = _get_timepoint_for(request, case_id, timepoint_id)
    try:
        response = scheduling.start_staff_entry(timepoint=timepoint, by=_user(request))
    except ContactRefused as refusal:
        audit(
            request,
            action=Action.RESPONSE_START,
            object_type="timepoint",
            object_id=timepoint.pk,
            outcome=Outcome.REFUSED,
        )
        messages.error(request, refusal.reason)
        return redirect("evaluation:case_schedule", case_id)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("evaluation:case_schedule", case_id)
    audit(request, action=Action.RESPONSE_START, object_type="response", object_id=response.pk)
    return redirect("instruments:response_answer", case_id, response.pk)


# --- due this week -------------------------------------------------------------------------------------------


@login_required
def due(request: HttpRequest) -> HttpResponse:
    """The questionnaires due in the coming week, or overdue and still open, on the person's own cases."""
    context = case_worker_context(request)
    now = timezone.now()
    until = now + datetime.timedelta(days=DUE_WITHIN_DAYS)
    timepoints = list(
        Timepoint.objects.for_organization(context.organization)
        .filter(
            case__in=cases_for(context),
            status__in=[TimepointStatus.OPEN, TimepointStatus.SCHEDULED],
            due_at__lte=until,
        )
        .select_related("case", "participant", "instrument")
        .order_by("due_at", "case__reference", "participant_id", "instrument__name")
    )
    groups: dict[tuple[int, str], list[Timepoint]] = {}
    for timepoint in timepoints:
        groups.setdefault((timepoint.participant_id, timepoint.code), []).append(timepoint)
    rows = [
        {
            "case": items[0].case,
            "participant": items[0].participant,
            "code": items[0].code,
            "due_on": scheduling.due_day(items[0]),
            "last_day": scheduling.last_day(items[0]),
            "status": items[0].get_status_display(),
            "overdue": items[0].due_at <= now,
            "instruments": [t.instrument.name for t in items],
        }
        for items in groups.values()
    ]
    audit(request, action=Action.EVALUATION_SCHEDULE_VIEW, object_type="due_list", object_id="")
    return render(request, "evaluation/schedule/due.html", {"rows": rows, "days": DUE_WITHIN_DAYS})

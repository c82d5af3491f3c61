"""The safety pages: a case's safety page, starting a check, reporting new violence, lifting a hold,
acknowledging alerts, the survivor's safety plan, and (for program admins) which instruments give risk levels.

Every rule lives in services.py; these views find the object, read the form, call one service and answer.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from circlekeeper.accounts.access import program_admin_context
from circlekeeper.accounts.audit import Action, audit
from circlekeeper.accounts.models import User
from circlekeeper.cases.access import get_case_for
from circlekeeper.cases.contact import harm_action_refusal
from circlekeeper.cases.models import Case, CaseAssignment, Participant, ParticipantRole, TeamRole
from circlekeeper.cases.participants import StaleEdit
from circlekeeper.instruments import filling
from circlekeeper.instruments.models import Instrument, InstrumentVersion
from circlekeeper.lib.audit import Outcome
from circlekeeper.lib.forms import add_service_errors
from circlekeeper.safety import services
from circlekeeper.safety.access import (
    get_alert_for,
    get_hold_for,
    get_participant_to_check,
    get_risk_instrument_for,
    get_survivor_for_plan,
)
from circlekeeper.safety.forms import (
    BandForm,
    CheckStartForm,
    LevelMapForm,
    LiftForm,
    PlanForm,
    RevisionForm,
    ViolenceForm,
    mappable_bands,
    plan_field_label,
)
from circlekeeper.safety.models import (
    PLAN_FIELDS,
    CheckKind,
    RiskInstrument,
    RiskLevel,
    SafetyAlert,
    SafetyCheck,
    SafetyHold,
    SafetyPlan,
    SafetyPlanRevision,
)

PURPOSES = {CheckKind.FULL: "safety_check", CheckKind.SCREEN: "immediate_danger"}
# Who an alert is for (PROTOCOL.md, escalation): only they acknowledge it, so it is not silenced for them.
ALERTED = (TeamRole.SUPERVISOR, TeamRole.SAFETY_ADVOCATE)


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _to_safety_page(case_id: int) -> HttpResponse:
    # The top of the page, where the message saying what happened is shown.
    return redirect("safety:case", case_id)


def _versions(case: Case) -> dict[str, list[InstrumentVersion]]:
    return services.safety_versions_by_kind(case.organization_id)


def _team_roles(case: Case, user: User) -> set[str]:
    return set(CaseAssignment.objects.filter(case=case, user=user).values_list("role", flat=True))


# --- the case's safety page ---------------------------------------------------------------------


def _plans_of(case: Case, survivors: list[Participant]) -> dict[int, SafetyPlan]:
    current_declined = SafetyPlanRevision.objects.filter(
        plan=OuterRef("pk"), number=OuterRef("revision")
    ).values("declined")[:1]
    plans = (
        SafetyPlan.objects.for_organization(case.organization)
        .filter(participant__in=[s.pk for s in survivors])
        .annotate(current_declined=Subquery(current_declined))
    )
    return {plan.participant_id: plan for plan in plans}


@login_required
def case_safety(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    user = _user(request)
    now = timezone.now()
    participants = list(case.participants.order_by("id"))
    holds = list(
        SafetyHold.objects.for_organization(case.organization)
        .filter(case=case)
        .select_related("opened_by", "lifted_by", "opening_check", "lift_check")
    )
    plans = _plans_of(case, [p for p in participants if p.is_survivor])
    for participant in participants:
        participant.plan = plans.get(participant.pk)
        participant.plan_due = services.plan_review_due(participant.plan, now)
    team_roles = _team_roles(case, user)
    versions = _versions(case)
    harm_side = any(p.is_harm_side for p in participants)
    open_hold = next((hold for hold in holds if hold.is_open), None)
    checks = list(
        SafetyCheck.objects.for_organization(case.organization)
        .filter(case=case)
        .select_related("participant", "entered_by")
    )
    context = {
        "case": case,
        "risk_level": RiskLevel(case.risk_level).label if case.risk_level else "",
        "open_hold": open_hold,
        "open_triggers": list(open_hold.triggers.all()) if open_hold else [],
        "holds": holds,
        "alerts": list(SafetyAlert.objects.for_organization(case.organization).unseen().filter(case=case)),
        "checks": checks,
        # Which check the latest risk level comes from: beside an open hold, a level alone reads as current.
        "risk_check": next((c for c in checks if c.participant.is_survivor and c.level), None),
        "participants": participants,
        "checkable": [p for p in participants if p.role != ParticipantRole.CHILD],
        "survivors": [p for p in participants if p.is_survivor],
        "versions": versions,
        "any_versions": any(versions.values()),
        "harm_refusal": harm_action_refusal(case) if harm_side else None,
        "may_lift": services.is_supervisor_of(user, case),
        "may_acknowledge": bool(team_roles & set(ALERTED)),
    }
    audit(request, action=Action.SAFETY_VIEW, object_type="case", object_id=case.pk)
    return render(request, "safety/case_safety.html", context)


@login_required
@require_POST
def check_start(request: HttpRequest, case_id: int, participant_id: int) -> HttpResponse:
    participant = get_participant_to_check(request, case_id, participant_id)
    case = participant.case
    # Asking the person who caused harm (or their supporter) anything is contact with them: refused while the
    # case is on hold, or without the survivor's consent and a track with contact (PROTOCOL.md, principle 1).
    refusal = harm_action_refusal(case) if participant.is_harm_side else None
    if refusal:
        audit(
            request,
            action=Action.CHECK_START,
            object_type="participant",
            object_id=participant.pk,
            outcome=Outcome.REFUSED,
        )
        messages.error(request, refusal)
        return _to_safety_page(case.pk)
    form = CheckStartForm(request.POST, versions=_versions(case))
    if not form.is_valid():
        for error in form.errors.values():
            messages.error(request, " ".join(str(e) for e in error))
        return _to_safety_page(case.pk)
    response = filling.start_entry(
        participant=participant,
        version=form.cleaned_data["instrument_version"],
        purpose=PURPOSES[CheckKind(form.cleaned_data["kind"])],
        by=_user(request),
    )
    audit(request, action=Action.CHECK_START, object_type="participant", object_id=participant.pk)
    return redirect("instruments:response_answer", case.pk, response.pk)


@login_required
def report_violence(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    form = ViolenceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            hold = services.report_new_violence(
                case=case, by=_user(request), details=form.cleaned_data["details"]
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            audit(request, action=Action.VIOLENCE_REPORT, object_type="safety_hold", object_id=hold.pk)
            messages.warning(
                request,
                _(
                    "The case is on safety hold: all contact with the person who caused harm stops. "
                    "The supervisor and the safety advocate were alerted."
                ),
            )
            return _to_safety_page(case.pk)
    return render(request, "safety/report_violence.html", {"case": case, "form": form})


# --- lifting a hold, acknowledging an alert -----------------------------------------------------


@login_required
def hold_lift(request: HttpRequest, case_id: int, hold_id: int) -> HttpResponse:
    hold = get_hold_for(request, case_id, hold_id)
    case = hold.case
    user = _user(request)
    if not services.is_supervisor_of(user, case):
        # Answered here rather than raised, so that the refusal's audit event is kept with the request.
        action = Action.HOLD_LIFT if request.method == "POST" else Action.ACCESS_REFUSED
        audit(request, action=action, object_type="safety_hold", object_id=hold.pk, outcome=Outcome.REFUSED)
        return render(request, "safety/lift_refused.html", {"case": case, "hold": hold}, status=403)
    if not hold.is_open:
        messages.info(request, _("This hold was already lifted."))
        return _to_safety_page(case.pk)
    form = LiftForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            services.lift_hold(hold=hold, by=user, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            add_service_errors(form, exc)
            audit(
                request,
                action=Action.HOLD_LIFT,
                object_type="safety_hold",
                object_id=hold.pk,
                outcome=Outcome.REFUSED,
            )
            status = 400
        else:
            audit(request, action=Action.HOLD_LIFT, object_type="safety_hold", object_id=hold.pk)
            messages.success(
                request, _("The safety hold is lifted. The reason is kept with the case's history.")
            )
            return _to_safety_page(case.pk)
    readiness = services.lift_readiness(hold, user)
    survivors = services.survivors_concerned(hold)
    newest = [
        check
        for survivor in survivors
        if (
            check := SafetyCheck.objects.filter(case=case, participant=survivor)
            .select_related("participant", "entered_by")
            .order_by("-checked_at", "-id")
            .first()
        )
        is not None
    ]
    context = {
        "case": case,
        "hold": hold,
        "form": form,
        "triggers": list(hold.triggers.select_related("by", "survivor")),
        "survivors": survivors,
        "newest": newest,
        "readiness": readiness,
        "lifting": readiness.checks if readiness.ready else [],
        "two_person": services.two_person_rule(),
    }
    return render(request, "safety/hold_lift.html", context, status=status)


@login_required
@require_POST
def alert_ack(request: HttpRequest, case_id: int, alert_id: int) -> HttpResponse:
    alert = get_alert_for(request, case_id, alert_id)
    user = _user(request)
    if not _team_roles(alert.case, user) & set(ALERTED):
        audit(
            request,
            action=Action.ALERT_ACK,
            object_type="safety_alert",
            object_id=alert.pk,
            outcome=Outcome.REFUSED,
        )
        return render(request, "safety/ack_refused.html", {"case": alert.case}, status=403)
    if services.acknowledge_alert(alert=alert, by=user):
        audit(request, action=Action.ALERT_ACK, object_type="safety_alert", object_id=alert.pk)
        messages.success(request, _("Alert acknowledged. The hold stays open until a supervisor lifts it."))
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(back)
    return _to_safety_page(alert.case_id)


# --- the survivor's safety plan ------------------------------------------------------------------


def _plan_of(survivor: Participant) -> SafetyPlan | None:
    return (
        SafetyPlan.objects.for_organization(survivor.case.organization).filter(participant=survivor).first()
    )


def _parts(revision: SafetyPlanRevision | None) -> list[tuple[str, str, str]]:
    """(field, heading, text) for each part of the plan, in order."""
    if revision is None:
        return []
    return [(name, plan_field_label(name), getattr(revision, name) or "") for name in PLAN_FIELDS]


def _plan_audit(request: HttpRequest, action: str, survivor: Participant, plan: SafetyPlan | None) -> None:
    if plan is None:
        audit(request, action=action, object_type="participant", object_id=survivor.pk)
    else:
        audit(request, action=action, object_type="safety_plan", object_id=plan.pk)


@login_required
def plan(request: HttpRequest, case_id: int, participant_id: int) -> HttpResponse:
    survivor = get_survivor_for_plan(request, case_id, participant_id)
    safety_plan = _plan_of(survivor)
    current = safety_plan.current() if safety_plan else None
    context = {
        "case": survivor.case,
        "survivor": survivor,
        "plan": safety_plan,
        "current": current,
        "parts": _parts(current),
        "due": services.plan_review_due(safety_plan, timezone.now()),
        "review_days": services.PLAN_REVIEW_DAYS,
    }
    _plan_audit(request, Action.PLAN_VIEW, survivor, safety_plan)
    return render(request, "safety/plan.html", context)


@login_required
def plan_edit(request: HttpRequest, case_id: int, participant_id: int) -> HttpResponse:
    survivor = get_survivor_for_plan(request, case_id, participant_id)
    safety_plan = _plan_of(survivor)
    current = safety_plan.current() if safety_plan else None
    initial: dict[str, Any] = {"revision": safety_plan.revision if safety_plan else 0}
    if current is not None:
        initial.update({name: getattr(current, name) or "" for name in PLAN_FIELDS})
    form = PlanForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            saved = services.save_plan(
                survivor=survivor,
                revision=data["revision"],
                by=_user(request),
                declined=data["declined"],
                **{name: data[name] for name in PLAN_FIELDS},
            )
        except StaleEdit as exc:
            form.add_error(None, exc)
            status = 409
        except ValidationError as exc:
            add_service_errors(form, exc)
            status = 400
        else:
            audit(request, action=Action.PLAN_SAVE, object_type="safety_plan", object_id=saved.plan_id)
            if saved.declined:
                messages.success(request, _("The survivor's decision not to have a safety plan is recorded."))
            else:
                messages.success(
                    request, _("The safety plan is saved as revision %(number)s.") % {"number": saved.number}
                )
            return redirect("safety:plan", survivor.case_id, survivor.pk)
    if request.method != "POST" and current is not None:
        _plan_audit(request, Action.PLAN_VIEW, survivor, safety_plan)
    context = {"case": survivor.case, "survivor": survivor, "plan": safety_plan, "form": form}
    return render(request, "safety/plan_edit.html", context, status=status)


@login_required
@require_POST
def plan_review(request: HttpRequest, case_id: int, participant_id: int) -> HttpResponse:
    survivor = get_survivor_for_plan(request, case_id, participant_id)
    form = RevisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The page was incomplete: nothing was recorded. Reload it and try again."))
        return redirect("safety:plan", survivor.case_id, survivor.pk)
    try:
        reviewed = services.review_plan(
            survivor=survivor, revision=form.cleaned_data["revision"], by=_user(request)
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        audit(request, action=Action.PLAN_REVIEW, object_type="safety_plan", object_id=reviewed.pk)
        messages.success(request, _("Recorded: the plan was reviewed with the survivor, with no changes."))
    return redirect("safety:plan", survivor.case_id, survivor.pk)


@login_required
def plan_history(request: HttpRequest, case_id: int, participant_id: int) -> HttpResponse:
    survivor = get_survivor_for_plan(request, case_id, participant_id)
    safety_plan = _plan_of(survivor)
    revisions = (
        list(safety_plan.revisions.select_related("saved_by", "error_by").order_by("-number"))
        if safety_plan
        else []
    )
    _plan_audit(request, Action.PLAN_VIEW, survivor, safety_plan)
    # The revision in force: the newest not entered in error.
    current_number = next((r.number for r in revisions if r.error_at is None), None)
    context = {
        "case": survivor.case,
        "survivor": survivor,
        "plan": safety_plan,
        "revisions": revisions,
        "current_number": current_number,
    }
    return render(request, "safety/plan_history.html", context)


@login_required
def plan_revision(request: HttpRequest, case_id: int, participant_id: int, number: int) -> HttpResponse:
    survivor = get_survivor_for_plan(request, case_id, participant_id)
    safety_plan = _plan_of(survivor)
    revision = (
        safety_plan.revisions.select_related("saved_by").filter(number=number).first()
        if safety_plan
        else None
    )
    if safety_plan is None or revision is None:
        raise Http404
    _plan_audit(request, Action.PLAN_VIEW, survivor, safety_plan)
    context = {
        "case": survivor.case,
        "survivor": survivor,
        "plan": safety_plan,
        "revision": revision,
        "parts": _parts(revision),
    }
    return render(request, "safety/plan_revision.html", context)


@login_required
def plan_print(request: HttpRequest, case_id: int, participant_id: int) -> HttpResponse:
    survivor = get_survivor_for_plan(request, case_id, participant_id)
    safety_plan = _plan_of(survivor)
    current = safety_plan.current() if safety_plan else None
    context = {"case": survivor.case, "survivor": survivor, "plan": safety_plan, "current": current}
    if current is None or current.declined:
        messages.info(request, _("There is no safety plan to print."))
        return redirect("safety:plan", survivor.case_id, survivor.pk)
    if request.method != "POST":
        # The warning first: paper can be found, so printing is the survivor's informed choice.
        return render(request, "safety/plan_print_warning.html", context)
    _plan_audit(request, Action.PLAN_PRINT, survivor, safety_plan)
    # On paper, only what was written: an empty heading says nothing useful to whoever finds the page.
    parts = [part for part in _parts(current) if part[2]]
    return render(request, "safety/plan_print.html", {**context, "parts": parts})


# --- program admins: which instruments give risk levels -------------------------------------------


@login_required
def risk_instruments(request: HttpRequest) -> HttpResponse:
    _context, organization = program_admin_context(request)
    mappings = list(
        RiskInstrument.objects.for_organization(organization).select_related("instrument", "created_by")
    )
    for mapping in mappings:
        mapping.levels = [
            (code, RiskLevel(level).label if level in RiskLevel.values else level)
            for code, level in mapping.level_map.items()
        ]
    bands = mappable_bands(organization)
    mapped = {m.instrument_id for m in mappings}
    band_form = BandForm(request.POST or None, bands=bands, mapped=mapped)
    level_form = None
    status = 200
    if request.method == "POST":
        status = 400
        if band_form.is_valid():
            band = band_form.chosen()
            if request.POST.get("step") != "map":
                level_form, status = LevelMapForm(band=band), 200
            else:
                level_form = LevelMapForm(request.POST, band=band)
                if level_form.is_valid():
                    try:
                        mapping = services.map_risk_instrument(
                            organization_id=organization.pk,
                            instrument=band.instrument,
                            kind=band_form.cleaned_data["kind"],
                            band=band.code,
                            level_map=level_form.level_map(),
                            by=_user(request),
                        )
                    except ValidationError as exc:
                        add_service_errors(level_form, exc)
                    else:
                        audit(
                            request,
                            action=Action.RISK_INSTRUMENT_CHANGE,
                            object_type="risk_instrument",
                            object_id=mapping.pk,
                        )
                        messages.success(
                            request,
                            _("%(name)s now gives risk levels: its responses are recorded as safety checks.")
                            % {"name": band.instrument.name},
                        )
                        return redirect("safety:risk_instruments")
    context = {
        "mappings": mappings,
        "builtins": list(Instrument.objects.filter(owner__isnull=True, code__in=services.BUILTIN)),
        "builtin_kinds": services.BUILTIN,
        "bands": bands,
        "band_form": band_form,
        "level_form": level_form,
    }
    return render(request, "safety/risk_instruments.html", context, status=status)


@login_required
@require_POST
def risk_instrument_delete(request: HttpRequest, mapping_id: int) -> HttpResponse:
    mapping = get_risk_instrument_for(request, mapping_id)
    mapping_pk, name = mapping.pk, mapping.instrument.name
    mapping.delete()
    audit(request, action=Action.RISK_INSTRUMENT_CHANGE, object_type="risk_instrument", object_id=mapping_pk)
    messages.success(
        request,
        _("%(name)s no longer gives risk levels. The checks it already recorded are kept.") % {"name": name},
    )
    return redirect("safety:risk_instruments")

"""The accountability pages: a case's agreement and progress (versions, commitments, affirmations, check-ins,
the staircase, the keeper's view beside the survivor's), drafting and changing a version, recording progress and
steps, the printable agreement, the progress page links, and the participant's own progress page at /p/.

Every rule lives in services.py; these views find the object, read the form, call one service and answer. A
refusal is shown with its reason, and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from circlekeeper.accountability import services
from circlekeeper.accountability.access import (
    get_commitment_for,
    get_harm_participant_for,
    get_progress_link_for,
    get_version_for,
)
from circlekeeper.accountability.comparison import Comparison, compare, keeper_view
from circlekeeper.accountability.forms import (
    AffirmForm,
    CheckInForm,
    CommitmentForm,
    DraftForm,
    ProgressLinkForm,
    RemoveForm,
    StepForm,
)
from circlekeeper.accountability.models import (
    Affirmation,
    AgreementVersion,
    CheckIn,
    Commitment,
    ProgressLink,
    ProgressStatus,
    StaircaseStep,
    SurvivorView,
    in_force,
    latest_draft,
)
from circlekeeper.accountability.progress import own_commitments
from circlekeeper.accounts.audit import Action, audit, record_event
from circlekeeper.accounts.models import User
from circlekeeper.cases.access import get_case_for
from circlekeeper.cases.contact import harm_action_refusal
from circlekeeper.cases.models import Case, ParticipantRole
from circlekeeper.instruments.links import ContactRefused
from circlekeeper.lib.audit import Outcome
from circlekeeper.lib.forms import add_service_errors
from circlekeeper.lib.links import public_link
from circlekeeper.protocol import policy

PROGRESS_SESSION_KEY = "progress_link_id"
# The check-ins offered as a step's evidence: the latest ones.
STEP_CHECKINS = 60


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _add_errors(form: forms.Form, exc: ValidationError) -> int:
    """Put a service's refusal on the form; 400 for a field the person can correct, 409 for the case's state."""
    return 400 if add_service_errors(form, exc) else 409


def _versions(case: Case) -> list[AgreementVersion]:
    return list(
        AgreementVersion.objects.for_organization(case.organization)
        .filter(agreement__case=case)
        .select_related("reached_in", "drafted_by")
        .order_by("number")
    )


def _statuses(versions: list[AgreementVersion]) -> list[tuple[AgreementVersion, str]]:
    """Each version with where it stands, latest first."""
    current = in_force(versions)
    latest = versions[-1].number if versions else 0
    return [
        (v, v.status_label(in_force=current.number if current else None, latest=latest))
        for v in reversed(versions)
    ]


def _audit_view(request: HttpRequest, case: Case, versions: list[AgreementVersion]) -> None:
    if versions:
        audit(
            request, action=Action.AGREEMENT_VIEW, object_type="agreement", object_id=versions[0].agreement_id
        )
    else:
        audit(request, action=Action.AGREEMENT_VIEW, object_type="case", object_id=case.pk)


def _to_agreement(case_id: int, anchor: str = "") -> HttpResponse:
    return redirect(reverse("accountability:agreement", args=[case_id]) + anchor)


# --- the overview --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommitmentRow:
    commitment: Commitment
    latest: CheckIn | None


@dataclass(frozen=True)
class StepRow:
    step: StaircaseStep
    down: bool


def _rows(commitments: list[Commitment], latest: dict[int, CheckIn]) -> list[CommitmentRow]:
    return [CommitmentRow(c, latest.get(c.number)) for c in commitments]


def _overview(
    case: Case,
    *,
    affirm_form: AffirmForm | None = None,
    link_forms: dict[int, ProgressLinkForm] | None = None,
) -> dict[str, Any]:
    """Everything the overview shows, in a fixed number of queries however many rows there are."""
    versions = _versions(case)
    current, draft = in_force(versions), latest_draft(versions)
    shown = [v for v in (current, draft) if v is not None]
    commitments = list(
        Commitment.objects.for_organization(case.organization)
        .filter(version__in=shown)
        .select_related("supporter")
        .order_by("number")
    )
    affirmations = list(
        Affirmation.objects.for_organization(case.organization)
        .filter(version__in=shown)
        .select_related("participant")
    )
    in_force_commitments = [c for c in commitments if current is not None and c.version_id == current.pk]
    latest: dict[int, CheckIn] = {}
    if current is not None:
        checkins = (
            CheckIn.objects.for_organization(case.organization)
            .filter(
                commitment__version__agreement_id=current.agreement_id,
                commitment__number__in=[c.number for c in in_force_commitments],
            )
            .select_related("commitment")
            .defer("note")
            .order_by("at", "id")
        )
        latest = {c.commitment.number: c for c in checkins}
    steps = list(
        StaircaseStep.objects.for_organization(case.organization)
        .filter(case=case)
        .select_related("recorded_by")
        .prefetch_related(
            Prefetch("commitments", queryset=Commitment.objects.order_by("number")),
            Prefetch("checkins", queryset=CheckIn.objects.select_related("commitment").defer("note")),
        )
        .order_by("recorded_at", "id")
    )
    step_rows = [StepRow(s, i > 0 and s.step < steps[i - 1].step) for i, s in enumerate(steps)]
    views = list(
        SurvivorView.objects.for_organization(case.organization)
        .filter(case=case)
        .select_related("participant")
        .order_by("-recorded_at", "-id")[:5]
    )
    participants = list(case.participants.order_by("id"))
    parties = [p for p in participants if p.role in services.PARTY_ROLES]
    harm = [p for p in participants if p.role == ParticipantRole.PERSON_WHO_CAUSED_HARM]
    links = list(
        ProgressLink.objects.for_organization(case.organization)
        .filter(case=case)
        .select_related("participant", "issued_by")
    )
    now = timezone.now()
    comparison: Comparison = compare(
        keeper_view(
            in_force_commitments, {n: c.status for n, c in latest.items()}, steps[-1].step if steps else None
        ),
        views[0] if views else None,
    )
    draft_affirmed = {
        a.participant_id for a in affirmations if draft is not None and a.version_id == draft.pk
    }
    return {
        "case": case,
        "versions": _statuses(versions),
        "current": current,
        "draft": draft,
        "current_rows": _rows(in_force_commitments, latest),
        "draft_commitments": [c for c in commitments if draft is not None and c.version_id == draft.pk],
        "current_affirmations": [
            a for a in affirmations if current is not None and a.version_id == current.pk
        ],
        "draft_affirmations": [a for a in affirmations if draft is not None and a.version_id == draft.pk],
        "waiting_for": [p for p in parties if p.pk not in draft_affirmed],
        "affirm_form": affirm_form
        or AffirmForm(parties=parties, initial={"affirmed_on": timezone.localdate()}),
        "steps": list(reversed(step_rows)),
        "current_step": steps[-1] if steps else None,
        "comparison": comparison,
        "survivor_views": views,
        "survivors": [p for p in participants if p.role == ParticipantRole.SURVIVOR],
        "harm": [
            (
                p,
                (link_forms or {}).get(p.pk) or ProgressLinkForm(auto_id=f"link-{p.pk}-%s"),
                [(link, link.is_usable(now)) for link in links if link.participant_id == p.pk],
            )
            for p in harm
        ],
        "harm_refusal": harm_action_refusal(case) if harm else None,
        "may_draft": draft is None or not draft.is_draft,
    }


@login_required
def agreement(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    context = _overview(case)
    _audit_view(request, case, [v for v, _label in context["versions"]])
    return render(request, "accountability/agreement.html", context)


@login_required
def version(request: HttpRequest, case_id: int, number: int) -> HttpResponse:
    found = get_version_for(request, case_id, number)
    case = found.agreement.case
    versions = _versions(case)
    commitments = list(found.commitments.select_related("supporter").order_by("number"))
    affirmations = list(found.affirmations.select_related("participant", "recorded_by"))
    audit(request, action=Action.AGREEMENT_VIEW, object_type="agreement", object_id=found.agreement_id)
    context = {
        "case": case,
        "version": found,
        "status": {v.pk: label for v, label in _statuses(versions)}[found.pk],
        "commitments": commitments,
        "affirmations": affirmations,
        "versions": _statuses(versions),
    }
    return render(request, "accountability/version.html", context)


@login_required
def print_version(request: HttpRequest, case_id: int, number: int) -> HttpResponse:
    found = get_version_for(request, case_id, number)
    commitments = list(found.commitments.select_related("supporter").order_by("number"))
    affirmations = list(found.affirmations.select_related("participant"))
    audit(request, action=Action.AGREEMENT_PRINT, object_type="agreement", object_id=found.agreement_id)
    context = {
        "case": found.agreement.case,
        "version": found,
        "commitments": commitments,
        "affirmations": affirmations,
    }
    return render(request, "accountability/print.html", context)


# --- drafting ------------------------------------------------------------------------------------


@login_required
def draft(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    versions = _versions(case)
    open_draft = versions[-1] if versions and versions[-1].is_draft else None
    meetings = services.dialogue_meetings(case)
    initial: dict[str, Any] = {"reached_in": meetings[0].pk if meetings else None}
    if open_draft is not None:
        initial = {
            "reached_in": open_draft.reached_in_id,
            "risk_reviewed": open_draft.risk_reviewed,
            "lock_version": open_draft.lock_version,
        }
    form = DraftForm(request.POST if request.method == "POST" else None, meetings=meetings, initial=initial)
    context = {
        "case": case,
        "form": form,
        "open_draft": open_draft,
        "latest": versions[-1] if versions else None,
    }
    if request.method != "POST":
        _audit_view(request, case, versions)
        return render(request, "accountability/draft.html", context)
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            if open_draft is not None:
                saved = services.change_draft(
                    version=open_draft,
                    by=_user(request),
                    lock_version=data["lock_version"] or 0,
                    risk_reviewed=data["risk_reviewed"],
                    reached_in=form.meeting(),
                )
            else:
                saved = services.draft_version(
                    case=case,
                    by=_user(request),
                    risk_reviewed=data["risk_reviewed"],
                    reached_in=form.meeting(),
                )
        except ValidationError as exc:
            status = _add_errors(form, exc)
        else:
            audit(
                request, action=Action.AGREEMENT_DRAFT, object_type="agreement", object_id=saved.agreement_id
            )
            messages.success(request, _("Version %(number)s is drafted.") % {"number": saved.number})
            return _to_agreement(case.pk, "#draft")
    audit(
        request, action=Action.AGREEMENT_DRAFT, object_type="case", object_id=case.pk, outcome=Outcome.REFUSED
    )
    return render(request, "accountability/draft.html", context, status=status)


def _commitment_page(
    case: Case, version: AgreementVersion, form: CommitmentForm, **extra: Any
) -> dict[str, Any]:
    return {"case": case, "version": version, "form": form, **extra}


@login_required
def commitment_add(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    versions = _versions(case)
    open_draft = versions[-1] if versions and versions[-1].is_draft else None
    if open_draft is None:
        messages.info(request, _("Start a draft first: commitments are added to a draft."))
        return _to_agreement(case.pk)
    supporters = services.eligible_supporters(case)
    data = request.POST if request.method == "POST" else None
    form = CommitmentForm(data, supporters=supporters, initial={"lock_version": open_draft.lock_version})
    context = _commitment_page(case, open_draft, form)
    if request.method != "POST":
        return render(request, "accountability/commitment_form.html", context)
    status = 400
    if form.is_valid():
        try:
            added = services.add_commitment(
                version=open_draft,
                by=_user(request),
                lock_version=form.cleaned_data["lock_version"],
                **form.values(),
            )
        except ValidationError as exc:
            status = _add_errors(form, exc)
        else:
            audit(request, action=Action.AGREEMENT_DRAFT, object_type="commitment", object_id=added.pk)
            messages.success(
                request, _("Commitment %(number)s is added to the draft.") % {"number": added.number}
            )
            return _to_agreement(case.pk, "#draft")
    audit(
        request, action=Action.AGREEMENT_DRAFT, object_type="case", object_id=case.pk, outcome=Outcome.REFUSED
    )
    return render(request, "accountability/commitment_form.html", context, status=status)


@login_required
def commitment_edit(request: HttpRequest, case_id: int, commitment_id: int) -> HttpResponse:
    commitment = get_commitment_for(request, case_id, commitment_id)
    case, version = commitment.version.agreement.case, commitment.version
    if not version.is_draft:
        messages.info(request, _("This version was affirmed by a party: draft a new version to change it."))
        return redirect("accountability:version", case.pk, version.number)
    supporters = services.eligible_supporters(case)
    if commitment.supporter is not None and commitment.supporter not in supporters:
        supporters.append(commitment.supporter)  # shown, so that the refusal names them if it is kept
    initial = {**CommitmentForm.initial_for(commitment), "lock_version": version.lock_version}
    form = CommitmentForm(
        request.POST if request.method == "POST" else None, supporters=supporters, initial=initial
    )
    context = _commitment_page(
        case,
        version,
        form,
        commitment=commitment,
        remove_form=RemoveForm(initial={"lock_version": version.lock_version}, auto_id="remove-%s"),
    )
    if request.method != "POST":
        audit(request, action=Action.AGREEMENT_VIEW, object_type="commitment", object_id=commitment.pk)
        return render(request, "accountability/commitment_form.html", context)
    status = 400
    if form.is_valid():
        try:
            services.change_commitment(
                commitment=commitment,
                by=_user(request),
                lock_version=form.cleaned_data["lock_version"],
                **form.values(),
            )
        except ValidationError as exc:
            status = _add_errors(form, exc)
        else:
            audit(request, action=Action.AGREEMENT_DRAFT, object_type="commitment", object_id=commitment.pk)
            messages.success(request, _("Commitment %(number)s is changed.") % {"number": commitment.number})
            return _to_agreement(case.pk, "#draft")
    audit(
        request,
        action=Action.AGREEMENT_DRAFT,
        object_type="commitment",
        object_id=commitment.pk,
        outcome=Outcome.REFUSED,
    )
    return render(request, "accountability/commitment_form.html", context, status=status)


@login_required
@require_POST
def commitment_remove(request: HttpRequest, case_id: int, commitment_id: int) -> HttpResponse:
    commitment = get_commitment_for(request, case_id, commitment_id)
    form = RemoveForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(_("The page was out of date: reload it and try again."))
        removed = services.remove_commitment(
            commitment=commitment, by=_user(request), lock_version=form.cleaned_data["lock_version"]
        )
    except ValidationError as exc:
        audit(
            request,
            action=Action.AGREEMENT_DRAFT,
            object_type="commitment",
            object_id=commitment.pk,
            outcome=Outcome.REFUSED,
        )
        for message in exc.messages:
            messages.error(request, message)
        return _to_agreement(case_id, "#draft")
    if removed:
        audit(request, action=Action.AGREEMENT_DRAFT, object_type="commitment", object_id=commitment.pk)
        messages.success(
            request, _("Commitment %(number)s is taken out of the draft.") % {"number": commitment.number}
        )
    return _to_agreement(case_id, "#draft")


@login_required
@require_POST
def affirm(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    versions = _versions(case)
    pending = latest_draft(versions)
    parties = services.parties(case)
    form = AffirmForm(request.POST, parties=parties)
    status = 400
    if pending is None:
        form.add_error(None, _("There is no version waiting to be affirmed."))
        status = 409
    elif form.is_valid():
        try:
            affirmation = services.record_affirmation(
                version=pending,
                participant=form.chosen(),
                affirmed_on=form.cleaned_data["affirmed_on"],
                how=form.cleaned_data["how"],
                by=_user(request),
            )
        except ValidationError as exc:
            status = _add_errors(form, exc)
        else:
            audit(
                request,
                action=Action.AGREEMENT_AFFIRM,
                object_type="agreement",
                object_id=pending.agreement_id,
            )
            if pending.affirmed_at is not None:
                messages.success(
                    request,
                    _("Every party has affirmed version %(number)s: it is in force.")
                    % {"number": pending.number},
                )
            else:
                messages.success(
                    request,
                    _("%(label)s's affirmation is recorded. The version can no longer change.")
                    % {"label": affirmation.participant.label},
                )
            return _to_agreement(case.pk, "#draft")
    audit(
        request,
        action=Action.AGREEMENT_AFFIRM,
        object_type="case",
        object_id=case.pk,
        outcome=Outcome.REFUSED,
    )
    return render(request, "accountability/agreement.html", _overview(case, affirm_form=form), status=status)


# --- progress ------------------------------------------------------------------------------------


@login_required
def checkin(request: HttpRequest, case_id: int, commitment_id: int) -> HttpResponse:
    commitment = get_commitment_for(request, case_id, commitment_id)
    case = commitment.version.agreement.case
    reporters = [p for p in [commitment.supporter] if p is not None]
    reporters += [m for m in services.safety_monitors(case) if m.pk != commitment.supporter_id]
    form = CheckInForm(request.POST if request.method == "POST" else None, reporters=reporters)
    history = list(
        CheckIn.objects.for_organization(case.organization)
        .filter(
            commitment__version__agreement_id=commitment.version.agreement_id,
            commitment__number=commitment.number,
        )
        .select_related("reporter", "recorded_by")
        .order_by("-at", "-id")
    )
    in_force_version = in_force(_versions(case))
    context = {
        "case": case,
        "commitment": commitment,
        "form": form,
        "history": history,
        "in_force": in_force_version is not None and in_force_version.pk == commitment.version_id,
    }
    if request.method != "POST":
        audit(request, action=Action.AGREEMENT_VIEW, object_type="commitment", object_id=commitment.pk)
        return render(request, "accountability/checkin.html", context)
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            recorded = services.record_checkin(
                commitment=commitment,
                status=data["status"],
                reported_by=data["reported_by"],
                reporter=form.chosen(),
                note=data["note"],
                by=_user(request),
            )
        except ValidationError as exc:
            status = _add_errors(form, exc)
        else:
            audit(
                request, action=Action.COMMITMENT_CHECKIN, object_type="commitment", object_id=commitment.pk
            )
            if recorded.status == ProgressStatus.NOT_KEPT and commitment.is_safety_related:
                messages.warning(
                    request,
                    _(
                        "A commitment about safety was not kept: the case is on safety hold now, and all contact "
                        "with the person who caused harm stops. The supervisor and the safety advocate were "
                        "alerted, and the survivor's safety plan is due for review."
                    ),
                )
            elif recorded.status == ProgressStatus.NOT_KEPT:
                messages.warning(
                    request, _("Progress recorded. A task to review the commitment was created.")
                )
            else:
                messages.success(request, _("Progress recorded."))
            return _to_agreement(case.pk, "#in-force")
    audit(
        request,
        action=Action.COMMITMENT_CHECKIN,
        object_type="commitment",
        object_id=commitment.pk,
        outcome=Outcome.REFUSED,
    )
    return render(request, "accountability/checkin.html", context, status=status)


@login_required
def step(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    current = in_force(_versions(case))
    commitments = list(current.commitments.order_by("number")) if current else []
    checkins = (
        list(
            CheckIn.objects.for_organization(case.organization)
            .filter(
                commitment__version__agreement_id=current.agreement_id,
                commitment__number__in=[c.number for c in commitments],
            )
            .select_related("commitment")
            .defer("note")
            .order_by("-at", "-id")[:STEP_CHECKINS]
        )
        if current
        else []
    )
    form = StepForm(
        request.POST if request.method == "POST" else None, commitments=commitments, checkins=checkins
    )
    latest = (
        StaircaseStep.objects.for_organization(case.organization)
        .filter(case=case)
        .order_by("-recorded_at", "-id")
        .first()
    )
    context = {"case": case, "form": form, "latest": latest, "current": current}
    if request.method != "POST":
        audit(request, action=Action.AGREEMENT_VIEW, object_type="case", object_id=case.pk)
        return render(request, "accountability/step.html", context)
    status = 400
    if form.is_valid():
        try:
            recorded = services.record_step(
                case=case,
                step=form.cleaned_data["step"],
                commitments=form.chosen_commitments(),
                checkins=form.chosen_checkins(),
                note=form.cleaned_data["note"],
                by=_user(request),
            )
        except ValidationError as exc:
            status = _add_errors(form, exc)
        else:
            audit(request, action=Action.STAIRCASE_STEP, object_type="staircase_step", object_id=recorded.pk)
            messages.success(request, _("The staircase step is recorded."))
            return _to_agreement(case.pk, "#staircase")
    audit(
        request, action=Action.STAIRCASE_STEP, object_type="case", object_id=case.pk, outcome=Outcome.REFUSED
    )
    return render(request, "accountability/step.html", context, status=status)


# --- progress page links (staff) -------------------------------------------------------------------------


@login_required
@require_POST
def progress_link_issue(request: HttpRequest, case_id: int, participant_id: int) -> HttpResponse:
    participant = get_harm_participant_for(request, case_id, participant_id)
    case = participant.case
    form = ProgressLinkForm(request.POST, auto_id=f"link-{participant.pk}-%s")
    context: dict[str, Any] = {"case": case, "participant": participant}
    if not form.is_valid():
        audit(
            request,
            action=Action.PROGRESS_LINK_ISSUE,
            object_type="participant",
            object_id=participant.pk,
            outcome=Outcome.REFUSED,
        )
        overview = _overview(case, link_forms={participant.pk: form})
        return render(request, "accountability/agreement.html", overview, status=400)
    try:
        link, token = services.issue_progress_link(
            participant=participant, channel=form.cleaned_data["channel"], by=_user(request)
        )
    except (ContactRefused, ValidationError) as exc:
        audit(
            request,
            action=Action.PROGRESS_LINK_ISSUE,
            object_type="participant",
            object_id=participant.pk,
            outcome=Outcome.REFUSED,
        )
        context["refusal"] = exc.reason if isinstance(exc, ContactRefused) else " ".join(exc.messages)
        return render(request, "accountability/progress_link.html", context, status=409)
    audit(request, action=Action.PROGRESS_LINK_ISSUE, object_type="progress_link", object_id=link.pk)
    # Shown once, in this answer only: the token is not kept anywhere to show it again.
    context.update(link=link, url=public_link(reverse("progress:open", args=[token])))
    return render(request, "accountability/progress_link.html", context)


@login_required
@require_POST
def progress_link_revoke(request: HttpRequest, case_id: int, link_id: int) -> HttpResponse:
    link = get_progress_link_for(request, case_id, link_id)
    if link.revoke():
        audit(request, action=Action.PROGRESS_LINK_REVOKE, object_type="progress_link", object_id=link.pk)
        messages.success(request, _("The link is revoked: it no longer opens."))
    return _to_agreement(case_id, "#progress-links")


# --- the participant's own progress page: /p/ ----------------------------------------------------------


def _not_available(request: HttpRequest) -> HttpResponse:
    """The one page for a wrong, expired or revoked link, or a case where nothing may reach the other side."""
    response = render(
        request,
        "accountability/progress/not_available.html",
        {"public_page": True, "neutral_page": True},
        status=404,
    )
    # Django logs every 404 with its path, and this path may hold a token: this one is not logged.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def _participant_event(link: ProgressLink, outcome: str = Outcome.OK) -> None:
    # No request: the participant's address, browser and the page's path stay out of the log.
    record_event(
        None,
        action=Action.PROGRESS_LINK_OPEN,
        object_type="progress_link",
        object_id=link.pk,
        organization_id=link.organization_id,
        outcome=outcome,
    )


@never_cache
def progress_open(request: HttpRequest, token: str) -> HttpResponse:
    link = services.find_progress_link(token)
    if link is None:
        return _not_available(request)
    # A fresh session key: a session cookie planted beforehand never shares this page.
    request.session.cycle_key()
    request.session[PROGRESS_SESSION_KEY] = link.pk
    return redirect("progress:page")


@never_cache
def progress_page(request: HttpRequest) -> HttpResponse:
    link_id = request.session.get(PROGRESS_SESSION_KEY)
    link = (
        ProgressLink.objects.usable(timezone.now())
        .filter(pk=link_id)
        .select_related("case", "participant")
        .first()
        if isinstance(link_id, int)
        else None
    )
    if link is None:
        request.session.pop(PROGRESS_SESSION_KEY, None)
        return _not_available(request)
    # A hold, a withdrawal or a closed case: nothing reaches the person who caused harm, not even this page.
    if link.participant.role != ParticipantRole.PERSON_WHO_CAUSED_HARM or policy.refusals(
        link.case, kind=policy.ContactKind.PROGRESS_PAGE, participants=[link.participant]
    ):
        _participant_event(link, Outcome.REFUSED)
        return _not_available(request)
    version, commitments = own_commitments(link.case)
    _participant_event(link)
    context = {"public_page": True, "neutral_page": True, "version": version, "commitments": commitments}
    return render(request, "accountability/progress/page.html", context)

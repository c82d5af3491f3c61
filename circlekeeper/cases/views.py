from __future__ import annotations

import datetime
import uuid
from typing import Any

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
from circlekeeper.cases import choice, disclosure, referral, services, worklist
from circlekeeper.cases import intake as intake_services
from circlekeeper.cases import participants as participant_services
from circlekeeper.cases.access import (
    case_worker_context,
    cases_for,
    get_case_for,
    get_consent_for,
    get_participant_for,
    get_release_for,
    get_task_for,
    known_lookup_context,
    known_lookups_left,
)
from circlekeeper.cases.contact import harm_action_refusal
from circlekeeper.cases.forms import (
    CaseFilterForm,
    CompelledDisclosureForm,
    ConsentForm,
    ContactRulesForm,
    IntakeForm,
    KnownLookupForm,
    NoteForm,
    ParticipantDetailsForm,
    ParticipantForm,
    ReferralForm,
    ReleaseForm,
    TrackChoiceForm,
    WithdrawConsentForm,
)
from circlekeeper.cases.history import RISK_LEVELS, describe_event
from circlekeeper.cases.models import (
    Case,
    CaseAssignment,
    CaseEvent,
    CaseQuerySet,
    ConsentKind,
    ContactRules,
    EventKind,
    HowGiven,
    Intake,
    Participant,
    ParticipantRole,
    ReleaseOfInformation,
    TrackChoice,
)
from circlekeeper.lib.audit import Outcome
from circlekeeper.lib.forms import add_service_errors, rendered_once

NOTES_SHOWN = 20
# The case page shows the latest events only (a phone would scroll for metres); the timeline has them all.
EVENTS_SHOWN = 10

# What a row of the case list shows (and worklist.next_step reads): the rest of the case (its encrypted summary,
# dates of no use here) is not read. A field left out and used would cost a query a row: test_case_list's budget.
LIST_FIELDS = (
    "id",
    "organization_id",
    "reference",
    "status",
    "opened_on",
    "track",
    "stage",
    "on_hold",
    "risk_level",
    "risk_level_at",
    "check_due_on",
)

_TEAM = Prefetch(
    "assignments", queryset=CaseAssignment.objects.select_related("user").order_by("role", "user_id")
)


@login_required
def case_list(request: HttpRequest) -> HttpResponse:
    context = case_worker_context(request)
    cases = cases_for(context)
    # The people this person shares a case team with: filtering the list by anyone else would show nothing (and a
    # large organization's whole staff would make a list of hundreds to render on every visit).
    colleagues = list(
        User.objects.filter(
            is_active=True,
            pk__in=CaseAssignment.objects.filter(case__in=cases).values("user_id"),
            memberships__organization=context.organization,
            memberships__role__in=CASE_ROLES,
        )
        .distinct()
        .order_by("display_name", "email", "pk")
    )
    form = CaseFilterForm(request.GET or None, colleagues=colleagues)
    today = timezone.localdate()
    cases = worklist.with_next_step(cases)
    if form.is_valid():
        cases = _filtered(cases, form.cleaned_data, context.user, today)
    page = Paginator(
        cases.order_by(*form.ordering()).only(*LIST_FIELDS).prefetch_related(_TEAM), settings.CASES_PER_PAGE
    ).get_page(request.GET.get("page"))
    rows = [
        {
            "case": case,
            "risk_level": RISK_LEVELS.get(case.risk_level, case.risk_level),
            "next_step": worklist.next_step(case),
            "keepers": worklist.keepers(case),
        }
        for case in page
    ]
    query = request.GET.copy()
    query.pop("page", None)
    # It shows risk levels and holds: a read of safety facts, like the dashboard (SECURITY.md 16).
    audit(request, action=Action.CASE_LIST)
    context_data = {
        "form": form,
        "filters": rendered_once(form, "cases/_case_filters.html"),
        "page": page,
        "rows": rows,
        "today": today,
        "query": query.urlencode(),
    }
    return render(request, "cases/case_list.html", context_data)


def _filtered(cases: CaseQuerySet, data: dict[str, Any], user: User, today: datetime.date) -> CaseQuerySet:
    if data["status"]:
        cases = cases.filter(status=data["status"])
    if data["assignee"]:
        cases = cases.filter(pk__in=CaseAssignment.objects.filter(user_id=data["assignee"]).values("case_id"))
    if data["reference"]:
        # A prefix of the reference (the whole one is its own prefix): the (organization, reference) index serves it.
        cases = cases.filter(reference__startswith=data["reference"])
    if data["stage"]:
        cases = cases.filter(stage=data["stage"])
    if data["track"]:
        cases = cases.filter(track="" if data["track"] == "none" else data["track"])
    if data["risk"]:
        cases = cases.filter(risk_level="" if data["risk"] == "none" else data["risk"])
    if data["hold"]:
        cases = cases.filter(on_hold=data["hold"] == "yes")
    if data["needs_me"]:
        cases = worklist.needs_me(cases, user, today)
    return cases


def _risk_check(case: Case) -> CaseEvent | None:
    """The check the latest risk level comes from (a survivor's check with a level, from the case history), so
    the page says which check it was: beside an open hold, a level alone would read as if it were current."""
    if not case.risk_level:
        return None
    survivors = list(case.participants.survivors().values_list("label", flat=True))
    return (
        case.events.filter(
            kind=EventKind.CHECK_RECORDED, facts__participant__in=survivors, facts__level=case.risk_level
        )
        .order_by("-at", "-id")
        .first()
    )


@login_required
def referral_new(request: HttpRequest) -> HttpResponse:
    """A new referral: who reached out, the first participant and the team; "already known?" first."""
    context = case_worker_context(request)
    organization = context.organization
    assert organization is not None  # case_worker_context refuses anyone without one
    user: User = request.user  # type: ignore[assignment]
    supervisors = referral.supervisors_of(organization)
    data = request.POST.copy() if request.method == "POST" else None
    form = ReferralForm(data, supervisors=supervisors, initial={"referral_token": uuid.uuid4()})
    page: dict[str, Any] = {"form": form, "supervisors": supervisors}
    if data is None or not form.is_valid():
        return render(request, "cases/referral_form.html", page, status=400 if data is not None else 200)
    fields = form.cleaned_data
    person = referral.FirstPerson(
        role=fields["first_role"],
        label=fields["first_label"],
        name=fields["name"],
        date_of_birth=fields["date_of_birth"],
        phone=fields["phone"],
        email=fields["email"],
    )
    digest = referral.lookup_digest(user=user, person=person)
    if person.typed and fields["checked"] != digest:
        # What was typed is looked up before anything is created; the page comes back with the answer.
        matches = participant_services.already_known(
            organization=organization,
            team_case_ids=cases_for(context).values_list("pk", flat=True),
            name=person.name,
            date_of_birth=person.date_of_birth,
            phone=person.phone,
            email=person.email,
        )
        audit(request, action=Action.KNOWN_LOOKUP)
        data["checked"] = digest
        page["form"] = ReferralForm(data, supervisors=supervisors)
        page.update(
            looked=True,
            on_team=[match for match in matches if match.on_team],
            elsewhere=sum(1 for match in matches if not match.on_team),
        )
        return render(request, "cases/referral_form.html", page)
    try:
        case, created = referral.open_referral(
            organization=organization,
            by=user,
            supervisor=form.chosen_supervisor(),
            reached_out_by=fields["reached_out_by"],
            reached_out_other=fields["reached_out_other"],
            safe_contact=fields["safe_contact"],
            first=person,
            form_token=fields["referral_token"],
        )
    except ValidationError as exc:
        add_service_errors(form, exc)
        return render(request, "cases/referral_form.html", page, status=400)
    if not created:
        # The same page sent again: the first result again (as every create does, lib/idempotency.py).
        return redirect("safety:case" if person.role == ParticipantRole.SURVIVOR else "cases:detail", case.pk)
    audit(request, action=Action.CASE_OPEN, object_type="case", object_id=case.pk)
    if person.role == ParticipantRole.SURVIVOR:
        messages.success(
            request,
            _("Referral %(reference)s opened. Offer the survivor the immediate-danger screen now.")
            % {"reference": case.reference},
        )
        return redirect("safety:case", case.pk)
    messages.success(
        request,
        _("Referral %(reference)s opened. Add the survivor, then offer them the immediate-danger screen.")
        % {"reference": case.reference},
    )
    return redirect("cases:participant_add", case.pk)


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
    events = case.events.select_related("by").order_by("-at", "-id")[:EVENTS_SHOWN]
    return {
        "case": case,
        "risk_level": RISK_LEVELS.get(case.risk_level, case.risk_level),
        "risk_check": _risk_check(case),
        "team": list(case.assignments.select_related("user").order_by("role", "user__display_name")),
        "notes": list(
            case.notes.select_related("author", "error_by").order_by("-created_at", "-id")[:NOTES_SHOWN]
        ),
        "participants_in_error": list(
            Participant.everyone.filter(case=case, error_at__isnull=False).select_related("error_by")
        ),
        "participants": participants,
        "tasks": list(case.tasks.filter(done_at__isnull=True).select_related("participant")),
        "history": [describe_event(event) for event in events],
        "events_shown": EVENTS_SHOWN,
        "note_form": note_form or NoteForm(),
    }


@login_required
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    audit(request, action=Action.CASE_VIEW, object_type="case", object_id=case.pk)
    return render(request, "cases/case_detail.html", _detail_context(case))


@login_required
def intake(request: HttpRequest, case_id: int) -> HttpResponse:
    """The intake (stage 2): what happened in the survivor's words, the kinds of harm, what they want."""
    case = get_case_for(request, case_id)
    current = Intake.objects.filter(case=case).first()
    initial: dict[str, Any] = {"version": current.version if current else 0}
    if current is not None:
        initial.update({name: getattr(current, name) for name in intake_services.INTAKE_FIELDS})
    form = IntakeForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = intake_services.save_intake(
                case=case,
                version=form.cleaned_data["version"],
                by=request.user,  # type: ignore[arg-type]
                **form.answers(),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            audit(request, action=Action.INTAKE_SAVE, object_type="intake", object_id=saved.pk)
            messages.success(request, _("Intake saved."))
            return redirect("cases:intake", case.pk)
    # The page shows what the survivor said (decrypted): a read of the case, recorded as one.
    audit(request, action=Action.INTAKE_VIEW, object_type="case", object_id=case.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "cases/intake_form.html", {"case": case, "form": form, "intake": current}, status=status
    )


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
            participant = disclosure.add_participant(case=case, by=request.user, **form.cleaned_data)  # type: ignore[arg-type]
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            audit(request, action=Action.PARTICIPANT_ADD, object_type="participant", object_id=participant.pk)
            messages.success(
                request,
                _("%(label)s added. Record their details, consent and safe-contact rules here.")
                % {"label": participant.label},
            )
            return redirect(_participant_page(participant))
    return render(request, "cases/participant_form.html", {"case": case, "form": form})


def _participant_page(participant: Participant, anchor: str = "") -> str:
    return reverse("cases:participant_detail", args=[participant.case_id, participant.pk]) + anchor


@login_required
def participant_detail(request: HttpRequest, case_id: int, participant_id: int) -> HttpResponse:
    participant = get_participant_for(request, case_id, participant_id)
    consents = list(participant.consents.select_related("recorded_by", "revoked_by", "error_by"))
    rules = ContactRules.objects.filter(participant=participant).select_related("updated_by").first()
    context = {
        "case": participant.case,
        "participant": participant,
        "consents": consents,
        "rules": rules,
        "withdraw_choices": HowGiven.choices,
        "is_child": participant.role == ParticipantRole.CHILD,
        # For the other side: whether anything involving them may start now, and if not, why.
        "harm_refusal": harm_action_refusal(participant.case) if participant.is_harm_side else None,
    }
    audit(request, action=Action.PARTICIPANT_VIEW, object_type="participant", object_id=participant.pk)
    return render(request, "cases/participant_detail.html", context)


@login_required
def participant_details(request: HttpRequest, case_id: int, participant_id: int) -> HttpResponse:
    participant = get_participant_for(request, case_id, participant_id)
    initial = {name: getattr(participant, name) for name in participant_services.DETAIL_FIELDS}
    form = ParticipantDetailsForm(
        request.POST or None, initial={**initial, "version": participant.details_version}
    )
    if request.method == "POST" and form.is_valid():
        try:
            participant_services.update_details(
                participant=participant,
                version=form.cleaned_data["version"],
                by=request.user,  # type: ignore[arg-type]
                **form.details(),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            audit(request, action=Action.DETAILS_CHANGE, object_type="participant", object_id=participant.pk)
            messages.success(request, _("Identifying details saved."))
            return redirect(_participant_page(participant, "#details"))
    if request.method != "POST":
        # The form shows the decrypted details: a read like the participant page.
        audit(request, action=Action.PARTICIPANT_VIEW, object_type="participant", object_id=participant.pk)
    return render(
        request,
        "cases/participant_details_form.html",
        {"case": participant.case, "participant": participant, "form": form},
    )


@login_required
def known(request: HttpRequest) -> HttpResponse:
    """Is this person already known? Details only of matches on the asker's own cases; a count of the rest.

    Only the roles that do intake ask (SECURITY.md 15b); each lookup is audited with the kinds of identifier
    typed (never their values) and each person has KNOWN_LOOKUPS_PER_HOUR of them.
    """
    context = known_lookup_context(request)
    # POST only, so what was typed never lands in an address, a browser history or a server log.
    form = KnownLookupForm(request.POST if request.method == "POST" else None)
    page: dict[str, Any] = {"form": form}
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        kinds = form.identifier_kinds()
        if known_lookups_left(context.user) <= 0:
            audit(
                request,
                action=Action.KNOWN_LOOKUP,
                object_type="lookup",
                object_id=kinds,
                outcome=Outcome.REFUSED,
            )
            form.add_error(
                None,
                _("You have made %(count)s lookups in the last hour. Please wait before the next one.")
                % {"count": settings.KNOWN_LOOKUPS_PER_HOUR},
            )
            return render(request, "cases/known.html", page, status=429)
        try:
            matches = participant_services.already_known(
                organization=context.organization,  # type: ignore[arg-type]
                team_case_ids=cases_for(context).values_list("pk", flat=True),
                name=data["name"],
                date_of_birth=data["date_of_birth"],
                phone=data["phone"],
                email=data["email"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            # Never what was typed: the log says who looked, and for which kinds of identifier.
            audit(request, action=Action.KNOWN_LOOKUP, object_type="lookup", object_id=kinds)
            page["looked"] = True
            page["on_team"] = [match for match in matches if match.on_team]
            page["elsewhere"] = sum(1 for match in matches if not match.on_team)
    return render(request, "cases/known.html", page)


@login_required
def consent_add(request: HttpRequest, case_id: int, participant_id: int) -> HttpResponse:
    participant = get_participant_for(request, case_id, participant_id)
    form = ConsentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            consent = participant_services.record_consent(
                participant=participant,
                by=request.user,  # type: ignore[arg-type]
                **form.cleaned_data,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            audit(request, action=Action.CONSENT_ADD, object_type="consent", object_id=consent.pk)
            messages.success(request, _("Consent recorded."))
            return redirect(_participant_page(participant, "#consents"))
    return render(
        request,
        "cases/consent_form.html",
        {"case": participant.case, "participant": participant, "form": form},
    )


@login_required
@require_POST
def consent_withdraw(request: HttpRequest, case_id: int, consent_id: int) -> HttpResponse:
    consent = get_consent_for(request, case_id, consent_id)
    participant = consent.participant
    form = WithdrawConsentForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say how they withdrew their consent: in writing or orally."))
        return redirect(_participant_page(participant, "#consents"))
    withdrawn = participant_services.withdraw_consent(
        consent=consent,
        how=form.cleaned_data["how"],
        by=request.user,  # type: ignore[arg-type]
    )
    if not withdrawn:
        messages.info(request, _("This consent was already withdrawn."))
        return redirect(_participant_page(participant, "#consents"))
    audit(request, action=Action.CONSENT_WITHDRAW, object_type="consent", object_id=consent.pk)
    if participant.is_survivor and consent.kind == ConsentKind.TAKE_PART:
        messages.success(
            request,
            _(
                "Consent withdrawn, from now: nothing involving the person who caused harm or their "
                "supporters may go ahead."
            ),
        )
    else:
        messages.success(request, _("Consent withdrawn, from now."))
    return redirect(_participant_page(participant, "#consents"))


@login_required
def contact_rules(request: HttpRequest, case_id: int, participant_id: int) -> HttpResponse:
    participant = get_participant_for(request, case_id, participant_id)
    rules = ContactRules.objects.filter(participant=participant).first()
    initial: dict[str, Any] = {}
    if rules is not None:
        initial = {
            "version": rules.version,
            "channels": rules.channels,
            "days": rules.days,
            "from_time": rules.from_time,
            "until_time": rules.until_time,
            "code_word": rules.code_word,
            "never_leave_messages": rules.never_leave_messages,
            "named_person": rules.named_person,
            "notes": rules.notes,
        }
    form = ContactRulesForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = participant_services.save_contact_rules(
                participant=participant,
                version=form.cleaned_data["version"],
                by=request.user,  # type: ignore[arg-type]
                **form.rules(),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            audit(
                request, action=Action.CONTACT_RULES_CHANGE, object_type="contact_rules", object_id=saved.pk
            )
            messages.success(request, _("Safe-contact rules saved."))
            return redirect(_participant_page(participant, "#contact-rules"))
    if request.method != "POST":
        audit(request, action=Action.PARTICIPANT_VIEW, object_type="participant", object_id=participant.pk)
    return render(
        request,
        "cases/contact_rules_form.html",
        {"case": participant.case, "participant": participant, "form": form},
    )


@login_required
def track_choice(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    form = TrackChoiceForm(
        request.POST or None,
        survivors=case.participants.survivors(),
        team=User.objects.filter(case_assignments__case=case).distinct(),
        user=request.user,  # type: ignore[arg-type]
        today=timezone.localdate(),
    )
    if request.method == "POST" and form.is_valid():
        try:
            made = choice.choose_track(case=case, by=request.user, **form.cleaned_data)  # type: ignore[arg-type]
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            audit(request, action=Action.TRACK_CHOOSE, object_type="track_choice", object_id=made.pk)
            messages.success(request, _("Recorded: %(track)s.") % {"track": made.get_track_display()})
            return redirect(reverse("cases:track_choice", args=[case.pk]) + "#history")
    history = TrackChoice.objects.filter(case=case).select_related(
        "explained_by", "recorded_by", "survivor", "error_by"
    )
    context = {
        "case": case,
        "form": form,
        "options": choice.OPTIONS,
        "change_later": choice.CHANGE_LATER,
        "history": list(history),
        "has_survivor": case.participants.survivors().exists(),
    }
    return render(request, "cases/track_choice.html", context)


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
            add_service_errors(form, exc)
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
            add_service_errors(form, exc)
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

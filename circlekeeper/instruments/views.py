"""Pages of the instrument engine: answering a questionnaire (through a participant's link, or staff entering it
on someone's behalf), issuing and revoking links, viewing scored responses, and importing instruments.

A participant's link is opened once at /s/<token>/: the link's id goes into the session and the browser is sent
on to /s/, so the token travels in one request only. It never reaches a page's address bar afterwards, a
Referer header, a form, the audit log (which keeps the link's id) or Django's request log.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from circlekeeper.accounts.access import program_admin_context
from circlekeeper.accounts.audit import Action, audit
from circlekeeper.accounts.models import User
from circlekeeper.cases.access import get_case_for, get_participant_for
from circlekeeper.cases.contact import next_allowed_time
from circlekeeper.cases.history import RISK_LEVELS
from circlekeeper.cases.models import Case, CaseEvent, EventKind, ParticipantRole
from circlekeeper.instruments import answering as pages
from circlekeeper.instruments import filling
from circlekeeper.instruments.definition import (
    ImportRejected,
    choices_for,
    import_report,
    localized,
)
from circlekeeper.instruments.forms import (
    ImportForm,
    IssueLinkForm,
    LinkCodeForm,
    StartResponseForm,
)
from circlekeeper.instruments.importing import read_instrument_file, save_imported
from circlekeeper.instruments.links import (
    ContactRefused,
    find_link_by_code,
    find_usable_link,
    issue_link,
    link_qr_svg,
    link_refusals,
    start_response,
)
from circlekeeper.instruments.models import (
    Instrument,
    InstrumentVersion,
    ParticipantLink,
    Response,
    ResponseStatus,
)
from circlekeeper.lib.audit import Outcome, record
from circlekeeper.lib.idempotency import changes_nothing, remember_result
from circlekeeper.lib.links import public_link

LINK_SESSION_KEY = "participant_link_id"
SHOWN = "_shown"

# --- the participant's link: /s/ ------------------------------------------------------------------


def _not_available(request: HttpRequest) -> HttpResponse:
    """The one page for a wrong, forged, expired, revoked or used link: nothing says which."""
    response = render(
        request,
        "instruments/link/not_available.html",
        {"public_page": True, "neutral_page": True},
        status=404,
    )
    # Django logs every 404 with its path, and this path may hold a token: this one is not logged.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def _session_link(request: HttpRequest) -> ParticipantLink | None:
    link_id = request.session.get(LINK_SESSION_KEY)
    if not isinstance(link_id, int):
        return None
    links = (
        ParticipantLink.objects.usable(timezone.now())
        .filter(pk=link_id)
        .select_related("version", "response")
    )
    if settings.SHOW_ORGANIZATION_ON_LINKS:
        links = links.select_related("organization")
    link = links.select_related("participant__case").first()
    # The contact policy, at every page, save and submit: a hold or a withdrawal stops the link at once.
    if link is not None and link_refusals(link):
        link = None
    if link is None:
        request.session.pop(LINK_SESSION_KEY, None)
    return link


def _link_answering(link: ParticipantLink) -> pages.Answering:
    context: dict[str, Any] = {"public_page": True, "neutral_page": True}
    if settings.SHOW_ORGANIZATION_ON_LINKS:
        context["organization_name"] = link.organization.name
    return pages.Answering(
        version=link.version,
        response=link.response,
        page_url=reverse("links:page"),
        live_url=reverse("links:live"),
        review_url=reverse("links:review"),
        context=context,
        link=link,
    )


def _participant_event(link: ParticipantLink, action: str) -> None:
    # No request: the participant's address, browser and the page's path stay out of the log.
    record(
        None,
        action=action,
        object_type="participant_link",
        object_id=link.pk,
        organization_id=link.organization_id,
    )


def _start_on_link(request: HttpRequest, link: ParticipantLink) -> HttpResponse:
    # A fresh session key: a session cookie planted beforehand never shares a participant's answers.
    request.session.cycle_key()
    request.session[LINK_SESSION_KEY] = link.pk
    return redirect("links:page")


@never_cache
def link_open(request: HttpRequest, token: str) -> HttpResponse:
    link = find_usable_link(token)
    if link is None:
        return _not_available(request)
    return _start_on_link(request, link)


@never_cache
def link_code(request: HttpRequest) -> HttpResponse:
    """The short code of a link handed over in person, typed by someone who cannot scan its QR code.

    POST only for the code, so it never lands in an address, a browser history or a server log. A wrong code gets
    the same page as a wrong link.
    """
    form = LinkCodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        link = find_link_by_code(form.cleaned_data["code"])
        if link is None:
            return _not_available(request)
        return _start_on_link(request, link)
    return render(
        request, "instruments/link/code.html", {"public_page": True, "neutral_page": True, "form": form}
    )


@never_cache
def link_page(request: HttpRequest) -> HttpResponse:
    link = _session_link(request)
    if link is None:
        return _not_available(request)
    answering = _link_answering(link)
    if request.method != "POST":
        return pages.show_section(request, answering)
    page, saved = pages.save_section(request, answering, lambda: start_response(link=link))
    if saved is not None:
        _participant_event(link, Action.RESPONSE_SAVE)
    return page


@changes_nothing
@never_cache
@require_POST
def link_live(request: HttpRequest) -> HttpResponse:
    link = _session_link(request)
    if link is None:
        return _not_available(request)
    return pages.live(request, _link_answering(link))


@never_cache
def link_review(request: HttpRequest) -> HttpResponse:
    link = _session_link(request)
    if link is None:
        return _not_available(request)
    answering = _link_answering(link)
    if request.method != "POST":
        return pages.review(request, answering)
    elsewhere = pages.ready_to_submit(answering)
    if elsewhere is not None:
        return elsewhere
    assert answering.response is not None
    if filling.submit(response=answering.response, today=answering.today, link=link):
        _participant_event(link, Action.RESPONSE_SUBMIT)
    request.session.pop(LINK_SESSION_KEY, None)
    return redirect("links:done")


@never_cache
def link_done(request: HttpRequest) -> HttpResponse:
    return render(request, "instruments/link/done.html", {"public_page": True, "neutral_page": True})


# --- staff: a case's questionnaires and links ------------------------------------------------------


def _get_link_for(request: HttpRequest, case_id: int, link_id: int) -> ParticipantLink:
    case = get_case_for(request, case_id)
    link = (
        ParticipantLink.objects.for_organization(case.organization)
        .filter(pk=link_id, participant__case=case)
        .first()
    )
    if link is None:
        raise Http404
    return link


def _get_response_for(request: HttpRequest, case_id: int, response_id: int) -> Response:
    case = get_case_for(request, case_id)
    response = (
        Response.objects.for_organization(case.organization)
        .filter(pk=response_id, case=case)
        .select_related("version__instrument", "participant", "entered_by_staff", "case")
        .first()
    )
    if response is None:
        raise Http404
    return response


@login_required
def case_questionnaires(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    now = timezone.now()
    participants = list(case.participants.order_by("id"))
    links = list(
        ParticipantLink.objects.for_organization(case.organization)
        .filter(participant__case=case)
        .select_related("version__instrument", "created_by")
    )
    responses = list(
        Response.objects.for_organization(case.organization)
        .filter(case=case)
        .select_related("version__instrument", "entered_by_staff")
    )
    for participant in participants:
        participant.link_rows = [
            (link, link.status(now)) for link in links if link.participant_id == participant.pk
        ]
        participant.response_rows = [r for r in responses if r.participant_id == participant.pk]
    return render(
        request, "instruments/case_questionnaires.html", {"case": case, "participants": participants}
    )


def _to_case_page(case_id: int, anchor: str = "") -> HttpResponseRedirect:
    return redirect(reverse("instruments:case_questionnaires", args=[case_id]) + anchor)


@login_required
def link_issue(request: HttpRequest, case_id: int, participant_id: int) -> HttpResponse:
    participant = get_participant_for(request, case_id, participant_id)
    case = participant.case
    now = timezone.now()
    form = IssueLinkForm(request.POST or None, organization=case.organization, today=timezone.localdate())
    context: dict[str, Any] = {"case": case, "participant": participant, "form": form}
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            link, token = issue_link(
                participant=participant,
                version=data["version"],
                purpose=data["purpose"],
                expires_at=form.expires_at(),
                by=request.user,  # type: ignore[arg-type]
                channel=data["channel"],
                when=now,
                send_later=data["send_later"],
            )
        except ContactRefused as refusal:
            audit(
                request,
                action=Action.LINK_ISSUE,
                object_type="participant",
                object_id=participant.pk,
                outcome=Outcome.REFUSED,
            )
            context["refusal"] = refusal.reason
            if not data["send_later"]:
                # Refused only by the clock: say when it would be allowed, and that the link can wait for it.
                context["next_allowed"] = next_allowed_time(participant, data["channel"], now)
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            audit(request, action=Action.LINK_ISSUE, object_type="participant_link", object_id=link.pk)
            # A repeat of this form goes to the participant on the case page: the address is never shown twice.
            remember_result(
                request, f"{reverse('cases:detail', args=[case.pk])}#participant-{participant.pk}"
            )
            # Shown once, in this answer only: the token is not kept anywhere to show it again.
            url = public_link(reverse("links:open", args=[token]))
            context.update(link=link, url=url)
            if link.short_code:
                # Handed over in person: a QR code to scan, and a short code to read out.
                context.update(qr_svg=link_qr_svg(url), code_url=public_link(reverse("links:code")))
            return render(request, "instruments/link_issued.html", context)
    return render(request, "instruments/link_issue.html", context)


@login_required
@require_POST
def link_revoke(request: HttpRequest, case_id: int, link_id: int) -> HttpResponse:
    link = _get_link_for(request, case_id, link_id)
    if link.revoke():
        audit(request, action=Action.LINK_REVOKE, object_type="participant_link", object_id=link.pk)
        messages.success(request, _("The link is revoked: it no longer opens."))
    return _to_case_page(case_id, f"#participant-{link.participant_id}")


# --- staff: entering a response on a participant's behalf, and viewing responses ---------------------


def _staff_answering(response: Response, case: Case) -> pages.Answering:
    args = [case.pk, response.pk]
    return pages.Answering(
        version=response.version,
        response=response,
        page_url=reverse("instruments:response_answer", args=args),
        live_url=reverse("instruments:response_live", args=args),
        review_url=reverse("instruments:response_review", args=args),
        context={"case": case, "staff_response": response, "participant": response.participant},
    )


def _get_staff_entry(request: HttpRequest, case_id: int, response_id: int) -> Response:
    """A response staff are entering and may still change; anything else is not theirs to edit."""
    response = _get_response_for(request, case_id, response_id)
    if response.entered_by_staff_id is None or response.status != ResponseStatus.IN_PROGRESS:
        raise Http404
    return response


@login_required
def response_start(request: HttpRequest, case_id: int, participant_id: int) -> HttpResponse:
    participant = get_participant_for(request, case_id, participant_id)
    case = participant.case
    form = StartResponseForm(request.POST or None, organization=case.organization)
    context: dict[str, Any] = {"case": case, "participant": participant, "form": form}
    if request.method == "POST" and form.is_valid():
        try:
            response = filling.start_entry(
                participant=participant,
                version=form.cleaned_data["version"],
                purpose=form.cleaned_data["purpose"],
                by=request.user,  # type: ignore[arg-type]
            )
        except ContactRefused as refusal:
            audit(
                request,
                action=Action.RESPONSE_START,
                object_type="participant",
                object_id=participant.pk,
                outcome=Outcome.REFUSED,
            )
            context["refusal"] = refusal.reason
            return render(request, "instruments/response_start.html", context, status=409)
        audit(request, action=Action.RESPONSE_START, object_type="response", object_id=response.pk)
        return redirect("instruments:response_answer", case.pk, response.pk)
    return render(request, "instruments/response_start.html", context)


@login_required
def response_answer(request: HttpRequest, case_id: int, response_id: int) -> HttpResponse:
    response = _get_staff_entry(request, case_id, response_id)
    answering = _staff_answering(response, response.case)  # type: ignore[arg-type]
    if request.method != "POST":
        return pages.show_section(request, answering)
    try:
        page, saved = pages.save_section(request, answering, lambda: response)
    except ContactRefused as refusal:
        return _entry_refused(request, response, refusal, Action.RESPONSE_SAVE)
    if saved is not None:
        audit(request, action=Action.RESPONSE_SAVE, object_type="response", object_id=response.pk)
    return page


def _entry_refused(
    request: HttpRequest, response: Response, refusal: ContactRefused, action: str
) -> HttpResponse:
    """The contact policy refused going on with a questionnaire entered by staff: say why, change nothing."""
    audit(request, action=action, object_type="response", object_id=response.pk, outcome=Outcome.REFUSED)
    context = {"case": response.case, "participant": response.participant, "refusal": refusal.reason}
    return render(request, "instruments/response_refused.html", context, status=409)


@changes_nothing
@login_required
@require_POST
def response_live(request: HttpRequest, case_id: int, response_id: int) -> HttpResponse:
    response = _get_staff_entry(request, case_id, response_id)
    return pages.live(request, _staff_answering(response, response.case))  # type: ignore[arg-type]


@login_required
def response_review(request: HttpRequest, case_id: int, response_id: int) -> HttpResponse:
    response = _get_staff_entry(request, case_id, response_id)
    answering = _staff_answering(response, response.case)  # type: ignore[arg-type]
    if request.method != "POST":
        return pages.review(request, answering)
    elsewhere = pages.ready_to_submit(answering)
    if elsewhere is not None:
        return elsewhere
    try:
        submitted = filling.submit(response=response, today=answering.today)
    except ContactRefused as refusal:
        return _entry_refused(request, response, refusal, Action.RESPONSE_SUBMIT)
    if submitted:
        audit(request, action=Action.RESPONSE_SUBMIT, object_type="response", object_id=response.pk)
        messages.success(request, _("The answers are submitted."))
    return redirect("instruments:response_detail", case_id, response.pk)


def _put_on_hold(response: Response) -> dict[str, Any] | None:
    """When this submitted response (a safety check) put its case on hold, or added a reason to its open hold, and
    the hold is still open: what the page says and links to (the safety app writes the alert, naming the response,
    in the submit transaction; this app reads the case's history, never the safety app)."""
    case = response.case
    if case is None or response.status != ResponseStatus.SUBMITTED:
        return None
    if not case.on_hold:  # read with the response, in this request: no query when the case is not on hold
        return None
    alert = (
        CaseEvent.objects.filter(case=case, kind=EventKind.ALERT_RAISED, facts__response=str(response.pk))
        .order_by("-at")
        .first()
    )
    if alert is None:
        return None
    participant = response.participant
    survivor = (
        participant
        if participant is not None and participant.role == ParticipantRole.SURVIVOR
        else case.participants.survivors().order_by("id").first()
    )
    level = str(alert.facts.get("level") or "")
    return {"level": RISK_LEVELS.get(level, level), "survivor": survivor}


@login_required
def response_detail(request: HttpRequest, case_id: int, response_id: int) -> HttpResponse:
    response = _get_response_for(request, case_id, response_id)
    answering = _staff_answering(response, response.case)  # type: ignore[arg-type]
    audit(request, action=Action.RESPONSE_VIEW, object_type="response", object_id=response.pk)
    context = {
        "case": response.case,
        "response": response,
        "put_on_hold": _put_on_hold(response),
        "sections": pages.summary(answering),
        "scores": pages.scored(response.version.definition, response.scores or {}, answering.language),
        "submitted": response.status == ResponseStatus.SUBMITTED,
        "can_continue": response.entered_by_staff_id is not None
        and response.status == ResponseStatus.IN_PROGRESS,
    }
    return render(request, "instruments/response_detail.html", context)


# --- program admins: instruments and imports ---------------------------------------------------------


@login_required
def instrument_list(request: HttpRequest) -> HttpResponse:
    _context, organization = program_admin_context(request)
    instruments = list(
        Instrument.objects.available_to(organization).prefetch_related("versions__imported_by")
    )
    return render(request, "instruments/instrument_list.html", {"instruments": instruments})


@login_required
@transaction.non_atomic_requests  # the file is read outside any transaction; the writes below have their own
def instrument_import(request: HttpRequest) -> HttpResponse:
    _context, organization = program_admin_context(request)
    form = ImportForm(request.POST or None, request.FILES or None)
    context: dict[str, Any] = {"form": form}
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            imported = read_instrument_file(
                content=data["content"],
                file_name=data["file"].name,
                source=data["source"],
                code=data["code"].strip(),
                title=data["title"].strip(),
                language=data["language"],
            )
            with transaction.atomic():
                result = save_imported(
                    imported,
                    source=data["source"],
                    owner=organization,
                    imported_by=request.user if isinstance(request.user, User) else None,
                )
                audit(
                    request,
                    action=Action.INSTRUMENT_IMPORT,
                    object_type="instrument_version",
                    object_id=result.version.pk,
                )
        except ImportRejected as rejected:
            context["problems"] = rejected.problems
            context["report"] = import_report(problems=rejected.problems)
        else:
            context.update(result=result, report=result.report, form=ImportForm())
    return render(request, "instruments/instrument_import.html", context)


@login_required
def version_detail(request: HttpRequest, version_id: int) -> HttpResponse:
    _context, organization = program_admin_context(request)
    version = (
        InstrumentVersion.objects.filter(
            pk=version_id, instrument__in=Instrument.objects.available_to(organization)
        )
        .select_related("instrument")
        .first()
    )
    if version is None:
        raise Http404
    language = translation.get_language() or "en"
    definition = version.definition
    if language not in definition["languages"]:
        language = definition["default_language"]
    sections = [
        {
            "title": localized(section.get("title"), language, definition),
            "show_if": section.get("show_if", ""),
            "items": [
                {
                    "code": item["code"],
                    "type": item["type"],
                    "label": localized(item.get("label"), language, definition),
                    "required": bool(item.get("required")),
                    "show_if": item.get("show_if", ""),
                    "choices": [
                        (c["code"], localized(c.get("label"), language, definition))
                        for c in choices_for(definition, item)
                    ]
                    if item["type"] in ("single_choice", "multiple_choice", "yes_no")
                    else [],
                }
                for item in section["items"]
            ],
        }
        for section in definition["sections"]
    ]
    context = {
        "version": version,
        "sections": sections,
        "scores": pages.scored(definition, {}, language) if definition.get("scoring") else [],
        "title": localized(definition["title"], language, definition),
    }
    return render(request, "instruments/version_detail.html", context)

"""The protocol pages: a case's stage with the checklist of its next gate, moving on, withdrawal and referral
out, the supervisor's approval of a joint dialogue, meetings with the survivor's check-in and check-out, and
each staff member's private calendar feed.

Every rule lives in services.py and gates.py; these views find the object, read the form, call one service
and answer. A refusal is shown with what is missing, and writes nothing.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST, require_safe

from circlekeeper.accounts.audit import Action, audit
from circlekeeper.accounts.models import User
from circlekeeper.cases.access import case_worker_context, get_case_for
from circlekeeper.cases.contact import harm_action_refusal
from circlekeeper.cases.models import Case, CaseStatus, ParticipantRole, Stage, Track
from circlekeeper.lib.audit import Outcome, record
from circlekeeper.lib.forms import add_service_errors
from circlekeeper.lib.links import public_link
from circlekeeper.protocol import gates, services
from circlekeeper.protocol.access import calendar_meetings, calendar_owner, get_meeting_for
from circlekeeper.protocol.forms import (
    AcknowledgmentForm,
    AdvanceForm,
    CancelForm,
    CheckForm,
    HeldForm,
    ReferOutForm,
    ScheduleForm,
    WithdrawForm,
)
from circlekeeper.protocol.models import (
    CalendarToken,
    CheckMoment,
    Invitation,
    Meeting,
    MeetingChannel,
    MeetingKind,
    MeetingStatus,
    TransitionKind,
)
from circlekeeper.safety.services import is_supervisor_of

# Where the joint-dialogue gate is worth showing on the case page: on the direct track, before the dialogue.
JOINT_STAGES = (Stage.PREPARATION, Stage.DIALOGUE)


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _add_errors(form: forms.Form, exc: ValidationError) -> int:
    """Put a service's refusal on the form; 400 for a field the person can correct, 409 for the case's state."""
    return 400 if add_service_errors(form, exc) else 409


@dataclass(frozen=True)
class Row:
    """One condition of a gate as a page shows it, with where to act on it."""

    condition: gates.Condition
    href: str


def _rows(conditions: list[gates.Condition]) -> list[Row]:
    return [Row(c, reverse(c.url[0], args=c.url[1]) if c.url else "") for c in conditions]


@dataclass(frozen=True)
class Refusal:
    intro: str
    missing: list[Row]


def _refusal(exc: services.GateClosed) -> Refusal:
    return Refusal(exc.messages[0], _rows(exc.missing))


# --- the case's stage -------------------------------------------------------------------------------


def _checklist_context(case: Case) -> dict[str, Any]:
    is_open = case.status == CaseStatus.OPEN
    conditions = gates.stage_conditions(case)
    return {
        "case": case,
        "is_open": is_open,
        "conditions": _rows(conditions),
        "ready": is_open and not gates.unmet(conditions),
        "next_stage": gates.next_stage(case) if is_open else None,
        "closing": is_open and case.stage == Stage.CLOSURE,
    }


def _case_context(
    request: HttpRequest, case: Case, form: AdvanceForm | None = None, refused: Refusal | None = None
) -> dict[str, Any]:
    joint = (
        case.status == CaseStatus.OPEN and case.track == Track.DIRECT_DIALOGUE and case.stage in JOINT_STAGES
    )
    return {
        **_checklist_context(case),
        "form": form or AdvanceForm(),
        "refused": refused,
        "reason_required": case.stage == Stage.MONITORING,
        "joint": _rows(gates.joint_gate(case)) if joint else None,
        "may_approve": joint and is_supervisor_of(_user(request), case),
        "may_reopen": case.status in (CaseStatus.CLOSED, CaseStatus.WITHDRAWN)
        and is_supervisor_of(_user(request), case),
    }


@login_required
def case_page(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    audit(request, action=Action.STAGE_VIEW, object_type="case", object_id=case.pk)
    return render(request, "protocol/case.html", _case_context(request, case))


@login_required
@require_GET
def checklist(request: HttpRequest, case_id: int) -> HttpResponse:
    """The next gate's checklist alone, for htmx to put on the case page (which links the full page)."""
    case = get_case_for(request, case_id)
    if "HX-Request" not in request.headers:
        return redirect("protocol:case", case.pk)
    audit(request, action=Action.STAGE_VIEW, object_type="case", object_id=case.pk)
    response = render(request, "protocol/_checklist.html", {**_checklist_context(case), "fragment": True})
    response["Vary"] = "HX-Request"
    return response


@login_required
@require_POST
def advance(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    form = AdvanceForm(request.POST)
    refused, status = None, 400
    closing = case.status == CaseStatus.OPEN and case.stage == Stage.CLOSURE
    unconfirmed = request.POST.get("confirm") != "yes"
    if form.is_valid() and closing and unconfirmed and not gates.unmet(gates.stage_conditions(case)):
        # Closing cannot be undone but by a supervisor's reopening: say so, and ask once more (no JS needed).
        return render(request, "protocol/close_confirm.html", {"case": case, "form": form})
    if form.is_valid():
        try:
            transition = services.advance(
                case=case,
                by=_user(request),
                reason=form.cleaned_data["reason"],
                expected_stage=form.cleaned_data["stage"],
            )
        except services.GateClosed as exc:
            refused, status = _refusal(exc), 409
        except ValidationError as exc:
            status = _add_errors(form, exc)
        else:
            audit(request, action=Action.STAGE_ADVANCE, object_type="transition", object_id=transition.pk)
            if transition.kind == TransitionKind.CLOSE:
                messages.success(request, _("The case is closed. Its history is kept."))
            else:
                messages.success(
                    request, _("The case moved on to %(stage)s.") % {"stage": Stage(case.stage).label}
                )
            return redirect("protocol:case", case.pk)
    audit(
        request, action=Action.STAGE_ADVANCE, object_type="case", object_id=case.pk, outcome=Outcome.REFUSED
    )
    context = _case_context(request, case, form, refused)
    return render(request, "protocol/case.html", context, status=status)


@login_required
def withdraw(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    form = WithdrawForm(request.POST if request.method == "POST" else None)
    status = 400 if request.method == "POST" else 200
    if request.method == "POST" and form.is_valid():
        try:
            transition = services.withdraw(case=case, by=_user(request), reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            status = _add_errors(form, exc)
            audit(
                request,
                action=Action.CASE_WITHDRAW,
                object_type="case",
                object_id=case.pk,
                outcome=Outcome.REFUSED,
            )
        else:
            audit(request, action=Action.CASE_WITHDRAW, object_type="transition", object_id=transition.pk)
            messages.success(
                request,
                _(
                    "The survivor's withdrawal is recorded. Every meeting and link with the person who caused "
                    "harm has stopped; the survivor's own support goes on."
                ),
            )
            return redirect("protocol:case", case.pk)
    return render(request, "protocol/withdraw.html", {"case": case, "form": form}, status=status)


@login_required
def refer_out(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    form = ReferOutForm(request.POST if request.method == "POST" else None)
    status = 400 if request.method == "POST" else 200
    if request.method == "POST" and form.is_valid():
        try:
            transition = services.refer_out(
                case=case,
                by=_user(request),
                referred_to=form.cleaned_data["referred_to"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            status = _add_errors(form, exc)
        else:
            audit(request, action=Action.CASE_REFER_OUT, object_type="transition", object_id=transition.pk)
            messages.success(
                request,
                _(
                    "The referral is recorded. Every meeting and link with the person who caused harm has stopped."
                ),
            )
            return redirect("protocol:case", case.pk)
    if request.method == "POST":
        audit(
            request,
            action=Action.CASE_REFER_OUT,
            object_type="case",
            object_id=case.pk,
            outcome=Outcome.REFUSED,
        )
    return render(request, "protocol/refer_out.html", {"case": case, "form": form}, status=status)


# --- the supervisor's approval of a joint dialogue ----------------------------------------------------


@login_required
def approve(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    user = _user(request)
    if not is_supervisor_of(user, case):
        # Answered here rather than raised, so that the refusal's audit event is kept with the request.
        action = Action.JOINT_APPROVE if request.method == "POST" else Action.ACCESS_REFUSED
        audit(request, action=action, object_type="case", object_id=case.pk, outcome=Outcome.REFUSED)
        return render(request, "protocol/approve_refused.html", {"case": case}, status=403)
    refused, status = None, 200
    if request.method == "POST":
        try:
            given = services.approve_joint_dialogue(case=case, by=user)
        except services.GateClosed as exc:
            refused, status = _refusal(exc), 409
            audit(
                request,
                action=Action.JOINT_APPROVE,
                object_type="case",
                object_id=case.pk,
                outcome=Outcome.REFUSED,
            )
        else:
            audit(request, action=Action.JOINT_APPROVE, object_type="approval", object_id=given.pk)
            messages.success(
                request,
                _(
                    "The joint dialogue is approved. The approval lapses by itself if any condition stops "
                    "holding."
                ),
            )
            return redirect("protocol:case", case.pk)
    conditions = gates.joint_conditions(case)
    context = {
        "case": case,
        "conditions": _rows(conditions),
        "approval": gates.approval_condition(case, conditions),
        "ready": not gates.unmet(conditions),
        "refused": refused,
    }
    return render(request, "protocol/approve.html", context, status=status)


# --- meetings ----------------------------------------------------------------------------------------


def _meetings_context(case: Case, form: ScheduleForm | None = None) -> dict[str, Any]:
    participants = list(case.participants.exclude(role=ParticipantRole.CHILD).order_by("id"))
    invitations = Invitation.objects.select_related("participant").order_by("participant_id")
    meetings = list(
        Meeting.objects.for_organization(case.organization)
        .filter(case=case)
        .prefetch_related(Prefetch("invitations", queryset=invitations))
        .order_by("-starts_at", "-id")
    )
    harm_side = any(p.is_harm_side for p in participants)
    return {
        "case": case,
        "meetings": meetings,
        "form": form or ScheduleForm(participants=participants),
        "harm_refusal": harm_action_refusal(case) if harm_side else None,
        "refused": None,
    }


@login_required
def meetings(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    if request.method != "POST":
        audit(request, action=Action.MEETING_LIST, object_type="case", object_id=case.pk)
        return render(request, "protocol/meetings.html", _meetings_context(case))
    participants = list(case.participants.exclude(role=ParticipantRole.CHILD).order_by("id"))
    form = ScheduleForm(request.POST, participants=participants)
    refused, status = None, 400
    if form.is_valid():
        try:
            meeting = services.schedule_meeting(
                case=case,
                kind=form.cleaned_data["kind"],
                starts_at=form.starts_at(),
                invitees=form.chosen(),
                by=_user(request),
                place=form.cleaned_data["place"],
                channel=form.cleaned_data["channel"] or MeetingChannel.IN_PERSON,
            )
        except services.GateClosed as exc:
            refused, status = _refusal(exc), 409
        except ValidationError as exc:
            status = _add_errors(form, exc)
        else:
            audit(request, action=Action.MEETING_SCHEDULE, object_type="meeting", object_id=meeting.pk)
            messages.success(request, _("The meeting is scheduled."))
            return redirect("protocol:meeting", case.pk, meeting.pk)
    audit(
        request,
        action=Action.MEETING_SCHEDULE,
        object_type="case",
        object_id=case.pk,
        outcome=Outcome.REFUSED,
    )
    context = {**_meetings_context(case, form), "refused": refused}
    return render(request, "protocol/meetings.html", context, status=status)


@dataclass(frozen=True)
class PendingCheck:
    """The check a survivor invited to a scheduled meeting is due next (check-in, then check-out)."""

    participant_id: int
    label: str
    moment: str
    form: CheckForm


def _meeting_context(
    meeting: Meeting,
    *,
    check_form: CheckForm | None = None,
    held_form: HeldForm | None = None,
    cancel_form: CancelForm | None = None,
    ack_form: AcknowledgmentForm | None = None,
    refused: Refusal | None = None,
) -> dict[str, Any]:
    """The meeting page, with the one form just sent back with its errors, if any."""
    invitations = list(meeting.invitations.select_related("participant").order_by("participant_id"))
    checks = list(meeting.checks.select_related("participant", "by"))
    survivors = [i.participant for i in invitations if i.participant.is_survivor]
    scheduled = meeting.status == MeetingStatus.SCHEDULED
    pending = []
    for survivor in survivors if scheduled else []:
        done = {c.moment for c in checks if c.participant_id == survivor.pk}
        moment = next((m for m in CheckMoment.values if m not in done), None)
        if moment is None:
            continue
        form = CheckForm(
            initial={"participant": survivor.pk, "moment": moment},
            survivors=survivors,
            auto_id=f"check-{survivor.pk}-{moment}-%s",
        )
        sent = check_form
        if sent is not None and (sent.data.get("participant"), sent.data.get("moment")) == (
            str(survivor.pk),
            moment,
        ):
            sent.auto_id = form.auto_id
            form = sent
        pending.append(PendingCheck(survivor.pk, survivor.label, moment, form))
    harm_attended = [
        i.participant
        for i in invitations
        if i.attended and i.participant.role == ParticipantRole.PERSON_WHO_CAUSED_HARM
    ]
    may_acknowledge = (
        meeting.kind == MeetingKind.PREPARATION and meeting.status == MeetingStatus.HELD and harm_attended
    )
    return {
        "case": meeting.case,
        "meeting": meeting,
        "invitations": invitations,
        "checks": checks,
        "pending": pending,
        "check_form": check_form,
        "held_form": held_form
        or HeldForm(
            invitations=invitations,
            initial={"attended": [i.participant_id for i in invitations]},
            auto_id="held-%s",
        ),
        "cancel_form": cancel_form or CancelForm(auto_id="cancel-%s"),
        "acknowledgments": list(meeting.acknowledgments.select_related("participant", "recorded_by")),
        "ack_form": (ack_form or AcknowledgmentForm(people=harm_attended, auto_id="ack-%s"))
        if may_acknowledge
        else None,
        "refused": refused,
    }


def _to_meeting(meeting: Meeting) -> HttpResponse:
    return redirect("protocol:meeting", meeting.case_id, meeting.pk)


def _meeting_refused(
    request: HttpRequest, meeting: Meeting, action: str, status: int, **bound: Any
) -> HttpResponse:
    audit(request, action=action, object_type="meeting", object_id=meeting.pk, outcome=Outcome.REFUSED)
    return render(request, "protocol/meeting.html", _meeting_context(meeting, **bound), status=status)


@login_required
def meeting(request: HttpRequest, case_id: int, meeting_id: int) -> HttpResponse:
    found = get_meeting_for(request, case_id, meeting_id)
    # The page shows the place and the keeper's notes: a read of what could locate the survivor.
    audit(request, action=Action.MEETING_VIEW, object_type="meeting", object_id=found.pk)
    return render(request, "protocol/meeting.html", _meeting_context(found))


@login_required
@require_POST
def meeting_check(request: HttpRequest, case_id: int, meeting_id: int) -> HttpResponse:
    found = get_meeting_for(request, case_id, meeting_id)
    survivors = [
        i.participant for i in found.invitations.select_related("participant") if i.participant.is_survivor
    ]
    form = CheckForm(request.POST, survivors=survivors)
    if not form.is_valid():
        return _meeting_refused(request, found, Action.MEETING_CHECK, 400, check_form=form)
    data = form.cleaned_data
    try:
        check = services.record_check(
            meeting=found,
            participant=form.survivor(),
            moment=data["moment"],
            feels_safe=data["feels_safe"],
            threatened=data["threatened"],
            wants_to_stop=data["wants_to_stop"],
            by=_user(request),
        )
    except services.GateClosed as exc:
        return _meeting_refused(request, found, Action.MEETING_CHECK, 409, refused=_refusal(exc))
    except ValidationError as exc:
        status = _add_errors(form, exc)
        return _meeting_refused(request, found, Action.MEETING_CHECK, status, check_form=form)
    audit(request, action=Action.MEETING_CHECK, object_type="meeting", object_id=found.pk)
    if check.signals_danger:
        messages.warning(
            request,
            _(
                "The case is on safety hold now: all contact with the person who caused harm stops. The "
                "supervisor and the safety advocate were alerted. Stay with the survivor and follow their "
                "safety plan."
            ),
        )
    elif check.moment == CheckMoment.CHECK_IN:
        messages.success(request, _("Check-in recorded: the meeting may begin."))
    else:
        messages.success(request, _("Check-out recorded."))
    return _to_meeting(found)


@login_required
@require_POST
def meeting_held(request: HttpRequest, case_id: int, meeting_id: int) -> HttpResponse:
    found = get_meeting_for(request, case_id, meeting_id)
    invitations = list(found.invitations.select_related("participant").order_by("participant_id"))
    form = HeldForm(request.POST, invitations=invitations, auto_id="held-%s")
    if not form.is_valid():
        return _meeting_refused(request, found, Action.MEETING_HELD, 400, held_form=form)
    try:
        services.mark_held(
            meeting=found, attended=form.chosen(), by=_user(request), notes=form.cleaned_data["notes"]
        )
    except ValidationError as exc:
        status = _add_errors(form, exc)
        return _meeting_refused(request, found, Action.MEETING_HELD, status, held_form=form)
    audit(request, action=Action.MEETING_HELD, object_type="meeting", object_id=found.pk)
    messages.success(request, _("The meeting is recorded as held."))
    return _to_meeting(found)


@login_required
@require_POST
def meeting_cancel(request: HttpRequest, case_id: int, meeting_id: int) -> HttpResponse:
    found = get_meeting_for(request, case_id, meeting_id)
    form = CancelForm(request.POST, auto_id="cancel-%s")
    if not form.is_valid():
        return _meeting_refused(request, found, Action.MEETING_CANCEL, 400, cancel_form=form)
    if services.cancel_meeting(meeting=found, by=_user(request), reason=form.cleaned_data["reason"]):
        audit(request, action=Action.MEETING_CANCEL, object_type="meeting", object_id=found.pk)
        messages.success(request, _("The meeting is cancelled."))
    else:
        messages.info(request, _("This meeting was already held or cancelled: nothing changed."))
    return _to_meeting(found)


@login_required
@require_POST
def acknowledge(request: HttpRequest, case_id: int, meeting_id: int) -> HttpResponse:
    found = get_meeting_for(request, case_id, meeting_id)
    people = [
        i.participant
        for i in found.invitations.select_related("participant")
        if i.participant.role == ParticipantRole.PERSON_WHO_CAUSED_HARM
    ]
    form = AcknowledgmentForm(request.POST, people=people, auto_id="ack-%s")
    if not form.is_valid():
        return _meeting_refused(request, found, Action.ACKNOWLEDGMENT_ADD, 400, ack_form=form)
    try:
        services.record_acknowledgment(
            meeting=found,
            participant=form.chosen(),
            in_their_words=form.cleaned_data["in_their_words"],
            by=_user(request),
        )
    except ValidationError as exc:
        status = _add_errors(form, exc)
        return _meeting_refused(request, found, Action.ACKNOWLEDGMENT_ADD, status, ack_form=form)
    audit(request, action=Action.ACKNOWLEDGMENT_ADD, object_type="meeting", object_id=found.pk)
    messages.success(request, _("The acknowledgment of responsibility is recorded."))
    return _to_meeting(found)


# --- the private calendar feed -------------------------------------------------------------------------


@login_required
def calendar(request: HttpRequest) -> HttpResponse:
    user = case_worker_context(request).user
    feed = CalendarToken.objects.filter(user=user).first()
    url = ""
    if request.method == "POST":
        if request.POST.get("action") == "stop":
            if feed is not None:
                audit(request, action=Action.CALENDAR_TOKEN, object_type="calendar", object_id=feed.pk)
                feed.delete()
                messages.success(request, _("Your calendar feed is stopped: its address no longer works."))
            return redirect("protocol:calendar")
        feed, token = CalendarToken.make_for(user)
        audit(request, action=Action.CALENDAR_TOKEN, object_type="calendar", object_id=feed.pk)
        # Shown once, in this answer only: the token is not kept anywhere to show it again.
        url = public_link(reverse("protocol:calendar_feed", args=[token]))
    return render(request, "protocol/calendar.html", {"feed": feed, "url": url})


def _ical_text(value: str) -> str:
    """A TEXT value (RFC 5545 3.3.11): backslash, semicolon and comma escaped, line breaks as \\n, no controls."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return "".join(ch for ch in value if ch == "\t" or (ch >= " " and ch != "\x7f"))


def _ical_line(line: str) -> str:
    """A content line folded at 75 octets (RFC 5545 3.1), never inside a UTF-8 character."""
    parts, current, size = [], "", 0
    for ch in line:
        width = len(ch.encode("utf-8"))
        if size + width > 75:
            parts.append(current)
            current, size = " ", 1
        current += ch
        size += width
    parts.append(current)
    return "\r\n".join(parts) + "\r\n"


def _ical_time(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def _ical(meetings: list[Meeting], now: datetime.datetime) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Circlekeeper//Meetings//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_ical_text(_('Circlekeeper meetings'))}",
    ]
    for item in meetings:
        # Only what may sit in someone's phone or a calendar provider: never the place, names or notes.
        labels = ", ".join(i.participant.label for i in item.invitations.all())
        summary = f"{MeetingKind(item.kind).label} · {item.case.reference} · {labels}"
        lines += [
            "BEGIN:VEVENT",
            f"UID:{item.uid}@circlekeeper",
            f"DTSTAMP:{_ical_time(now)}",
            f"DTSTART:{_ical_time(item.starts_at)}",
            f"DTEND:{_ical_time(item.starts_at + datetime.timedelta(hours=1))}",
            f"SUMMARY:{_ical_text(summary)}",
            "STATUS:CANCELLED" if item.status != MeetingStatus.SCHEDULED else "STATUS:CONFIRMED",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(_ical_line(line) for line in lines)


@never_cache
@require_safe
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    owner = calendar_owner(token)
    if owner is None:
        response = HttpResponseNotFound(_("Not found."), content_type="text/plain; charset=utf-8")
        # Django logs every 404 with its path, and this path holds a token: this one is not logged.
        response._has_been_logged = True  # type: ignore[attr-defined]
        return response
    found = list(calendar_meetings(owner))
    # No request: the path (which holds the token) stays out of the log; the owner is named instead.
    record(None, action=Action.CALENDAR_FEED, object_type="calendar", object_id=owner.pk, actor=owner)
    return HttpResponse(_ical(found, timezone.now()), content_type="text/calendar; charset=utf-8")

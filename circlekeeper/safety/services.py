"""Escalation (PROTOCOL.md): safety checks give a risk level; high or severe, new violence or a broken
commitment open a safety hold, alert the supervisor and safety advocate and ask for the safety plan to be
reviewed; every later trigger while it is open is recorded on it; only a supervisor lifts a hold, on a full check
of each survivor concerned started after its latest trigger, taken by staff with the survivor, below high, by
default recorded by someone else, with a written reason.

These functions are the only ones that change `Case.on_hold` and `Case.risk_level`, always in the
transaction that changes the hold or records the check, so the cases app can refuse contact on them.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from circlekeeper.accounts.models import Membership, Role, User
from circlekeeper.cases.contact import report_safety_event
from circlekeeper.cases.models import (
    Case,
    CaseAssignment,
    CaseTask,
    EventKind,
    Participant,
    ParticipantRole,
    TaskKind,
    record_event,
)
from circlekeeper.cases.participants import StaleEdit
from circlekeeper.instruments.models import Instrument, InstrumentVersion, Response
from circlekeeper.safety.models import (
    PLAN_FIELDS,
    CheckKind,
    HoldReason,
    HoldTrigger,
    RiskInstrument,
    RiskLevel,
    SafetyAlert,
    SafetyCheck,
    SafetyHold,
    SafetyPlan,
    SafetyPlanRevision,
    is_high,
)

# The built-in instruments (instruments/definitions/) whose "risk" band already speaks our levels.
BUILTIN = {"safety_check": CheckKind.FULL, "immediate_danger": CheckKind.SCREEN}
BUILTIN_BAND = "risk"
# A safety plan is due for review this long after its last one (the joint-dialogue gate asks for 30 days).
PLAN_REVIEW_DAYS = 30
# A survivor's safety check is overdue this long after the last one, on an open case.
CHECK_OVERDUE_DAYS = 30


def risk_mapping(version: InstrumentVersion, organization_id: int) -> tuple[str, str, dict[str, str]] | None:
    """(kind, band code, {band level: RiskLevel}) when this instrument is a safety check here, else None."""
    instrument = version.instrument
    if instrument.owner_id is None and instrument.code in BUILTIN:
        return BUILTIN[instrument.code], BUILTIN_BAND, {level: level for level in RiskLevel.values}
    mapped = RiskInstrument.objects.filter(organization_id=organization_id, instrument=instrument).first()
    if mapped is None:
        return None
    return mapped.kind, mapped.band, dict(mapped.level_map)


@transaction.atomic
def map_risk_instrument(
    *, organization_id: int, instrument: Instrument, kind: str, band: str, level_map: dict[str, str], by: User
) -> RiskInstrument:
    """Make one of the organization's own instruments give risk levels: every level of its band mapped."""
    if instrument.owner_id != organization_id:
        raise ValidationError({"instrument": _("Only your organization's own instruments can be mapped.")})
    latest = instrument.latest_version()
    bands = {
        b["code"]: b for b in ((latest.definition.get("scoring") or {}).get("bands", []) if latest else [])
    }
    if band not in bands:
        raise ValidationError({"band": _("That band does not exist in the instrument's latest version.")})
    codes = [level["code"] for level in bands[band]["levels"]]
    unmapped = [code for code in codes if level_map.get(code) not in RiskLevel.values]
    if unmapped or set(level_map) - set(codes):
        raise ValidationError(
            _("Map every level of the band onto a risk level (not mapped: %(codes)s).")
            % {"codes": ", ".join(unmapped) or "—"}
        )
    mapping = RiskInstrument(
        organization_id=organization_id,
        instrument=instrument,
        kind=kind,
        band=band,
        level_map={code: level_map[code] for code in codes},
        created_by=by,
    )
    mapping.full_clean()
    mapping.save()
    return mapping


def safety_versions(organization_id: int, kind: str) -> list[InstrumentVersion]:
    """The latest version of each instrument this organization uses for this kind of check."""
    codes = [code for code, k in BUILTIN.items() if k == kind]
    instruments = list(
        InstrumentVersion.objects.filter(instrument__owner__isnull=True, instrument__code__in=codes)
        .values_list("instrument_id", flat=True)
        .distinct()
    )
    instruments += list(
        RiskInstrument.objects.filter(organization_id=organization_id, kind=kind)
        .order_by("id")
        .values_list("instrument_id", flat=True)
    )
    versions = []
    for instrument_id in instruments:
        latest = (
            InstrumentVersion.objects.filter(instrument_id=instrument_id)
            .select_related("instrument")
            .order_by("-number")
            .first()
        )
        if latest is not None:
            versions.append(latest)
    return versions


def safety_versions_by_kind(organization_id: int) -> dict[str, list[InstrumentVersion]]:
    """safety_versions for every kind of check at once, for the safety page that offers them all: three queries in
    all instead of two and one an instrument for each kind; the same versions in the same order
    (safety/tests/test_safety_versions.py)."""
    found: dict[str, list[int]] = {kind: [] for kind in CheckKind.values}
    # Ordered as safety_versions' query (InstrumentVersion's ordering), so each kind keeps its order.
    for instrument_id, code in (
        InstrumentVersion.objects.filter(instrument__owner__isnull=True, instrument__code__in=list(BUILTIN))
        .values_list("instrument_id", "instrument__code")
        .distinct()
    ):
        found[BUILTIN[code]].append(instrument_id)
    for instrument_id, kind in (
        RiskInstrument.objects.filter(organization_id=organization_id)
        .order_by("id")
        .values_list("instrument_id", "kind")
    ):
        found.setdefault(kind, []).append(instrument_id)
    newest = (
        InstrumentVersion.objects.filter(instrument_id=OuterRef("instrument_id"))
        .order_by("-number")
        .values("number")[:1]
    )
    latest = {
        version.instrument_id: version
        for version in InstrumentVersion.objects.filter(
            instrument_id__in={pk for ids in found.values() for pk in ids}, number=Subquery(newest)
        ).select_related("instrument")
    }
    return {kind: [latest[pk] for pk in ids if pk in latest] for kind, ids in found.items()}


def next_check_due(case: Case) -> datetime.date | None:
    """When the case's next full safety check falls due: CHECK_OVERDUE_DAYS after the survivor's latest one, the
    earliest over its survivors; None while a survivor has had none (due since the case opened)."""
    survivors = list(Participant.objects.filter(case=case).survivors().values_list("pk", flat=True))
    latest: dict[int, datetime.datetime] = {}
    for participant_id, checked_at in (
        SafetyCheck.objects.filter(case=case, kind=CheckKind.FULL, participant__in=survivors)
        .order_by("participant_id", "checked_at")
        .values_list("participant_id", "checked_at")
    ):
        latest[participant_id] = checked_at
    if not survivors or len(latest) < len(survivors):
        return None
    return min(timezone.localdate(at) for at in latest.values()) + datetime.timedelta(days=CHECK_OVERDUE_DAYS)


def record_check_from_response(response: Response) -> SafetyCheck | None:
    """Called for every submitted response (settings.RESPONSE_SUBMITTED_HANDLERS), in its transaction.

    A response to a safety instrument becomes a SafetyCheck with its level; high or severe opens a hold.
    """
    if response.participant_id is None or response.case_id is None:
        return None
    mapping = risk_mapping(response.version, response.organization_id)
    if mapping is None:
        return None
    kind, band, level_map = mapping
    level = level_map.get(str((response.scores or {}).get(band)), "")
    participant = Participant.objects.select_related("case").get(pk=response.participant_id)
    case = Case.objects.select_for_update(no_key=True).get(pk=participant.case_id)
    previous = (
        SafetyCheck.objects.filter(participant=participant)
        .exclude(level="")
        .order_by("-checked_at", "-id")
        .first()
    )
    check = SafetyCheck.objects.create(
        organization_id=response.organization_id,
        case=case,
        participant=participant,
        response=response,
        kind=kind,
        level=level,
        checked_at=response.submitted_at or timezone.now(),
        entered_by=response.entered_by_staff,
    )
    record_event(
        case,
        EventKind.CHECK_RECORDED,
        by=response.entered_by_staff,
        participant=participant.label,
        level=level,
    )
    if participant.role == ParticipantRole.SURVIVOR and kind == CheckKind.FULL:
        case.check_due_on = next_check_due(case)
        case.save(update_fields=["check_due_on"])
    if level and participant.role == ParticipantRole.SURVIVOR:
        case.risk_level = level
        case.risk_level_at = check.checked_at
        case.save(update_fields=["risk_level", "risk_level_at"])
        if previous is not None and previous.level != level:
            _plan_due(participant, case)
    if is_high(level):
        open_hold(case=case, reason=HoldReason.RISK, check=check)
    return check


@transaction.atomic
def open_hold(
    *,
    case: Case,
    reason: str,
    by: User | None = None,
    check: SafetyCheck | None = None,
    details: str = "",
    survivor: Participant | None = None,
    facts: dict[str, str] | None = None,
) -> SafetyHold:
    """Put the case on hold, alert its supervisor and advocate, and ask for the safety plan to be reviewed.

    A case already on hold stays on that hold, and the new reason is recorded as one of its triggers (never only
    an alert): the hold then lifts only on checks started after it. `survivor` (or the check's participant, when
    a survivor) is whose own answer it was; otherwise the trigger concerns every survivor of the case. `facts`
    are codes (e.g. {"commitment": "3"}), shown in the reader's language: never a sentence in the writer's.
    """
    locked = Case.objects.select_for_update(no_key=True).get(pk=case.pk)
    level = check.level if check else ""
    now = timezone.now()
    hold = SafetyHold.objects.select_for_update().open().filter(case=locked).first()
    if hold is None:
        hold = SafetyHold(
            organization_id=locked.organization_id,
            case=locked,
            reason=reason,
            opening_check=check,
            details=details.strip() or None,
            opened_at=now,
            opened_by=by,
        )
        hold.full_clean()
        hold.save()
        locked.on_hold = True
        locked.save(update_fields=["on_hold"])
        record_event(locked, EventKind.HOLD_OPENED, by=by, at=now, reason=reason, level=level)
        for each in locked.participants.survivors():
            _plan_due(each, locked)
    elif details.strip():
        # What was reported later is kept with what opened the hold, dated, in the same encrypted field.
        stamp = timezone.localtime(now).strftime("%Y-%m-%d %H:%M")
        hold.details = "\n\n".join(filter(None, [hold.details, f"[{stamp}] {details.strip()}"]))
        hold.save(update_fields=["details"])
    about = survivor or (check.participant if check else None)
    HoldTrigger.objects.create(
        organization_id=locked.organization_id,
        hold=hold,
        reason=reason,
        at=now,
        by=by,
        check_that_triggered=check,
        survivor=about if about is not None and about.role == ParticipantRole.SURVIVOR else None,
        facts=dict(facts or {}),
    )
    case.on_hold = True
    SafetyAlert.objects.create(
        organization_id=locked.organization_id,
        case=locked,
        hold=hold,
        reason=reason,
        level=level,
        raised_at=now,
    )
    # The response that raised it (codes only): its page then says the case is now on hold.
    source = {"response": str(check.response_id)} if check is not None else {}
    record_event(locked, EventKind.ALERT_RAISED, by=by, at=now, reason=reason, level=level, **source)
    # Every trigger, the first and any later one, stops at once everything live with the other side.
    report_safety_event(locked, "new_violence" if reason == HoldReason.NEW_VIOLENCE else "safety_hold", by=by)
    return hold


def report_new_violence(*, case: Case, by: User, details: str) -> SafetyHold:
    if not details.strip():
        raise ValidationError({"details": _("Say briefly what happened and when.")})
    return open_hold(case=case, reason=HoldReason.NEW_VIOLENCE, by=by, details=details)


def is_supervisor_of(user: User, case: Case) -> bool:
    """A supervisor in the case's organization who sits on its team."""
    return (
        Membership.objects.active()
        .filter(user=user, organization_id=case.organization_id, role=Role.SUPERVISOR)
        .exists()
        and CaseAssignment.objects.filter(case=case, user=user).exists()
    )


def latest_trigger_at(hold: SafetyHold) -> datetime.datetime:
    """When the hold was last triggered (opened, or a later reason while it stayed open)."""
    latest = hold.triggers.order_by("-at").values_list("at", flat=True).first()
    return max(filter(None, [latest, hold.opened_at]))


def survivors_concerned(hold: SafetyHold) -> list[Participant]:
    """Whose fresh check lifts the hold: the survivor whose own answer each trigger was, and every survivor of the
    case for a trigger that is not one survivor's answer (new violence, a broken commitment, a meeting check)."""
    survivors = list(Participant.objects.filter(case_id=hold.case_id).survivors().order_by("id"))
    triggers = list(hold.triggers.values_list("survivor_id", flat=True))
    if not triggers or None in triggers:
        return survivors
    return [s for s in survivors if s.pk in triggers]


def two_person_rule() -> bool:
    """By default the supervisor who lifts a hold may not be the person who recorded the check (settings)."""
    return bool(getattr(settings, "HOLD_TWO_PERSON", True))


@dataclass(frozen=True)
class LiftReadiness:
    """For each survivor concerned, the check that lifts the hold, or why none does yet."""

    since: datetime.datetime
    checks: list[SafetyCheck]
    missing: list[str]

    @property
    def ready(self) -> bool:
        return not self.missing and bool(self.checks)


def _why_not(check: SafetyCheck, since: datetime.datetime, by: User | None) -> str:
    """Why this check of the survivor does not lift the hold (PROTOCOL.md, escalation), in words."""
    if check.kind != CheckKind.FULL:
        return _("the immediate-danger screen never lifts a hold: it does not ask about what opened it")
    if check.entered_by_id is None:
        return _(
            "it was answered alone through a link: a hold lifts only on a check taken by staff with the survivor"
        )
    if check.response.started_at <= since:
        return _("it was started before the hold's latest trigger")
    if not check.level:
        return _("too few answers gave no level")
    if is_high(check.level):
        return _("it came out high or severe")
    if by is not None and check.entered_by_id == by.pk:
        return _("you recorded it: another supervisor lifts the hold, or another person takes the check")
    return ""


def lift_readiness(hold: SafetyHold, by: User | None = None) -> LiftReadiness:
    """Whether the hold may be lifted now (by `by`, when given): a full check of each survivor concerned, started
    after the hold's latest trigger, entered by staff with the survivor, below high, and (two-person rule) not
    recorded by the supervisor who lifts."""
    since = latest_trigger_at(hold)
    survivors = survivors_concerned(hold)
    other = by if two_person_rule() else None
    checks: list[SafetyCheck] = []
    missing: list[str] = []
    if not survivors:
        missing.append(_("No survivor is recorded on this case, so no check can lift the hold."))
    for survivor in survivors:
        recent = list(
            SafetyCheck.objects.filter(case_id=hold.case_id, participant=survivor, checked_at__gt=since)
            .select_related("response")
            .order_by("-checked_at", "-id")
        )
        lifting = next((c for c in recent if not _why_not(c, since, other)), None)
        if lifting is not None:
            checks.append(lifting)
        elif recent:
            missing.append(
                _("%(label)s: the newest safety check does not lift the hold: %(why)s.")
                % {"label": survivor.label, "why": _why_not(recent[0], since, other)}
            )
        else:
            missing.append(
                _("%(label)s: no full safety check taken with them by staff since the hold's latest trigger.")
                % {"label": survivor.label}
            )
    return LiftReadiness(since=since, checks=checks, missing=missing)


def check_that_lifts(hold: SafetyHold, by: User | None = None) -> SafetyCheck | None:
    """The newest of the checks that lift the hold, when every survivor concerned has one; else None."""
    readiness = lift_readiness(hold, by)
    if not readiness.ready:
        return None
    return max(readiness.checks, key=lambda c: (c.checked_at, c.pk))


@transaction.atomic
def lift_hold(*, hold: SafetyHold, by: User, reason: str) -> SafetyHold:
    locked = SafetyHold.objects.select_for_update().select_related("case").get(pk=hold.pk)
    case = locked.case
    if not is_supervisor_of(by, case):
        raise PermissionDenied(_("Only a supervisor on the case team can lift a safety hold."))
    if locked.lifted_at is not None:
        raise ValidationError(_("This hold was already lifted."))
    if not reason.strip():
        raise ValidationError({"reason": _("Write why the hold can be lifted.")})
    readiness = lift_readiness(locked, by)
    if not readiness.ready:
        raise ValidationError(
            [
                _(
                    "A hold is lifted only on a newer full safety check of each survivor concerned, started after "
                    "the hold's latest trigger, taken by staff with the survivor, below high."
                ),
                *readiness.missing,
            ]
        )
    newer = max(readiness.checks, key=lambda c: (c.checked_at, c.pk))
    now = timezone.now()
    locked.lifted_at, locked.lifted_by, locked.lift_reason, locked.lift_check = now, by, reason.strip(), newer
    locked.save(update_fields=["lifted_at", "lifted_by", "lift_reason", "lift_check"])
    Case.objects.filter(pk=case.pk).update(on_hold=False)
    SafetyAlert.objects.filter(hold=locked, acknowledged_at__isnull=True).update(
        acknowledged_at=now, acknowledged_by=by
    )
    record_event(
        case,
        EventKind.HOLD_LIFTED,
        by=by,
        at=now,
        level=newer.level,
        checks=",".join(str(c.pk) for c in readiness.checks),
    )
    hold.lifted_at = now
    return locked


def acknowledge_alert(*, alert: SafetyAlert, by: User) -> bool:
    updated = SafetyAlert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=timezone.now(), acknowledged_by=by
    )
    if updated:
        record_event(alert.case, EventKind.ALERT_SEEN, by=by, reason=alert.reason)
    return bool(updated)


# --- the safety plan ---------------------------------------------------------------------------------


def _plan_due(survivor: Participant, case: Case) -> None:
    """Mark the survivor's plan due for review (if they have one) and give the team a task, once."""
    plan = SafetyPlan.objects.filter(participant=survivor).first()
    now = timezone.now()
    if plan is not None and plan.review_due_since is None:
        plan.review_due_since = now
        plan.save(update_fields=["review_due_since"])
        record_event(case, EventKind.PLAN_REVIEW_DUE, participant=survivor.label)
    open_task = CaseTask.objects.filter(
        case=case, participant=survivor, kind=TaskKind.REVIEW_SAFETY_PLAN, done_at__isnull=True
    ).exists()
    if not open_task:
        CaseTask.objects.create(
            organization_id=case.organization_id,
            case=case,
            participant=survivor,
            kind=TaskKind.REVIEW_SAFETY_PLAN,
            due_on=timezone.localdate(),
        )


def _plan_for(survivor: Participant) -> SafetyPlan:
    if survivor.role != ParticipantRole.SURVIVOR:
        raise ValidationError(_("A safety plan belongs to a survivor."))
    plan, _created = SafetyPlan.objects.select_for_update().get_or_create(
        participant=survivor, defaults={"organization_id": survivor.organization_id}
    )
    return plan


def _reviewed(plan: SafetyPlan, survivor: Participant, when: datetime.datetime) -> None:
    plan.last_reviewed_at, plan.review_due_since = when, None
    CaseTask.objects.filter(
        case_id=survivor.case_id, participant=survivor, kind=TaskKind.REVIEW_SAFETY_PLAN, done_at__isnull=True
    ).update(done_at=when)


@transaction.atomic
def save_plan(
    *, survivor: Participant, revision: int, by: User, declined: bool = False, **fields: Any
) -> SafetyPlanRevision:
    """A new revision of the survivor's plan (or their recorded decision not to have one).

    `revision` is the number the editor started from: if someone saved since, StaleEdit and nothing written.
    """
    unknown = set(fields) - set(PLAN_FIELDS)
    if unknown:
        raise TypeError(f"not plan fields: {sorted(unknown)}")
    plan = _plan_for(survivor)
    if plan.revision != revision:
        raise StaleEdit()
    texts = {name: (fields.get(name) or "").strip() or None for name in PLAN_FIELDS}
    if not declined and not any(texts.values()):
        raise ValidationError(
            _("Write at least one part of the plan, or record that the survivor chose not to have one.")
        )
    now = timezone.now()
    new = SafetyPlanRevision(
        organization_id=survivor.organization_id,
        plan=plan,
        number=plan.revision + 1,
        declined=declined,
        saved_by=by,
        saved_at=now,
        **({"in_their_words": texts["in_their_words"]} if declined else texts),
    )
    new.full_clean()
    new.save()
    plan.revision = new.number
    _reviewed(plan, survivor, now)
    plan.save(update_fields=["revision", "last_reviewed_at", "review_due_since"])
    kind = EventKind.PLAN_DECLINED if declined else EventKind.PLAN_SAVED
    record_event(survivor.case, kind, by=by, at=now, participant=survivor.label, revision=str(new.number))
    return new


@transaction.atomic
def review_plan(*, survivor: Participant, revision: int, by: User) -> SafetyPlan:
    """The plan was gone through with the survivor and still holds: recorded as reviewed, unchanged."""
    plan = _plan_for(survivor)
    if plan.revision == 0:
        raise ValidationError(_("There is no plan to review yet: write one, or record a decision not to."))
    if plan.revision != revision:
        raise StaleEdit()
    now = timezone.now()
    _reviewed(plan, survivor, now)
    plan.save(update_fields=["last_reviewed_at", "review_due_since"])
    record_event(survivor.case, EventKind.PLAN_REVIEWED, by=by, at=now, participant=survivor.label)
    return plan


def plan_review_due(plan: SafetyPlan | None, now: datetime.datetime) -> bool:
    if plan is None or plan.revision == 0:
        return True
    if plan.review_due_since is not None or plan.last_reviewed_at is None:
        return True
    return plan.last_reviewed_at < now - datetime.timedelta(days=PLAN_REVIEW_DAYS)

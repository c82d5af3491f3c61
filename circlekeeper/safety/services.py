"""Escalation (PROTOCOL.md): safety checks give a risk level; high or severe, new violence or a broken
commitment open a safety hold, alert the supervisor and safety advocate and ask for the safety plan to be
reviewed; only a supervisor lifts a hold, after a newer check below high, with a written reason.

These functions are the only ones that change `Case.on_hold` and `Case.risk_level`, always in the
transaction that changes the hold or records the check, so the cases app can refuse contact on them.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
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
        RiskInstrument.objects.filter(organization_id=organization_id, kind=kind).values_list(
            "instrument_id", flat=True
        )
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
    case = Case.objects.select_for_update().get(pk=participant.case_id)
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
    if level and participant.role == ParticipantRole.SURVIVOR:
        case.risk_level = level
        case.save(update_fields=["risk_level"])
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
) -> SafetyHold:
    """Put the case on hold, alert its supervisor and advocate, and ask for the safety plan to be reviewed.

    A case already on hold stays on that hold: the new reason still raises an alert, so nobody misses it.
    """
    locked = Case.objects.select_for_update().get(pk=case.pk)
    level = check.level if check else ""
    hold = SafetyHold.objects.open().filter(case=locked).first()
    if hold is None:
        hold = SafetyHold(
            organization_id=locked.organization_id,
            case=locked,
            reason=reason,
            opening_check=check,
            details=details.strip() or None,
            opened_by=by,
        )
        hold.full_clean()
        hold.save()
        locked.on_hold = True
        locked.save(update_fields=["on_hold"])
        record_event(locked, EventKind.HOLD_OPENED, by=by, reason=reason, level=level)
        for survivor in locked.participants.survivors():
            _plan_due(survivor, locked)
    case.on_hold = True
    SafetyAlert.objects.create(
        organization_id=locked.organization_id, case=locked, hold=hold, reason=reason, level=level
    )
    record_event(locked, EventKind.ALERT_RAISED, by=by, reason=reason, level=level)
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


def check_that_lifts(hold: SafetyHold) -> SafetyCheck | None:
    """The survivor's newest check, if it came after the hold opened and is below high; else None."""
    newest = (
        SafetyCheck.objects.of_survivors()
        .filter(case_id=hold.case_id, checked_at__gt=hold.opened_at)
        .order_by("-checked_at", "-id")
        .first()
    )
    if newest is None or not newest.level or is_high(newest.level):
        return None
    return newest


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
    newer = check_that_lifts(locked)
    if newer is None:
        raise ValidationError(
            _(
                "A hold is lifted only after a newer safety check with the survivor, taken after the hold "
                "opened, comes out below high."
            )
        )
    now = timezone.now()
    locked.lifted_at, locked.lifted_by, locked.lift_reason, locked.lift_check = now, by, reason.strip(), newer
    locked.save(update_fields=["lifted_at", "lifted_by", "lift_reason", "lift_check"])
    Case.objects.filter(pk=case.pk).update(on_hold=False)
    SafetyAlert.objects.filter(hold=locked, acknowledged_at__isnull=True).update(
        acknowledged_at=now, acknowledged_by=by
    )
    record_event(case, EventKind.HOLD_LIFTED, by=by, at=now, level=newer.level)
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

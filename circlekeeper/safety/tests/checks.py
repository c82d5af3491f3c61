"""Running the built-in safety check in tests, through the same submit path as the pages use."""

from __future__ import annotations

import datetime

from django.utils import timezone

from circlekeeper.accounts.models import User
from circlekeeper.cases.models import Participant
from circlekeeper.instruments import filling
from circlekeeper.instruments.models import Instrument, InstrumentVersion, Response
from circlekeeper.safety.models import SafetyCheck

ITEMS = [
    "danger_now",
    "strangulation",
    "weapon",
    "threats_to_kill",
    "forced_sex",
    "escalation",
    "separation",
    "stalking",
    "jealousy",
    "threats_to_children",
    "suicide_threats",
    "violations",
]


def builtin_version(code: str = "safety_check") -> InstrumentVersion:
    """The built-in instrument (loaded on demand: the test database starts empty)."""
    instrument = Instrument.objects.filter(owner__isnull=True, code=code).first()
    if instrument is None:
        from circlekeeper.instruments.builtins import load_builtins

        load_builtins()
        instrument = Instrument.objects.get(owner__isnull=True, code=code)
    version = instrument.latest_version()
    assert version is not None
    return version


def run_check(
    participant: Participant,
    *yes: str,
    by: User | None = None,
    code: str = "safety_check",
    at: datetime.datetime | None = None,
) -> SafetyCheck:
    """Answer the check with "yes" to `yes` and "no" to the rest, submit it, and return the SafetyCheck."""
    version = builtin_version(code)
    asked = {
        i["code"] for s in version.definition["sections"] for i in s["items"] if i["type"] != "descriptive"
    }
    answers = {item: "1" if item in yes else "0" for item in ITEMS if item in asked}
    response = Response.objects.create(
        organization_id=participant.organization_id,
        version=version,
        participant=participant,
        case_id=participant.case_id,
        purpose=code,
        answers=answers,
        entered_by_staff=by,
        **({"started_at": at} if at is not None else {}),
    )
    assert filling.submit(response=response, today=timezone.localdate())
    check = SafetyCheck.objects.get(response=response)
    if at is not None:
        SafetyCheck.objects.filter(pk=check.pk).update(checked_at=at)
        check.refresh_from_db()
    return check

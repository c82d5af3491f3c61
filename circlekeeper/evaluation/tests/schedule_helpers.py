"""Shared set-up of the scheduler and plan tests: a Harbor case with a reachable survivor and person who caused
harm, the built-in instruments, a plan, and the clock."""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Any

from django.conf import settings

from circlekeeper.accounts.models import User
from circlekeeper.cases.choice import choose_track
from circlekeeper.cases.models import Case, ContactChannel, Participant, ParticipantRole, Track
from circlekeeper.evaluation import scheduling
from circlekeeper.evaluation.models import Enrollment, EvaluationPlan, Timepoint
from circlekeeper.instruments.builtins import load_builtins
from circlekeeper.testing import make_participant

ZONE = zoneinfo.ZoneInfo(settings.TIME_ZONE)


def local(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, tzinfo=ZONE)


ENROLLED_ON = datetime.date(2026, 3, 2)  # a Monday


def set_up_builtins() -> None:
    load_builtins()


def reachable_by_email(case: Case, role: str, email: str, **kwargs: Any) -> Participant:
    participant = make_participant(case, role=role, email=email, **kwargs)
    return participant


def survivor_and_harm(case: Case) -> tuple[Participant, Participant]:
    survivor = reachable_by_email(
        case, ParticipantRole.SURVIVOR, "survivor@example.org", name="Rosa Survivorname"
    )
    harm = reachable_by_email(
        case, ParticipantRole.PERSON_WHO_CAUSED_HARM, "harm@example.org", name="Hank Harmname"
    )
    return survivor, harm


def with_track(case: Case, survivor: Participant, by: User, track: str = Track.DIRECT_DIALOGUE) -> None:
    """The survivor's choice of a track with contact, so that the other side may be asked at all."""
    choose_track(
        case=case, survivor=survivor, track=track, explained_by=by, explained_on=case.opened_on, by=by
    )
    case.refresh_from_db()


def enrolled(case: Case, by: User, *, on: datetime.date = ENROLLED_ON) -> Enrollment:
    plan = scheduling.default_plan_for(case.organization)
    return scheduling.enrol(
        case=case, plan=plan, by=by, enrolled_on=on, now=local(on.year, on.month, on.day, 9)
    )


def rows(participant: Participant, code: str | None = None) -> list[Timepoint]:
    found = Timepoint.objects.filter(participant=participant).order_by("code", "instrument__code")
    if code:
        found = found.filter(code=code)
    return list(found)


def plan_of(case: Case) -> EvaluationPlan:
    return scheduling.default_plan_for(case.organization)


def email_only(participant: Participant) -> None:
    rules = participant.contact_rules
    rules.channels = [ContactChannel.EMAIL]
    rules.save(update_fields=["channels"])

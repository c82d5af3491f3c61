"""Fixtures of the report and dashboard tests (no tests here): cases with scored answers at planned timepoints,
made directly so that each test knows every number it should find."""

from __future__ import annotations

import datetime
import itertools

import numpy as np

from circlekeeper.accounts.models import Organization
from circlekeeper.cases.models import ParticipantRole, Track
from circlekeeper.evaluation.models import (
    Anchor,
    Enrollment,
    EvaluationPlan,
    PlanTimepoint,
    Timepoint,
    TimepointStatus,
)
from circlekeeper.instruments.models import Instrument, Response
from circlekeeper.testing import make_case, make_participant

OPENED = datetime.date(2026, 1, 5)
# References of their own, apart from the demo's and the personas' cases.
_references = itertools.count(1)


def _plan(organization: Organization, codes: tuple[str, ...]) -> dict[str, PlanTimepoint]:
    plan, _created = EvaluationPlan.objects.get_or_create(organization=organization, name="Fixture plan")
    points = {}
    for position, code in enumerate(codes):
        points[code], _created = PlanTimepoint.objects.get_or_create(
            plan=plan,
            code=code,
            defaults={
                "label": code,
                "anchor": Anchor.ENROLMENT,
                "offset_days": 90 * position,
                "position": position,
            },
        )
    return points


def scored_people(
    organization: Organization,
    *,
    people: int,
    seed: int,
    track: str = Track.DIRECT_DIALOGUE,
    instrument: str = "outcome_safety",
    score: str = "felt_safety",
    role: str = ParticipantRole.SURVIVOR,
    codes: tuple[str, ...] = ("T0", "T3"),
    change: float = 0.8,
    missed: int = 0,
    opened_on: datetime.date = OPENED,
) -> list[dict[str, float]]:
    """`people` participants on cases of their own, each answering at every timepoint but the last `missed`
    people, who miss the last one. Returns each person's values by timepoint (needs load_builtins())."""
    version = Instrument.objects.get(code=instrument, owner=None).latest_version()
    assert version is not None
    points = _plan(organization, codes)
    rng = np.random.default_rng(seed)
    values: list[dict[str, float]] = []
    for index in range(people):
        reference = f"{organization.case_prefix}-2099-{next(_references):04d}"
        case = make_case(organization, track=track, opened_on=opened_on, reference=reference)
        participant = make_participant(case, role=role, reachable=False)
        enrollment = Enrollment.objects.create(
            organization=organization, case=case, plan=points[codes[0]].plan, enrolled_on=opened_on
        )
        base = float(rng.uniform(1.5, 3.5))
        mine: dict[str, float] = {}
        for position, code in enumerate(codes):
            due = datetime.datetime.combine(
                opened_on, datetime.time(12), tzinfo=datetime.UTC
            ) + datetime.timedelta(days=90 * position)
            timepoint = Timepoint(
                organization=organization,
                enrollment=enrollment,
                case=case,
                participant=participant,
                plan_timepoint=points[code],
                code=code,
                instrument=version.instrument,
                opens_at=due,
                due_at=due,
                closes_at=due + datetime.timedelta(days=14),
                status=TimepointStatus.MISSED,
            )
            if position == len(codes) - 1 and index >= people - missed:
                timepoint.save()
                continue
            value = round(min(max(base + position * change + float(rng.normal(0, 0.6)), 1.0), 5.0), 2)
            timepoint.response = Response.objects.create(
                organization=organization,
                version=version,
                participant=participant,
                case=case,
                answers={},
                scores={score: value},
                status="submitted",
                started_at=due,
                submitted_at=due,
            )
            timepoint.status = TimepointStatus.COMPLETED
            timepoint.save()
            mine[code] = value
        values.append(mine)
    return values

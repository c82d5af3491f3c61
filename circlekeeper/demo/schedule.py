"""The demo network's evaluation history: default plans, most cases enrolled over the past 14 months, and synthetic
answers to the built-in outcome questionnaires at the timepoints already past.

Everything here is invented. Answers are built item by item from each definition (its choice codes, skip logic and
reverse-coded items), then scored by the instruments' own scoring code, as `Response.submit` scores them; the
timestamps are set explicitly, never read from the clock. On average a survivor's felt safety, connectedness and
healing rise from T0 to T3 and after, recurrence falls, and the person who caused harm's accountability rises;
about one person-timepoint in seven is missed. Windows open now are left to the real scheduler, which is run once
at the end (it opens them and gives the teams their tasks), and later ones stay scheduled.

Runs after the other demos (the protocol demo's stage transitions are the anchors of T1 and T2). Idempotent: an
organization with any enrolment is left alone.
"""

from __future__ import annotations

import datetime
import random
from typing import Any

from django.db import transaction
from django.utils import timezone

from circlekeeper.accounts.models import Organization, Role
from circlekeeper.cases.models import Case, CaseStatus, Consent, ConsentKind, ParticipantRole
from circlekeeper.demo.cases import ORGANIZATIONS
from circlekeeper.demo.protocol import demo_member
from circlekeeper.evaluation import scheduling
from circlekeeper.evaluation.models import Enrollment, Timepoint, TimepointStatus
from circlekeeper.instruments.definition import NOT_ASKED
from circlekeeper.instruments.models import InstrumentVersion, Response, ResponseStatus
from circlekeeper.instruments.scoring import calculated_values, score_response, visible_items

# The evaluation began this long ago: cases open then were enrolled as it began, later ones at intake.
EVALUATION_DAYS = 425
MISSED_SHARE = 0.15
# One case in ten is not enrolled (the survivor said no to the evaluation).
NOT_ENROLLED_EVERY = 10


def seed_schedule(now: datetime.datetime | None = None) -> int:
    """Enrol the demo cases and fill their past timepoints, once per demo organization; returns enrolments made."""
    now = now or timezone.now()
    made = 0
    for number, (_name, slug, _prefix) in enumerate(ORGANIZATIONS):
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None or Enrollment.objects.filter(organization=organization).exists():
            continue
        with transaction.atomic():
            made += _seed_organization(organization, now, random.Random(f"evaluation-{number}"))  # noqa: S311  # nosec B311
    if made:
        scheduling.run_scheduler(now)
    return made


def _seed_organization(organization: Organization, now: datetime.datetime, rng: random.Random) -> int:
    keeper = demo_member(organization, Role.KEEPER)
    if keeper is None:
        return 0
    plan = scheduling.default_plan_for(organization)
    today = timezone.localdate(now)
    start = today - datetime.timedelta(days=EVALUATION_DAYS)
    consenting = set(
        Consent.objects.current()
        .filter(
            organization=organization, kind=ConsentKind.TAKE_PART, participant__role=ParticipantRole.SURVIVOR
        )
        .values_list("participant__case_id", flat=True)
    )
    cases = list(
        Case.objects.filter(
            organization=organization,
            pk__in=consenting,
            status__in=[CaseStatus.OPEN, CaseStatus.CLOSED, CaseStatus.WITHDRAWN],
        ).order_by("opened_on", "id")
    )
    enrollments: list[Enrollment] = []
    ends: dict[int, datetime.datetime] = {}
    for position, case in enumerate(cases):
        if position % NOT_ENROLLED_EVERY == NOT_ENROLLED_EVERY - 1:
            continue
        enrolled_on = min(today, max(case.opened_on, start) + datetime.timedelta(days=rng.randint(0, 10)))
        if case.closed_on is not None and enrolled_on > case.closed_on:
            continue
        enrollments.append(
            Enrollment(
                organization=organization,
                case=case,
                plan=plan,
                enrolled_on=enrolled_on,
                enrolled_by=keeper,
                created_at=scheduling._midnight(enrolled_on) + datetime.timedelta(hours=10),
            )
        )
        if case.status == CaseStatus.WITHDRAWN and case.closed_on is not None:
            ends[case.pk] = scheduling._midnight(case.closed_on) + datetime.timedelta(hours=15)
    Enrollment.objects.bulk_create(enrollments)
    # The rows as the scheduler made them on the day each case was enrolled.
    for enrollment in enrollments:
        scheduling.sync_enrollments([enrollment], now=enrollment.created_at)
    _history(organization, enrollments, ends, now, rng)
    return len(enrollments)


def _history(
    organization: Organization,
    enrollments: list[Enrollment],
    ends: dict[int, datetime.datetime],
    now: datetime.datetime,
    rng: random.Random,
) -> None:
    rows = list(
        Timepoint.objects.filter(enrollment__in=enrollments)
        .select_related("participant", "instrument")
        .order_by("participant_id", "due_at", "id")
    )
    versions = {
        v.instrument_id: v
        for v in InstrumentVersion.objects.filter(instrument_id__in={r.instrument_id for r in rows}).order_by(
            "number"
        )
    }
    people: dict[int, float] = {}
    answered: list[tuple[Timepoint, Response]] = []
    changed: list[Timepoint] = []
    groups: dict[tuple[int, str], list[Timepoint]] = {}
    for row in rows:
        groups.setdefault((row.participant_id, row.code), []).append(row)
    for (participant_id, _code), items in groups.items():
        first = items[0]
        ended = ends.get(first.case_id)
        if ended is not None and (first.opens_at >= ended or first.closes_at > now):
            # The survivor withdrew: what had not opened was cancelled, and the other side's open ones stopped;
            # the survivor's own open ones stay open to them (as scheduling._end_withdrawn does).
            survivor_open = first.opens_at < ended and first.participant.role == ParticipantRole.SURVIVOR
            for row in items:
                row.status = TimepointStatus.OPEN if survivor_open else TimepointStatus.CANCELLED
            changed += items
            continue
        if first.closes_at > now:
            continue  # open now or later: the scheduler's
        if rng.random() < MISSED_SHARE:
            for row in items:
                row.status, row.missed_at = TimepointStatus.MISSED, row.closes_at
            changed += items
            continue
        trait = people.setdefault(participant_id, rng.gauss(0, 1))
        months = (first.due_at - scheduling._midnight(_enrolled_on(first, enrollments))).days / 30.4
        span = max(1.0, (min(first.closes_at, now) - first.opens_at).total_seconds())
        submitted = first.opens_at + datetime.timedelta(seconds=span * rng.uniform(0.05, 0.6))
        for row in items:
            version = versions.get(row.instrument_id)
            if version is None:
                continue
            answers = demo_answers(version.definition, row.participant.role, months, trait, rng)
            response = scored_response(version, answers, submitted.date())
            response.organization_id = organization.pk
            response.participant = row.participant
            response.case_id = row.case_id
            response.purpose = f"evaluation {row.code}"
            response.entered_by_staff = None
            response.started_at = submitted - datetime.timedelta(minutes=12)
            response.submitted_at = submitted
            answered.append((row, response))
    Response.objects.bulk_create([response for _row, response in answered], batch_size=500)
    for row, response in answered:
        row.status, row.response, row.completed_at = (
            TimepointStatus.COMPLETED,
            response,
            response.submitted_at,
        )
        changed.append(row)
    Timepoint.objects.bulk_update(
        changed, ["status", "response", "completed_at", "missed_at"], batch_size=500
    )
    for enrollment in enrollments:
        if enrollment.case_id in ends:
            enrollment.ended_at = ends[enrollment.case_id]
    Enrollment.objects.bulk_update([e for e in enrollments if e.ended_at], ["ended_at"])


def _enrolled_on(row: Timepoint, enrollments: list[Enrollment]) -> datetime.date:
    for enrollment in enrollments:
        if enrollment.pk == row.enrollment_id:
            return enrollment.enrolled_on
    return timezone.localdate(row.due_at)


def scored_response(version: InstrumentVersion, answers: dict[str, Any], today: datetime.date) -> Response:
    """An unsaved, submitted response, scored as `Response.submit` scores one (hidden items skipped, calculated
    items computed, scores from the definition), so that thousands can be written in one statement."""
    definition = version.definition
    shown = set(visible_items(definition, answers, today=today))
    asked = [
        item["code"]
        for section in definition["sections"]
        for item in section["items"]
        if item["type"] not in ("descriptive", "calculated")
    ]
    kept = {code: value for code, value in answers.items() if code in shown}
    kept.update(calculated_values(definition, kept, today=today))
    return Response(
        version=version,
        answers=kept,
        skipped=[code for code in asked if code not in shown],
        scores=score_response(definition, kept),
        status=ResponseStatus.SUBMITTED,
    )


def _clip(value: float) -> float:
    return min(1.0, max(0.0, value))


def _level(code: str, role: str, months: float, trait: float, rng: random.Random) -> float:
    """How well things are going, 0 to 1, for this questionnaire, time since enrolment and person."""
    gain = min(months, 6.0) / 6.0
    base = {
        "outcome_safety": (0.35, 0.3),
        "outcome_connectedness": (0.4, 0.2),
        "outcome_healing": (0.3, 0.3),
        "outcome_family_wellbeing": (0.45, 0.15),
        "outcome_repair": (0.3, 0.3),
        "outcome_accountability": (0.4, 0.3),
        "experience_of_process": (0.7, 0.05),
    }.get(code, (0.5, 0.1))
    return _clip(base[0] + base[1] * gain + 0.1 * trait + rng.gauss(0, 0.12))


def _rating(level: float, rng: random.Random, *, reverse: bool = False) -> str:
    value = min(5, max(1, round(1 + 4 * _clip(level + rng.gauss(0, 0.12)))))
    return str(6 - value if reverse else value)


def demo_answers(
    definition: dict[str, Any], role: str, months: float, trait: float, rng: random.Random
) -> dict[str, Any]:
    """Answers the definition accepts: every asked item, whatever skip logic will hide (the scoring drops it)."""
    code = definition["code"]
    level = _level(code, role, months, trait, rng)
    reversed_items = {
        item
        for score in (definition.get("scoring") or {}).get("scores", [])
        for item in score.get("reverse", {})
    }
    answers: dict[str, Any] = {}
    for section in definition["sections"]:
        for item in section["items"]:
            kind = item["type"]
            if kind in NOT_ASKED or kind in ("long_text", "short_text", "text"):
                continue
            if kind == "single_choice":
                codes = [
                    c["code"]
                    for c in definition.get("choice_lists", {}).get(
                        item.get("choice_list", ""), item.get("choices", [])
                    )
                ]
                if "5" in codes:
                    answers[item["code"]] = _rating(level, rng, reverse=item["code"] in reversed_items)
                elif codes:
                    answers[item["code"]] = codes[0]
            elif kind == "yes_no":
                answers[item["code"]] = "0"
            elif kind == "integer":
                answers[item["code"]] = int(item.get("min", 0))
    return _instrument_specifics(code, answers, months, level, rng)


def _instrument_specifics(
    code: str, answers: dict[str, Any], months: float, level: float, rng: random.Random
) -> dict[str, Any]:
    if code == "outcome_recurrence":
        # Any new violence or control: about four in ten at intake, fewer as months go by.
        if rng.random() < max(0.12, 0.42 - 0.05 * months):
            for kind in rng.sample(
                ["physical", "threats", "stalking", "controlling", "violated"], rng.randint(1, 2)
            ):
                answers[kind] = "1"
            answers["days_to_first"] = rng.randint(1, 80)
        answers["source"] = "self"
    elif code == "outcome_healing":
        answers["wants_to_answer"] = "1" if rng.random() < 0.8 else "0"
    elif code == "outcome_family_wellbeing":
        answers["children"] = "1" if rng.random() < 0.6 else "0"
    elif code == "outcome_connectedness":
        answers["people_count"] = max(0, min(20, round(2 + 6 * level + rng.gauss(0, 1.5))))
    elif code == "outcome_safety":
        if rng.random() < 0.35:
            answers["children_safe"] = "na"
    elif code == "outcome_repair" and months < 1:
        answers["actions_done"] = "none_yet"
    elif code == "outcome_accountability" and months < 1:
        answers["commitments"] = "none_yet"
    return answers

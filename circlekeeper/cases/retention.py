"""Retention (SECURITY.md 10): each organization's rules for erasing what it recorded once a case is closed.

Two rules, each optional: a case's narratives (its summary, every note, and what the survivor said at intake)
are erased `narrative_months`
calendar months after it closed, and the whole case, with everything that hangs off it, `case_years` years
after it closed. Only cases that are closed, withdrawn or referred out, with a closing date, are ever touched.

A purge leaves one PurgeTombstone per rule that erased something, and one audit event per organization,
both holding counts only: a trace that something was erased and by which rule, never which case it was.
"""

from __future__ import annotations

import calendar
import datetime
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from circlekeeper.accounts.models import Organization
from circlekeeper.cases.models import (
    INTAKE_NARRATIVES,
    Case,
    CaseNote,
    CaseQuerySet,
    CaseStatus,
    Intake,
    PurgeTombstone,
    RetentionPolicy,
)
from circlekeeper.lib.audit import record

# Listed rather than "not open", so that a status added later is kept until someone decides otherwise.
PURGEABLE_STATUSES = (CaseStatus.CLOSED, CaseStatus.WITHDRAWN, CaseStatus.REFERRED_OUT)
# Cases handled per query: a purge of 100,000 cases never holds more than this many ids in memory.
BATCH_SIZE = 500

PURGE_ACTION = "retention.purge"
CHANGE_ACTION = "retention.change"

_NARRATIVE_RULE = "narratives_after_months"
_CASE_RULE = "cases_after_years"


def months_before(day: datetime.date, months: int) -> datetime.date:
    """The same day `months` calendar months earlier, or that month's last day if it is shorter.

    One month before 31 March is 28 (or 29) February; twelve months before 29 February 2028 is 28 February 2027.
    """
    year, month_index = divmod(day.year * 12 + day.month - 1 - months, 12)
    month = month_index + 1
    return datetime.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class RuleCounts:
    """What one rule erased (or would erase): whole cases, case summaries and notes."""

    rule: str
    cases: int = 0
    narratives: int = 0
    notes: int = 0

    @property
    def anything(self) -> bool:
        return bool(self.cases or self.narratives or self.notes)

    @property
    def description(self) -> str:
        return describe_rule(self.rule)

    @property
    def erases_whole_cases(self) -> bool:
        return self.rule.startswith(f"{_CASE_RULE}=")


@dataclass(frozen=True)
class PurgeResult:
    """One organization's purge. `case_rule` or `narrative_rule` is None when the organization has no such rule."""

    organization: Organization
    dry_run: bool
    case_rule: RuleCounts | None = None
    narrative_rule: RuleCounts | None = None

    @property
    def rules(self) -> list[RuleCounts]:
        return [rule for rule in (self.case_rule, self.narrative_rule) if rule is not None]

    @property
    def anything(self) -> bool:
        return any(rule.anything for rule in self.rules)

    def counts_label(self) -> str:
        """The totals as the audit event holds them, e.g. "cases:2 summaries:5 notes:17"."""
        cases = sum(rule.cases for rule in self.rules)
        narratives = sum(rule.narratives for rule in self.rules)
        notes = sum(rule.notes for rule in self.rules)
        return f"cases:{cases} summaries:{narratives} notes:{notes}"


def narrative_rule(months: int) -> str:
    return f"{_NARRATIVE_RULE}={months}"


def case_rule(years: int) -> str:
    return f"{_CASE_RULE}={years}"


def describe_rule(rule: str) -> str:
    """A tombstone's rule in words, e.g. "Whole cases, 7 years after closing"."""
    name, _sep, value = rule.partition("=")
    if value.isdigit():
        count = int(value)
        if name == _NARRATIVE_RULE:
            return ngettext(
                "Summaries and notes, %(count)d month after closing",
                "Summaries and notes, %(count)d months after closing",
                count,
            ) % {"count": count}
        if name == _CASE_RULE:
            return ngettext(
                "Whole cases, %(count)d year after closing",
                "Whole cases, %(count)d years after closing",
                count,
            ) % {"count": count}
    return rule


def organizations_with_rules() -> list[int]:
    """Ids of the organizations that have at least one retention rule, by short name."""
    return list(
        RetentionPolicy.objects.filter(Q(narrative_months__isnull=False) | Q(case_years__isnull=False))
        .order_by("organization__slug")
        .values_list("organization_id", flat=True)
    )


def purge_expired(
    *, today: datetime.date, dry_run: bool, organization_ids: Iterable[int] | None = None
) -> list[PurgeResult]:
    """Apply every organization's retention rules (or those of the organizations given) as of `today`.

    A dry run only counts what it would erase. Each organization is purged in its own transaction: if one
    fails, nothing of its purge remains, and the organizations purged before it stay purged. Running it again
    the same day erases nothing more.
    """
    wanted = organizations_with_rules()
    if organization_ids is not None:
        chosen = set(organization_ids)
        wanted = [pk for pk in wanted if pk in chosen]
    organizations = Organization.objects.in_bulk(wanted)
    return [_purge_organization(organizations[pk], today=today, dry_run=dry_run) for pk in wanted]


def preview_purge(
    *,
    organization: Organization,
    narrative_months: int | None,
    case_years: int | None,
    today: datetime.date,
) -> PurgeResult:
    """What these rules (saved or not) would erase today: a dry run that writes nothing."""
    return _apply_rules(
        organization, narrative_months=narrative_months, case_years=case_years, today=today, dry_run=True
    )


@transaction.atomic
def set_retention_policy(
    *, organization: Organization, narrative_months: int | None, case_years: int | None
) -> RetentionPolicy:
    """Set (or clear, with None) an organization's two retention rules."""
    for value in (narrative_months, case_years):
        if value is not None and value < 1:
            raise ValidationError(_("A retention period is at least 1; leave it empty to keep everything."))
    policy, _created = RetentionPolicy.objects.select_for_update().get_or_create(organization=organization)
    policy.narrative_months = narrative_months
    policy.case_years = case_years
    policy.full_clean()
    policy.save()
    return policy


def _purge_organization(organization: Organization, *, today: datetime.date, dry_run: bool) -> PurgeResult:
    if dry_run:
        policy = RetentionPolicy.objects.filter(organization=organization).first()
        if policy is None:
            return PurgeResult(organization, dry_run)
        return _apply_rules(
            organization,
            narrative_months=policy.narrative_months,
            case_years=policy.case_years,
            today=today,
            dry_run=True,
        )
    with transaction.atomic():
        # The lock makes two purges of one organization (the nightly task and the command, say) take turns,
        # so the second finds nothing left and counts nothing twice; it also holds off a rule change mid-purge.
        policy = RetentionPolicy.objects.select_for_update().filter(organization=organization).first()
        if policy is None:
            return PurgeResult(organization, dry_run)
        result = _apply_rules(
            organization,
            narrative_months=policy.narrative_months,
            case_years=policy.case_years,
            today=today,
            dry_run=False,
        )
        if result.anything:
            PurgeTombstone.objects.bulk_create(
                PurgeTombstone(
                    organization=organization,
                    rule=rule.rule,
                    cases_purged=rule.cases,
                    narratives_purged=rule.narratives,
                    notes_purged=rule.notes,
                )
                for rule in result.rules
                if rule.anything
            )
            # Counts only: a case reference here would say which survivor's record was erased.
            record(
                None,
                action=PURGE_ACTION,
                object_type="purge",
                object_id=result.counts_label(),
                organization_id=organization.pk,
            )
        return result


def _apply_rules(
    organization: Organization,
    *,
    narrative_months: int | None,
    case_years: int | None,
    today: datetime.date,
    dry_run: bool,
) -> PurgeResult:
    closed = Case.objects.for_organization(organization).filter(
        status__in=PURGEABLE_STATUSES, closed_on__isnull=False
    )
    whole: RuleCounts | None = None
    narratives: RuleCounts | None = None
    if case_years is not None:
        cutoff = months_before(today, 12 * case_years)
        expired = closed.filter(closed_on__lte=cutoff)
        rule = case_rule(case_years)
        whole = _count(expired, rule, whole_cases=True) if dry_run else _erase_cases(expired, rule)
        # Whole cases go first, so the narrative rule never counts what the case rule erases.
        closed = closed.filter(closed_on__gt=cutoff)
    if narrative_months is not None:
        has_narratives = (
            Q(summary__isnull=False)
            | Exists(CaseNote.objects.filter(case_id=OuterRef("pk")))
            | Exists(_intakes_with_narratives().filter(case_id=OuterRef("pk")))
        )
        expired = closed.filter(has_narratives, closed_on__lte=months_before(today, narrative_months))
        rule = narrative_rule(narrative_months)
        narratives = _count(expired, rule, whole_cases=False) if dry_run else _erase_narratives(expired, rule)
    return PurgeResult(organization, dry_run, case_rule=whole, narrative_rule=narratives)


def _count(expired: CaseQuerySet, rule: str, *, whole_cases: bool) -> RuleCounts:
    return RuleCounts(
        rule,
        cases=expired.count() if whole_cases else 0,
        narratives=expired.filter(summary__isnull=False).count()
        + _intakes_with_narratives().filter(case__in=expired).count(),
        notes=CaseNote.objects.filter(case__in=expired).count(),
    )


def _intakes_with_narratives() -> models.QuerySet[Intake]:
    """Intakes still holding anything the survivor said (the account, goals, what the children saw...)."""
    held = Q()
    for name in INTAKE_NARRATIVES:
        held |= Q(**{f"{name}__isnull": False})
    return Intake.objects.filter(held)


def _pk_batches(cases: CaseQuerySet) -> Iterator[list[int]]:
    last = 0
    while True:
        pks = list(cases.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:BATCH_SIZE])
        if not pks:
            return
        yield pks
        last = pks[-1]


def _erase_cases(expired: CaseQuerySet, rule: str) -> RuleCounts:
    cases = narratives = notes = 0
    for pks in _pk_batches(expired):
        batch = Case.objects.filter(pk__in=pks)
        narratives += batch.filter(summary__isnull=False).count()
        # Team, notes, participants, their releases and disclosures, tasks: everything cascades with the case.
        _total, deleted = batch.delete()
        cases += deleted.get(Case._meta.label, 0)
        notes += deleted.get(CaseNote._meta.label, 0)
    return RuleCounts(rule, cases=cases, narratives=narratives, notes=notes)


def _erase_narratives(expired: CaseQuerySet, rule: str) -> RuleCounts:
    narratives = notes = 0
    for pks in _pk_batches(expired):
        # None needs no encryption, so one UPDATE per batch clears the summaries without reading them.
        narratives += Case.objects.filter(pk__in=pks, summary__isnull=False).update(summary=None)
        narratives += (
            _intakes_with_narratives()
            .filter(case_id__in=pks)
            .update(**dict.fromkeys(INTAKE_NARRATIVES, None))
        )
        _total, deleted = CaseNote.objects.filter(case_id__in=pks).delete()
        notes += deleted.get(CaseNote._meta.label, 0)
    return RuleCounts(rule, narratives=narratives, notes=notes)

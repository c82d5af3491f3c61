"""Background work of the cases app, run by `manage.py db_worker` (STYLE.md 10: periodic work is a task).

The nightly purge reschedules itself: each run queues the next one, and `manage.py schedule_tasks` (run
before the worker starts) queues the first. There is never more than one run waiting.
"""

from __future__ import annotations

import datetime
import logging

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from circlekeeper.cases.retention import PurgeResult, organizations_with_rules, purge_expired

logger = logging.getLogger(__name__)

PURGE_AT = datetime.time(3, 0)
# Any constant will do: it only has to be the same in every process that schedules the purge.
_SCHEDULE_LOCK = 0x43_4B_50_55  # "CKPU"


class PurgeFailed(Exception):
    """Some organizations could not be purged; the others were."""


@task()
def purge_expired_task() -> dict[str, int]:
    """Apply every organization's retention rules for today, then queue tomorrow's run."""
    today = timezone.localdate()
    results: list[PurgeResult] = []
    failed: list[int] = []
    try:
        # One organization at a time, so that one whose purge fails (and is rolled back) does not hold up
        # the others' retention rules.
        for organization_id in organizations_with_rules():
            try:
                results += purge_expired(today=today, dry_run=False, organization_ids=[organization_id])
            except Exception:
                logger.exception("The retention purge of organization %s failed", organization_id)
                failed.append(organization_id)
    finally:
        # Whatever happened, the nightly purges go on: the next run is queued, and a failure stays on
        # this run's result.
        schedule_next_purge(now=timezone.now())
    if failed:
        raise PurgeFailed(
            f"the purge of organizations {failed} failed and was rolled back; the others were purged"
        )
    rules = [rule for result in results for rule in result.rules]
    return {
        "organizations": len(results),
        "cases": sum(rule.cases for rule in rules),
        "summaries": sum(rule.narratives for rule in rules),
        "notes": sum(rule.notes for rule in rules),
    }


def next_purge_at(now: datetime.datetime) -> datetime.datetime:
    """The first 03:00 local time (settings.TIME_ZONE) after `now`: normally the next day's."""
    zone = timezone.get_default_timezone()
    local = now.astimezone(zone)
    day = local.date() if local.time() < PURGE_AT else local.date() + datetime.timedelta(days=1)
    return datetime.datetime.combine(day, PURGE_AT, tzinfo=zone)


def pending_purges() -> QuerySet[DBTaskResult]:
    """Purge runs queued and not yet started (the run in progress is RUNNING, so not among them)."""
    return DBTaskResult.objects.filter(
        task_path=purge_expired_task.module_path, status=TaskResultStatus.READY
    ).order_by("run_after")


def schedule_next_purge(*, now: datetime.datetime) -> tuple[datetime.datetime, bool]:
    """Queue the next purge at the next 03:00 unless one is waiting already.

    Returns when the waiting run is due, and whether this call queued it.
    """
    with transaction.atomic():
        # Two processes starting at once (two servers, or a run ending as the scheduler starts) must not
        # both find nothing waiting and both queue a run. SQLite's IMMEDIATE transactions already take turns.
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEDULE_LOCK])
        waiting = pending_purges().first()
        if waiting is not None:
            return waiting.run_after, False
        run_after = next_purge_at(now)
        purge_expired_task.using(run_after=run_after).enqueue()
        return run_after, True

"""Background work of the evaluation app, run by `manage.py db_worker` (STYLE.md 10: periodic work is a task).

The scheduler runs every hour: each run does what is due (scheduling.run_scheduler) and queues the next one, as
the nightly purge does (cases/tasks.py); `manage.py run_evaluation_scheduler --queue`, run before the worker
starts, queues the first. There is never more than one run waiting.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from circlekeeper.evaluation.scheduling import run_scheduler

INTERVAL = datetime.timedelta(hours=1)
# Any constant will do: it only has to be the same in every process that schedules the scheduler.
_SCHEDULE_LOCK = 0x43_4B_45_56  # "CKEV"


@task()
def evaluation_scheduler_task() -> dict[str, Any]:
    """Open, send, remind and close what is due now, then queue the next run."""
    try:
        report = run_scheduler(timezone.now())
    finally:
        # Whatever happened, the runs go on: the next one is queued, and a failure stays on this run's result.
        schedule_next_run(now=timezone.now())
    return dataclasses.asdict(report)


def next_run_at(now: datetime.datetime) -> datetime.datetime:
    """The next full hour after `now` (a window opens at midnight, so the first run after it sends)."""
    return now.replace(minute=0, second=0, microsecond=0) + INTERVAL


def pending_runs() -> QuerySet[DBTaskResult]:
    """Scheduler runs queued and not yet started (the run in progress is RUNNING, so not among them)."""
    return DBTaskResult.objects.filter(
        task_path=evaluation_scheduler_task.module_path, status=TaskResultStatus.READY
    ).order_by("run_after")


def schedule_next_run(*, now: datetime.datetime) -> tuple[datetime.datetime, bool]:
    """Queue the next run at the next full hour unless one is waiting already; (when it is due, queued now?)."""
    with transaction.atomic():
        # Two processes at once must not both find nothing waiting and both queue a run. SQLite's IMMEDIATE
        # transactions already take turns.
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEDULE_LOCK])
        waiting = pending_runs().first()
        if waiting is not None:
            return waiting.run_after, False
        run_after = next_run_at(now)
        evaluation_scheduler_task.using(run_after=run_after).enqueue()
        return run_after, True

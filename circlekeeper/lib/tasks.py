"""Background tasks of the lib app.

`worker_check` only answers: queued to show that a background worker is taking new tasks (the reliability
bench queues one right after killing the worker, and waits for the restarted worker to run it).

`seal_audit_task` chains the pending audit events (reads, lib/audit.py) every SEAL_SECONDS. Like the nightly
purge (cases/tasks.py) it reschedules itself: each run queues the next one, and the worker queues the first
when it starts (lib/worker.py, queue_periodic_tasks), so there is never more than one run waiting.
"""

from __future__ import annotations

import datetime

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from circlekeeper.lib.audit import seal

SEAL_SECONDS = 15
# The runs' results are of no use once done: those older than this are removed by a later run.
KEEP_RESULTS = datetime.timedelta(hours=1)
_SCHEDULE_LOCK = 0x43_4B_53_4C  # "CKSL": the same in every process that schedules the sealer


@task()
def worker_check(mark: str) -> str:
    return mark


@task()
def seal_audit_task() -> int:
    """Seal the pending audit events, then queue the next run SEAL_SECONDS from now; returns how many."""
    try:
        return seal()
    finally:
        now = timezone.now()
        schedule_next_seal(now=now)
        DBTaskResult.objects.filter(
            task_path=seal_audit_task.module_path,
            status=TaskResultStatus.SUCCESSFUL,
            finished_at__lt=now - KEEP_RESULTS,
        ).delete()


def pending_seals() -> QuerySet[DBTaskResult]:
    """Sealer runs queued and not yet started."""
    return DBTaskResult.objects.filter(
        task_path=seal_audit_task.module_path, status=TaskResultStatus.READY
    ).order_by("run_after")


def schedule_next_seal(*, now: datetime.datetime) -> tuple[datetime.datetime, bool]:
    """Queue the next sealer run SEAL_SECONDS after `now` unless one is waiting; (when it is due, queued?)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEDULE_LOCK])
        waiting = pending_seals().first()
        if waiting is not None:
            return waiting.run_after, False
        run_after = now + datetime.timedelta(seconds=SEAL_SECONDS)
        seal_audit_task.using(run_after=run_after).enqueue()
        return run_after, True

"""The supervised background worker (issue 20): `manage.py run_worker`, in place of django-tasks-db's `db_worker`.

`db_worker` retries a task claim when SQLite says "database is locked" inside its transaction, but not at the
BEGIN that opens it, nor when PostgreSQL restarts: either ended the process, and with it (through
scripts/serve.sh) the whole site. This worker:

- runs the same loop, and when the database is locked or unreachable (OperationalError, InterfaceError) it
  logs, closes its connection and tries again after a growing pause (0.5 s doubling to 30 s), for ever: the
  database comes back, the worker goes on. Any other error still ends it, for the supervisor to restart;
- beats a heart: a `WorkerHeartbeat` row per worker, refreshed every HEARTBEAT_SECONDS from a thread of its
  own (its own connection), which /healthz reads;
- at start, and at each beat, re-queues the tasks a dead worker left RUNNING: a task is stuck when the
  worker that claimed it has not beaten for STALE_AFTER. It goes back to READY, to run again (every
  periodic task here is safe to run twice: each run does what is due and queues the next);
- at start, queues the next run of each periodic task if none is waiting (`schedule_tasks`, the
  evaluation scheduler's `--queue` and the audit sealer, lib/tasks.py), so a run lost with a dead worker never
  stops the chain.

Several workers may run against one PostgreSQL: a task is claimed with SELECT ... FOR UPDATE SKIP LOCKED in
the claiming transaction, so each runs once (tests/test_worker_supervision.py).
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.management import call_command
from django.db import InterfaceError, OperationalError, close_old_connections, connection, transaction
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.management.commands import db_worker as upstream
from django_tasks_db.models import DBTaskResult

from circlekeeper.lib.heartbeat import HEARTBEAT_SECONDS, STALE_AFTER, WorkerHeartbeat, beat
from circlekeeper.lib.keys import refuse_a_wrong_master_key
from circlekeeper.lib.tasks import schedule_next_seal

logger = logging.getLogger("circlekeeper.worker")

FIRST_PAUSE, LONGEST_PAUSE = 0.5, 30.0
TRANSIENT = (OperationalError, InterfaceError)


def _pause(seconds: float) -> None:
    time.sleep(seconds)


def stuck_tasks(*, now: datetime.datetime | None = None) -> list[DBTaskResult]:
    """RUNNING tasks whose worker has not beaten for STALE_AFTER (or never did): that worker is gone."""
    cutoff = (now or timezone.now()) - STALE_AFTER
    alive = set(WorkerHeartbeat.objects.filter(beat_at__gte=cutoff).values_list("worker_id", flat=True))
    running = DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING, started_at__lt=cutoff)
    return [task for task in running if not (set(task.worker_ids or []) & alive)]


def requeue_stuck_tasks(*, now: datetime.datetime | None = None) -> int:
    """Put the tasks a dead worker left RUNNING back in the queue; returns how many."""
    count = 0
    for task in stuck_tasks(now=now):
        with transaction.atomic():
            # Only if still RUNNING under the same start: another worker may have done it a moment ago.
            count += DBTaskResult.objects.filter(
                pk=task.pk, status=TaskResultStatus.RUNNING, started_at=task.started_at
            ).update(status=TaskResultStatus.READY, started_at=None)
        logger.warning(
            "Re-queued task %s (%s): its worker %s stopped", task.pk, task.task_path, task.worker_ids
        )
    return count


def queue_periodic_tasks() -> None:
    """Queue the next run of each periodic task unless one is waiting (both commands are idempotent)."""
    call_command("schedule_tasks", verbosity=0, stdout=_Quiet())
    call_command("run_evaluation_scheduler", "--queue", verbosity=0, stdout=_Quiet())
    schedule_next_seal(now=timezone.now())


class _Quiet:
    def write(self, text: str) -> int:
        logger.info(text.strip())
        return len(text)

    def flush(self) -> None:
        return None


class SupervisedWorker(upstream.Worker):
    """django-tasks-db's worker, kept alive through database outages, with a heartbeat."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.started_at = timezone.now()
        self._stop_beating = threading.Event()

    def _beat_forever(self) -> None:
        while not self._stop_beating.wait(HEARTBEAT_SECONDS):
            self.housekeeping()

    def housekeeping(self) -> None:
        try:
            beat(self.worker_id, started_at=self.started_at)
            requeue_stuck_tasks()
        except TRANSIENT as exc:
            logger.warning("Worker heartbeat: the database is not answering (%s)", exc)
            connection.close()

    def run(self) -> None:
        pause = FIRST_PAUSE
        self._until_ready(self._start)
        beater = threading.Thread(target=self._beat_then_close, name="worker-heartbeat", daemon=True)
        beater.start()
        try:
            while self.running:
                try:
                    super().run()
                    return  # --batch or --max-tasks: the loop ended by itself
                except TRANSIENT as exc:
                    logger.warning(
                        "The database is locked or unreachable (%s); trying again in %.1f s", exc, pause
                    )
                    self._reset_connection()
                    _pause(pause)
                    pause = min(pause * 2, LONGEST_PAUSE)
                    self.startup_delay = False
        finally:
            self._stop_beating.set()

    def _start(self) -> None:
        refuse_a_wrong_master_key()  # ImproperlyConfigured, naming the fix: no retry can help
        self.housekeeping()
        queue_periodic_tasks()

    def _beat_then_close(self) -> None:
        try:
            self._beat_forever()
        finally:
            connection.close()

    def _until_ready(self, step: Callable[[], None]) -> None:
        pause = FIRST_PAUSE
        while self.running:
            try:
                step()
                return
            except TRANSIENT as exc:
                logger.warning(
                    "Worker start: the database is not answering (%s); trying again in %.1f s", exc, pause
                )
                self._reset_connection()
                _pause(pause)
                pause = min(pause * 2, LONGEST_PAUSE)

    @staticmethod
    def _reset_connection() -> None:
        try:
            if connection.in_atomic_block:
                connection.needs_rollback = True
            connection.close()
        except TRANSIENT:
            pass
        close_old_connections()

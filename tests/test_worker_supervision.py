"""The supervised worker (`manage.py run_worker`, circlekeeper/lib/worker.py; issue 20 item 4).

What the issue asks, as the oracle: the worker survives "database is locked" at BEGIN (retrying with a growing
pause); a task a dead worker left RUNNING runs again; the next periodic runs are queued when a worker starts;
two workers against one PostgreSQL run each task once.
"""

from __future__ import annotations

import datetime
import os
import signal
import subprocess  # nosec B404: the two-worker test starts real worker processes
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from django.core.management import call_command
from django.db import OperationalError, connection
from django.test import SimpleTestCase, TransactionTestCase
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks_db.management.commands import db_worker as upstream
from django_tasks_db.models import DBTaskResult

from circlekeeper.cases.tasks import pending_purges
from circlekeeper.lib import audit as lib_audit
from circlekeeper.lib import worker as lib_worker
from circlekeeper.lib.heartbeat import WorkerHeartbeat
from circlekeeper.testing import audit_log

ROOT = Path(__file__).resolve().parent.parent
WORKER = ("run_worker", "--batch", "--no-startup-delay", "--no-reload")


@task()
def leave_a_mark(mark: str, seconds: float = 0.0) -> str:
    """A task whose every run is visible in the database afterwards (one audit event per run)."""
    time.sleep(seconds)  # long enough that two workers overlap
    lib_audit.record(None, action="test.task_ran", object_type="mark", object_id=mark)
    return mark


def runs_of(mark: str) -> int:
    return audit_log().filter(action="test.task_ran", object_id=mark).count()


class SupervisedWorkerTests(TransactionTestCase):
    def setUp(self) -> None:
        # The worker installs its own signal handlers; give the test run back its own.
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
        self.addCleanup(lambda: [signal.signal(sig, handler) for sig, handler in handlers.items()])
        self.pauses: list[float] = []
        sleeper = mock.patch.object(lib_worker, "_pause", self.pauses.append)
        sleeper.start()
        self.addCleanup(sleeper.stop)

    @contextmanager
    def locked_at_begin(self, times: int):
        real = upstream.exclusive_transaction
        calls = {"n": 0}

        @contextmanager
        def flaky(using=None):
            calls["n"] += 1
            if calls["n"] <= times:
                raise OperationalError("database is locked")
            with real(using):
                yield

        with mock.patch.object(upstream, "exclusive_transaction", flaky):
            yield

    def test_db_worker_alone_dies_when_the_database_is_locked_at_begin(self):
        # The failure the issue saw, kept as the reference for the test below.
        leave_a_mark.enqueue("a")
        with self.locked_at_begin(1), self.assertRaises(OperationalError):
            call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)

    def test_the_worker_survives_database_is_locked_at_begin_and_backs_off(self):
        result = leave_a_mark.enqueue("b")
        with self.locked_at_begin(3):
            call_command(*WORKER, verbosity=0)
        self.assertEqual(runs_of("b"), 1)
        self.assertEqual(DBTaskResult.objects.get(pk=result.id).status, TaskResultStatus.SUCCESSFUL)
        self.assertEqual(self.pauses[:3], [0.5, 1.0, 2.0])  # growing pauses between tries

    def test_a_task_left_running_by_a_dead_worker_runs_again_and_a_live_workers_task_is_left_alone(self):
        long_ago = timezone.now() - datetime.timedelta(minutes=30)
        dead = DBTaskResult.objects.get(pk=leave_a_mark.enqueue("c").id)
        DBTaskResult.objects.filter(pk=dead.pk).update(
            status=TaskResultStatus.RUNNING, started_at=long_ago, worker_ids=["gone-worker"]
        )
        alive = DBTaskResult.objects.get(pk=leave_a_mark.enqueue("d").id)
        DBTaskResult.objects.filter(pk=alive.pk).update(
            status=TaskResultStatus.RUNNING, started_at=long_ago, worker_ids=["busy-worker"]
        )
        WorkerHeartbeat.objects.create(worker_id="busy-worker", beat_at=timezone.now(), started_at=long_ago)

        call_command(*WORKER, verbosity=0)

        self.assertEqual(runs_of("c"), 1)
        self.assertEqual(DBTaskResult.objects.get(pk=dead.pk).status, TaskResultStatus.SUCCESSFUL)
        self.assertEqual(runs_of("d"), 0)
        self.assertEqual(DBTaskResult.objects.get(pk=alive.pk).status, TaskResultStatus.RUNNING)

    def test_a_worker_start_queues_the_next_periodic_runs_and_beats(self):
        self.assertEqual(pending_purges().count(), 0)
        call_command(*WORKER, verbosity=0)
        self.assertEqual(pending_purges().count(), 1)
        self.assertTrue(
            DBTaskResult.objects.filter(status=TaskResultStatus.READY)
            .exclude(task_path__endswith="purge_expired_task")
            .exclude(task_path__endswith="seal_audit_task")
            .exists(),
            "the evaluation scheduler's hourly run is queued too",
        )
        self.assertTrue(
            DBTaskResult.objects.filter(
                status=TaskResultStatus.READY, task_path__endswith="seal_audit_task"
            ).exists(),
            "and the audit sealer's next run (issue 23)",
        )
        self.assertEqual(WorkerHeartbeat.objects.count(), 1)


class TwoWorkersTests(TransactionTestCase):
    def test_two_workers_against_postgresql_run_each_task_once(self):
        if connection.vendor != "postgresql":
            self.assertEqual(connection.vendor, "sqlite")  # one writer at a time there: one worker per site
            return
        marks = [f"m{i}" for i in range(30)]
        for mark in marks:
            leave_a_mark.enqueue(mark, 0.2)
        db = connection.settings_dict
        url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        env = {**os.environ, "DATABASE_URL": url}
        command = [sys.executable, "manage.py", *WORKER, "--worker-id"]
        workers = [
            subprocess.Popen([*command, name], cwd=ROOT, env=env)  # noqa: S603
            for name in ("worker-one", "worker-two")
        ]
        for process in workers:
            self.assertEqual(process.wait(timeout=300), 0)
        self.assertEqual({mark: runs_of(mark) for mark in marks}, dict.fromkeys(marks, 1))
        done = DBTaskResult.objects.filter(task_path__endswith="leave_a_mark")
        self.assertEqual(set(done.values_list("status", flat=True)), {TaskResultStatus.SUCCESSFUL})
        ran_by = {worker for ids in done.values_list("worker_ids", flat=True) for worker in ids}
        self.assertEqual(ran_by, {"worker-one", "worker-two"}, "both workers took tasks")
        self.assertTrue(lib_audit.verify_chain().intact)


class SealerLoggingTests(SimpleTestCase):
    """The worker's log keeps every task's start and finish except the audit sealer's routine runs (every 15 s,
    two lines each); a sealer failure and every other task are still logged."""

    def test_the_sealers_routine_lines_are_dropped_and_nothing_else(self):
        import logging

        from circlekeeper.lib.management.commands.run_worker import quiet_sealer

        def line(level, path, state):
            return logging.LogRecord(
                "django_tasks", level, __file__, 1, "Task id=%s path=%s state=%s", ("x", path, state), None
            )

        self.assertFalse(
            quiet_sealer(line(logging.INFO, "circlekeeper.lib.tasks.seal_audit_task", "RUNNING"))
        )
        self.assertTrue(quiet_sealer(line(logging.ERROR, "circlekeeper.lib.tasks.seal_audit_task", "FAILED")))
        self.assertTrue(quiet_sealer(line(logging.INFO, "circlekeeper.lib.tasks.nightly_backup", "RUNNING")))

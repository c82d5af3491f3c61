from __future__ import annotations

import logging
from typing import Any

from django_tasks_db.management.commands import db_worker as upstream

from circlekeeper.lib.worker import SupervisedWorker


class Command(upstream.Command):
    help = (
        "Run the background worker (db_worker's options), kept alive through 'database is locked' and database "
        "restarts, with a heartbeat for /healthz; re-queues tasks a dead worker left RUNNING and queues the "
        "periodic tasks at start. See circlekeeper/lib/worker.py."
    )

    def configure_logging(self, verbosity: int) -> None:
        super().configure_logging(verbosity)
        # The audit sealer runs every 15 s: its routine start and finish would fill the log (two lines each time).
        # Its failures are still logged, as every task's are.
        logging.getLogger(upstream.TASKS_LOGGER).addFilter(quiet_sealer)

    def handle(self, *args: Any, **options: Any) -> None:
        # db_worker's handle builds its Worker by this module-level name; ours is the same loop, supervised.
        original = upstream.Worker
        upstream.Worker = SupervisedWorker  # type: ignore[misc]
        try:
            super().handle(*args, **options)
        finally:
            upstream.Worker = original  # type: ignore[misc]


def quiet_sealer(record: logging.LogRecord) -> bool:
    """False (drop) for the routine INFO lines of the audit sealer's runs; everything else passes."""
    return not (record.levelno <= logging.INFO and "seal_audit_task" in record.getMessage())

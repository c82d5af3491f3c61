from __future__ import annotations

from typing import Any

from django_tasks_db.management.commands import db_worker as upstream

from circlekeeper.lib.worker import SupervisedWorker


class Command(upstream.Command):
    help = (
        "Run the background worker (db_worker's options), kept alive through 'database is locked' and database "
        "restarts, with a heartbeat for /healthz; re-queues tasks a dead worker left RUNNING and queues the "
        "periodic tasks at start. See circlekeeper/lib/worker.py."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # db_worker's handle builds its Worker by this module-level name; ours is the same loop, supervised.
        original = upstream.Worker
        upstream.Worker = SupervisedWorker  # type: ignore[misc]
        try:
            super().handle(*args, **options)
        finally:
            upstream.Worker = original  # type: ignore[misc]

"""What /healthz reports (issue 20 item 5): the truth about every part the site needs, 503 when one is down.

- database: answers a query;
- master_key: unwraps one stored organization key (a valid but wrong key once passed as "ok" while every case
  page was a 500);
- worker: the newest heartbeat (lib/heartbeat.py) and its age. The worker counts as down when no worker has
  beaten for STALE_AFTER while work waits overdue (a site with nothing queued needs no worker this minute);
- queue: the age of the oldest task due and not started, and the tasks stuck RUNNING under a dead worker;
- backup: the age of the newest archive in the backup folder (null when there is none yet).

Answered by HealthCheckMiddleware, early in MIDDLEWARE: before the session and sign-in middleware, which read
the database, so a caller with a session cookie gets the same 503 as one without during an outage, never a 500.
Nothing it reports is personal: counts and ages only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

logger = logging.getLogger(__name__)
PATH = "/healthz"


def _seconds(moment: Any) -> int | None:
    return None if moment is None else max(0, int((timezone.now() - moment).total_seconds()))


def backup_dir() -> Path:
    return Path(getattr(settings, "BACKUP_DIR", Path(settings.VAR_DIR) / "backups"))


def _last_backup_age() -> int | None:
    try:
        newest = max((p.stat().st_mtime for p in backup_dir().glob("*.ckbackup")), default=None)
    except OSError:
        return None
    return None if newest is None else max(0, int(timezone.now().timestamp() - newest))


def report() -> tuple[int, dict[str, Any]]:
    """(HTTP status, the report)."""
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from circlekeeper.lib.heartbeat import STALE_AFTER, WorkerHeartbeat
    from circlekeeper.lib.keys import master_key_problem
    from circlekeeper.lib.worker import stuck_tasks

    body: dict[str, Any] = {"status": "ok"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        body.update(status="error", database="unavailable")
        return 503, body
    body["database"] = "ok"
    try:
        problem = master_key_problem()
        now = timezone.now()
        last_beat = WorkerHeartbeat.objects.order_by("-beat_at").values_list("beat_at", flat=True).first()
        oldest = (
            DBTaskResult.objects.filter(status=TaskResultStatus.READY, run_after__lte=now)
            .order_by("run_after")
            .values_list("run_after", flat=True)
            .first()
        )
        stuck = len(stuck_tasks(now=now))
    except DatabaseError:
        logger.exception("Health check: the database answered, then failed")
        body.update(status="error", database="failing")
        return 503, body
    body["master_key"] = "ok" if problem is None else f"wrong: {problem}"
    worker_alive = last_beat is not None and now - last_beat < STALE_AFTER
    waiting = oldest is not None and now - oldest > STALE_AFTER
    worker_down = not worker_alive and (waiting or stuck > 0)
    body["worker"] = {
        "status": "ok" if worker_alive else ("down" if worker_down else "idle"),
        "last_heartbeat_seconds": _seconds(last_beat),
    }
    body["queue"] = {"oldest_waiting_seconds": _seconds(oldest), "stuck_running": stuck}
    body["backup"] = {"last_backup_seconds": _last_backup_age()}
    if problem is not None or worker_down:
        body["status"] = "error"
        return 503, body
    return 200, body


def response() -> JsonResponse:
    try:
        status, body = report()
    except Exception:  # health must never be a 500: whatever broke, say so with a 503
        logger.exception("Health check failed")
        status, body = 503, {"status": "error", "error": "the health check itself failed; see the server log"}
    answer = JsonResponse(body, status=status)
    add_never_cache_headers(answer)
    return answer


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path == PATH and request.method in ("GET", "HEAD"):
            return response()
        return self.get_response(request)

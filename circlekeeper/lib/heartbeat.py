"""Worker heartbeats (issue 20): when each background worker last showed it was alive. lib/worker.py beats;
/healthz and the stuck-task check read."""

from __future__ import annotations

import datetime

from django.db import models
from django.utils import timezone

HEARTBEAT_SECONDS = 30
STALE_AFTER = datetime.timedelta(minutes=5)


class WorkerHeartbeat(models.Model):
    """When each worker last showed it was alive (one row per worker id)."""

    worker_id = models.CharField(max_length=64, primary_key=True)
    beat_at = models.DateTimeField()
    started_at = models.DateTimeField()

    class Meta:
        app_label = "lib"

    def __str__(self) -> str:
        return f"{self.worker_id} at {self.beat_at:%Y-%m-%d %H:%M:%S}"


def beat(worker_id: str, *, started_at: datetime.datetime) -> None:
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id, defaults={"beat_at": timezone.now(), "started_at": started_at}
    )

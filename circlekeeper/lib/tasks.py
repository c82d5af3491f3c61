"""A task that only answers: queued to show that a background worker is taking new tasks (the reliability
bench queues one right after killing the worker, and waits for the restarted worker to run it)."""

from __future__ import annotations

from django_tasks import task


@task()
def worker_check(mark: str) -> str:
    return mark

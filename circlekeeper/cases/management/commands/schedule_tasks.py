from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from circlekeeper.cases.tasks import schedule_next_purge


class Command(BaseCommand):
    help = (
        "Queue the periodic background tasks (the nightly retention purge at 03:00) unless they are queued "
        "already. Safe to run at every start, before the worker."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        run_after, queued = schedule_next_purge(now=timezone.now())
        when = timezone.localtime(run_after).strftime("%Y-%m-%d %H:%M %Z")
        self.stdout.write(f"Nightly retention purge: {'queued' if queued else 'already queued'} for {when}.")

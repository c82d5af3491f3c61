from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from circlekeeper.cases.tasks import schedule_next_purge
from circlekeeper.lib.tasks import SEAL_SECONDS, schedule_next_seal


class Command(BaseCommand):
    help = (
        "Queue the periodic background tasks (the nightly retention purge at 03:00, the audit sealer every "
        f"{SEAL_SECONDS} s) unless they are queued "
        "already. Safe to run at every start, before the worker."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        run_after, queued = schedule_next_purge(now=timezone.now())
        when = timezone.localtime(run_after).strftime("%Y-%m-%d %H:%M %Z")
        self.stdout.write(f"Nightly retention purge: {'queued' if queued else 'already queued'} for {when}.")
        _at, queued = schedule_next_seal(now=timezone.now())
        self.stdout.write(f"Audit sealer: {'queued' if queued else 'already queued'}.")

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from circlekeeper.evaluation.scheduling import run_scheduler
from circlekeeper.evaluation.tasks import schedule_next_run


class Command(BaseCommand):
    help = (
        "Run the evaluation scheduler once, now: make the timepoints due, send the links of the windows that "
        "opened, remind the teams, and mark missed the windows that closed. Running it again at once does "
        "nothing twice. With --queue, queue the hourly background run instead (unless one is queued already)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--queue", action="store_true", help="queue the hourly run for the worker; safe at every start"
        )

    def handle(self, *args: Any, queue: bool, **options: Any) -> None:
        if queue:
            run_after, queued = schedule_next_run(now=timezone.now())
            when = timezone.localtime(run_after).strftime("%Y-%m-%d %H:%M %Z")
            self.stdout.write(f"Evaluation scheduler: {'queued' if queued else 'already queued'} for {when}.")
            return
        report = run_scheduler(timezone.now())
        self.stdout.write(
            f"Evaluation scheduler: {report.made} timepoints made, {report.opened} opened, {report.emails} emails "
            f"({report.links} links), {report.tasks} tasks, {report.reminders} reminders, {report.missed} missed, "
            f"{report.waiting} waiting, {report.ended} enrolments ended, {report.failed} failed."
        )

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from circlekeeper.cases import demo


class Command(BaseCommand):
    help = "Create the demo network (idempotent); --scale N fills it with N synthetic cases for benchmarks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scale", type=int, default=0, help="make sure the demo network holds at least N cases"
        )
        parser.add_argument("--force", action="store_true", help="run even outside demo mode")

    def handle(self, *args: Any, scale: int, force: bool, **options: Any) -> None:
        if not settings.DEMO_MODE and not force:
            raise CommandError(
                "seed_demo creates demo accounts with a shared, published password. "
                "It runs only in demo mode (CIRCLEKEEPER_DEMO=true), or with --force."
            )
        if scale < 0:
            raise CommandError("--scale must be zero or more.")
        today = timezone.localdate()
        report = demo.seed_network(settings.DEMO_PASSWORD, today)
        self.stdout.write(
            f"Demo network ready: {report.users_created} users and {report.cases_created} cases created."
        )
        if scale:
            made = demo.seed_scale(scale, today)
            self.stdout.write(f"Scale: {made} synthetic cases added.")
        self.stdout.write(
            f"Sign in with keeper@harbor.example (or advocate@, supervisor@, admin@, evaluator@ at harbor, valley, bridge) "
            f"and network@network.example, password {settings.DEMO_PASSWORD!r}."
        )

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from circlekeeper.safety.demo import seed_safety


class Command(BaseCommand):
    help = "Add demo safety checks, holds and plans to the demo network (idempotent; after seed_demo and load_instruments)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="run even outside demo mode")

    def handle(self, *args: Any, force: bool, **options: Any) -> None:
        if not settings.DEMO_MODE and not force:
            raise CommandError(
                "seed_demo_safety adds invented safety data. It runs only in demo mode, or with --force."
            )
        try:
            made = seed_safety()
        except LookupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Demo safety data ready: {made} safety checks recorded.")

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils import timezone

from circlekeeper.demo import cases as demo
from circlekeeper.demo.accountability import seed_accountability
from circlekeeper.demo.community import seed_community
from circlekeeper.demo.evaluation import seed_outcomes
from circlekeeper.demo.protocol import seed_protocol
from circlekeeper.demo.public import seed_public
from circlekeeper.demo.safety import seed_safety
from circlekeeper.demo.scale import fill_scale
from circlekeeper.demo.schedule import seed_schedule
from circlekeeper.demo.support import seed_support
from circlekeeper.instruments.builtins import load_builtins
from circlekeeper.instruments.definition import DefinitionError
from circlekeeper.lib.keys import clear_key_cache


class Command(BaseCommand):
    # Here, in the demo app above the whole chain, because the demo reaches every app (ARCHITECTURE.md:
    # community, evaluation → accountability, support → protocol → …); no app imports the demo app.
    help = (
        "Create the whole demo network (idempotent): organizations, people and cases, the built-in instruments, "
        "safety checks, holds and plans, and cases taken through the protocol to every stage and track. "
        "--scale N fills it with N synthetic cases for benchmarks, each with its people, checks, stages, meetings, "
        "pods, agreement and answers."
    )

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
        # Keys cached by whatever ran before in this process may belong to rows since rolled back (a test's
        # organization with the same id): start from the database's, as every command should.
        clear_key_cache()
        started = time.monotonic()
        today = timezone.localdate()
        report = demo.seed_network(settings.DEMO_PASSWORD, today)
        self.stdout.write(
            f"Demo network ready: {report.users_created} users and {report.cases_created} cases created."
        )
        try:
            loaded = load_builtins()
        except DefinitionError as exc:
            raise CommandError("Built-in instruments not loaded:\n" + "\n".join(exc.problems)) from None
        self.stdout.write(f"Built-in instruments: {sum(item.created for item in loaded)} new versions.")
        checks = seed_safety()
        self.stdout.write(f"Demo safety data: {checks} safety checks recorded.")
        walked = seed_protocol()
        self.stdout.write(f"Demo protocol: {walked} cases taken through the stages.")
        given = seed_support()
        self.stdout.write(f"Demo support networks: {given} cases given pods.")
        agreed = seed_accountability()
        self.stdout.write(f"Demo agreements: {agreed} cases with affirmed agreements and progress.")
        outcomes = seed_outcomes()
        self.stdout.write(f"Demo external outcomes: {outcomes} rows imported.")
        answered = seed_schedule()
        self.stdout.write(
            f"Demo evaluation: {answered} cases enrolled, with answers at their past timepoints."
        )
        events = seed_community()
        self.stdout.write(
            f"Demo community: {events} events and trainings, with facilitators and their training."
        )
        entries = seed_public()
        self.stdout.write(f"Demo directory: {entries} entries made.")
        if scale:
            made = demo.seed_scale(scale, today)
            self.stdout.write(f"Scale: {made} synthetic cases added.")
            # Then everything around each synthetic case not filled yet (a second run adds nothing).
            filled = fill_scale()
            cases = filled.pop("cases filled", 0)
            self.stdout.write(
                f"Scale: {cases} synthetic cases filled, {sum(filled.values())} rows made"
                + "".join(f"\n  {table}: {rows}" for table, rows in sorted(filled.items()))
            )
            # Millions of rows just written: refresh the query planner's statistics now, as autovacuum would later
            # on PostgreSQL (and SQLite never does by itself), or the first pages are planned as if tables were empty.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            self.stdout.write("Scale: planner statistics refreshed (ANALYZE).")
        self.stdout.write(
            f"Seeded in {time.monotonic() - started:.1f} s. Sign in with keeper@harbor.example (or advocate@, "
            f"supervisor@, admin@, evaluator@ at harbor, valley, bridge) and network@network.example, password "
            f"{settings.DEMO_PASSWORD!r}."
        )

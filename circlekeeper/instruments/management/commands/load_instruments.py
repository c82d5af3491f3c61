from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from circlekeeper.instruments.builtins import load_builtins
from circlekeeper.instruments.definition import DefinitionError


class Command(BaseCommand):
    help = (
        "Load the built-in instruments (circlekeeper/instruments/definitions/*.yaml). Safe to run again: "
        "an unchanged file loads nothing, a changed one makes a new version."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            loaded = load_builtins()
        except DefinitionError as exc:
            raise CommandError("Nothing loaded:\n" + "\n".join(exc.problems)) from None
        for item in loaded:
            state = "new version" if item.created else "unchanged"
            self.stdout.write(f"{item.file}: {item.version.instrument.code} v{item.version.number} ({state})")
        new = sum(item.created for item in loaded)
        self.stdout.write(self.style.SUCCESS(f"{len(loaded)} built-in instruments, {new} new versions."))

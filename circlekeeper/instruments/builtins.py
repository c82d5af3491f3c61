"""The instruments that ship with Circlekeeper: YAML files in definitions/, loaded by `load_instruments`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from django.db import transaction

from circlekeeper.instruments.definition import DefinitionError
from circlekeeper.instruments.models import InstrumentVersion, Source
from circlekeeper.instruments.services import save_version

BUILTIN_DIR = Path(__file__).resolve().parent / "definitions"


@dataclass(frozen=True)
class Loaded:
    file: str
    version: InstrumentVersion
    created: bool


@transaction.atomic
def load_builtins(directory: Path = BUILTIN_DIR) -> list[Loaded]:
    """Load every definitions/*.yaml as a shared instrument; a file that changed makes a new version.

    All or nothing: one invalid file (every problem named) and no file is loaded.
    """
    loaded, problems = [], []
    for path in sorted(directory.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            problems.append(f"{path.name}: {exc}")
            continue
        if isinstance(data, dict):
            data.setdefault("source", {"format": Source.BUILTIN.value, "file": path.name})
        try:
            version, created = save_version(definition=data, source=Source.BUILTIN, owner=None)
        except DefinitionError as exc:
            problems.extend(f"{path.name}: {problem}" for problem in exc.problems)
            continue
        loaded.append(Loaded(path.name, version, created))
    if problems:
        raise DefinitionError(problems)
    return loaded

"""Every user-facing string ships in Spanish: extract the messages afresh and look for gaps."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def parse_po(path: Path) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = []
    entry: dict[str, object] = {}
    key = None
    for raw in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = raw.strip()
        if not line:
            if entry:
                entries.append(entry)
            entry, key = {}, None
            continue
        if line.startswith("#,"):
            entry["flags"] = line[2:].strip()
        elif line.startswith("#~"):
            entry["obsolete"] = True
        elif line.startswith("#"):
            continue
        elif line.startswith('"') and key:
            entry[key] = str(entry[key]) + line[1:-1]
        else:
            key, _, value = line.partition(" ")
            entry[key] = value[1:-1]
    return entries


def untranslated(entries: list[dict[str, object]]) -> list[str]:
    missing = []
    for entry in entries:
        if entry.get("msgid") == "" or entry.get("obsolete"):
            continue
        translations = [v for k, v in entry.items() if str(k).startswith("msgstr")]
        if "fuzzy" in str(entry.get("flags", "")) or not translations or any(not t for t in translations):
            missing.append(str(entry.get("msgid")))
    return missing


@pytest.fixture(scope="module")
def fresh_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("xgettext") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("GNU gettext (xgettext) is needed to check translations; .ci/run installs it")
        pytest.skip("GNU gettext (xgettext) is not installed")
    work = tmp_path_factory.mktemp("messages")
    for name in ("circlekeeper", "templates", "locale", "static"):
        shutil.copytree(ROOT / name, work / name, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    env = {
        **os.environ,
        "PYTHONPATH": str(work),
        "DJANGO_SETTINGS_MODULE": "circlekeeper.settings",
        "CIRCLEKEEPER_VAR_DIR": str(work / "var"),
    }
    for domain in ("django", "djangojs"):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "django",
                "makemessages",
                "-l",
                "es",
                "-d",
                domain,
                "--no-obsolete",
                "-v0",
            ],
            cwd=work,
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
    return work / "locale" / "es" / "LC_MESSAGES"


def test_every_message_has_a_spanish_translation(fresh_catalog: Path):
    entries = parse_po(fresh_catalog / "django.po")
    assert len(entries) > 100
    missing = untranslated(entries)
    assert not missing, (
        f"{len(missing)} messages lack Spanish (run `make messages` and translate): {missing[:20]}"
    )


def test_the_committed_catalog_is_up_to_date(fresh_catalog: Path):
    committed = {
        e["msgid"] for e in parse_po(ROOT / "locale/es/LC_MESSAGES/django.po") if not e.get("obsolete")
    }
    fresh = {e["msgid"] for e in parse_po(fresh_catalog / "django.po")}
    assert fresh <= committed, f"run `make messages`: new messages {sorted(fresh - committed)[:20]}"

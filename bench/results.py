"""The results file of a benchmark run: the machine, the versions and every figure (issue 10 item 1)."""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REQUIRED_KEYS = ("date", "database", "scale", "machine", "versions", "measurements")


def memory_bytes() -> int | None:
    """Total memory of the machine (Linux /proc/meminfo, else sysconf), None when it cannot be read."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return int(pages) * int(size)


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "memory_bytes": memory_bytes(),
        "platform": platform.platform(),
        "processor": platform.machine(),
    }


def versions(database_version: str | None = None) -> dict[str, Any]:
    import django
    import numpy
    import pandas
    import scipy
    import statsmodels

    return {
        "python": sys.version.split()[0],
        "django": django.get_version(),
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "scipy": scipy.__version__,
        "statsmodels": statsmodels.__version__,
        "database": database_version,
    }


def document(
    *,
    database: str,
    scale: int,
    measurements: dict[str, Any],
    database_version: str | None = None,
    when: datetime.datetime | None = None,
) -> dict[str, Any]:
    when = when or datetime.datetime.now(datetime.UTC)
    return {
        "date": when.isoformat(timespec="seconds"),
        "database": database,
        "scale": scale,
        "machine": machine(),
        "versions": versions(database_version),
        "measurements": measurements,
    }


def check(result: dict[str, Any]) -> None:
    """Raise ValueError when a results document lacks what the README's table is read from."""
    missing = [key for key in REQUIRED_KEYS if key not in result]
    if missing:
        raise ValueError(f"results lack {', '.join(missing)}")
    if not isinstance(result["measurements"], dict):
        raise ValueError("measurements must be a mapping of measurement name to its figures")
    if result["machine"].get("cpu_count") is None:
        raise ValueError("the machine's cpu count is missing")


def path_for(result: dict[str, Any], folder: Path = RESULTS_DIR, name: str = "") -> Path:
    """bench/results/<date>-<database>[-<name>].json (a second run on the same day replaces the first)."""
    day = result["date"][:10]
    return folder / f"{day}-{result['database']}{'-' + name if name else ''}.json"


def earlier_measurements(database: str, folder: Path = RESULTS_DIR, day: str | None = None) -> dict[str, Any]:
    """Today's measurements already written for this database, so `--only x` adds to them, not replaces."""
    day = day or datetime.datetime.now(datetime.UTC).date().isoformat()
    path = folder / f"{day}-{database}.json"
    if not path.exists():
        return {}
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")).get("measurements", {}))
    except (ValueError, AttributeError):
        return {}


def write(result: dict[str, Any], folder: Path = RESULTS_DIR, name: str = "") -> Path:
    check(result)
    folder.mkdir(parents=True, exist_ok=True)
    path = path_for(result, folder, name)
    path.write_text(json.dumps(result, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
    return path


def _format(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain-text table of `rows` (dicts) in `columns`, for stdout."""
    cells = [[_format(row.get(column)) for column in columns] for row in rows]
    widths = [max([len(column), *(len(line[i]) for line in cells)]) for i, column in enumerate(columns)]
    lines = ["  ".join(column.ljust(widths[i]) for i, column in enumerate(columns))]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)) for line in cells]
    return "\n".join(lines)

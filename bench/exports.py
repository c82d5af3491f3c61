"""Issue 10 item 6: peak memory of the exports, each measured in its own process (ru_maxrss).

- csv_stream: the streamed CSV (exports.csv_stream) over rows made one at a time, as the export page reads
  responses from the database with QuerySet.iterator: what the web worker holds while sending the file.
- csv_in_memory: the same rows held in a list first (items.Table) and written by exports.to_csv: what the
  page did before it streamed, for comparison.
- sav: the streamed SPSS file (exports.sav_stream, evaluation/sav.py) over the same rows made one at a time,
  its strings as wide as the export page declares them (exports.context_widths): what the page holds.
- sav_in_memory: the same rows held in a list first and written by exports.to_sav (the streamed pieces
  joined), as the timepoint table's export does, for comparison. Before sav.py, SPSS went through pyreadstat
  on a whole DataFrame: 767.8 MB at a million rows (bench/results/2026-11-24-sqlite.json).

The rows are synthetic item-level rows (the six context columns, a category item, a number item and a score),
BENCH_RESPONSES of them (default 1,000,000). Run alone: `python -m bench.run --only exports`, or one export:
`python -m bench.exports sav 1000000`.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

DEFAULT_RESPONSES = 1_000_000
TARGET_PEAK_MB = 500.0
KINDS = ("baseline", "csv_stream", "csv_in_memory", "sav", "sav_in_memory")
STREAMED = ("baseline", "csv_stream", "sav")
# The context columns' widths as exports.context_widths declares them: a participant code's 9 characters,
# the longest slug of the organizations (these rows'), the track, role and timepoint fields' max_length.
SAV_WIDTHS = {"participant": 9, "organization": 6, "track": 30, "role": 32, "timepoint": 10, "month": 7}


def synthetic_rows(n: int) -> Iterator[dict[str, Any]]:
    """Item-level rows as items.iter_rows makes them, one at a time."""
    organizations = ("harbor", "valley", "bridge")
    for i in range(n):
        yield {
            "participant": f"E{i // 5:07d}",
            "organization": organizations[i % 3],
            "track": "community_accountability",
            "role": "survivor",
            "timepoint": f"T{i % 5}",
            "month": f"2025-{i % 12 + 1:02d}",
            "feel": i % 4 + 1,
            "hours": (i % 17) / 2,
            "wellbeing": i % 41,
        }


def _variables() -> list[Any]:
    from circlekeeper.evaluation.items import Variable, context_variables

    return [
        *context_variables(),
        Variable(
            "feel",
            "How safe do you feel?",
            "category",
            item="feel",
            item_type="single_choice",
            codes={"1": 1, "2": 2, "3": 3, "4": 4},
            value_labels={"1": "Not at all", "2": "A little", "3": "Mostly", "4": "Fully"},
        ),
        Variable("hours", "Hours of support", "number", item="hours", item_type="decimal"),
        Variable("wellbeing", "Wellbeing score", "number", item="wellbeing", item_type="score"),
    ]


def sav_pieces(n: int) -> Iterator[bytes]:
    """The streamed SPSS file of `n` synthetic rows, as the "sav" export is measured."""
    from circlekeeper.evaluation import exports

    return exports.sav_stream(_variables(), synthetic_rows(n), title="Bench", widths=SAV_WIDTHS)


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB: VmHWM on Linux (ru_maxrss survives exec, so it would
    count the parent's memory at fork), else ru_maxrss (kilobytes on Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(kind: str, n: int) -> dict[str, Any]:
    """Run one export in this process and report its time, size and the process's peak RSS."""
    import django

    django.setup()
    from circlekeeper.evaluation import exports
    from circlekeeper.evaluation.items import Table

    variables = _variables()
    names = [variable.name for variable in variables]
    started = time.perf_counter()
    size = 0
    if kind == "csv_stream":
        for piece in exports.csv_stream(names, synthetic_rows(n)):
            size += len(piece)  # sent to the client and dropped, as the server does
    elif kind == "csv_in_memory":
        size = len(exports.to_csv(Table("bench", "Bench", variables, list(synthetic_rows(n)))))
    elif kind == "sav":
        for piece in sav_pieces(n):
            size += len(piece)
    elif kind == "sav_in_memory":
        size = len(exports.to_sav(Table("bench", "Bench", variables, list(synthetic_rows(n)))))
    elif kind != "baseline":
        raise ValueError(f"unknown export {kind!r}")
    return {
        "export": kind,
        "rows": n if kind != "baseline" else 0,
        "seconds": round(time.perf_counter() - started, 2),
        "bytes": size,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "streams": kind in STREAMED,
    }


def measure(responses: int | None = None, kinds: tuple[str, ...] = KINDS) -> dict[str, Any]:
    """Each export in a fresh process, so each peak is its own (the baseline: Django loaded, no export)."""
    n = responses or int(os.environ.get("BENCH_RESPONSES", DEFAULT_RESPONSES))
    figures = []
    for kind in kinds:
        done = subprocess.run(  # noqa: S603  # nosec B603: our own interpreter and module
            [sys.executable, "-m", "bench.exports", kind, str(n)],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ.copy(),
        )
        figure = json.loads(done.stdout.strip().splitlines()[-1])
        figure["target_peak_mb"] = TARGET_PEAK_MB
        figure["meets_target"] = figure["peak_rss_mb"] <= TARGET_PEAK_MB
        figures.append(figure)
    return {
        "responses": n,
        "exports": figures,
        "note": (
            "Synthetic item rows, not read from the database. The export page reads responses with "
            "QuerySet.iterator(chunk_size=1000) into exports.csv_stream or exports.sav_stream (SPSS "
            "written by evaluation/sav.py with bytecode compression, a case count of -1); Stata still goes "
            "through pyreadstat on a whole DataFrame and is not measured."
        ),
    }


if __name__ == "__main__":
    from bench.run import configure_environment

    configure_environment()
    print(json.dumps(child(sys.argv[1], int(sys.argv[2]))))

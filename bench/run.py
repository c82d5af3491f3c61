"""`make bench`: build (or reuse) the benchmark data set, run the measurements, write and print the results.

    python -m bench.run                  # every measurement
    python -m bench.run --only analyses  # one (analyses, exports, pages, load)

PostgreSQL when DATABASE_URL is set, else a SQLite file under var/bench/ (never the demo database). The data set
is `manage.py seed_demo --force --scale N` with N from BENCH_SCALE (default 100000); a marker under var/bench/
records N so a second run reuses it. Results go to bench/results/<date>-<database>.json.
The load measurement first loads the floor (bench/floor.py: bare Django, same server and clients) and reports every
page of the mix as a ratio to it (issue 23).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_VAR = ROOT / "var" / "bench"
DEFAULT_SCALE = 100_000
MEASUREMENTS = ("analyses", "exports", "pages", "load", "reliability")
NEEDS_DATABASE = ("pages", "load", "reliability")


def configure_environment() -> None:
    """Settings for a benchmark process: demo mode (its keys under var/bench/), the bench database."""
    BENCH_VAR.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "circlekeeper.settings")
    os.environ["CIRCLEKEEPER_VAR_DIR"] = str(BENCH_VAR)
    os.environ["CIRCLEKEEPER_DEMO"] = "true"
    os.environ["CIRCLEKEEPER_STATIC_MANIFEST"] = "false"  # pages rendered in-process need no collectstatic
    os.environ["CIRCLEKEEPER_ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = f"sqlite:///{BENCH_VAR / 'bench.sqlite3'}"


def database_label() -> str:
    from django.db import connection

    return "postgresql" if connection.vendor == "postgresql" else connection.vendor


def database_version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
        else:
            cursor.execute("SELECT sqlite_version()")
        return str(cursor.fetchone()[0])


def marker_path() -> Path:
    from django.db import connection

    name = Path(str(connection.settings_dict["NAME"])).name
    return BENCH_VAR / f"dataset-{database_label()}-{name}.json"


def ensure_dataset(scale: int) -> dict[str, Any]:
    """Migrate and seed at `scale`, unless the marker says this database already holds that data set."""
    from django.core.management import call_command

    marker = marker_path()
    if marker.exists():
        recorded = json.loads(marker.read_text(encoding="utf-8"))
        if recorded.get("scale") == scale:
            # The data set outlives the code it was seeded with: bring its tables up to this checkout's.
            call_command("migrate", "--noinput", verbosity=0)
            return {**recorded, "reused": True}
    started = time.monotonic()
    call_command("migrate", "--noinput", verbosity=0)
    call_command("seed_demo", force=True, scale=scale, verbosity=0)
    recorded = {"scale": scale, "seed_seconds": round(time.monotonic() - started, 1)}
    marker.write_text(json.dumps(recorded) + "\n", encoding="utf-8")
    return {**recorded, "reused": False}


def _analyses() -> dict[str, Any]:
    from bench import analyses

    return analyses.measure()


def _exports() -> dict[str, Any]:
    from bench import exports

    return exports.measure()


def _pages() -> dict[str, Any]:
    from bench import pages

    return pages.measure()


def _load() -> dict[str, Any]:
    from bench import load

    return load.measure()


def _reliability() -> dict[str, Any]:
    from bench import reliability

    return reliability.measure()


RUNNERS: dict[str, Callable[[], dict[str, Any]]] = {
    "analyses": _analyses,
    "exports": _exports,
    "pages": _pages,
    "load": _load,
    "reliability": _reliability,
}


def summary(measurements: dict[str, Any]) -> str:
    from bench.results import table

    parts = []
    if "dataset" in measurements:
        parts.append("dataset: " + json.dumps(measurements["dataset"]))
    if "analyses" in measurements:
        parts.append(
            table(
                measurements["analyses"]["analyses"],
                ["analysis", "rows", "seconds", "direct_seconds", "ratio", "meets_seconds", "meets_ratio"],
            )
        )
    if "exports" in measurements:
        parts.append(
            table(measurements["exports"]["exports"], ["export", "rows", "seconds", "peak_rss_mb", "streams"])
        )
    if "pages" in measurements:
        pages = measurements["pages"]
        parts.append(
            table(
                pages["pages"],
                [
                    "page",
                    "queries",
                    "page_ms",
                    "sql_ms",
                    "floor_ratio",
                    "meets_floor",
                    "decrypt_ms",
                    "decrypt_share",
                ],
            )
        )
        encryption = pages.get("encryption")
        if encryption and "error" in encryption:
            parts.append(f"encryption: NOT MEASURED, a check failed: {encryption['error']}")
        elif encryption:
            parts.append(
                f"encryption: {encryption['page']} {encryption['encrypted_ms']} ms, on the unencrypted copy "
                f"{encryption['plaintext_ms']} ms: ratio {encryption['ratio']} (target "
                f"≤ {encryption['target_ratio']:g}); {encryption['decrypt_ms']} ms in decryption "
                f"(share {encryption['decrypt_share']}); {encryption['values_rewritten']} values of "
                f"{encryption['rows_rewritten']} rows stored unencrypted"
            )
    if "load" in measurements:
        load = measurements["load"]
        parts.append(
            table(
                load["pages"],
                [
                    "page",
                    "requests",
                    "failures",
                    "pages_per_second",
                    "p50_ms",
                    "p95_ms",
                    "p99_ms",
                    "meets_p95",
                ],
            )
        )
        parts.append(
            f"load: {load['users']} clients, {load['seconds']} s: {load['pages_per_second']} pages/s "
            f"(target ≥ {load['target_pages_per_second']:g}), {load['errors']} errors, p95 target "
            f"≤ {load['target_p95_ms']:g} ms; web workers' peak RSS {load['peak_rss_mb']} MB "
            f"(target ≤ {load['target_rss_mb']:g} MB)"
        )
        floor = load.get("floor")
        if floor:
            parts.append(
                f"floor (bench/floor.py, same server and clients): {floor['pages_per_second']} pages/s measured, "
                f"{floor['equivalent_pages_per_second']} clients ÷ mean; p50 {floor['p50_ms']} ms, p99 "
                f"{floor['p99_ms']} ms, {floor['errors']} errors; the mix's pages/s ÷ the floor's: "
                f"{load['mix_throughput_ratio']}"
            )
            parts.append(
                table(
                    load["floor_ratios"],
                    [
                        "page",
                        "equivalent_pages_per_second",
                        "throughput_ratio",
                        "target_throughput_ratio",
                        "meets_throughput_ratio",
                        "p50_ratio",
                        "p99_ratio",
                        "target_p99_ratio",
                        "meets_p99_ratio",
                    ],
                )
            )
    if "signin_burst" in measurements.get("reliability", {}):
        burst, mixed = (
            measurements["reliability"]["signin_burst"],
            measurements["reliability"]["mixed_writes"],
        )
        health, page = burst["healthz_while_busy"], burst["case_list_while_busy"]
        parts.append(
            f"sign-in burst: {burst['sign_ins']} at once in {burst['seconds']} s, {burst['errors']} errors "
            f"(target 0), {burst['told_to_wait']} times told to wait and try again; meanwhile /healthz answered "
            f"within 2 s {health['answered_within_2s']}/{health['asked']} (p95 {health['p95_ms']} ms, failed "
            f"{health['failed']}), the case list {page['answered_within_2s']}/{page['asked']} (p95 "
            f"{page['p95_ms']} ms, failed {page['failed']}) (target ≥ 95% within 2 s, none failed); "
            f"meets target: {burst['meets_target']}"
        )
        parts.append(
            f"mixed writes: {mixed['clients']} clients, {mixed['seconds']} s, {mixed['notes_saved']} notes saved, "
            f"{mixed['server_errors']} server errors, lost {mixed['lost']}, duplicated {mixed['duplicated']}, "
            f"extra {mixed['extra']} (targets 0); meets target: {mixed['meets_target']}"
        )
    if "reliability" in measurements:
        back = measurements["reliability"].get("recovery")
        if back:
            outage = back.get("database_outage")
            parts.append(
                f"recovery (scripts/serve.sh, {back['clients']} clients, {back['seconds']} s): worker killed "
                f"({back.get('worker_killed')}), restarted {back.get('worker_restarted')}, a task queued after the "
                f"kill ran in {back.get('task_queued_after_kill_ran_seconds')} s"
                + (
                    f"; database outage ({outage['how']}): /healthz 200 again "
                    f"{back.get('healthz_back_after_outage_began_seconds', '-')} s after it began "
                    f"({back.get('healthz_back_seconds')} s after it ended), a task queued after it ran in "
                    f"{back.get('task_queued_after_outage_ran_seconds')} s"
                    if outage
                    else ""
                )
                + f"; requests {back['requests']}, 503s {back['answered_503']} "
                f"{back.get('answered_503_by_page', {})}, other errors "
                f"{back['other_errors']}, lost {back['lost']}, duplicated {back['duplicated']}, extra "
                f"{back['extra']}; meets target: {back['meets_target']}"
            )
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=MEASUREMENTS, action="append", help="run only this measurement")
    args = parser.parse_args(argv)
    chosen = tuple(args.only or MEASUREMENTS)
    configure_environment()
    import django

    django.setup()
    from bench import results

    scale = int(os.environ.get("BENCH_SCALE", DEFAULT_SCALE))
    measurements: dict[str, Any] = {}
    if any(name in NEEDS_DATABASE for name in chosen):
        measurements["dataset"] = ensure_dataset(scale)
    for name in chosen:
        started = time.monotonic()
        measurements[name] = RUNNERS[name]()
        measurements[name]["wall_seconds"] = round(time.monotonic() - started, 1)
    # BENCH_RESULTS_NAME: a run kept apart (bench/results/<date>-<database>-<name>.json), such as a run on a
    # private throwaway server, so that it neither replaces nor borrows the day's other figures.
    name = re.sub(r"[^a-z0-9-]", "", os.environ.get("BENCH_RESULTS_NAME", "").lower())
    earlier = results.earlier_measurements(f"{database_label()}-{name}" if name else database_label())
    result = results.document(
        database=database_label(),
        scale=scale,
        measurements={**earlier, **measurements},
        database_version=database_version(),
    )
    path = results.write(result, name=name)
    print(summary(measurements))
    print(f"\nWritten to {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

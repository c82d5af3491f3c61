"""Issue 10 items 2 and 6: pages under load, and the web workers' peak RSS.

gunicorn as in production (scripts/serve.sh: `circlekeeper.wsgi:application`, WEB_WORKERS workers, 3 by default,
the redacting access log) in demo mode on the benchmark database, on a free port; locust headless in a separate
process runs bench/locustfile.py with BENCH_LOAD_USERS signed-in clients (default 16, all started at once): once all
have signed in, the mix runs for BENCH_LOAD_SECONDS (default 60). The figures come from locust's stats CSV
(p50/p95/p99 per page, failures; locust's exceptions count as errors too); throughput is each page's requests ÷ the
mix's duration (the sign-ins left out); each gunicorn worker's peak RSS is VmHWM from /proc/<pid>/status, read when
locust has finished, before the server stops.

The floor (issue 23): before the mix, in the same run, the same gunicorn command serves bench/floor.py (bare Django:
50 rows of a 100,000-row table, a Django template; `bench.floor:application`) and the same locust with the same
clients and duration requests only it (BENCH_LOAD_FLOOR=1). Each page of the mix is then reported as a ratio to the
floor: throughput, p50 and p99 (`floor_ratios`). A page's throughput in the mix depends on its weight there, so the
throughput compared is what the clients would get asking for that page alone at the latency it had in the mix: clients
÷ mean response time (Little's law with no think time), computed the same way for the floor; the floor's measured
pages/s and the mix's total against it are reported beside it.
Run alone: `python -m bench.run --only load`.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import socket
import subprocess  # nosec B404 - runs gunicorn and locust from this virtualenv
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
DEFAULT_USERS = 16
DEFAULT_SECONDS = 60
WEB_WORKERS = int(os.environ.get("WEB_WORKERS", "3"))  # as scripts/serve.sh reads it, with its default
TARGET_P95_MS = {"postgresql": 200.0, "sqlite": 300.0}
TARGET_PAGES_PER_SECOND = 100.0
TARGET_ERRORS = 0
TARGET_RSS_MB = 250.0
SETUP_PREFIX = "setup: "
AGGREGATED = "Aggregated"
START_TIMEOUT = 60.0
SETUP_ALLOWANCE = 120  # seconds for the sign-ins before the mix; locust's -t is only a safety limit
PRODUCT_APP = "circlekeeper.wsgi:application"
FLOOR_APP = "bench.floor:application"
FLOOR_PAGE = "floor"
# Issue 23 item 2: each page's throughput as a share of the floor's, at least; p99 at most this many times the floor's.
FLOOR_THROUGHPUT_TARGET = {
    "case list (open)": 0.3,
    "case detail": 0.3,
    "case timeline": 0.3,
    "safety check page": 0.3,
    "keeper dashboard": 0.15,  # the dashboard of keepers and supervisors (the mix's case workers)
    "evaluation dashboard": 0.15,
}
FLOOR_THROUGHPUT_TARGET_POSTGRESQL = 0.2  # every page of the mix
FLOOR_P99_TARGET = 3.0  # for these pages (those with the 0.3 target)
FLOOR_P99_PAGES = ("case list (open)", "case detail", "case timeline", "safety check page")


def _number(text: str | None) -> float | None:
    """A CSV cell as a number; None for an empty cell or locust's "N/A"."""
    if text is None or text.strip() in ("", "N/A"):
        return None
    return float(text)


def parse_stats(path: Path) -> list[dict[str, Any]]:
    """Locust's <prefix>_stats.csv as one dict per row (the "Aggregated" row included, under name "Aggregated")."""
    rows = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            requests = int(row["Request Count"])
            rows.append(
                {
                    "page": row["Name"],
                    "method": row["Type"],
                    "requests": requests,
                    "failures": int(row["Failure Count"]),
                    "pages_per_second": _number(row["Requests/s"]),
                    "p50_ms": _number(row["50%"]) if requests else None,
                    "p95_ms": _number(row["95%"]) if requests else None,
                    "p99_ms": _number(row["99%"]) if requests else None,
                    "mean_ms": _number(row["Average Response Time"]) if requests else None,
                    "max_ms": _number(row["Max Response Time"]) if requests else None,
                }
            )
    return rows


def parse_failures(path: Path) -> list[dict[str, Any]]:
    """Locust's <prefix>_failures.csv: what failed, where, how often (empty when the file is missing)."""
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            {"page": row["Name"], "error": row["Error"], "occurrences": int(row["Occurrences"])}
            for row in csv.DictReader(handle)
        ]


def parse_exceptions(path: Path) -> int:
    """How many exceptions locust's <prefix>_exceptions.csv records (errors in the clients, not HTTP failures)."""
    if not path.exists():
        return 0
    with path.open(newline="", encoding="utf-8") as handle:
        return sum(int(row["Count"]) for row in csv.DictReader(handle))


def parse_times(path: Path) -> float | None:
    """The mix's duration in seconds, as the locustfile wrote it; None when it never started or wrote nothing."""
    if not path.exists():
        return None
    seconds = json.loads(path.read_text(encoding="utf-8")).get("seconds")
    return float(seconds) if seconds else None


def summarize(
    rows: list[dict[str, Any]],
    database: str,
    failures: list[dict[str, Any]] | None = None,
    *,
    exceptions: int = 0,
    mix_seconds: float | None = None,
) -> dict[str, Any]:
    """The page figures against the targets: every page of the mix (setup requests left out), and the totals.

    Errors count every failed request (those made while signing in too) and every exception in the clients.
    Throughput counts the mix's pages only: requests ÷ `mix_seconds` when known, else locust's own rate."""
    target_p95 = TARGET_P95_MS.get(database, TARGET_P95_MS["sqlite"])
    pages = []
    for row in rows:
        if row["page"] == AGGREGATED or row["page"].startswith(SETUP_PREFIX):
            continue
        p95 = row["p95_ms"]
        rate = round(row["requests"] / mix_seconds, 2) if mix_seconds else row["pages_per_second"]
        pages.append(
            {
                **row,
                "pages_per_second": rate,
                "target_p95_ms": target_p95,
                "meets_p95": p95 is not None and p95 <= target_p95,
            }
        )
    aggregated = next((row for row in rows if row["page"] == AGGREGATED), None)
    failed = aggregated["failures"] if aggregated else sum(row["failures"] for row in rows)
    errors = failed + exceptions
    throughput = round(sum(row["pages_per_second"] or 0.0 for row in pages), 1)
    return {
        "pages": pages,
        "pages_per_second": throughput,
        "requests": sum(row["requests"] for row in pages),
        "mix_seconds": None if mix_seconds is None else round(mix_seconds, 1),
        "errors": errors,
        "failures": failures or [],
        "exceptions": exceptions,
        "target_p95_ms": target_p95,
        "target_pages_per_second": TARGET_PAGES_PER_SECOND,
        "target_errors": TARGET_ERRORS,
        "meets_p95": bool(pages) and all(page["meets_p95"] for page in pages),
        "meets_throughput": throughput >= TARGET_PAGES_PER_SECOND,
        "meets_errors": errors == TARGET_ERRORS,
    }


def peak_rss_mb(pid: int, proc: Path = Path("/proc")) -> float | None:
    """VmHWM (the process's peak resident set) in MB; None when the process or the field is gone."""
    try:
        text = (proc / str(pid) / "status").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            value, unit = line.split()[1:3]
            if unit.lower() != "kb":
                raise ValueError(f"unexpected VmHWM unit {unit!r}")
            return round(int(value) / 1024, 1)
    return None


def children(pid: int, proc: Path = Path("/proc")) -> list[int]:
    """The processes whose parent is `pid` (gunicorn's workers, for its master), read from /proc/*/status."""
    found = []
    for status in proc.glob("[0-9]*/status"):
        try:
            text = status.read_text(encoding="utf-8")
        except OSError:
            continue  # ended while we looked
        for line in text.splitlines():
            if line.startswith("PPid:"):
                if int(line.split()[1]) == pid:
                    found.append(int(status.parent.name))
                break
    return sorted(found)


def workers_rss(master: int, proc: Path = Path("/proc")) -> dict[str, Any]:
    workers = [{"pid": pid, "peak_rss_mb": peak_rss_mb(pid, proc)} for pid in children(master, proc)]
    peaks = [worker["peak_rss_mb"] for worker in workers if worker["peak_rss_mb"] is not None]
    peak = max(peaks) if peaks else None
    return {
        "workers": workers,
        "peak_rss_mb": peak,
        "target_rss_mb": TARGET_RSS_MB,
        "meets_rss": peak is not None and peak <= TARGET_RSS_MB,
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, server: subprocess.Popen[bytes], timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn stopped (exit {server.returncode}) before answering")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310  # nosec B310
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"gunicorn did not answer {url}/healthz within {timeout:.0f} s")


def gunicorn_command(port: int, log: Path, app: str = PRODUCT_APP) -> list[str]:
    """scripts/serve.sh's gunicorn command for `app`: the product and the floor differ in nothing else."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        app,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(WEB_WORKERS),
        "--threads",
        os.environ.get("WEB_THREADS", "4"),
        "--access-logfile",
        str(log),
        "--error-logfile",
        str(log),
        "--forwarded-allow-ips",
        "",
        "--logger-class",
        "circlekeeper.instruments.access_log.RedactingLogger",
    ]


@contextlib.contextmanager
def gunicorn(port: int, log: Path, app: str = PRODUCT_APP) -> Iterator[subprocess.Popen[bytes]]:
    """The production web server (scripts/serve.sh) with this process's environment (demo mode, bench database);
    `app` the WSGI application it serves (the product, or the floor with the same settings)."""
    command = gunicorn_command(port, log, app)
    server = subprocess.Popen(command, cwd=ROOT, env=os.environ.copy())  # noqa: S603  # nosec B603
    try:
        wait_until_up(f"http://127.0.0.1:{port}", server)
        yield server
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def run_locust(
    host: str, users: int, seconds: int, prefix: Path, log: Path, times: Path, *, floor: bool = False
) -> int:
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{seconds + SETUP_ALLOWANCE}s",
        "--host",
        host,
        "--csv",
        str(prefix),
        "--only-summary",
        "--logfile",
        str(log),
        "--loglevel",
        "WARNING",
    ]
    env = {
        **os.environ,
        "BENCH_LOAD_USERS": str(users),
        "BENCH_LOAD_SECONDS": str(seconds),
        "BENCH_LOAD_EVALUATORS": str(evaluators_for(users)),
        "BENCH_LOAD_TIMES": str(times),
        "BENCH_LOAD_FLOOR": "1" if floor else "0",
    }
    with log.with_suffix(".out").open("wb") as out:
        finished = subprocess.run(  # noqa: S603  # nosec B603
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=seconds + 120,
            check=False,
        )
    return finished.returncode


def evaluators_for(users: int) -> int:
    """One client in eight opens the evaluation dashboard (at least one; none when there is only one client)."""
    return max(1, users // 8) if users > 1 else 0


def _share(value: float | None, base: float | None) -> float | None:
    if value is None or not base:
        return None
    return round(value / base, 3)


def equivalent_pages_per_second(users: int, mean_ms: float | None) -> float | None:
    """Pages/s that `users` clients with no think time get from a page answering in `mean_ms` (Little's law)."""
    if not mean_ms:
        return None
    return round(users * 1000.0 / mean_ms, 1)


def floor_ratios(
    pages: list[dict[str, Any]], floor: dict[str, Any], users: int, database: str
) -> list[dict[str, Any]]:
    """Each page of the mix beside the floor: throughput (clients ÷ mean, both sides), p50 and p99 as ratios to the
    floor's, and whether it meets issue 23's targets (throughput share at least the target; p99 at most 3 times the
    floor's for the pages with the 0.3 target). A figure that is missing meets nothing."""
    floor_rate = equivalent_pages_per_second(users, floor.get("mean_ms"))
    rows = []
    for page in pages:
        rate = equivalent_pages_per_second(users, page.get("mean_ms"))
        throughput_ratio = _share(rate, floor_rate)
        p99_ratio = _share(page.get("p99_ms"), floor.get("p99_ms"))
        target = FLOOR_THROUGHPUT_TARGET.get(page["page"])
        if database == "postgresql":
            target = FLOOR_THROUGHPUT_TARGET_POSTGRESQL
        p99_target = FLOOR_P99_TARGET if page["page"] in FLOOR_P99_PAGES else None
        rows.append(
            {
                "page": page["page"],
                "equivalent_pages_per_second": rate,
                "throughput_ratio": throughput_ratio,
                "p50_ratio": _share(page.get("p50_ms"), floor.get("p50_ms")),
                "p99_ratio": p99_ratio,
                "target_throughput_ratio": target,
                "target_p99_ratio": p99_target,
                "meets_throughput_ratio": None
                if target is None
                else (throughput_ratio is not None and throughput_ratio >= target),
                "meets_p99_ratio": None
                if p99_target is None
                else (p99_ratio is not None and p99_ratio <= p99_target),
            }
        )
    return rows


def _phase(
    port_log: Path, users: int, seconds: int, folder: Path, *, floor: bool
) -> tuple[int, dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], int, float | None]:
    """One locust run against one gunicorn: (exit code, worker memory, stats rows, failures, exceptions, mix s)."""
    name = "floor" if floor else "locust"
    prefix = folder / name
    times = folder / f"{name}-times.json"
    for old in [*folder.glob(f"{name}_*.csv"), times]:
        old.unlink(missing_ok=True)
    port = free_port()
    with gunicorn(port, port_log, FLOOR_APP if floor else PRODUCT_APP) as server:
        exit_code = run_locust(
            f"http://127.0.0.1:{port}", users, seconds, prefix, folder / f"{name}.log", times, floor=floor
        )
        memory = workers_rss(server.pid)
    stats = prefix.with_name(f"{name}_stats.csv")
    if not stats.exists():
        raise RuntimeError(f"locust wrote no statistics (exit {exit_code}); see {folder / (name + '.out')}")
    return (
        exit_code,
        memory,
        parse_stats(stats),
        parse_failures(prefix.with_name(f"{name}_failures.csv")),
        parse_exceptions(prefix.with_name(f"{name}_exceptions.csv")),
        parse_times(times),
    )


def measure_floor(users: int, seconds: int, folder: Path, database: str) -> dict[str, Any]:
    """The floor phase: its table made sure of, served and loaded as the product is; its figures."""
    from django.db import connection

    from bench import floor

    table = floor.ensure_table()
    connection.close()
    exit_code, memory, rows, failures, exceptions, mix_seconds = _phase(
        folder / "floor-gunicorn.log", users, seconds, folder, floor=True
    )
    figures = summarize(rows, database, failures, exceptions=exceptions, mix_seconds=mix_seconds)
    page = next((row for row in figures["pages"] if row["page"] == FLOOR_PAGE), None)
    return {
        "table": table,
        "locust_exit_code": exit_code,
        "requests": figures["requests"],
        "errors": figures["errors"],
        "mix_seconds": figures["mix_seconds"],
        "pages_per_second": figures["pages_per_second"],
        "equivalent_pages_per_second": equivalent_pages_per_second(users, page["mean_ms"] if page else None),
        "p50_ms": page["p50_ms"] if page else None,
        "p95_ms": page["p95_ms"] if page else None,
        "p99_ms": page["p99_ms"] if page else None,
        "mean_ms": page["mean_ms"] if page else None,
        "peak_rss_mb": memory["peak_rss_mb"],
    }


def settings_from_environment() -> tuple[int, int]:
    users = int(os.environ.get("BENCH_LOAD_USERS", DEFAULT_USERS))
    seconds = int(os.environ.get("BENCH_LOAD_SECONDS", DEFAULT_SECONDS))
    if users < 1 or seconds < 1:
        raise ValueError("BENCH_LOAD_USERS and BENCH_LOAD_SECONDS must be 1 or more")
    return users, seconds


def measure() -> dict[str, Any]:
    from django.db import connection

    from bench.run import BENCH_VAR

    database = "postgresql" if connection.vendor == "postgresql" else connection.vendor
    users, seconds = settings_from_environment()
    folder = BENCH_VAR / "load"
    folder.mkdir(parents=True, exist_ok=True)
    floor = measure_floor(users, seconds, folder, database)
    connection.close()  # the server's workers open their own
    exit_code, memory, rows, failures, exceptions, mix_seconds = _phase(
        folder / "gunicorn.log", users, seconds, folder, floor=False
    )
    figures = summarize(rows, database, failures, exceptions=exceptions, mix_seconds=mix_seconds)
    ratios = floor_ratios(figures["pages"], floor, users, database)
    judged = [row for row in ratios if row["meets_throughput_ratio"] is not None]
    p99_judged = [row for row in ratios if row["meets_p99_ratio"] is not None]
    return {
        "users": users,
        "seconds": seconds,
        "web_workers": WEB_WORKERS,
        "locust_exit_code": exit_code,
        **figures,
        **memory,
        "floor": floor,
        "floor_ratios": ratios,
        "mix_throughput_ratio": _share(figures["pages_per_second"], floor["pages_per_second"]),
        "meets_floor_throughput": bool(judged) and all(row["meets_throughput_ratio"] for row in judged),
        "meets_floor_p99": bool(p99_judged) and all(row["meets_p99_ratio"] for row in p99_judged),
        "note": (
            f"{users} signed-in clients with no think time for {seconds} s (after all had signed in) against "
            f"gunicorn ({WEB_WORKERS} workers) on the same machine as locust; percentiles as locust reports them "
            "(rounded to 2 significant digits above 100 ms); peak RSS is each worker's VmHWM at the end. "
            "The floor (bench/floor.py) ran first, same server settings, clients and duration; ratios to it in "
            "floor_ratios (throughput: clients ÷ mean response time on both sides)."
        ),
    }

"""Issue 10 items 2 and 6: pages under load, and the web workers' peak RSS.

gunicorn as in production (scripts/serve.sh: `circlekeeper.wsgi:application`, WEB_WORKERS workers, 3 by default,
the redacting access log) in demo mode on the benchmark database, on a free port; locust headless in a separate
process runs bench/locustfile.py with BENCH_LOAD_USERS signed-in clients (default 16, all started at once): once all
have signed in, the mix runs for BENCH_LOAD_SECONDS (default 60). The figures come from locust's stats CSV
(p50/p95/p99 per page, failures; locust's exceptions count as errors too); throughput is each page's requests ÷ the
mix's duration (the sign-ins left out); each gunicorn worker's peak RSS is VmHWM from /proc/<pid>/status, read when
locust has finished, before the server stops.
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


@contextlib.contextmanager
def gunicorn(port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The production web server (scripts/serve.sh) with this process's environment (demo mode, bench database)."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "circlekeeper.wsgi:application",
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


def run_locust(host: str, users: int, seconds: int, prefix: Path, log: Path, times: Path) -> int:
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
    connection.close()  # the server's workers open their own
    users, seconds = settings_from_environment()
    folder = BENCH_VAR / "load"
    folder.mkdir(parents=True, exist_ok=True)
    prefix = folder / "locust"
    times = folder / "times.json"
    for old in [*folder.glob("locust_*.csv"), times]:
        old.unlink(missing_ok=True)
    port = free_port()
    host = f"http://127.0.0.1:{port}"
    with gunicorn(port, folder / "gunicorn.log") as server:
        exit_code = run_locust(host, users, seconds, prefix, folder / "locust.log", times)
        memory = workers_rss(server.pid)
    stats = prefix.with_name("locust_stats.csv")
    if not stats.exists():
        raise RuntimeError(f"locust wrote no statistics (exit {exit_code}); see {folder / 'locust.out'}")
    figures = summarize(
        parse_stats(stats),
        database,
        parse_failures(prefix.with_name("locust_failures.csv")),
        exceptions=parse_exceptions(prefix.with_name("locust_exceptions.csv")),
        mix_seconds=parse_times(times),
    )
    return {
        "users": users,
        "seconds": seconds,
        "web_workers": WEB_WORKERS,
        "locust_exit_code": exit_code,
        **figures,
        **memory,
        "note": (
            f"{users} signed-in clients with no think time for {seconds} s (after all had signed in) against "
            f"gunicorn ({WEB_WORKERS} workers) on the same machine as locust; percentiles as locust reports them "
            "(rounded to 2 significant digits above 100 ms); peak RSS is each worker's VmHWM at the end."
        ),
    }

"""Issue 23 build 3: where each page's time goes, in-process (Django's test Client), measured in CPU time.

    BENCH_SCALE=2000 python -m bench.profile              # figures and a cProfile summary per page
    BENCH_SCALE=2000 python -m bench.profile --runs 31 --top 25

CPU time (time.process_time) rather than wall-clock time, so that other jobs on a shared machine count for little:
on SQLite the database's own work is in this process and counted too. Per page: the median CPU milliseconds of
`--runs` requests after a warm-up, the number of queries of one request, and then a cProfile of `--runs` more
requests printed by cumulative time (this repository's functions and Django's, the `--top` first) so the README's
summary can say what a request spends its time on. The data set is bench.run's (same database, same marker).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

KEEPER = "keeper@harbor.example"
SUPERVISOR = "supervisor@harbor.example"


def pages() -> list[tuple[str, str, str]]:
    """(name, user, url) for each page profiled: the load mix's case pages and both dashboards."""
    from django.db.models import Count
    from django.urls import reverse

    from circlekeeper.cases.models import Case

    case = (
        Case.objects.filter(assignments__user__email=KEEPER)
        .annotate(people=Count("participants", distinct=True))
        .order_by("-people", "-pk")
        .first()
    )
    if case is None:
        raise RuntimeError(f"{KEEPER} has no case: seed the data set first")
    return [
        ("case list (open)", KEEPER, reverse("cases:list") + "?status=open"),
        ("case detail", KEEPER, reverse("cases:detail", args=[case.pk])),
        ("case timeline", KEEPER, reverse("protocol:timeline", args=[case.pk])),
        ("safety page", KEEPER, reverse("safety:case", args=[case.pk])),
        ("keeper dashboard", KEEPER, reverse("dashboard")),
        ("supervisor dashboard", SUPERVISOR, reverse("dashboard")),
    ]


def cpu_ms(get: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.process_time()
        get()
        times.append(time.process_time() - started)
    return round(statistics.median(times) * 1000, 2)


def profile_summary(get: Callable[[], Any], runs: int, top: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(runs):
        get()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(r"circlekeeper|django|sqlite3|psycopg", top)
    return out.getvalue()


def measure(
    runs: int, top: int, profile: bool, sql: bool = False, only: str | None = None
) -> list[dict[str, Any]]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from circlekeeper.testing import sign_in

    users = get_user_model().objects
    clients: dict[str, Client] = {}
    figures = []
    for name, email, url in pages():
        if only and only not in name:
            continue
        if email not in clients:
            clients[email] = Client()
            sign_in(clients[email], users.get(email=email))
        client = clients[email]

        def get(client: Client = client, url: str = url, name: str = name) -> Any:
            response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"{name}: {url} answered {response.status_code}")
            return response

        get()  # warm-up: templates loaded, keys cached
        # Recorded by a wrapper: the request_started signal empties connection.queries, so a
        # CaptureQueriesContext around a request keeps the count but not the statements.
        statements: list[str] = []

        def record(
            execute: Any,
            sql_text: str,
            params: Any,
            many: bool,
            context: Any,
            statements: list[str] = statements,
        ) -> Any:
            statements.append(sql_text)
            return execute(sql_text, params, many, context)

        with connection.execute_wrapper(record):
            get()
        row: dict[str, Any] = {
            "page": name,
            "url": url,
            "queries": len(statements),
            "cpu_ms": cpu_ms(get, runs),
        }
        if sql:
            row["sql"] = statements
        if profile:
            row["profile"] = profile_summary(get, runs, top)
        figures.append(row)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--sql", action="store_true", help="print each page's queries")
    parser.add_argument("--only", help="the pages whose name contains this")
    args = parser.parse_args(argv)

    from bench.run import DEFAULT_SCALE, configure_environment, ensure_dataset

    configure_environment()
    import django

    django.setup()
    dataset = ensure_dataset(int(os.environ.get("BENCH_SCALE", DEFAULT_SCALE)))
    print(f"dataset: {dataset}", file=sys.stderr)
    figures = measure(args.runs, args.top, not args.no_profile, args.sql, args.only)
    for row in figures:
        for number, query in enumerate(row.get("sql", []), 1):
            print(f"{row['page']} {number}: {query[:400]}")
        if "profile" in row:
            print(f"===== {row['page']} ({row['url']})")
            print(row["profile"])
    print(f"{'page':<22} {'queries':>7} {'cpu_ms (median of ' + str(args.runs) + ')':>24}")
    for row in figures:
        print(f"{row['page']:<22} {row['queries']:>7} {row['cpu_ms']:>24}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The floor of `make bench` (issue 23 item 1): bench/floor.py renders 50 rows of its 100,000-row table, alone (its
own Django settings, in a process of its own, as gunicorn serves it; on the test database on PostgreSQL, else on a
SQLite file); the ratios to the floor, worked by hand."""

import json
import os
import re
import subprocess  # nosec B404 - runs this virtualenv's Python on bench/floor.py
import sys
from pathlib import Path

import pytest

from bench import load
from bench.run import summary

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r'<tr class="row"><td>(\d+)</td><td>row (\d{6})</td>')

# Serves two requests through the floor's WSGI application (what gunicorn is given), on a fresh SQLite file.
SCRIPT = """
import io, json, sys
from bench import floor
floor.configure(sys.argv[1])
made = floor.ensure_table()
again = floor.ensure_table()
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SELECT COUNT(*) FROM bench_floor_row")
    count = cursor.fetchone()[0]
pages = {}
for query in sys.argv[2:]:
    seen = {}
    def start_response(status, headers, seen=seen):
        seen["status"] = status
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": "/floor/", "QUERY_STRING": query, "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80", "wsgi.input": io.BytesIO(), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
    }
    body = b"".join(floor.application(environ, start_response)).decode()
    pages[query] = {"status": seen["status"], "body": body}
print(json.dumps({"made": made, "again": again, "count": count, "pages": pages}))
"""


def database_url(tmp_path, connection):
    """The test database on PostgreSQL (DATABASE_URL set), else a fresh SQLite file: the floor's own connection."""
    if connection.vendor != "postgresql":
        return f"sqlite:///{tmp_path / 'floor.sqlite3'}"
    given = connection.settings_dict
    return (
        f"postgres://{given['USER']}:{given['PASSWORD'] or ''}@{given['HOST'] or '127.0.0.1'}:"
        f"{given['PORT'] or 5432}/{given['NAME']}"
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory, django_db_setup, django_db_blocker):
    from django.db import connection

    url = database_url(tmp_path_factory.mktemp("floor"), connection)
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    try:
        finished = subprocess.run(  # noqa: S603  # nosec B603
            [sys.executable, "-c", SCRIPT, url, "page=0", "page=1234", "page=99999", "page=x"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
    finally:
        if connection.vendor == "postgresql":
            with django_db_blocker.unblock(), connection.cursor() as cursor:
                cursor.execute("DROP TABLE IF EXISTS bench_floor_row")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def rows_of(html):
    return [(int(first), int(second)) for first, second in ROW.findall(html)]


def test_the_floor_table_holds_100000_rows_and_is_filled_once(served):
    assert served["count"] == 100_000
    assert served["made"] == {"table": "bench_floor_row", "rows": 100_000, "created": True}
    assert served["again"]["created"] is False


def test_the_floor_renders_the_50_rows_of_the_page_asked_for(served):
    page = served["pages"]["page=1234"]
    assert page["status"].startswith("200")
    # Page 1234 of 50-row pages holds rows 61,701 to 61,750, each labelled with its own number.
    assert rows_of(page["body"]) == [(n, n) for n in range(61_701, 61_751)]
    assert "<h1>Rows 61701 to 61750</h1>" in page["body"]


def test_the_floor_keeps_to_the_table_for_any_page_number(served):
    assert rows_of(served["pages"]["page=0"]["body"]) == [(n, n) for n in range(1, 51)]
    # Beyond the last page: the last page (rows 99,951 to 100,000); not a number: the first.
    assert rows_of(served["pages"]["page=99999"]["body"]) == [(n, n) for n in range(99_951, 100_001)]
    assert rows_of(served["pages"]["page=x"]["body"]) == [(n, n) for n in range(1, 51)]


FLOOR = {"mean_ms": 10.0, "p50_ms": 8.0, "p99_ms": 20.0, "pages_per_second": 1500.0}


def page(name, mean, p50, p99):
    return {"page": name, "mean_ms": mean, "p50_ms": p50, "p99_ms": p99}


def test_ratios_to_the_floor_worked_by_hand_on_sqlite():
    pages = [
        page("case detail", 25.0, 20.0, 50.0),  # 16 clients: 640/s against 1,600/s = 0.4; p99 50/20 = 2.5
        page("case list (open)", 40.0, 30.0, 80.0),  # 400/s: 0.25 < 0.3; p99 4 × > 3 ×
        page("keeper dashboard", 50.0, 44.0, 200.0),  # 320/s: 0.2 ≥ 0.15; no p99 target
        page("evaluation dashboard", 80.0, 60.0, 100.0),  # 200/s: 0.125 < 0.15
    ]
    rows = {row["page"]: row for row in load.floor_ratios(pages, FLOOR, 16, "sqlite")}
    detail = rows["case detail"]
    assert detail["equivalent_pages_per_second"] == 640.0
    assert (detail["throughput_ratio"], detail["p50_ratio"], detail["p99_ratio"]) == (0.4, 2.5, 2.5)
    assert (detail["meets_throughput_ratio"], detail["meets_p99_ratio"]) == (True, True)
    listing = rows["case list (open)"]
    assert (listing["throughput_ratio"], listing["p50_ratio"], listing["p99_ratio"]) == (0.25, 3.75, 4.0)
    assert (listing["meets_throughput_ratio"], listing["meets_p99_ratio"]) == (False, False)
    dashboard = rows["keeper dashboard"]
    assert (dashboard["throughput_ratio"], dashboard["target_throughput_ratio"]) == (0.2, 0.15)
    assert (
        dashboard["meets_throughput_ratio"],
        dashboard["target_p99_ratio"],
        dashboard["meets_p99_ratio"],
    ) == (
        True,
        None,
        None,
    )
    assert (
        rows["evaluation dashboard"]["throughput_ratio"],
        rows["evaluation dashboard"]["meets_throughput_ratio"],
    ) == (
        0.125,
        False,
    )


def test_on_postgresql_every_page_needs_a_fifth_of_the_floor():
    pages = [page("case detail", 45.0, 40.0, 59.0), page("keeper dashboard", 55.0, 50.0, 90.0)]
    rows = {row["page"]: row for row in load.floor_ratios(pages, FLOOR, 16, "postgresql")}
    # 10/45 = 0.222 ≥ 0.2 (and p99 59/20 = 2.95 ≤ 3); 10/55 = 0.182 < 0.2, though ≥ SQLite's 0.15 for dashboards.
    assert (rows["case detail"]["throughput_ratio"], rows["case detail"]["meets_throughput_ratio"]) == (
        0.222,
        True,
    )
    assert (rows["case detail"]["p99_ratio"], rows["case detail"]["meets_p99_ratio"]) == (2.95, True)
    assert (
        rows["keeper dashboard"]["throughput_ratio"],
        rows["keeper dashboard"]["target_throughput_ratio"],
    ) == (
        0.182,
        0.2,
    )
    assert rows["keeper dashboard"]["meets_throughput_ratio"] is False


def test_a_page_without_figures_meets_no_ratio_target():
    rows = load.floor_ratios([page("case timeline", None, None, None)], FLOOR, 16, "sqlite")
    assert rows[0]["throughput_ratio"] is None
    assert (rows[0]["meets_throughput_ratio"], rows[0]["meets_p99_ratio"]) == (False, False)


def test_the_summary_prints_the_floor_and_each_ratio():
    ratios = load.floor_ratios([page("case detail", 25.0, 20.0, 50.0)], FLOOR, 16, "sqlite")
    figures = load.summarize([], "sqlite")
    floor = {**FLOOR, "equivalent_pages_per_second": 1600.0, "errors": 0}
    text = summary(
        {
            "load": {
                "users": 16,
                "seconds": 15,
                **figures,
                "peak_rss_mb": 100.0,
                "target_rss_mb": 250.0,
                "floor": floor,
                "floor_ratios": ratios,
                "mix_throughput_ratio": 0.1,
            }
        }
    )
    assert "floor (bench/floor.py" in text
    assert "1500.0 pages/s measured" in text
    line = next(line for line in text.splitlines() if line.startswith("case detail"))
    assert line.split()[2:6] == ["640", "0.4", "0.3", "yes"]


def test_the_floor_is_served_by_the_products_gunicorn_command_but_for_the_application(tmp_path):
    product = load.gunicorn_command(8123, tmp_path / "log")
    floor = load.gunicorn_command(8123, tmp_path / "log", load.FLOOR_APP)
    assert product[3] == "circlekeeper.wsgi:application"
    assert floor[3] == "bench.floor:application"
    assert [part for i, part in enumerate(floor) if i != 3] == [
        part for i, part in enumerate(product) if i != 3
    ]
    assert floor[floor.index("--workers") + 1] == str(load.WEB_WORKERS)


CLASSES = (
    "import bench.locustfile as f; print(f.FloorReader.abstract, f.CaseWorker.abstract, f.Evaluator.abstract)"
)


@pytest.mark.parametrize(("flag", "expected"), [("1", "False True True"), ("0", "True False False")])
def test_the_floor_phase_runs_only_floor_clients_and_the_mix_none(flag, expected):
    env = {**os.environ, "BENCH_LOAD_FLOOR": flag, "BENCH_LOAD_EVALUATORS": "2"}
    finished = subprocess.run(  # noqa: S603  # nosec B603
        [sys.executable, "-c", CLASSES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert finished.stdout.strip().splitlines()[-1] == expected

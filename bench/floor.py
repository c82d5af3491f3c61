"""The floor of `make bench` (issue 23 item 1): what bare Django does on this machine, measured beside the product.

A one-file Django application, not a URL of the product: no middleware, no session, no sign-in; one view that reads
50 rows of a 100,000-row table of the benchmark database (`bench_floor_row`, a simple table this module creates and
fills at bench start: `ensure_table()`) with one SELECT on Django's connection (by primary key, no ORM
query building: the floor is the lower bound of a Django page) and renders them as an HTML table with a Django template
(the cached template loader, as the product has with DEBUG off). bench/load.py serves it with the same gunicorn
command and settings as the product (`bench.floor:application`) and hits it with the same locust, clients and
duration, in the same run; every page's figures are then reported as a ratio to it.

    GET /floor/?page=N   rows N*50+1 .. N*50+50 (N from 0 to 1,999; the load picks N at random)

Its settings are its own (`configure()`): the database of DATABASE_URL with the product's connection settings
(connections kept 300 s and checked, SQLite in WAL mode), DEBUG off, English; nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

ROWS = 100_000
PAGE_ROWS = 50
PAGES = ROWS // PAGE_ROWS
TABLE = "bench_floor_row"
BATCH = 5_000
PATH = "/floor/"

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Floor, page {{ page }}</title></head>
<body><main><h1>Rows {{ first }} to {{ last }}</h1>
<table><thead><tr><th>id</th><th>label</th><th>amount</th><th>day</th></tr></thead>
<tbody>{% for row in rows %}
<tr class="row"><td>{{ row.id }}</td><td>{{ row.label }}</td><td>{{ row.amount }}</td>\
<td>{{ row.day|date:"Y-m-d" }}</td></tr>{% endfor %}
</tbody></table></main></body></html>
"""


def database_settings(url: str) -> dict[str, Any]:
    """DATABASE_URL with the product's connection settings (circlekeeper/settings.py), so only the page differs."""
    import dj_database_url

    database: dict[str, Any] = dict(dj_database_url.parse(url))
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
            "transaction_mode": "IMMEDIATE",
        }
    database["ATOMIC_REQUESTS"] = False
    database["CONN_MAX_AGE"] = int(os.environ.get("CIRCLEKEEPER_DB_CONN_MAX_AGE", "300"))
    database["CONN_HEALTH_CHECKS"] = True
    return database


def configure(url: str | None = None) -> None:
    """Django's settings for the floor alone (a process that serves the floor runs no product code)."""
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-floor-only",  # nosec B106 - signs nothing: no session, no form
        ALLOWED_HOSTS=["127.0.0.1", "localhost", "testserver"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        DATABASES={"default": database_settings(url or os.environ["DATABASE_URL"])},
        USE_TZ=True,
        LANGUAGE_CODE="en",
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "OPTIONS": {
                    "loaders": [
                        (
                            "django.template.loaders.cached.Loader",
                            [("django.template.loaders.locmem.Loader", {"floor.html": TEMPLATE})],
                        )
                    ]
                },
            }
        ],
    )
    django.setup()


def ensure_table(rows: int = ROWS) -> dict[str, Any]:
    """Create and fill `bench_floor_row` with `rows` rows unless it holds them already; what was done."""
    import datetime

    from django.db import connection, transaction

    with connection.cursor() as cursor:
        if TABLE in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT COUNT(*) FROM {TABLE}")  # noqa: S608  # nosec B608 - a constant
            if cursor.fetchone()[0] == rows:
                return {"table": TABLE, "rows": rows, "created": False}
            cursor.execute(f"DROP TABLE {TABLE}")
        cursor.execute(
            f"CREATE TABLE {TABLE} (id integer PRIMARY KEY, label varchar(40) NOT NULL, "
            "amount integer NOT NULL, day date NOT NULL)"
        )
    start = datetime.date(2020, 1, 1)
    with transaction.atomic(), connection.cursor() as cursor:
        for first in range(1, rows + 1, BATCH):
            cursor.executemany(
                f"INSERT INTO {TABLE} (id, label, amount, day) VALUES (%s, %s, %s, %s)",  # noqa: S608  # nosec B608
                [
                    (n, f"row {n:06d}", (n * 7919) % 10_000, start + datetime.timedelta(days=n % 2_000))
                    for n in range(first, min(first + BATCH, rows + 1))
                ],
            )
    return {"table": TABLE, "rows": rows, "created": True}


def page_number(text: str | None) -> int:
    """?page=N as a page of the table (0 when missing or not a number; clamped to the table)."""
    try:
        number = int(text or 0)
    except ValueError:
        return 0
    return min(max(number, 0), PAGES - 1)


def floor_view(request: Any) -> Any:
    from django.db import connection
    from django.shortcuts import render

    number = page_number(request.GET.get("page"))
    first = number * PAGE_ROWS + 1
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, label, amount, day FROM {TABLE} WHERE id >= %s ORDER BY id LIMIT %s",  # noqa: S608  # nosec B608
            [first, PAGE_ROWS],
        )
        columns = [column[0] for column in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return render(
        request, "floor.html", {"page": number, "first": first, "last": first + len(rows) - 1, "rows": rows}
    )


def health_view(request: Any) -> Any:
    from django.http import HttpResponse

    return HttpResponse("ok", content_type="text/plain")


def _urls() -> list[Any]:
    from django.urls import path

    return [path("floor/", floor_view), path("healthz", health_view)]


def __getattr__(name: str) -> Any:
    """`urlpatterns` built when Django asks for it (ROOT_URLCONF is this module), after configure()."""
    if name == "urlpatterns":
        return _urls()
    raise AttributeError(name)


class _Application:
    """The WSGI entry point for gunicorn: configures Django for the floor on the first request of each worker."""

    def __init__(self) -> None:
        self._handler: Callable[..., Iterable[bytes]] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self._handler is None:
            from django.conf import settings
            from django.core.wsgi import get_wsgi_application

            if not settings.configured:
                configure()
            self._handler = get_wsgi_application()
        return self._handler(environ, start_response)


application = _Application()

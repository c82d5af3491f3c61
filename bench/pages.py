"""Issue 10 items 3 and 5: each page against its own SQL floor, and the decryption share of the case page.

In-process with Django's test Client (no network, no server): a keeper of harbor signed in, the page fetched
a few times; its queries captured (CaptureQueriesContext) and the same SQL run again directly on the same
connection (its reads only: the audit and session writes cannot be replayed as captured). floor_ratio = page time
÷ SQL time: what Python, templates and decryption add to the database's own work.

Encryption: no unencrypted copy of the schema is built here; instead every call of lib.keys.decrypt_value
during the page is timed, and decrypt_share is that time ÷ page time (so the page without decryption would
take about page * (1 - share)). Run alone: `python -m bench.run --only pages`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench.timing import ratio

TARGET_FLOOR_RATIO = 3.0
TARGET_ENCRYPTION_RATIO = 1.2
KEEPER = "keeper@harbor.example"
RUNS = 15


@contextmanager
def timed_decryption() -> Iterator[list[float]]:
    """Every lib.keys.decrypt_value call's duration, in seconds, while inside."""
    from circlekeeper.lib import keys

    original = keys.decrypt_value
    spent: list[float] = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)

    keys.decrypt_value = wrapper
    try:
        yield spent
    finally:
        keys.decrypt_value = original


def sql_seconds(queries: list[dict[str, Any]], repeat: int = 5) -> float:
    """The best time of running the captured reads again directly (results fetched). Writes (the audit row,
    the session) are left out: replayed as captured they would collide with the rows the page made."""
    from django.db import connection, transaction

    best = float("inf")
    for _run in range(repeat):
        with transaction.atomic():
            started = time.perf_counter()
            with connection.cursor() as cursor:
                for query in queries:
                    sql = query["sql"]
                    if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
                        continue
                    cursor.execute(sql)
                    if cursor.description is not None:
                        cursor.fetchall()
            best = min(best, time.perf_counter() - started)
            transaction.set_rollback(True)
    return best


def page_figures(name: str, get: Callable[[], Any], runs: int = RUNS) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = get()  # warm: templates compiled, caches filled
    if response.status_code != 200:
        raise RuntimeError(f"{name}: status {response.status_code}")
    times, decrypt = [], []
    for _run in range(runs):
        with timed_decryption() as spent:
            started = time.perf_counter()
            get()
            times.append(time.perf_counter() - started)
        decrypt.append(sum(spent))
    with CaptureQueriesContext(connection) as captured:
        get()
    page = statistics.median(times)
    sql = sql_seconds(list(captured.captured_queries))
    decrypt_time = statistics.median(decrypt)
    floor = ratio(page, sql)
    share = ratio(decrypt_time, page)
    return {
        "page": name,
        "queries": len(captured.captured_queries),
        "page_ms": round(page * 1000, 2),
        "sql_ms": round(sql * 1000, 2),
        "floor_ratio": None if floor is None else round(floor, 2),
        "target_floor_ratio": TARGET_FLOOR_RATIO,
        "decrypt_ms": round(decrypt_time * 1000, 2),
        "decrypt_share": None if share is None else round(share, 3),
        "encryption_ratio_estimate": None if share is None or share >= 1 else round(1 / (1 - share), 3),
        "target_encryption_ratio": TARGET_ENCRYPTION_RATIO,
    }


def measure() -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from circlekeeper.cases.models import Case
    from circlekeeper.testing import sign_in

    user = get_user_model().objects.get(email=KEEPER)
    client = Client()
    sign_in(client, user)  # as someone past their second factor (adds a TOTP device in the bench database)
    # A synthetic case of the keeper's team: the most recently made, so one with notes.
    case = Case.objects.filter(assignments__user=user).order_by("-pk").first()
    if case is None:
        raise RuntimeError(f"{KEEPER} has no case: seed the data set first")
    detail = reverse("cases:detail", args=[case.pk])
    figures = [
        page_figures("case detail", lambda: client.get(detail)),
        page_figures("case list", lambda: client.get(reverse("cases:list"))),
        page_figures("keeper dashboard", lambda: client.get(reverse("dashboard"))),
    ]
    return {
        "user": KEEPER,
        "case": case.reference,
        "pages": figures,
        "note": (
            "Median of in-process requests (test Client), not under load. decrypt_share is the time in "
            "lib.keys.decrypt_value; encryption_ratio_estimate = 1 / (1 - share), not a measured unencrypted copy."
        ),
    }

"""Issue 10 items 3 and 5: each page of the load test's mix against its own SQL floor, and the case page's
encryption overhead against a benchmark-only unencrypted copy of the database.

In-process with Django's test Client (no network, no server). The six pages of bench/locustfile.py's mix:
the keeper dashboard, the case list filtered to open cases, a case's detail, timeline and safety check page
(as keeper@harbor.example, on the case of the keeper's team with the most participants), and the evaluation
dashboard (as evaluator@harbor.example). The evaluation dashboard at /evaluation/dashboard/ is the index a user
gets there: its audit row, the domain links and the pooled network dashboards the evaluator may open; it computes
no numbers (each domain's page asks for them from a background computation, evaluation/dashboard_tasks.py, and
is not in the mix). Each page is fetched RUNS times after a warm-up; page_ms is the median. Its queries are captured
(CaptureQueriesContext) and the reads among them run again directly on the same connection, RUNS times
(the audit and session writes cannot be replayed as captured, so the page's time includes writes the floor
leaves out); sql_ms is the median. floor_ratio = page_ms ÷ sql_ms: what Python, templates and decryption add
to the database's own work. decrypt_ms is the time spent in lib.keys.decrypt_value during the page.

Encryption (item 5, bench/plaintext.py): the rows with encrypted fields that the case detail page reads are
noted; a copy of the whole database is made (SQLite: var/bench/plaintext-copy.sqlite3; PostgreSQL: CREATE
DATABASE <name>_plaintext TEMPLATE <name>), in which those rows' encrypted columns hold the same values
unencrypted; the page is rendered on the copy with EncryptedField patched, in this process only, to read the
stored values as plaintext. Same case, same user, the same queries but for the read of the organization's
keys (key_queries: once a request, on the first decryption; part of encryption's cost) and the same HTML (apart
from CSRF tokens) are checked, and no decryption may happen on the copy, or the measurement fails. The two are
fetched back to back, ENCRYPTION_RUNS pairs: encrypted_ms and plaintext_ms are the medians, ratio the median of
the pairs' ratios (each pair meets the same load from the rest of the machine: steadier than a ratio of medians
on a shared machine). The copy is removed at the end. When a check fails, "encryption" is {"page", "error"}.

Result (JSON):
    {"user", "evaluator", "case",
     "pages": [{"page", "url", "queries", "page_ms", "sql_ms", "floor_ratio", "target_floor_ratio",
                "meets_floor", "decrypt_ms", "decrypt_share"}, ...],
     "encryption": {"page", "queries", "key_queries", "encrypted_ms", "plaintext_ms", "ratio", "target_ratio",
                    "meets_target", "decrypt_ms", "decrypt_share", "rows_rewritten", "values_rewritten",
                    "copy_seconds", "same_html"},
     "note"}
Run alone: `python -m bench.run --only pages`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import plaintext
from bench.timing import ratio

TARGET_FLOOR_RATIO = 3.0
TARGET_ENCRYPTION_RATIO = 1.2
KEEPER = "keeper@harbor.example"
EVALUATOR = "evaluator@harbor.example"
RUNS = 15
# Pairs of fetches (real database, copy) for the encryption ratio: the two differ by little, so more of them.
ENCRYPTION_RUNS = 45


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


def sql_seconds(queries: list[dict[str, Any]], repeat: int = RUNS) -> float:
    """The median time of running the captured reads again directly (results fetched). Writes (the audit row,
    the session) are left out: replayed as captured they would collide with the rows the page made."""
    from django.db import connection, transaction

    reads = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("SELECT", "WITH"))]
    times = []
    for _run in range(repeat):
        with transaction.atomic():
            started = time.perf_counter()
            with connection.cursor() as cursor:
                for sql in reads:
                    cursor.execute(sql)
                    if cursor.description is not None:
                        cursor.fetchall()
            times.append(time.perf_counter() - started)
            transaction.set_rollback(True)
    return statistics.median(times)


def ok(response: Any, name: str) -> Any:
    if response.status_code != 200:
        raise RuntimeError(f"{name}: status {response.status_code}")
    return response


def timed(get: Callable[[], Any]) -> tuple[float, float, int]:
    """One fetch: (seconds, seconds in decrypt_value, decryptions)."""
    with timed_decryption() as spent:
        started = time.perf_counter()
        get()
        elapsed = time.perf_counter() - started
    return elapsed, sum(spent), len(spent)


def captured_queries(get: Callable[[], Any]) -> list[dict[str, Any]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        get()
    return list(captured.captured_queries)


def key_queries(queries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The queries that read or write the organizations' keys (lib.keys.DataKey)."""
    from circlekeeper.lib.keys import DataKey

    table = DataKey._meta.db_table
    return [q for q in queries if table in q["sql"]]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def page_figures(name: str, url: str, get: Callable[[], Any], runs: int = RUNS) -> dict[str, Any]:
    ok(get(), name)  # warm: templates compiled, caches filled
    times, decrypt = [], []
    for _run in range(runs):
        elapsed, decrypting, _calls = timed(get)
        times.append(elapsed)
        decrypt.append(decrypting)
    queries = captured_queries(get)
    page = statistics.median(times)
    sql = sql_seconds(queries, repeat=runs)
    decrypt_time = statistics.median(decrypt)
    floor = ratio(page, sql)
    return {
        "page": name,
        "url": url,
        "queries": len(queries),
        "page_ms": ms(page),
        "sql_ms": ms(sql),
        "floor_ratio": rounded(floor, 2),
        "target_floor_ratio": TARGET_FLOOR_RATIO,
        "meets_floor": None if floor is None else floor <= TARGET_FLOOR_RATIO,
        "decrypt_ms": ms(decrypt_time),
        "decrypt_share": rounded(ratio(decrypt_time, page), 3),
    }


def encryption_figures(
    name: str, get: Callable[[], Any], runs: int = ENCRYPTION_RUNS, directory: Path | None = None
) -> dict[str, Any]:
    """The page on the real database against the same page on the unencrypted copy (bench/plaintext.py); a
    SQLite copy is made in `directory` (default the var directory, var/bench/ for `make bench`)."""
    from django.conf import settings

    with plaintext.rows_read() as rows:
        encrypted_html = plaintext.html(get)
        get()  # a second time, in case the first read something only once
    updates = plaintext.plaintext_updates(rows)
    queries = captured_queries(get)
    started = time.perf_counter()
    with plaintext.database_copy(directory or settings.VAR_DIR) as copy:
        with plaintext.using(copy):
            written = plaintext.write_plaintext(updates)
        copy_seconds = time.perf_counter() - started
        with plaintext.using(copy), plaintext.plaintext_fields():
            plaintext_html = plaintext.html(get)  # warm the copy's connection
            plaintext_queries = captured_queries(get)
        get()  # the real database again (on PostgreSQL its connection was closed for the copy)
        # The same queries, but for the read of the organization's keys (once a request, when it first
        # decrypts): that read is part of what encryption costs, and the copy must not make it.
        key_reads = len(key_queries(queries))
        if len(plaintext_queries) != len(queries) - key_reads or key_queries(plaintext_queries):
            raise RuntimeError(
                f"{name}: {len(queries)} queries ({key_reads} reading keys), "
                f"but {len(plaintext_queries)} on the plaintext copy"
            )
        if not plaintext.same_page(encrypted_html, plaintext_html):
            raise RuntimeError(f"{name}: the page on the plaintext copy differs from the page")
        encrypted, plain, decrypt, pairs = [], [], [], []
        for run in range(runs):
            # Back to back, each first every other time (neither gains from the other's warm caches), so that the
            # two of a pair meet the same load from whatever else the machine runs.
            pair: dict[bool, float] = {}
            for on_copy in (run % 2 == 0, run % 2 == 1):
                if on_copy:
                    with plaintext.using(copy), plaintext.plaintext_fields():
                        elapsed, _decrypting, calls = timed(get)
                    if calls:
                        raise RuntimeError(f"{name}: {calls} values decrypted on the plaintext copy")
                    plain.append(elapsed)
                else:
                    elapsed, decrypting, _calls = timed(get)
                    encrypted.append(elapsed)
                    decrypt.append(decrypting)
                pair[on_copy] = elapsed
            pairs.append(pair[False] / pair[True])
    with_encryption, without = statistics.median(encrypted), statistics.median(plain)
    overhead = statistics.median(pairs)
    decrypt_time = statistics.median(decrypt)
    return {
        "page": name,
        "queries": len(queries),
        "key_queries": key_reads,
        "encrypted_ms": ms(with_encryption),
        "plaintext_ms": ms(without),
        "ratio": round(overhead, 3),
        "target_ratio": TARGET_ENCRYPTION_RATIO,
        "meets_target": overhead <= TARGET_ENCRYPTION_RATIO,
        "decrypt_ms": ms(decrypt_time),
        "decrypt_share": rounded(ratio(decrypt_time, with_encryption), 3),
        "rows_rewritten": len(updates),
        "values_rewritten": written,
        "copy_seconds": round(copy_seconds, 1),
        "same_html": True,
    }


def measure() -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from django.test import Client
    from django.urls import reverse

    from circlekeeper.cases.models import Case
    from circlekeeper.lib.crypto import DecryptionError
    from circlekeeper.testing import sign_in

    users = get_user_model().objects
    keeper, evaluator = Client(), Client()
    # As someone past their second factor (adds a TOTP device in the bench database).
    sign_in(keeper, users.get(email=KEEPER))
    sign_in(evaluator, users.get(email=EVALUATOR))
    # A case of the keeper's team with the most participants (whose identifying details are encrypted), the
    # most recent of those: a full case page rather than a bare one.
    case = (
        Case.objects.filter(assignments__user__email=KEEPER)
        .annotate(people=Count("participants", distinct=True))
        .order_by("-people", "-pk")
        .first()
    )
    if case is None:
        raise RuntimeError(f"{KEEPER} has no case: seed the data set first")
    pages = [
        ("keeper dashboard", keeper, reverse("dashboard")),
        ("case list (open)", keeper, reverse("cases:list") + "?status=open"),
        ("case detail", keeper, reverse("cases:detail", args=[case.pk])),
        ("case timeline", keeper, reverse("protocol:timeline", args=[case.pk])),
        ("safety check page", keeper, reverse("safety:case", args=[case.pk])),
        ("evaluation dashboard", evaluator, reverse("evaluation:dashboard")),
    ]
    figures = []
    for name, client, url in pages:

        def get(client: Client = client, url: str = url, name: str = name) -> Any:
            return ok(client.get(url), name)

        figures.append(page_figures(name, url, get))
    detail = pages[2][2]
    try:
        encryption = encryption_figures("case detail", lambda: ok(keeper.get(detail), "case detail"))
    except (RuntimeError, DecryptionError) as exc:
        # A check failed (other queries, other HTML, a decryption on the copy, a value left sealed in it):
        # no ratio, said plainly, and the rest of `make bench` still runs.
        encryption = {"page": "case detail", "error": str(exc)}
    return {
        "user": KEEPER,
        "evaluator": EVALUATOR,
        "case": case.reference,
        "pages": figures,
        "encryption": encryption,
        "note": (
            "Medians of in-process requests (test Client), not under load; sql_ms replays the page's reads only. "
            "The evaluation dashboard is its index page (links; no numbers computed). Encryption: the case "
            "detail page against the same page on a copy of the database holding its values unencrypted."
        ),
    }

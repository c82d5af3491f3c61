"""Issue 20: the sign-in burst and the mixed read/write load, against gunicorn as in production.

- signins: BENCH_SIGNINS (default 200) sign-ins at once, a quarter of them with a wrong password from one
  address, while a probe asks /healthz every half second. Target: 0 errors (5xx, timeouts, refused connections;
  a wrong password's 200 or a throttle's 429 is the right answer, not an error), and the site keeps answering.
- mixed: BENCH_MIXED_CLIENTS (default 40) signed-in clients for BENCH_MIXED_SECONDS (default 60), each in a loop
  reading the case list and a case and adding a note (with the form's token, as a browser sends it). Target: 0
  5xx, and every note that got a success answer is in the database exactly once, none extra (checked afterwards
  by decrypting the notes of the cases used).
Run alone: `python -m bench.run --only reliability` (SQLite by default; DATABASE_URL=postgres://... for PostgreSQL).
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from bench import load

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = os.environ.get("BENCH_LOAD_PASSWORD", "circle-demo-2026")
ACCOUNTS = tuple(
    f"{r}@{o}.example" for r in ("keeper", "supervisor", "advocate") for o in ("harbor", "valley", "bridge")
)
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
CASE_LINK = re.compile(r'href="/cases/(\d+)/"')
TIMEOUT = 300  # a browser waits minutes; what counts is that every sign-in is answered, and not with a 5xx


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Client:
    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)

    def request(self, path: str, data: dict[str, str] | None = None) -> tuple[int, str, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        url = f"{self.base}{path}"  # always http://127.0.0.1:<port>, our own server
        req = urllib.request.Request(url, data=body, headers={"Referer": url})  # noqa: S310
        try:
            with self.opener.open(req, timeout=TIMEOUT) as answer:  # nosec B310
                return (
                    answer.status,
                    answer.read().decode(errors="replace"),
                    answer.headers.get("Location", ""),
                )
        except urllib.error.HTTPError as answer:
            return answer.code, answer.read().decode(errors="replace"), answer.headers.get("Location", "")

    def sign_in(self, email: str, password: str) -> int:
        _status, page, _ = self.request("/accounts/login/")
        found = CSRF.search(page)
        if not found:
            raise RuntimeError("the login page has no CSRF token")
        data = {"username": email, "password": password, "csrfmiddlewaretoken": found.group(1)}
        token = FORM_TOKEN.search(page)
        if token:
            data["form_token"] = token.group(1)
        status, _body, _location = self.request("/accounts/login/", data)
        return status


def _probe(base: str, stop: threading.Event, answers: Counter[str]) -> None:
    while not stop.wait(0.5):
        started = time.monotonic()
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=10) as answer:  # noqa: S310 # nosec B310
                answers[str(answer.status)] += 1
        except urllib.error.HTTPError as answer:
            answers[str(answer.code)] += 1
        except OSError:
            answers["no answer"] += 1
        answers["slowest_ms"] = max(answers["slowest_ms"], int((time.monotonic() - started) * 1000))


def signin_burst(base: str, count: int) -> dict[str, Any]:
    outcomes: Counter[str] = Counter()
    barrier = threading.Barrier(count)

    def one(n: int) -> None:
        client = Client(base)
        wrong = n % 4 == 3
        email = f"nobody{n}@nowhere.example" if wrong else ACCOUNTS[n % len(ACCOUNTS)]
        try:
            barrier.wait(timeout=60)
            status = client.sign_in(email, "not the password" if wrong else PASSWORD)
        except Exception as exc:
            outcomes[f"error: {type(exc).__name__}"] += 1
            return
        expected = (200, 429) if wrong else (302,)
        outcomes["ok" if status in expected else f"error: {status}"] += 1

    stop, probe = threading.Event(), Counter[str]()
    prober = threading.Thread(target=_probe, args=(base, stop, probe))
    prober.start()
    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    stop.set()
    prober.join()
    errors = sum(v for k, v in outcomes.items() if k.startswith("error"))
    return {
        "sign_ins": count,
        "seconds": round(seconds, 1),
        "outcomes": dict(outcomes),
        "errors": errors,
        "healthz_while_busy": dict(probe),
        "meets_target": errors == 0 and set(probe) <= {"200", "slowest_ms"},
    }


def mixed_load(base: str, clients: int, seconds: float) -> dict[str, Any]:
    from circlekeeper.cases.models import CaseNote

    statuses: Counter[str] = Counter()
    saved: list[str] = []
    cases_used: set[int] = set()
    lock = threading.Lock()
    run_id = uuid.uuid4().hex[:8]

    def one(n: int) -> None:
        client = Client(base)
        try:
            if client.sign_in(ACCOUNTS[n % len(ACCOUNTS)], PASSWORD) != 302:
                statuses["error: sign-in"] += 1
                return
            _s, listing, _l = client.request("/cases/")
            cases = list(dict.fromkeys(int(c) for c in CASE_LINK.findall(listing)))[:5]
            deadline, i = time.monotonic() + seconds, 0
            while cases and time.monotonic() < deadline:
                case = cases[i % len(cases)]
                status, page, _ = client.request(f"/cases/{case}/")
                statuses[str(status)] += 1
                csrf, token = CSRF.search(page), FORM_TOKEN.findall(page)
                text = f"bench {run_id} client {n} note {i}"
                data = {"text": text, "csrfmiddlewaretoken": csrf.group(1) if csrf else ""}
                note_tokens = token[-1:]  # the note form is the last form on the page
                if note_tokens:
                    data["form_token"] = note_tokens[0]
                status, _body, _location = client.request(f"/cases/{case}/notes/", data)
                statuses[str(status)] += 1
                if status == 302:
                    with lock:
                        saved.append(text)
                        cases_used.add(case)
                i += 1
        except Exception as exc:
            statuses[f"error: {type(exc).__name__}"] += 1

    threads = [threading.Thread(target=one, args=(n,)) for n in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    stored = Counter(
        note.text
        for note in CaseNote.objects.filter(case_id__in=cases_used)
        if str(note.text).startswith(f"bench {run_id} ")
    )
    lost = [t for t in saved if stored[t] == 0]
    duplicated = [t for t, c in stored.items() if c > 1]
    extra = [t for t in stored if t not in set(saved)]
    server_errors = sum(v for k, v in statuses.items() if k.startswith("5") or k.startswith("error"))
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": dict(statuses),
        "notes_saved": len(saved),
        "lost": len(lost),
        "duplicated": len(duplicated),
        "extra": len(extra),
        "server_errors": server_errors,
        "meets_target": server_errors == 0 and not lost and not duplicated and not extra,
    }


def measure() -> dict[str, Any]:
    port = load.free_port()
    log = ROOT / "var" / "bench" / "reliability-gunicorn.log"
    with load.gunicorn(port, log) as server:
        base = f"http://127.0.0.1:{port}"
        burst = signin_burst(base, int(os.environ.get("BENCH_SIGNINS", "200")))
        load.wait_until_up(base, server)  # the burst's last requests drained before the mix starts
        mixed = mixed_load(
            base,
            int(os.environ.get("BENCH_MIXED_CLIENTS", "40")),
            float(os.environ.get("BENCH_MIXED_SECONDS", "60")),
        )
    return {"signin_burst": burst, "mixed_writes": mixed}

"""Issue 20: the sign-in burst and the mixed read/write load, on the site as scripts/serve.sh runs it.

- signins: BENCH_SIGNINS (default 200) sign-ins at once, a quarter of them with a wrong password from one
  address, while two probes ask, every half second, /healthz and a signed-in page (the case list, for someone
  who signed in before the burst). Target: 0 errors (5xx other than the "too many sign-ins at once" page, timeouts,
  refused connections; a wrong password's 200 or a throttle's 429 is the right answer, not an error); a sign-in
  told "too many at once" (503 with Retry-After, lib/password_checks.py) tries again after that wait, as a person
  would; and the site keeps answering: each probe answered within 2 s at least 95% of the time, none failed.
- mixed: BENCH_MIXED_CLIENTS (default 40) signed-in clients for BENCH_MIXED_SECONDS (default 60), each in a loop
  reading the case list and a case and adding a note (with the form's token, as a browser sends it). Target: 0
  5xx, and every note that got a success answer is in the database exactly once, none extra (checked afterwards
  by decrypting the notes of the cases used).
- recovery: the site as `scripts/serve.sh` runs it (gunicorn and the supervised worker), BENCH_RECOVERY_CLIENTS
  (default 10) clients of the mixed load for BENCH_RECOVERY_SECONDS (default 40); meanwhile the worker is killed
  with SIGKILL, a task is queued right after, and it must run (serve.sh restarts the worker; no manual action).
  On PostgreSQL the database then goes away under the load, and web and worker must come back by themselves
  (requests may fail with 503 meanwhile, never 500): by default by ending every connection to the bench's own
  database (pg_terminate_backend, current_database() only: other databases on the server are not touched); with
  BENCH_RESTART_POSTGRES=1, by restarting the server: the command in BENCH_PG_RESTART_COMMAND when it is set
  (split as a shell would, run without a shell; for a private throwaway instance, such as `su postgres -c
  "pg_ctl -D /tmp/pgpriv/data -o '-p 5441 -k /tmp/pgpriv' -m fast restart"`), else `pg_ctlcluster
  BENCH_PG_CLUSTER restart` (BENCH_PG_CLUSTER such as "16 main"). Either needs the rights to do it, and stops
  every other database on that server for a moment: never on a shared server.
  BENCH_RELIABILITY_STEPS=recovery runs the recovery step alone (default: all three steps).
Run alone: `python -m bench.run --only reliability` (SQLite by default; DATABASE_URL=postgres://... for PostgreSQL).
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import os
import random
import re
import shlex
import signal
import subprocess  # nosec B404: our own server script
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
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
BUSY = "Too many sign-ins at once"
BUSY_WAIT = 5.0  # the Retry-After of lib/password_checks.py
PROBE_TIMEOUT = 60
TARGET_WITHIN_SECONDS = 2.0
TARGET_WITHIN_SHARE = 0.95
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

    def sign_in_patiently(self, email: str, password: str, retries: list[int]) -> int:
        """Sign in; told "too many sign-ins at once" (503, Retry-After), wait that long and a little more (as
        people do, not all at the same instant) and send the form again."""
        for _attempt in range(60):
            status, page, _ = self.request("/accounts/login/")
            found = CSRF.search(page)
            if not found:
                raise RuntimeError(f"the login page has no CSRF token ({status})")
            data = {"username": email, "password": password, "csrfmiddlewaretoken": found.group(1)}
            token = FORM_TOKEN.search(page)
            if token:
                data["form_token"] = token.group(1)
            status, body, _location = self.request("/accounts/login/", data)
            if status != 503 or BUSY not in body:
                return status
            retries.append(1)
            time.sleep(BUSY_WAIT + random.uniform(0, BUSY_WAIT))  # noqa: S311 # nosec B311: jitter, not a secret
        return status


def _probe(ask: Any, stop: threading.Event, answers: list[tuple[float, str]], *, every: float = 0.5) -> None:
    """Ask every `every` seconds until stopped; each answer's (seconds, status)."""
    while not stop.wait(every):
        started = time.monotonic()
        try:
            status = str(ask())
        except Exception as exc:  # a failure to answer is what is counted
            status = f"no answer: {type(exc).__name__}"
        answers.append((time.monotonic() - started, status))


def _healthz(base: str) -> int:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=PROBE_TIMEOUT) as answer:  # noqa: S310 # nosec B310
            return int(answer.status)
    except urllib.error.HTTPError as answer:
        return int(answer.code)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def probe_summary(answers: list[tuple[float, str]], ok: str = "200") -> dict[str, Any]:
    within = [s for s, status in answers if status == ok and s <= TARGET_WITHIN_SECONDS]
    failed = Counter(status for _s, status in answers if status != ok)
    return {
        "asked": len(answers),
        "answered_within_2s": len(within),
        "share_within_2s": round(len(within) / len(answers), 3) if answers else 0.0,
        "p95_ms": int(percentile([s for s, _status in answers], 0.95) * 1000),
        "slowest_ms": int(max((s for s, _status in answers), default=0) * 1000),
        "failed": dict(failed),
    }


def _probe_meets(summary: dict[str, Any]) -> bool:
    return (
        bool(summary["asked"]) and not summary["failed"] and summary["share_within_2s"] >= TARGET_WITHIN_SHARE
    )


def signin_burst(base: str, count: int) -> dict[str, Any]:
    outcomes: Counter[str] = Counter()
    retries: list[int] = []
    barrier = threading.Barrier(count)

    def one(n: int) -> None:
        client = Client(base)
        wrong = n % 4 == 3
        email = f"nobody{n}@nowhere.example" if wrong else ACCOUNTS[n % len(ACCOUNTS)]
        try:
            barrier.wait(timeout=60)
            status = client.sign_in_patiently(email, "not the password" if wrong else PASSWORD, retries)
        except Exception as exc:
            outcomes[f"error: {type(exc).__name__}"] += 1
            return
        expected = (200, 429) if wrong else (302,)
        outcomes["ok" if status in expected else f"error: {status}"] += 1

    # Someone already signed in, reading the case list while the others sign in.
    reader = Client(base)
    if reader.sign_in(ACCOUNTS[0], PASSWORD) != 302:
        raise RuntimeError("the reading probe could not sign in before the burst")

    def read_cases() -> int:
        status, _page, _ = reader.request("/cases/")
        return status

    stop = threading.Event()
    health_answers: list[tuple[float, str]] = []
    page_answers: list[tuple[float, str]] = []
    probes = [
        threading.Thread(target=_probe, args=(lambda: _healthz(base), stop, health_answers)),
        threading.Thread(target=_probe, args=(read_cases, stop, page_answers)),
    ]
    for probe in probes:
        probe.start()
    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    stop.set()
    for probe in probes:
        probe.join()
    errors = sum(v for k, v in outcomes.items() if k.startswith("error"))
    healthz, page = probe_summary(health_answers), probe_summary(page_answers)
    return {
        "sign_ins": count,
        "seconds": round(seconds, 1),
        "outcomes": dict(outcomes),
        "errors": errors,
        "told_to_wait": len(retries),
        "healthz_while_busy": healthz,
        "case_list_while_busy": page,
        "target": {
            "errors": 0,
            "probes_share_within_2s": TARGET_WITHIN_SHARE,
            "probe_failures": 0,
        },
        "meets_target": errors == 0 and _probe_meets(healthz) and _probe_meets(page),
    }


def _which_503(status: int, page: str) -> str:
    """Which 503 page this is ("" for any other answer): the database away, or too many sign-ins at once."""
    if status != 503:
        return ""
    if "cannot reach its database" in page:
        return "database unavailable"
    if "Too many sign-ins" in page:
        return "too many sign-ins"
    return "other 503"


def mixed_load(base: str, clients: int, seconds: float) -> dict[str, Any]:
    from circlekeeper.cases.models import CaseNote

    statuses: Counter[str] = Counter()
    unavailable: Counter[str] = Counter()  # the 503s by page: the database away, or too many sign-ins
    saved: list[str] = []
    cases_used: set[int] = set()
    lock = threading.Lock()
    told_to_wait: list[int] = []
    run_id = uuid.uuid4().hex[:8]

    def one(n: int) -> None:
        client = Client(base)
        try:
            # Told "too many sign-ins at once" (a 503 by design), a client waits and tries again, as people do.
            if client.sign_in_patiently(ACCOUNTS[n % len(ACCOUNTS)], PASSWORD, told_to_wait) != 302:
                statuses["error: sign-in"] += 1
                return
            _s, listing, _l = client.request("/cases/")
            cases = list(dict.fromkeys(int(c) for c in CASE_LINK.findall(listing)))[:5]
            deadline, i = time.monotonic() + seconds, 0
            while cases and time.monotonic() < deadline:
                case = cases[i % len(cases)]
                status, page, _ = client.request(f"/cases/{case}/")
                statuses[str(status)] += 1
                unavailable[_which_503(status, page)] += 1
                if (
                    status != 200
                ):  # no form to send (the database away: a 503): read the page again, as people do
                    time.sleep(1)
                    i += 1
                    continue
                csrf, token = CSRF.search(page), FORM_TOKEN.findall(page)
                text = f"bench {run_id} client {n} note {i}"
                data = {"text": text, "csrfmiddlewaretoken": csrf.group(1) if csrf else ""}
                note_tokens = token[-1:]  # the note form is the last form on the page
                if note_tokens:
                    data["form_token"] = note_tokens[0]
                status, body, _location = client.request(f"/cases/{case}/notes/", data)
                statuses[str(status)] += 1
                unavailable[_which_503(status, body)] += 1
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
        "answered_503_by_page": {k: v for k, v in unavailable.items() if k},
        "sign_ins_told_to_wait": len(told_to_wait),
        "notes_saved": len(saved),
        "lost": len(lost),
        "duplicated": len(duplicated),
        "extra": len(extra),
        "server_errors": server_errors,
        "meets_target": server_errors == 0 and not lost and not duplicated and not extra,
    }


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def worker_pids(root: int) -> list[int]:
    """The `manage.py run_worker` processes started under `root` (our serve.sh), found through /proc: never a
    worker of anyone else on the machine."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid, ancestor = int(entry.name), _parent_of(int(entry.name))
        while ancestor is not None and ancestor not in (0, 1, root):
            ancestor = _parent_of(ancestor)
        if ancestor != root:
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"run_worker" in command and any(part.endswith(b"manage.py") for part in command):
            found.append(pid)
    return found


def _wait_for(what: str, check: Any, timeout: float) -> float:
    """Seconds until check() is true; RuntimeError after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if check():
                return round(time.monotonic() - started, 1)
        except Exception:  # the database may be coming back: ask again
            from django.db import connection

            connection.close()
        time.sleep(0.5)
    raise RuntimeError(f"{what}: not within {timeout:.0f} s")


def _task_runs(mark: str, timeout: float = 180) -> float:
    """Queue the worker check and return the seconds until a worker has run it."""
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from circlekeeper.lib.tasks import worker_check

    queued = worker_check.enqueue(mark)
    return _wait_for(
        f"the task queued as {mark!r} ran",
        lambda: DBTaskResult.objects.get(id=queued.id).status == TaskResultStatus.SUCCESSFUL,
        timeout,
    )


def restart_command(environ: Mapping[str, str]) -> list[str]:
    """The command that restarts the PostgreSQL server: BENCH_PG_RESTART_COMMAND (split as a shell would),
    else `pg_ctlcluster BENCH_PG_CLUSTER restart`."""
    given = environ.get("BENCH_PG_RESTART_COMMAND", "").strip()
    if given:
        return shlex.split(given)
    cluster = environ.get("BENCH_PG_CLUSTER", "").split()
    if len(cluster) != 2:
        raise RuntimeError(
            'BENCH_RESTART_POSTGRES=1 needs BENCH_PG_RESTART_COMMAND, or BENCH_PG_CLUSTER such as "16 main"'
        )
    return ["pg_ctlcluster", *cluster, "restart"]


def _database_outage() -> dict[str, Any]:
    """End every connection to the bench database (or, when asked, restart the PostgreSQL server)."""
    from django.db import connection

    if os.environ.get("BENCH_RESTART_POSTGRES") == "1":
        command = restart_command(os.environ)
        started = time.monotonic()
        subprocess.run(command, check=True, timeout=120)  # noqa: S603 - the operator's own command
        connection.close()
        return {
            "how": f"server restarted: {shlex.join(command)}",
            "restart_seconds": round(time.monotonic() - started, 1),
        }
    with connection.cursor() as cursor:
        # This database's other connections only (the web's, the worker's): other databases are not touched.
        cursor.execute(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()) AS ended"
        )
        ended = int(cursor.fetchone()[0])
    return {
        "how": "pg_terminate_backend on every other connection to this database",
        "connections_ended": ended,
    }


@contextlib.contextmanager
def served(log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """The site as `scripts/serve.sh` runs it (gunicorn and the supervised worker), in its own process group;
    up once /healthz is 200 (which needs the worker: /healthz is 503 while due tasks wait with no worker)."""
    port = load.free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PORT": str(port), "VENV": sys.prefix, "WORKER_RESTART_DELAY": "1"}
    with log.open("ab") as output:
        server = subprocess.Popen(  # noqa: S603
            ["bash", str(ROOT / "scripts" / "serve.sh")],  # noqa: S607
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=output,
            start_new_session=True,  # its own process group: stopped below by that group's id
        )
    try:
        load.wait_until_up(base, server, timeout=300)
        yield server, base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def recovery(clients: int, seconds: float) -> dict[str, Any]:
    """The site as scripts/serve.sh runs it, under the mixed load: the worker killed, then (PostgreSQL) the
    database gone for a moment. Nobody restarts anything by hand."""
    from django.db import connection

    report: dict[str, Any] = {"clients": clients}
    outcome: dict[str, Any] = {}
    with served(ROOT / "var" / "bench" / "reliability-serve.log") as (server, base):
        _wait_for("serve.sh started the worker", lambda: worker_pids(server.pid), 120)
        report["task_before_kill_seconds"] = _task_runs("before the kill")
        mix = threading.Thread(target=lambda: outcome.update(mixed_load(base, clients, seconds)))
        mix.start()
        time.sleep(min(5.0, seconds / 4))
        killed = worker_pids(server.pid)
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        report["worker_killed"] = len(killed)
        report["task_queued_after_kill_ran_seconds"] = _task_runs("after the kill")
        restarted = worker_pids(server.pid)
        report["worker_restarted"] = bool(restarted) and not set(restarted) & set(killed)
        if connection.vendor == "postgresql":
            time.sleep(3)
            outage_began = time.monotonic()
            report["database_outage"] = _database_outage()
            report["healthz_back_seconds"] = _wait_for(
                "/healthz is 200 again", lambda: _healthz(base) == 200, 180
            )
            # From the moment the outage began (for a restart: before the server was stopped).
            report["healthz_back_after_outage_began_seconds"] = round(time.monotonic() - outage_began, 1)
            report["task_queued_after_outage_ran_seconds"] = _task_runs("after the outage")
        mix.join()
        report["web_server_alive"] = server.poll() is None
    requests = outcome.get("requests", {})
    report.update(
        {
            "seconds": outcome.get("seconds"),
            "requests": requests,
            "notes_saved": outcome.get("notes_saved"),
            "lost": outcome.get("lost"),
            "duplicated": outcome.get("duplicated"),
            "extra": outcome.get("extra"),
            "answered_503": sum(v for k, v in requests.items() if k == "503"),
            "answered_503_by_page": outcome.get("answered_503_by_page", {}),
            # Anything but a page, a redirect or the outage's 503 (a 500, a 403, a client's exception).
            "other_errors": sum(v for k, v in requests.items() if k not in ("200", "302", "503")),
            "target": "the task queued after the kill runs; 0 errors other than 503 while the database is away; "
            "0 lost, duplicated or extra notes; gunicorn never stopped",
        }
    )
    report["meets_target"] = bool(
        report.get("worker_restarted")
        and report.get("web_server_alive")
        and report["other_errors"] == 0
        and not report["lost"]
        and not report["duplicated"]
        and not report["extra"]
    )
    return report


def measure() -> dict[str, Any]:
    steps = os.environ.get("BENCH_RELIABILITY_STEPS", "").split(",")
    if steps == ["recovery"]:
        return {
            "recovery": recovery(
                int(os.environ.get("BENCH_RECOVERY_CLIENTS", "10")),
                float(os.environ.get("BENCH_RECOVERY_SECONDS", "40")),
            )
        }
    # The site as scripts/serve.sh runs it: gunicorn and the worker, as in production.
    with served(ROOT / "var" / "bench" / "reliability-serve.log") as (server, base):
        burst = signin_burst(base, int(os.environ.get("BENCH_SIGNINS", "200")))
        load.wait_until_up(base, server)  # the burst's last requests drained before the mix starts
        mixed = mixed_load(
            base,
            int(os.environ.get("BENCH_MIXED_CLIENTS", "40")),
            float(os.environ.get("BENCH_MIXED_SECONDS", "60")),
        )
    restarts = recovery(
        int(os.environ.get("BENCH_RECOVERY_CLIENTS", "10")),
        float(os.environ.get("BENCH_RECOVERY_SECONDS", "40")),
    )
    return {"signin_burst": burst, "mixed_writes": mixed, "recovery": restarts}

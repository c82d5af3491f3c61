"""The load test's clients (issue 10 item 2), run by bench/load.py in its own process:

    locust -f bench/locustfile.py --headless -u 16 -r 16 -t 180s --host http://127.0.0.1:PORT --csv PREFIX

Each client signs in through the real login form (its CSRF token read from the page) as a demo account, password
BENCH_LOAD_PASSWORD (default the demo's). Case workers (keeper, supervisor and advocate of each demo organization,
taken in turn) then read their case list filtered to open cases for cases of their own team; BENCH_LOAD_EVALUATORS
clients (default 2) sign in as the organizations' evaluators. Requests made while setting up are named "setup: ..."
so load.py can leave them out of the page figures (their failures still count as errors).

The mix starts when all BENCH_LOAD_USERS clients are set up (the sign-ins' password hashing would otherwise
weigh on the first seconds) and lasts BENCH_LOAD_SECONDS; then this file stops locust itself (-t is only a safety
limit) and writes when the mix started and stopped to BENCH_LOAD_TIMES (JSON), for load.py's throughput. In the
mix, with no think time: case workers open the keeper dashboard, the case list (open), and the detail, timeline
and safety page of their cases; evaluators open the evaluation dashboard. Only locust and the standard library.
The clients are FastHttpUser (geventhttpclient): the load generator shares the server's two cores, and the
requests-based HttpUser spends several times more of them per request than the pages it measures.

With BENCH_LOAD_FLOOR=1 (bench/load.py's floor phase, issue 23) the same clients, started and timed the same way,
request only the floor (bench/floor.py, served alone): GET /floor/?page=N with N at random, no sign-in.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import time
from pathlib import Path
from typing import Any, ClassVar

import gevent
import gevent.event
from locust import FastHttpUser, constant, events, stats, task
from locust.env import Environment
from locust.exception import StopUser

PASSWORD = os.environ.get("BENCH_LOAD_PASSWORD", "circle-demo-2026")
ORGANIZATIONS = ("harbor", "valley", "bridge")
CASE_WORKERS = tuple(
    f"{role}@{org}.example" for role in ("keeper", "supervisor", "advocate") for org in ORGANIZATIONS
)
EVALUATORS = tuple(f"evaluator@{org}.example" for org in ORGANIZATIONS)
SETUP = "setup: "
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CASE_LINK = re.compile(r'href="/cases/(\d+)/"')
CASES_PICKED = 20
CLIENTS = int(os.environ.get("BENCH_LOAD_USERS", "16"))
MIX_SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "60"))
TIMES_FILE = os.environ.get("BENCH_LOAD_TIMES", "")
FLOOR = os.environ.get("BENCH_LOAD_FLOOR", "") == "1"
FLOOR_PAGES = 2_000  # bench/floor.py: 100,000 rows, 50 a page
FLOOR_NAME = "floor"
SIGN_IN_TRIES = max(1, int(os.environ.get("BENCH_SIGN_IN_TRIES", "20")))


class Mix:
    """The clients' meeting point: the mix starts once every client has finished setting up (or failed to)."""

    ready = gevent.event.Event()
    set_up = 0
    started_at: float | None = None

    @classmethod
    def arrive(cls, environment: Environment) -> None:
        cls.set_up += 1
        if cls.set_up >= CLIENTS and not cls.ready.is_set():
            cls.started_at = time.time()
            cls.ready.set()
            if environment.runner is not None:
                gevent.spawn_later(MIX_SECONDS, environment.runner.quit)


@events.test_stop.add_listener
def _last_statistics(**_kwargs: Any) -> None:
    """Write when the mix ran; then let locust's CSV writer (it rewrites the files every CSV_STATS_INTERVAL_SEC) run
    once more now that the clients have stopped, so the CSV holds every request, the last second's too."""
    if TIMES_FILE:
        stopped = time.time()
        started = Mix.started_at
        times = {
            "started_at": started,
            "stopped_at": stopped,
            "seconds": None if started is None else stopped - started,
        }
        Path(TIMES_FILE).write_text(json.dumps(times) + "\n", encoding="utf-8")
    gevent.sleep(stats.CSV_STATS_INTERVAL_SEC + 0.2)


def csrf_token(html: str) -> str:
    """The login form's CSRF token; ValueError when the page has none."""
    found = CSRF_INPUT.search(html)
    if found is None:
        raise ValueError("the login page has no CSRF token")
    return found.group(1)


def retry_after(header: str | None, default: float = 1.0) -> float:
    """Seconds to wait before trying again, from a Retry-After header in seconds (1 s when absent or unreadable,
    at most 30)."""
    try:
        seconds = float(header) if header is not None else default
    except ValueError:
        seconds = default
    return min(max(seconds, 0.0), 30.0)


def case_ids(html: str, limit: int = CASES_PICKED) -> list[int]:
    """The cases a case list page links to, in order, each once."""
    return list(dict.fromkeys(int(found) for found in CASE_LINK.findall(html)))[:limit]


class SignedIn(FastHttpUser):
    abstract = True
    wait_time = constant(0)
    accounts: ClassVar[tuple[str, ...]] = ()
    _turn: ClassVar[Any] = None
    email = ""

    def on_start(self) -> None:
        cls = type(self)
        if cls._turn is None:
            cls._turn = itertools.count()
        self.email = cls.accounts[next(cls._turn) % len(cls.accounts)]
        try:
            self.sign_in()
            self.set_up()
        finally:
            Mix.arrive(self.environment)
        Mix.ready.wait()

    def set_up(self) -> None:
        """What a client reads once signed in, before the mix."""

    def sign_in(self) -> None:
        """Sign in through the form. The server answers "too many sign-ins at once" (503 with Retry-After) when
        more password checks wait than it allows (issue 20): that is the design working, not an error, so the
        client waits as long as it is told and tries again, up to BENCH_SIGN_IN_TRIES times."""
        page = self.client.get("/accounts/login/", name=f"{SETUP}login page")
        token = csrf_token(page.text)
        for _try in range(SIGN_IN_TRIES):
            with self.client.post(
                "/accounts/login/",
                data={"username": self.email, "password": PASSWORD, "csrfmiddlewaretoken": token},
                headers={"Referer": f"{self.host}/accounts/login/"},
                name=f"{SETUP}sign in",
                allow_redirects=False,
                catch_response=True,
            ) as response:
                if response.status_code == 503 and _try + 1 < SIGN_IN_TRIES:
                    response.success()
                    gevent.sleep(retry_after(response.headers.get("Retry-After")))
                    continue
                if response.status_code != 302 or "/accounts/login/" in response.headers.get("Location", ""):
                    response.failure(f"{self.email} could not sign in (status {response.status_code})")
                return

    def page(self, url: str, name: str) -> None:
        """A GET that fails unless it answers 200 (a redirect to the login page is a failure too)."""
        with self.client.get(url, name=name, allow_redirects=False, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")


class CaseWorker(SignedIn):
    abstract = FLOOR
    accounts = CASE_WORKERS
    cases: list[int]

    def set_up(self) -> None:
        with self.client.get("/cases/?status=open", name=f"{SETUP}case list", catch_response=True) as listing:
            self.cases = case_ids(listing.text) if listing.status_code == 200 else []
            if not self.cases:
                listing.failure(
                    f"{self.email} sees no open case of their team (status {listing.status_code})"
                )

    def case(self) -> int:
        if not self.cases:
            raise StopUser  # its failure is recorded already; it takes no further part
        return random.choice(self.cases)  # noqa: S311 - not for security

    @task(1)
    def keeper_dashboard(self) -> None:
        self.page("/dashboard/", "keeper dashboard")

    @task(2)
    def case_list(self) -> None:
        self.page("/cases/?status=open", "case list (open)")

    @task(3)
    def case_detail(self) -> None:
        self.page(f"/cases/{self.case()}/", "case detail")

    @task(2)
    def case_timeline(self) -> None:
        self.page(f"/protocol/cases/{self.case()}/timeline/", "case timeline")

    @task(2)
    def safety_page(self) -> None:
        self.page(f"/safety/cases/{self.case()}/", "safety check page")


EVALUATOR_CLIENTS = int(os.environ.get("BENCH_LOAD_EVALUATORS", "2"))


class Evaluator(SignedIn):
    accounts = EVALUATORS
    fixed_count = EVALUATOR_CLIENTS
    abstract = FLOOR or EVALUATOR_CLIENTS == 0  # a fixed_count of 0 would mean "by weight" to locust

    @task
    def evaluation_dashboard(self) -> None:
        self.page("/evaluation/dashboard/", "evaluation dashboard")


class FloorReader(FastHttpUser):
    """The floor phase's client: nothing to set up but the meeting point, then the floor page with no think time."""

    abstract = not FLOOR
    wait_time = constant(0)

    def on_start(self) -> None:
        Mix.arrive(self.environment)
        Mix.ready.wait()

    @task
    def floor(self) -> None:
        number = random.randrange(FLOOR_PAGES)  # noqa: S311  # nosec B311 - not for security
        with self.client.get(
            f"/floor/?page={number}", name=FLOOR_NAME, allow_redirects=False, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")

"""A web worker loads no data-analysis library until a page needs one (issue 10: a web worker's peak RSS under
load at most 250 MB).

A gunicorn worker imports circlekeeper.urls when it starts. pandas, numpy, scipy, statsmodels, networkx and
pyreadstat took its memory from about 58 MB to 240 MB, for pages that never use them: they are imported inside
the functions that need them (dataset's frames, the dashboards' computing half, a Stata export, the pods'
graphs), never at start-up. The check runs in a fresh Python process, since this one has loaded them for
other tests: Django set up, every URL pattern resolved, then the six pages of the load test rendered.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("pandas", "numpy", "scipy", "statsmodels", "networkx", "pyreadstat")
# A library a page may load, and the module that may load it: none.
ALLOWED_FOR_NOW: dict[str, str] = {}

PROBE = textwrap.dedent(
    """
    import builtins, json, os, sys, traceback

    HEAVY = %(heavy)r
    ROOT = %(root)r
    first = {}  # a heavy library -> who imported it first: the importing module and our frames on the way
    real_import = builtins.__import__

    def recording_import(name, globals=None, locals=None, fromlist=(), level=0):
        top = name.split(".")[0]
        if level == 0 and top in HEAVY and top not in sys.modules and top not in first:
            frames = [
                f"{os.path.relpath(frame.filename, ROOT)}:{frame.lineno}"
                for frame in traceback.extract_stack()[:-1]
                if frame.filename.startswith(ROOT) and "/.venv/" not in frame.filename
            ]
            first[top] = {"importer": (globals or {}).get("__name__", "?"), "chain": frames}
        return real_import(name, globals, locals, fromlist, level)

    builtins.__import__ = recording_import

    def loaded():
        return {
            name: first.get(name, {"importer": "(not recorded)", "chain": []})
            for name in HEAVY
            if name in sys.modules
        }

    import django

    django.setup()

    import circlekeeper.urls  # noqa: F401  (what a gunicorn worker imports on its first request)
    from django.urls import URLResolver, get_resolver

    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)  # imports the included module
            else:
                pattern.callback

    walk(get_resolver().url_patterns)
    after_urls = loaded()

    # The pages, rendered in this process against a throwaway database.
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    setup_test_environment()
    connection.creation.create_test_db(verbosity=0, serialize=False)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

    from circlekeeper.accounts.models import Role
    from circlekeeper.cases.models import ParticipantRole, TeamRole
    from circlekeeper.testing import make_case, make_organization, make_participant, make_user, sign_in

    harbor = make_organization(name="Harbor", slug="harbor", case_prefix="HAR")
    keeper = make_user("alice@harbor.example", organization=harbor, roles=(Role.KEEPER,))
    evaluator = make_user("eve@harbor.example", organization=harbor, roles=(Role.EVALUATOR,))
    case = make_case(harbor, team=((keeper, TeamRole.KEEPER),))
    make_participant(case, role=ParticipantRole.SURVIVOR)
    make_participant(case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM)
    as_keeper, as_evaluator = Client(), Client()
    sign_in(as_keeper, keeper)
    sign_in(as_evaluator, evaluator)
    pages = {
        "keeper dashboard": (as_keeper, reverse("dashboard")),
        "case list (open)": (as_keeper, reverse("cases:list") + "?status=open"),
        "case detail": (as_keeper, reverse("cases:detail", args=[case.pk])),
        "case timeline": (as_keeper, reverse("protocol:timeline", args=[case.pk])),
        "safety page": (as_keeper, reverse("safety:case", args=[case.pk])),
        "evaluation dashboard": (as_evaluator, reverse("evaluation:dashboard")),
    }
    statuses = {name: client.get(url).status_code for name, (client, url) in pages.items()}

    print(json.dumps({"after_urls": after_urls, "after_pages": loaded(), "statuses": statuses}))
    """
)


@pytest.fixture(scope="module")
def probe() -> dict:
    # This process's environment is the test settings' (circlekeeper.pytest_plugin). The database is always
    # a throwaway SQLite one in memory: on PostgreSQL the probe would create (and drop) the shared test
    # database.
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env["DJANGO_SETTINGS_MODULE"] = "circlekeeper.settings"
    code = PROBE % {"heavy": HEAVY, "root": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _unexpected(loaded: dict) -> dict:
    return {name: found for name, found in loaded.items() if ALLOWED_FOR_NOW.get(name) != found["importer"]}


def _explain(loaded: dict) -> str:
    return "\n".join(
        f"{name} imported by {found['importer']}, through:\n    " + "\n    ".join(found["chain"])
        for name, found in loaded.items()
    )


def test_starting_a_web_worker_loads_no_data_analysis_library(probe):
    unexpected = _unexpected(probe["after_urls"])
    assert not unexpected, "Loaded by importing the URLs:\n" + _explain(unexpected)


def test_the_pages_of_the_load_test_load_no_data_analysis_library(probe):
    assert probe["statuses"] == dict.fromkeys(probe["statuses"], 200), probe["statuses"]
    assert len(probe["statuses"]) == 6
    unexpected = _unexpected(probe["after_pages"])
    assert not unexpected, "Loaded by rendering the pages:\n" + _explain(unexpected)

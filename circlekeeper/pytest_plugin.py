"""Loaded by pytest before Django starts (`-p` in pyproject.toml): the environment the test suite runs in.

Values already set in the environment win, so DATABASE_URL picks PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
import tempfile

import pytest

os.environ.setdefault("CIRCLEKEEPER_SECRET_KEY", "test-only-secret-key-" + "x" * 40)
os.environ.setdefault("CIRCLEKEEPER_VAR_DIR", tempfile.mkdtemp(prefix="circlekeeper-test-"))
# WhiteNoise looks for STATIC_ROOT at start-up; tests serve static files from the source folders instead.
os.makedirs(os.path.join(os.environ["CIRCLEKEEPER_VAR_DIR"], "static"), exist_ok=True)
# A fresh master key per run, in a file like production keeps it (never in the database).
_master_key_file = os.path.join(os.environ["CIRCLEKEEPER_VAR_DIR"], "test_master_key")
if "CIRCLEKEEPER_MASTER_KEY_FILE" not in os.environ and "CIRCLEKEEPER_MASTER_KEY" not in os.environ:
    _fd = os.open(_master_key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(_fd, "w", encoding="utf-8") as _handle:
        _handle.write(secrets.token_urlsafe(32))
    os.environ["CIRCLEKEEPER_MASTER_KEY_FILE"] = _master_key_file
os.environ.setdefault("CIRCLEKEEPER_STATIC_MANIFEST", "false")
os.environ.setdefault("CIRCLEKEEPER_HTTPS", "false")
# Required outside demo mode (settings.PUBLIC_URL): the address links in emails start with.
os.environ.setdefault("CIRCLEKEEPER_PUBLIC_URL", "http://127.0.0.1:8000")
os.environ["CIRCLEKEEPER_DEMO"] = "false"
# Each test process keeps its cache in memory (settings.CACHES): no file of one run is read by the next.
os.environ.setdefault("CIRCLEKEEPER_CACHE_DIR", "")


@pytest.fixture(autouse=True)
def _fresh_key_cache() -> None:
    """Each test starts with no unwrapped keys cached, as each request does (rolled-back keys must not linger)."""
    from circlekeeper.lib.keys import clear_key_cache

    clear_key_cache(everything=True)

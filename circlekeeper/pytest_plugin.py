"""Loaded by pytest before Django starts (`-p` in pyproject.toml): the environment the test suite runs in.

Values already set in the environment win, so DATABASE_URL picks PostgreSQL.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("CIRCLEKEEPER_SECRET_KEY", "test-only-secret-key-" + "x" * 40)
os.environ.setdefault("CIRCLEKEEPER_VAR_DIR", tempfile.mkdtemp(prefix="circlekeeper-test-"))
# WhiteNoise looks for STATIC_ROOT at start-up; tests serve static files from the source folders instead.
os.makedirs(os.path.join(os.environ["CIRCLEKEEPER_VAR_DIR"], "static"), exist_ok=True)
os.environ.setdefault("CIRCLEKEEPER_STATIC_MANIFEST", "false")
os.environ.setdefault("CIRCLEKEEPER_HTTPS", "false")
os.environ["CIRCLEKEEPER_DEMO"] = "false"

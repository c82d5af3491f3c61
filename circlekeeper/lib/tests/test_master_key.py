"""The master key comes from outside the database; without one, only demo mode starts (SECURITY.md 6)."""

import base64
import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PRINT_KEY = "from django.conf import settings; print(settings.MASTER_KEY.hex())"


def run_django(env, code="pass"):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CIRCLEKEEPER_", "DATABASE_URL"))}
    clean.update(
        {
            "CIRCLEKEEPER_SECRET_KEY": "s" * 50,
            "CIRCLEKEEPER_PUBLIC_URL": "https://circles.example.org",
            "DJANGO_SETTINGS_MODULE": "circlekeeper.settings",
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_missing_master_key_stops_startup_outside_demo_mode(tmp_path):
    result = run_django({"CIRCLEKEEPER_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert (
        "ImproperlyConfigured: CIRCLEKEEPER_MASTER_KEY_FILE (or CIRCLEKEEPER_MASTER_KEY) must be set"
        in result.stderr
    )
    assert not (tmp_path / "master_key").exists()


def test_the_master_key_is_read_from_its_file(tmp_path):
    key = secrets.token_bytes(32)
    path = tmp_path / "master.key"
    path.write_text(base64.urlsafe_b64encode(key).decode() + "\n")
    result = run_django(
        {"CIRCLEKEEPER_VAR_DIR": str(tmp_path), "CIRCLEKEEPER_MASTER_KEY_FILE": str(path)}, PRINT_KEY
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == key.hex()


def test_a_bad_or_unreadable_key_file_names_the_variable(tmp_path):
    for content in ("too-short", "!" * 43, secrets.token_urlsafe(48), ""):
        path = tmp_path / "bad.key"
        path.write_text(content)
        result = run_django(
            {"CIRCLEKEEPER_VAR_DIR": str(tmp_path), "CIRCLEKEEPER_MASTER_KEY_FILE": str(path)}
        )
        assert result.returncode != 0, content
        assert "CIRCLEKEEPER_MASTER_KEY" in result.stderr.splitlines()[-1], content
    missing = run_django(
        {"CIRCLEKEEPER_VAR_DIR": str(tmp_path), "CIRCLEKEEPER_MASTER_KEY_FILE": str(tmp_path / "nowhere")}
    )
    assert "CIRCLEKEEPER_MASTER_KEY_FILE=" in missing.stderr
    assert "cannot be read" in missing.stderr


def test_demo_mode_keeps_its_own_master_key_readable_by_the_owner_only(tmp_path):
    env = {"CIRCLEKEEPER_DEMO": "true", "CIRCLEKEEPER_VAR_DIR": str(tmp_path)}
    first = run_django(env, PRINT_KEY)
    second = run_django(env, PRINT_KEY)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert len(bytes.fromhex(first.stdout.strip())) == 32
    assert stat.S_IMODE((tmp_path / "master_key").stat().st_mode) == 0o600


def test_the_test_suite_runs_with_a_key_file_of_its_own():
    path = Path(os.environ["CIRCLEKEEPER_MASTER_KEY_FILE"])
    assert path.is_file()
    assert Path(os.environ["CIRCLEKEEPER_VAR_DIR"]) in path.parents

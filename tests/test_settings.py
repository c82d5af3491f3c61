from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from circlekeeper import settings as ck_settings

ROOT = Path(__file__).resolve().parent.parent
# Production settings need a master key as well as a secret key (urlsafe base64 of 32 bytes).
MASTER_KEY = "m" * 43


def run_django(env: dict[str, str], code: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CIRCLEKEEPER_", "DATABASE_URL"))}
    clean["CIRCLEKEEPER_PUBLIC_URL"] = "https://circles.example.org"
    clean.update(env)
    clean["DJANGO_SETTINGS_MODULE"] = "circlekeeper.settings"
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_envbool_reads_yes_and_no_and_refuses_anything_else(monkeypatch):
    monkeypatch.setenv("CK_FLAG", "yes")
    assert ck_settings.envbool("CK_FLAG", False) is True
    monkeypatch.setenv("CK_FLAG", "off")
    assert ck_settings.envbool("CK_FLAG", True) is False
    monkeypatch.setenv("CK_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="CK_FLAG must be true or false, not 'maybe'"):
        ck_settings.envbool("CK_FLAG", False)


def test_envint_refuses_words_and_values_below_the_minimum(monkeypatch):
    monkeypatch.setenv("CK_NUMBER", "thirty")
    with pytest.raises(ImproperlyConfigured, match="whole number"):
        ck_settings.envint("CK_NUMBER", 1)
    monkeypatch.setenv("CK_NUMBER", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        ck_settings.envint("CK_NUMBER", 5, minimum=1)
    monkeypatch.delenv("CK_NUMBER")
    assert ck_settings.envint("CK_NUMBER", 5) == 5


def test_secrets_can_come_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("CK_SECRET_FILE", str(secret))
    assert ck_settings.envstr("CK_SECRET") == "from-a-file"
    monkeypatch.setenv("CK_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        ck_settings.envstr("CK_SECRET")


def test_a_missing_secret_key_stops_startup_outside_demo_mode(tmp_path):
    result = run_django({"CIRCLEKEEPER_VAR_DIR": str(tmp_path)}, "pass")
    assert result.returncode != 0
    assert "CIRCLEKEEPER_SECRET_KEY" in result.stderr
    assert "ImproperlyConfigured" in result.stderr


def test_demo_mode_keeps_its_own_secret_key_readable_by_the_owner_only(tmp_path):
    code = "from django.conf import settings; print(settings.SECRET_KEY, settings.REQUIRE_MFA)"
    first = run_django({"CIRCLEKEEPER_DEMO": "true", "CIRCLEKEEPER_VAR_DIR": str(tmp_path)}, code)
    second = run_django({"CIRCLEKEEPER_DEMO": "true", "CIRCLEKEEPER_VAR_DIR": str(tmp_path)}, code)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    key, mfa = first.stdout.split()
    assert len(key) > 40
    assert mfa == "False"
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


def test_a_bad_value_names_the_variable(tmp_path):
    result = run_django(
        {
            "CIRCLEKEEPER_SECRET_KEY": "x" * 50,
            "CIRCLEKEEPER_MASTER_KEY": MASTER_KEY,
            "CIRCLEKEEPER_VAR_DIR": str(tmp_path),
            "CIRCLEKEEPER_SESSION_IDLE_MINUTES": "soon",
        },
        "pass",
    )
    assert result.returncode != 0
    assert "CIRCLEKEEPER_SESSION_IDLE_MINUTES must be a whole number, not 'soon'" in result.stderr


def test_production_settings_pass_the_deploy_check(tmp_path):
    env = {
        "CIRCLEKEEPER_SECRET_KEY": "p" * 20 + "Q9z!k" * 10,
        "CIRCLEKEEPER_MASTER_KEY": MASTER_KEY,
        "CIRCLEKEEPER_VAR_DIR": str(tmp_path),
        "CIRCLEKEEPER_ALLOWED_HOSTS": "circles.example.org",
    }
    result = run_django(
        env,
        "from django.core.management import call_command; call_command('check', '--deploy', '--fail-level', 'WARNING')",
    )
    assert result.returncode == 0, result.stderr + result.stdout


def test_production_cookies_are_secure_http_only_and_same_site(tmp_path):
    env = {
        "CIRCLEKEEPER_SECRET_KEY": "p" * 20 + "Q9z!k" * 10,
        "CIRCLEKEEPER_MASTER_KEY": MASTER_KEY,
        "CIRCLEKEEPER_VAR_DIR": str(tmp_path),
        "CIRCLEKEEPER_ALLOWED_HOSTS": "circles.example.org",
    }
    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.LANGUAGE_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, "
        "s.CSRF_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE, s.SECURE_HSTS_SECONDS >= 31536000, s.SECURE_SSL_REDIRECT)"
    )
    result = run_django(env, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "True", "True", "True", "Lax", "True", "True"]


def test_the_session_cookie_is_sent_http_only_and_same_site(client, django_user_model):
    from circlekeeper.testing import PASSWORD

    django_user_model.objects.create_user("cookie@example.org", PASSWORD, display_name="C")
    response = client.post("/accounts/login/", {"username": "cookie@example.org", "password": PASSWORD})
    assert response.status_code == 302
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


PRODUCTION = {
    "CIRCLEKEEPER_SECRET_KEY": "p" * 20 + "Q9z!k" * 10,
    "CIRCLEKEEPER_MASTER_KEY": MASTER_KEY,
    "CIRCLEKEEPER_ALLOWED_HOSTS": "circles.example.org",
}


def test_public_url_is_required_outside_demo_mode_and_named_when_missing(tmp_path):
    """Issue 19 finding 7: no silent http://127.0.0.1:8000 in the links a real deployment sends."""
    result = run_django(
        {**PRODUCTION, "CIRCLEKEEPER_VAR_DIR": str(tmp_path), "CIRCLEKEEPER_PUBLIC_URL": ""}, "pass"
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: CIRCLEKEEPER_PUBLIC_URL must be set outside demo mode" in result.stderr
    demo = run_django(
        {"CIRCLEKEEPER_DEMO": "true", "CIRCLEKEEPER_VAR_DIR": str(tmp_path), "CIRCLEKEEPER_PUBLIC_URL": ""},
        "from django.conf import settings; print(settings.PUBLIC_URL)",
    )
    assert demo.stdout.strip() == "http://127.0.0.1:8000", demo.stderr


def test_email_goes_over_tls_unless_turned_off_in_words(tmp_path):
    code = "from django.conf import settings; print(settings.EMAIL_USE_TLS)"
    base = {**PRODUCTION, "CIRCLEKEEPER_VAR_DIR": str(tmp_path)}
    assert run_django(base, code).stdout.strip() == "True"
    assert run_django({**base, "CIRCLEKEEPER_EMAIL_TLS": "off"}, code).stdout.strip() == "False"
    refused = run_django({**base, "CIRCLEKEEPER_EMAIL_TLS": "0"}, code)
    assert refused.returncode != 0
    assert "CIRCLEKEEPER_EMAIL_TLS must be written as a word" in refused.stderr

"""Circlekeeper settings: one file, read from the environment.

Every variable is listed in the README. The small helpers below fail loudly on values they cannot
read, so that a typo in a deployment stops the server at start-up instead of weakening it silently.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def envstr(name: str, default: str | None = None) -> str | None:
    """A string from NAME, or from the file named by NAME_FILE (for secrets kept in files)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name!r} cannot be read: {exc.strerror}") from exc
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def envbool(name: str, default: bool) -> bool:
    value = envstr(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def envint(name: str, default: int, *, minimum: int = 0) -> int:
    value = envstr(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from exc
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    return number


def envlist(name: str, default: list[str]) -> list[str]:
    value = envstr(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def _demo_secret(path: Path, nbytes: int) -> str:
    """Demo mode keeps its own secrets under var/, readable by the owner only, created once."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    return value


def envkey(name: str, value: str) -> bytes:
    """A 32-byte key written as urlsafe base64 (as `secrets.token_urlsafe(32)` prints it)."""
    try:
        key = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise ImproperlyConfigured(
            f"{name} (or {name}_FILE) must hold a 32-byte key in urlsafe base64, "
            'e.g. from `python -c "import secrets; print(secrets.token_urlsafe(32))"`'
        )
    return key


VAR_DIR = Path(envstr("CIRCLEKEEPER_VAR_DIR", str(BASE_DIR / "var")) or BASE_DIR / "var")
DEMO_MODE = envbool("CIRCLEKEEPER_DEMO", False)
DEBUG = envbool("CIRCLEKEEPER_DEBUG", False)

SECRET_KEY = envstr("CIRCLEKEEPER_SECRET_KEY") or ""
if not SECRET_KEY:
    if not DEMO_MODE:
        raise ImproperlyConfigured(
            "CIRCLEKEEPER_SECRET_KEY (or CIRCLEKEEPER_SECRET_KEY_FILE) must be set outside demo mode."
        )
    SECRET_KEY = _demo_secret(VAR_DIR / "secret_key", 50)

# The master key wraps every organization's data keys (SECURITY.md 6). It lives outside the database, so a
# copy of the database alone decrypts nothing; never store it there.
_master_key = envstr("CIRCLEKEEPER_MASTER_KEY") or ""
if not _master_key:
    if not DEMO_MODE:
        raise ImproperlyConfigured(
            "CIRCLEKEEPER_MASTER_KEY_FILE (or CIRCLEKEEPER_MASTER_KEY) must be set outside demo mode."
        )
    _master_key = _demo_secret(VAR_DIR / "master_key", 32)
MASTER_KEY = envkey("CIRCLEKEEPER_MASTER_KEY", _master_key)

ALLOWED_HOSTS = envlist("CIRCLEKEEPER_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = envlist("CIRCLEKEEPER_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "csp",
    "django_tasks",
    "django_tasks_db",
    "django_htmx",  # only for the htmx script it ships (served by us: no CDN)
    "circlekeeper.lib",
    "circlekeeper.accounts",
    "circlekeeper.cases",
    "circlekeeper.instruments",
    "circlekeeper.safety",
    "circlekeeper.protocol",
    "circlekeeper.accountability",
    "circlekeeper.support",
    "circlekeeper.evaluation",
    "circlekeeper.community",
]

# Called with each response as it is submitted, in the same transaction. The instruments app knows nothing
# of the apps above it: this is how a submitted safety check reaches the safety app at once (and opens a
# hold in the same transaction) without an import pointing up or a signal hiding the rule.
RESPONSE_SUBMITTED_HANDLERS = [
    "circlekeeper.safety.services.record_check_from_response",
    "circlekeeper.accountability.services.record_view_from_response",
    "circlekeeper.evaluation.scheduling.complete_from_response",
]
# Called, in the same transaction, when the survivor's choice of track changes: a choice with less contact
# cancels at once what the new track no longer allows (the protocol app owns meetings; cases may not import it).
TRACK_CHANGED_HANDLERS = ["circlekeeper.protocol.services.track_changed"]
# Called before a change of track and before a meeting is scheduled; each may refuse with a ValidationError.
# A community facilitator who is not ready (community.readiness) keeps a case from a dialogue.
TRACK_CHANGE_CHECKS = ["circlekeeper.community.readiness.check_track_change"]
MEETING_SCHEDULING_CHECKS = ["circlekeeper.community.readiness.check_meeting"]
# Called, in the same transaction, when a participant is marked entered in error: what the apps above the
# protocol scheduled for them stops (evaluation questionnaires still to come are cancelled).
PARTICIPANT_IN_ERROR_HANDLERS = ["circlekeeper.evaluation.scheduling.participant_entered_in_error"]

# Evaluation questionnaire links go out by email only where a participant's safe-contact rules allow it.
# Demo and development print emails to the console; production sets an SMTP backend and its address.
EMAIL_BACKEND = envstr(
    "CIRCLEKEEPER_EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEMO_MODE or DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = envstr("CIRCLEKEEPER_EMAIL_HOST", "localhost")
EMAIL_PORT = int(envstr("CIRCLEKEEPER_EMAIL_PORT", "25") or 25)
EMAIL_HOST_USER = envstr("CIRCLEKEEPER_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = envstr("CIRCLEKEEPER_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = envbool("CIRCLEKEEPER_EMAIL_TLS", False)
DEFAULT_FROM_EMAIL = envstr("CIRCLEKEEPER_FROM_EMAIL", "no-reply@localhost")
# The address links in emails start with (the site as participants reach it).
PUBLIC_URL = (envstr("CIRCLEKEEPER_PUBLIC_URL", "http://127.0.0.1:8000") or "").rstrip("/")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "circlekeeper.accounts.middleware.SessionLimitsMiddleware",
    "circlekeeper.accounts.middleware.SecondFactorMiddleware",
    "circlekeeper.accounts.middleware.NoStoreForSignedInMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
    # Last, so it wraps the view alone (as ATOMIC_REQUESTS did), after every other middleware's process_view.
    "circlekeeper.lib.requests.AtomicUnsafeRequestsMiddleware",
]

ROOT_URLCONF = "circlekeeper.urls"
WSGI_APPLICATION = "circlekeeper.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "circlekeeper.accounts.context_processors.shell",
            ],
        },
    }
]

# SQLite under var/ by default so that one command runs everything; PostgreSQL through DATABASE_URL.
_default_db = f"sqlite:///{VAR_DIR / 'circlekeeper.sqlite3'}"
try:
    DATABASES = {"default": dj_database_url.parse(envstr("DATABASE_URL", _default_db) or _default_db)}
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL cannot be read: {exc}") from exc
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the worker write while pages read; IMMEDIATE avoids "database is locked" on upgrades.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
        "transaction_mode": "IMMEDIATE",
    }
# One transaction per request that may write (POST and the other unsafe methods); a read runs in autocommit so
# pages can be built side by side: see circlekeeper/lib/requests.py.
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Keep each worker's database connection between requests (opening one cost 8% of a page on SQLite, more on
# PostgreSQL), checked before reuse so a restarted database costs one retry, not an error page.
DATABASES["default"]["CONN_MAX_AGE"] = envint("CIRCLEKEEPER_DB_CONN_MAX_AGE", 300, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboard"

# Sessions: a row per session that knows its user, so deactivation can end them all at once.
SESSION_ENGINE = "circlekeeper.accounts.sessions"
SESSION_IDLE_MINUTES = envint("CIRCLEKEEPER_SESSION_IDLE_MINUTES", 30, minimum=1)
SESSION_MAX_HOURS = envint("CIRCLEKEEPER_SESSION_MAX_HOURS", 12, minimum=1)
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60
# The idle limit is the session's expiry, moved on when the session is saved: at most once a minute while it is in
# use (accounts.middleware.renew_for_activity), not on every request (a database write per page).
SESSION_SAVE_EVERY_REQUEST = False
SESSION_RENEW_SECONDS = 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

REQUIRE_MFA = envbool("CIRCLEKEEPER_REQUIRE_MFA", not DEMO_MODE)
OTP_TOTP_ISSUER = "Circlekeeper"

# Throttling on username and address together: nobody can lock somebody else out from elsewhere.
AXES_FAILURE_LIMIT = envint("CIRCLEKEEPER_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = envint("CIRCLEKEEPER_LOCKOUT_MINUTES", 15, minimum=1) / 60
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "circlekeeper.accounts.views.locked_out"
AXES_IPWARE_PROXY_COUNT = envint("CIRCLEKEEPER_PROXY_COUNT", 0)
AXES_VERBOSE = False

# Web surface (SECURITY.md 18-20).
HTTPS = envbool("CIRCLEKEEPER_HTTPS", not DEMO_MODE and not DEBUG)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and envbool("CIRCLEKEEPER_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS and envbool("CIRCLEKEEPER_HSTS_PRELOAD", False)
# Preloading binds the whole domain to HTTPS for good; it is each deployment's own decision to make.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if envbool("CIRCLEKEEPER_BEHIND_PROXY", False) else None
)
# "same-origin", not "no-referrer": other sites still get no referrer at all, but under "no-referrer" browsers
# send `Origin: null` with every form, which Django's CSRF origin check rightly refuses.
SECURE_REFERRER_POLICY = "same-origin"
CSRF_FAILURE_VIEW = "circlekeeper.views.csrf_failure"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "object-src": [NONE],
    }
}

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("es", _("Spanish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = envstr("CIRCLEKEEPER_TIME_ZONE", "America/Los_Angeles") or "UTC"

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Tests serve static files from the source folders, so they need no collectstatic first.
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if envbool("CIRCLEKEEPER_STATIC_MANIFEST", True)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

DEMO_PASSWORD = envstr("CIRCLEKEEPER_DEMO_PASSWORD", "circle-demo-2026") or "circle-demo-2026"
# Where the quick-exit button sends a person: a neutral, everyday site.
QUICK_EXIT_URL = envstr("CIRCLEKEEPER_QUICK_EXIT_URL", "https://www.google.com/search?q=weather+today")
CASES_PER_PAGE = envint("CIRCLEKEEPER_CASES_PER_PAGE", 25, minimum=5)
# Participant survey pages are neutral: the organization's name shows only where a program chooses so.
SHOW_ORGANIZATION_ON_LINKS = envbool("CIRCLEKEEPER_SHOW_ORGANIZATION_ON_LINKS", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": envstr("CIRCLEKEEPER_LOG_LEVEL", "WARNING")},
    "loggers": {"axes": {"level": "WARNING"}},
}

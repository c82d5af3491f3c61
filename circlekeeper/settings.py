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
from typing import Any
from urllib.parse import urlsplit

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


def envwords(name: str, default: bool) -> bool:
    """A switch that only words turn: on/true/yes or off/false/no (not 0 or 1, which are too easy to mistype)."""
    value = envstr(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in {"true", "yes", "on"}:
        return True
    if lowered in {"false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be written as a word, on or off, not {value!r}")


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


def _demo_secret(path: Path, nbytes: int, *, guard: Path | None = None) -> str:
    """Demo mode keeps its own secrets under var/, readable by the owner only, created once.

    `guard`: a database file that must not exist when the secret is made (issue 20: a missing master key was
    silently replaced by a new one, which can decrypt nothing in the database that is already there).
    """
    try:
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        if guard is not None and guard.exists():
            raise ImproperlyConfigured(
                f"{path} is missing, but the database {guard} exists: a new key could read none of its data. "
                f"Put the key file back at {path} (or delete {guard} to start the demo afresh)."
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(nbytes)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value)
    except OSError as exc:
        raise ImproperlyConfigured(
            f"{path} cannot be read or written ({exc.strerror}): give the user running Circlekeeper read and "
            f"write access to {path.parent} (CIRCLEKEEPER_VAR_DIR), or point CIRCLEKEEPER_VAR_DIR elsewhere."
        ) from exc
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
# The cache holds what is the same for many requests and costly to make: the releases of suppressed aggregates (their
# linear programmes take seconds) and rendered filter forms. Files under CIRCLEKEEPER_CACHE_DIR (default var/cache),
# so every web process of the machine shares one copy instead of making its own; set it empty for a cache in each
# process's memory (the tests do).
_CACHE_DIR = os.environ.get("CIRCLEKEEPER_CACHE_DIR")
if _CACHE_DIR is None:
    _CACHE_DIR = str(VAR_DIR / "cache")
CACHES: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": _CACHE_DIR,
        "OPTIONS": {"MAX_ENTRIES": 5000},
    }
    if _CACHE_DIR
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
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
    _sqlite_file = None if envstr("DATABASE_URL") else VAR_DIR / "circlekeeper.sqlite3"
    _master_key = _demo_secret(VAR_DIR / "master_key", 32, guard=_sqlite_file)
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
    "django_otp_webauthn",  # passkeys as a second factor, beside TOTP (accounts.passkeys)
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
    "circlekeeper.api",
    "circlekeeper.demo",  # demo and benchmark data only (seed_demo); no app imports it
]

# Called with each response as it is submitted, in the same transaction. The instruments app knows nothing
# of the apps above it: this is how a submitted safety check reaches the safety app at once (and opens a
# hold in the same transaction) without an import pointing up or a signal hiding the rule.
RESPONSE_SUBMITTED_HANDLERS = [
    "circlekeeper.safety.services.record_check_from_response",
    "circlekeeper.accountability.services.record_view_from_response",
    "circlekeeper.evaluation.scheduling.complete_from_response",
]
# REDCap's [event][field] (issue 22): which of the same participant's responses answers at an event, and which
# events are timepoints (the evaluation app owns timepoints; instruments.events asks through these).
RESPONSE_EVENT_SOURCES = ["circlekeeper.evaluation.redcap_events.sources_at_events"]
REDCAP_EVENT_TIMEPOINTS = ["circlekeeper.evaluation.redcap_events.timepoint_events"]
# Called, in the same transaction, when the survivor's choice of track changes: a choice with less contact
# cancels at once what the new track no longer allows (the protocol app owns meetings; cases may not import it).
TRACK_CHANGED_HANDLERS = ["circlekeeper.protocol.services.track_changed"]
# Called before a change of track and before a meeting is scheduled; each may refuse with a ValidationError.
# A community facilitator who is not ready (community.readiness) keeps a case from a dialogue.
TRACK_CHANGE_CHECKS = ["circlekeeper.community.readiness.check_track_change"]
MEETING_SCHEDULING_CHECKS = ["circlekeeper.community.readiness.check_meeting"]
# Called when a participant is added: whether a support network names a barrier under the new label (the support
# app owns the pods; cases may not import it), and, once the keeper confirmed it is the same person, to link that
# record to them. The barrier flag itself is the participant's (cases.participants.set_barrier).
NAMED_BARRIER_CHECKS = ["circlekeeper.support.services.named_barrier"]
PARTICIPANT_ADDED_HANDLERS = ["circlekeeper.support.services.link_named_barrier"]
# Called with the asker's StaffContext before "is this person already known?"; each may raise PermissionDenied
# (a community facilitator's account looks nothing up). KNOWN_LOOKUPS_PER_HOUR: each person's lookups an hour.
KNOWN_LOOKUP_CHECKS = ["circlekeeper.community.access.refuse_facilitator_lookup"]
KNOWN_LOOKUPS_PER_HOUR = envint("CIRCLEKEEPER_KNOWN_LOOKUPS_PER_HOUR", 20, minimum=1)
# How long before a meeting's start the survivor's safety check-in may be taken (issue 17, item 3).
CIRCLEKEEPER_CHECK_IN_WINDOW_MINUTES = int(envstr("CIRCLEKEEPER_CHECK_IN_WINDOW_MINUTES", "120") or 120)
# The one contact policy (protocol.policy): the lower apps ask it through these, since imports never point up.
CONTACT_POLICY = ["circlekeeper.protocol.policy.messages_for"]
CASE_CONTACT_POLICY = ["circlekeeper.protocol.policy.case_messages"]
# Called, in the same transaction, on every safety event (a hold or a later trigger, the survivor withdrawing
# consent, a child or barrier flag): everything live with the other side stops at once (protocol.policy.cascade).
SAFETY_EVENT_HANDLERS = [
    "circlekeeper.protocol.policy.on_safety_event",
    "circlekeeper.accountability.services.revoke_progress_links",
]
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
# Email goes over TLS unless the operator turns it off in words (CIRCLEKEEPER_EMAIL_TLS=off, false or no).
EMAIL_USE_TLS = envwords("CIRCLEKEEPER_EMAIL_TLS", True)
DEFAULT_FROM_EMAIL = envstr("CIRCLEKEEPER_FROM_EMAIL", "no-reply@localhost")
# The address links in emails start with (the site as participants reach it).
# Required outside demo mode: every link sent or handed over (invitations, resets, survey and progress links,
# calendar feeds) is built on it, never on the Host header of the request that made it (lib.links).
PUBLIC_URL = (envstr("CIRCLEKEEPER_PUBLIC_URL", "http://127.0.0.1:8000" if DEMO_MODE else None) or "").rstrip(
    "/"
)
if not PUBLIC_URL:
    raise ImproperlyConfigured(
        "CIRCLEKEEPER_PUBLIC_URL must be set outside demo mode: the address people reach the site at, "
        "e.g. https://circles.example.org (every link sent starts with it)."
    )
if not PUBLIC_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured(f"CIRCLEKEEPER_PUBLIC_URL must start with https://, not {PUBLIC_URL!r}")

# The REDCap-compatible API (issue 24): how long a new token lasts unless its owner says otherwise, how many
# calls a token may make a minute, and whether it answers over plain HTTP (only in demo mode by default).
CIRCLEKEEPER_API_TOKEN_DAYS = envint("CIRCLEKEEPER_API_TOKEN_DAYS", 90, minimum=1)
CIRCLEKEEPER_API_CALLS_PER_MINUTE = envint("CIRCLEKEEPER_API_CALLS_PER_MINUTE", 60, minimum=1)
CIRCLEKEEPER_API_PLAIN_HTTP = envbool("CIRCLEKEEPER_API_PLAIN_HTTP", DEMO_MODE)

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # /healthz answers here, before anything that reads the database (sessions): 503, never 500 (lib/health.py).
    "circlekeeper.lib.health.HealthCheckMiddleware",
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
    # A shredded organization's pages answer 410 Gone with a page that says so, never a 500 (KEYS_DESTROYED_RESPONSE).
    "circlekeeper.accounts.middleware.ShreddedOrganizationMiddleware",
    # Last, so it wraps the view alone (as ATOMIC_REQUESTS did), after every other middleware's process_view.
    "circlekeeper.lib.requests.AtomicUnsafeRequestsMiddleware",
]

# What a request answers when it needed a shredded organization's keys (lib.keys.KeysDestroyed): called by
# accounts.middleware.ShreddedOrganizationMiddleware and, for the views it calls itself, lib.requests.
KEYS_DESTROYED_RESPONSE = ("circlekeeper.accounts.shredding_views.keys_destroyed",)

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
            # {% csrf_token %} also renders a fresh form token: every create is idempotent (lib/idempotency.py).
            "builtins": ["circlekeeper.lib.templatetags.form_tokens"],
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
    # WAL lets the worker write while pages read; IMMEDIATE avoids "database is locked" on upgrades. A writer
    # waits up to CIRCLEKEEPER_SQLITE_BUSY_TIMEOUT_MS for the write lock (issue 20: 5 s was too short for a burst
    # of sign-ins; transactions are short since hashing and parsing run outside them, so waits stay brief).
    _busy_ms = envint("CIRCLEKEEPER_SQLITE_BUSY_TIMEOUT_MS", 30_000, minimum=1000)
    DATABASES["default"]["OPTIONS"] = {
        "init_command": f"PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout={_busy_ms};",
        "timeout": _busy_ms / 1000,
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
# Uploads are limited by what they become (lib.uploads): a workbook's files, unpacked size, sheets, rows and
# cells are checked before it is read, and reading it stops after UPLOAD_PARSE_SECONDS.
UPLOAD_MAX_ZIP_ENTRIES = envint("CIRCLEKEEPER_UPLOAD_MAX_ZIP_ENTRIES", 200, minimum=1)
UPLOAD_MAX_UNPACKED_BYTES = envint("CIRCLEKEEPER_UPLOAD_MAX_UNPACKED_MB", 10, minimum=1) * 1024 * 1024
UPLOAD_MAX_SHEETS = envint("CIRCLEKEEPER_UPLOAD_MAX_SHEETS", 20, minimum=1)
UPLOAD_MAX_ROWS = envint("CIRCLEKEEPER_UPLOAD_MAX_ROWS", 20000, minimum=1)
UPLOAD_MAX_CELLS = envint("CIRCLEKEEPER_UPLOAD_MAX_CELLS", 250000, minimum=1)
UPLOAD_PARSE_SECONDS = envint("CIRCLEKEEPER_UPLOAD_PARSE_SECONDS", 20, minimum=1)

# Accounts belong to their owners (SECURITY.md 15a): people join by invitation and reset their own password.
INVITATION_VALID_DAYS = envint("CIRCLEKEEPER_INVITATION_VALID_DAYS", 7, minimum=1)
PASSWORD_RESET_TIMEOUT = 15 * 60  # a reset link works for 15 minutes, and once
PASSWORD_RESET_PER_EMAIL_PER_HOUR = envint("CIRCLEKEEPER_RESET_PER_EMAIL_PER_HOUR", 3, minimum=1)
PASSWORD_RESET_PER_ADDRESS_PER_HOUR = envint("CIRCLEKEEPER_RESET_PER_ADDRESS_PER_HOUR", 20, minimum=1)
# Every password hash takes one of its process's few turns (lib/password_checks.py): a burst of sign-ins waits or
# is told to try again in a moment, and the site keeps answering. The hasher is Django's PBKDF2, unweakened.
# (Django's own PBKDF2 hasher is left out of the list: with the same algorithm name, it would be the one used.)
PASSWORD_HASHERS = [
    "circlekeeper.accounts.hashers.BoundedPBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
]
PASSWORD_CHECKS_AT_ONCE = envint("CIRCLEKEEPER_PASSWORD_CHECKS_AT_ONCE", 1, minimum=1)
PASSWORD_CHECKS_WAITING = envint("CIRCLEKEEPER_PASSWORD_CHECKS_WAITING", 2, minimum=0)
PASSWORD_CHECK_WAIT_SECONDS = envint("CIRCLEKEEPER_PASSWORD_CHECK_WAIT_SECONDS", 10, minimum=1)
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

# Passkeys (WebAuthn) are a second factor only, never a way in without the password. The relying party is the
# site as people reach it: its ID is PUBLIC_URL's host name and the only origin accepted is PUBLIC_URL's (read
# at each ceremony by accounts.passkeys.PasskeyHelper; the two settings below are for the package's checks).
# Browsers allow passkeys only on https or on localhost, not on an IP address such as the demo's 127.0.0.1.
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
OTP_WEBAUTHN_HELPER_CLASS = "circlekeeper.accounts.passkeys.PasskeyHelper"
OTP_WEBAUTHN_RP_NAME = "Circlekeeper"
OTP_WEBAUTHN_RP_ID = urlsplit(PUBLIC_URL).hostname or ""
OTP_WEBAUTHN_ALLOWED_ORIGINS = [f"{urlsplit(PUBLIC_URL).scheme}://{urlsplit(PUBLIC_URL).netloc}"]
OTP_WEBAUTHN_EXCEPTION_LOGGER_NAME = "circlekeeper.accounts.passkeys"

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
# A plain-http PUBLIC_URL (demo mode on 127.0.0.1) leaves passkeys unusable, which browsers refuse there anyway;
# TOTP still works. The package's check would stop the whole site from starting over it.
SILENCED_SYSTEM_CHECKS += ["otp_webauthn.E031"]
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
# REDCap exports (issue 22): each timepoint's REDCap unique event name, e.g. "t0=baseline_arm_1,t3=month_3_arm_1";
# a timepoint not listed is written <timepoint>_arm_<REDCAP_ARM> (evaluation/redcap_events.py).
REDCAP_EVENTS = envstr("CIRCLEKEEPER_REDCAP_EVENTS", "")
REDCAP_ARM = envint("CIRCLEKEEPER_REDCAP_ARM", 1, minimum=1)
# Separation of duties on a safety hold: the supervisor who lifts it may not be the person who recorded the
# safety check it is lifted on. A program with one supervisor turns it off (shown on the hold page).
HOLD_TWO_PERSON = envbool("CIRCLEKEEPER_HOLD_TWO_PERSON", True)

# Every handler redacts the tokens of token-carrying URLs (lib.redaction): Django's 404, CSRF and error records
# name the request's path.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_tokens": {"()": "circlekeeper.lib.redaction.RedactingFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["redact_tokens"]}},
    "root": {"handlers": ["console"], "level": envstr("CIRCLEKEEPER_LOG_LEVEL", "WARNING")},
    "loggers": {"axes": {"level": "WARNING"}},
}

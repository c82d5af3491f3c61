"""Helpers of the planted-marker leak tests (test_leaks.py): planting, requesting every URL, and searching.

A *marker* is a unique string of lowercase letters and digits, planted in an encrypted field. Letters and
digits survive HTML and JSON escaping, URL quoting and repr() unchanged, so finding a marker needs no
decoding; the search still looks for it in UTF-16 and as hex and base64, the forms in which a database
file, a pg_dump or a session could hold it.
"""

from __future__ import annotations

import base64
import datetime
import logging
import os
import secrets
import shutil
import subprocess
import tempfile
import unittest
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connection, models
from django.http import HttpResponse
from django.test import Client
from django.utils import timezone

from circlekeeper.accounts.models import Organization, User
from circlekeeper.cases.models import Case
from circlekeeper.lib.fields import (
    BlindIndexField,
    EncryptedDateField,
    EncryptedField,
    EncryptedJSONField,
    EncryptedTextField,
    protected_models,
)
from circlekeeper.testing import sign_in
from tests import test_access_matrix as matrix

MARKER_PREFIX = "leakmarker"

# Who sits on the team of the case behind each object kind of the access matrix.
TEAMS = {"own": matrix.CASE_TEAM, "other": ("bob",), "other_org": ("charlie",)}
CASE_OF = {"own": "case", "other": "other_team_case", "other_org": "valley_case"}
PERSONAS = (*matrix.SIGNED_IN, "anonymous")


def new_marker() -> str:
    return MARKER_PREFIX + secrets.token_hex(12)


# --- Planting --------------------------------------------------------------------------------------


class LeakFactoryError(Exception):
    """The factory cannot build a row of a protected model: teach `plant_markers` about it."""


@dataclass
class Planted:
    """Markers planted for one case: marker -> "app.model.field", and the row of each protected model."""

    markers: dict[str, str] = field(default_factory=dict)
    rows: dict[type[models.Model], models.Model] = field(default_factory=dict)

    def marker(self, where: str) -> str:
        return next(m for m, w in self.markers.items() if w == where)


def _marker_value(model_field: EncryptedField, planted: Planted) -> object:
    where = f"{model_field.model._meta.label_lower}.{model_field.name}"
    marker = new_marker()
    if isinstance(model_field, EncryptedDateField):
        # A date cannot hold a marker: plant an improbable one and look for its ISO form.
        day = datetime.date(1800, 1, 1) + datetime.timedelta(days=secrets.randbelow(30000))
        value: object = day
        marker = day.isoformat()
    elif isinstance(model_field, EncryptedJSONField):
        value = {"planted": marker}
    elif isinstance(model_field, EncryptedTextField):
        value = marker
    else:
        raise LeakFactoryError(f"no marker for {where} ({type(model_field).__name__}): teach tests/leaks.py")
    planted.markers[marker] = where
    return value


def _plain_value(model_field: models.Field[Any, Any], n: int) -> object:
    """A value for a required field in clear that has no default."""
    if model_field.choices:
        return list(model_field.choices)[0][0]
    if isinstance(model_field, models.DateTimeField):
        return timezone.now()
    if isinstance(model_field, models.DateField):
        return timezone.localdate()
    if isinstance(model_field, models.BooleanField):
        return False
    if isinstance(model_field, models.IntegerField | models.FloatField | models.DecimalField):
        return 1
    if isinstance(model_field, models.UUIDField):
        return uuid.uuid4()
    if isinstance(model_field, models.JSONField):
        return []
    if isinstance(model_field, models.CharField | models.TextField):
        # Unique across plantings (unique constraints), within the column's length.
        return f"leak-factory-{n}-{secrets.token_hex(4)}"[: model_field.max_length or None]
    owner = getattr(model_field, "model", None)
    where = f"{owner._meta.label}.{model_field.name}" if owner else model_field.name
    raise LeakFactoryError(f"cannot fill {where} ({type(model_field).__name__}): teach tests/leaks.py")


def _planted_as(model: type[models.Model], author: User) -> dict[str, Any]:
    """Values a planted row needs to sit beside the rows a test already made (constraints across rows)."""
    if model._meta.label == "safety.SafetyHold":
        # One open hold per case: the planted one is a lifted hold, with its lifting reason encrypted too.
        return {"lifted_at": timezone.now(), "lifted_by": author}
    if model._meta.label == "instruments.InstrumentVersion":
        # Pages read a version's definition: give it a valid one.
        from circlekeeper.instruments.tests.helpers import make_definition

        return {"definition": make_definition(code=f"planted-{secrets.token_hex(4)}")}
    if model._meta.label == "community.Facilitator":
        # A roster entry without an account: an account would put the author on a case team as a volunteer.
        return {"user": None}
    if model._meta.label == "accountability.AgreementVersion":
        # Beside the versions the case may already have: numbers are unique per agreement.
        return {"number": 900 + secrets.randbelow(99)}
    return {}


def _one_to_one_with_case() -> list[models.OneToOneField[Any, Any]]:
    """Every one-to-one link to a case, in any model (protected or a parent of one)."""
    return [
        model_field
        for model in apps.get_models()
        for model_field in model._meta.concrete_fields
        if isinstance(model_field, models.OneToOneField) and model_field.related_model is Case
    ]


def plant_markers(*, case: Case, author: User) -> Planted:
    """One row of every protected model belonging to `case`, with a fresh marker in each encrypted field.

    The case itself (and its organization or the author, should they ever hold encrypted fields) get their
    markers in place; other rows are built from their fields, related rows made as needed, and optional links
    to the case, its organization or a row already built are filled in. A model the factory cannot build
    raises LeakFactoryError rather than go untested.
    """
    planted = Planted()
    anchors: dict[type[models.Model], models.Model] = {
        Organization: case.organization,
        Case: case,
        User: author,
    }
    # A row that exists once per case (a one-to-one link to it, e.g. the case's agreement) is used as it is.
    for model_field in _one_to_one_with_case():
        existing = model_field.model._base_manager.filter(**{model_field.name: case}).first()
        if existing is not None:
            anchors[model_field.model] = existing
    built: dict[type[models.Model], models.Model] = {}
    building: set[type[models.Model]] = set()
    counter = iter(range(1, 10**6))

    def build(model: type[models.Model]) -> models.Model:
        if model in built:
            return built[model]
        if model in building:
            raise LeakFactoryError(f"{model._meta.label} depends on itself: teach tests/leaks.py")
        building.add(model)
        encrypted = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedField)]
        if model in anchors:
            instance = anchors[model]
            for secret in encrypted:
                setattr(instance, secret.attname, _marker_value(secret, planted))
            if encrypted:
                instance.save()
        else:
            values: dict[str, Any] = {}
            for model_field in model._meta.concrete_fields:
                related = model_field.related_model if model_field.is_relation else None
                if isinstance(model_field, EncryptedField):
                    values[model_field.attname] = _marker_value(model_field, planted)
                elif model_field.null and related in (Organization, Case):
                    # Optional links too, so that the row belongs to the case wherever it can.
                    values[model_field.name] = anchors[related]  # type: ignore[index]
                elif model_field.null and related in built:
                    values[model_field.name] = built[related]  # type: ignore[index]
                elif (
                    model_field.primary_key
                    or isinstance(model_field, BlindIndexField)
                    or model_field.has_default()
                    or model_field.null
                ):
                    continue
                elif model_field.is_relation:
                    values[model_field.name] = build(model_field.related_model)  # type: ignore[arg-type]
                else:
                    values[model_field.attname] = _plain_value(model_field, next(counter))
            values.update(_planted_as(model, author))
            instance = model._base_manager.create(**values)
        building.discard(model)
        built[model] = instance
        return instance

    for model, _encrypted, _indexes in protected_models():
        planted.rows[model] = build(model)
    return planted


# --- Searching -------------------------------------------------------------------------------------


def _base64_forms(raw: bytes) -> list[bytes]:
    """The base64 of `raw` wherever it starts in a longer encoded stream (three alignments, both alphabets)."""
    forms = []
    for skip in range(3):
        part = raw[skip:]
        whole = base64.b64encode(part)[: len(part) // 3 * 4]
        forms += [whole, whole.replace(b"+", b"-").replace(b"/", b"_")]
    return forms


def _forms(marker: str) -> tuple[list[bytes], list[bytes]]:
    """(forms searched case-insensitively, forms searched exactly)."""
    encoded = [marker.lower().encode(enc) for enc in ("utf-8", "utf-16-le", "utf-16-be")]
    return encoded + [e.hex().encode() for e in encoded], _base64_forms(marker.encode())


def find_markers(data: bytes | str, markers: Iterable[str]) -> set[str]:
    """The markers that appear in `data`, in clear, UTF-16, hex or base64."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    lowered = raw.lower()
    found = set()
    for marker in markers:
        folded, exact = _forms(marker)
        if any(form in lowered for form in folded) or any(form in raw for form in exact):
            found.add(marker)
    return found


def response_bytes(response: HttpResponse) -> bytes:
    """Everything a response hands the browser: status line, headers, redirects followed and body."""
    chain = " ".join(url for url, _status in getattr(response, "redirect_chain", []))
    headers = "\n".join(f"{name}: {value}" for name, value in response.items())
    cookies = response.cookies.output()
    return f"{response.status_code}\n{chain}\n{headers}\n{cookies}\n".encode() + response.getvalue()


# --- Requesting every URL --------------------------------------------------------------------------


class MatrixObjects(matrix.AccessMatrixTests):
    """The access matrix's personas and objects (per object kind: a case, its participant, release, task),
    and its way of building each URL, without its tests (they run in test_access_matrix)."""


for _name in unittest.TestLoader().getTestCaseNames(matrix.AccessMatrixTests):
    setattr(MatrixObjects, _name, None)


def committed_matrix_objects() -> MatrixObjects:
    """The same personas and objects, created outside any test transaction (for a TransactionTestCase)."""

    class Committed(MatrixObjects):
        def runTest(self) -> None:
            pass

    Committed.setUpTestData()
    return Committed()


@dataclass(frozen=True)
class Request:
    persona: str
    name: str
    obj: str
    method: str

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.name} [{self.obj}] as {self.persona}"


def request_every_url(
    client: Client, objects: MatrixObjects, personas: Iterable[str] = PERSONAS
) -> Iterator[tuple[Request, Any]]:
    """Every URL of the access matrix, with every object kind, as every persona, by GET and by its own method
    (POST rows with the matrix's data and smuggled fields), redirects followed."""
    for persona in personas:
        user = None if persona == "anonymous" else getattr(objects, persona)
        for name, row in sorted(matrix.MATRIX.items()):
            for obj in row.objects:
                for method in sorted({"get", row.method}):
                    client.logout()
                    if user is not None:
                        sign_in(client, user)
                    url = objects.url_for(name, obj)
                    if method == "post":
                        response = client.post(url, objects.fill(row.data, persona), follow=True)
                    else:
                        response = client.get(url, follow=True)
                    yield Request(persona, name, obj, method), response


# --- Logs and database copies --------------------------------------------------------------------


class _Collect(logging.Handler):
    def __init__(self, texts: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.texts = texts
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        # The formatted line (with any traceback) and every attribute, extras such as SQL parameters included.
        self.texts.append(self.format(record) + " " + repr(vars(record)))


@contextmanager
def all_logs() -> Iterator[list[str]]:
    """Every log record of every logger at DEBUG, and every SQL statement with its parameters, as text."""
    texts: list[str] = []
    handler = _Collect(texts)
    root = logging.getLogger()
    loggers = [
        root,
        *(lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)),
    ]
    levels = {lg: lg.level for lg in loggers}
    # Loggers that do not propagate to the root get the handler themselves.
    isolated = [lg for lg in loggers if lg is not root and not lg.propagate]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    for lg in (root, *isolated):
        lg.addHandler(handler)
    debug_cursor = connection.force_debug_cursor
    connection.force_debug_cursor = True
    try:
        yield texts
    finally:
        connection.force_debug_cursor = debug_cursor
        for lg in (root, *isolated):
            lg.removeHandler(handler)
        for lg, level in levels.items():
            lg.setLevel(level)


def database_copy() -> bytes:
    """What a backup of the database would hold: a SQLite copy (and its files) or a pg_dump of it."""
    if connection.vendor == "sqlite":
        return _sqlite_copy()
    if connection.vendor == "postgresql":
        return _pg_dump()
    raise unittest.SkipTest(f"no database copy for {connection.vendor}")


def _sqlite_copy() -> bytes:
    with tempfile.TemporaryDirectory(dir=settings.VAR_DIR) as folder:
        path = Path(folder) / "copy.sqlite3"
        with connection.cursor() as cursor:
            cursor.execute("VACUUM INTO %s", [str(path)])
        data = path.read_bytes()
    # A file-based database: the file itself too, with its write-ahead log, where freed pages may linger.
    name = str(connection.settings_dict["NAME"])
    if "memory" not in name and os.path.exists(name):
        for suffix in ("", "-wal", "-journal"):
            if os.path.exists(name + suffix):
                data += Path(name + suffix).read_bytes()
    return data


def _pg_dump() -> bytes:
    binary = shutil.which("pg_dump")
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            raise AssertionError("pg_dump is needed for the leak test on PostgreSQL")
        raise unittest.SkipTest("pg_dump is not installed")
    db = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": str(db.get("PASSWORD") or "")}
    command = [binary, "--no-password", "--dbname", str(db["NAME"])]
    for option, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if db.get(key):
            command += [option, str(db[key])]
    result = subprocess.run(command, env=env, capture_output=True, timeout=120, check=False)
    if result.returncode != 0:
        raise AssertionError(f"pg_dump failed: {result.stderr.decode(errors='replace')}")
    return result.stdout

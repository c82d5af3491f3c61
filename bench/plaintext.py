"""Issue 10 item 5's benchmark-only unencrypted copy: the same values stored in clear, read without decryption.

Benchmark code only: nothing here is imported by circlekeeper/, and nothing in circlekeeper/ can turn encryption off.

1. `rows_read()`: the rows with encrypted fields loaded while inside, e.g. while a page renders (every model
   instance made from the database, by the post_init signal).
2. `plaintext_updates(rows)`: those rows' encrypted columns, read and decrypted from the real database, as the same
   values stored unencrypted (crypto.encode_value: a type tag and the UTF-8 text, ISO date or JSON, as the
   column would hold them in a schema without encryption; only the AES-GCM sealing is missing).
3. `database_copy(directory)`: a copy of the whole database (SQLite: the file, by SQLite's backup API, at
   var/bench/plaintext-copy.sqlite3; PostgreSQL: CREATE DATABASE ... TEMPLATE, so nothing may be connected to
   the bench database at that moment), open on a second connection object, removed at the end.
4. `write_plaintext(updates)`: the plaintext written into the copy's columns by raw SQL (the fields refuse
   plaintext writes, rightly).
5. `plaintext_fields()`: while inside, EncryptedField.from_db_value hands the stored value back decoded instead of
   as a sealed token, so the attribute descriptor (which decrypts only sealed tokens) passes it through; outside,
   every read is sealed and decrypted again. Only reads change: writes are encrypted as ever.
6. `using(wrapper)`: the copy's connection swapped in as Django's "default" connection (requests, transactions,
   raw cursors all go to it), the real one kept open, so the two can be timed in turns without reconnecting.
"""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

COPY_FILE = "plaintext-copy.sqlite3"
COPY_SUFFIX = "_plaintext"
# What differs between two requests of the same page: CSRF tokens and CSP nonces, new on every request.
_PER_REQUEST = re.compile(r'(csrfmiddlewaretoken" value="|csrfToken": "|X-CSRFToken": "|nonce=")[^"]*')


# --- Which rows a page reads --------------------------------------------------------------------


def encrypted_fields(model: type[Any]) -> list[Any]:
    """The model's encrypted columns (its parents' too, under multi-table inheritance)."""
    from circlekeeper.lib.fields import EncryptedField

    return [f for f in model._meta.concrete_model._meta.concrete_fields if isinstance(f, EncryptedField)]


@contextmanager
def rows_read() -> Iterator[dict[type[Any], set[Any]]]:
    """{concrete model: pks} of every row with encrypted fields loaded from the database while inside."""
    from django.db.models.signals import post_init

    found: dict[type[Any], set[Any]] = defaultdict(set)

    def loaded(sender: type[Any], instance: Any, **_kwargs: Any) -> None:
        # A row read from the database has its pk; one the page makes (an audit row, say) has none yet.
        if instance.pk is not None and encrypted_fields(sender):
            found[sender._meta.concrete_model].add(instance.pk)

    post_init.connect(loaded, weak=False)
    try:
        yield found
    finally:
        post_init.disconnect(loaded)


# --- The same values, unencrypted ----------------------------------------------------------------


Update = tuple[str, str, Any, dict[str, bytes | None]]  # (table, pk column, pk, {column: stored value})


def plaintext_updates(rows: dict[type[Any], set[Any]]) -> list[Update]:
    """For each row, every encrypted column's value decrypted (from the database in use) and encoded as stored
    without encryption. Grouped by the table that holds the column (a parent's, under multi-table inheritance)."""
    from circlekeeper.lib import crypto

    updates: list[Update] = []
    for model, pks in rows.items():
        fields = encrypted_fields(model)
        for instance in model._base_manager.filter(pk__in=sorted(pks)):
            by_table: dict[type[Any], dict[str, bytes | None]] = defaultdict(dict)
            for field in fields:
                value = getattr(instance, field.attname)  # decrypted here, as the page would
                by_table[field.model][field.column] = None if value is None else crypto.encode_value(value)
            for owner, columns in by_table.items():
                updates.append((owner._meta.db_table, owner._meta.pk.column, instance.pk, columns))
    return updates


def write_plaintext(updates: list[Update]) -> int:
    """Store the values on the connection in use (the copy, inside `using`); returns the values written."""
    from django.db import connection, transaction

    quote = connection.ops.quote_name
    written = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for table, pk_column, pk, columns in updates:
            names = list(columns)
            assignments = ", ".join(f"{quote(name)} = %s" for name in names)
            # Table and column names from the models, quoted; the values are parameters.
            sql = f"UPDATE {quote(table)} SET {assignments} WHERE {quote(pk_column)} = %s"  # noqa: S608  # nosec B608
            cursor.execute(sql, [*(columns[name] for name in names), pk])
            written += len(names)
    return written


@contextmanager
def plaintext_fields() -> Iterator[None]:
    """Encrypted fields read their stored value as plaintext (decoded, not decrypted) while inside."""
    from circlekeeper.lib import crypto
    from circlekeeper.lib.fields import EncryptedField

    original = EncryptedField.__dict__["from_db_value"]

    def from_db_value(self: Any, value: Any, expression: Any, connection: Any) -> Any:
        # Not a sealed token, so _EncryptedAttribute.__get__ hands it on as it is.
        return None if value is None else crypto.decode_value(bytes(value))

    EncryptedField.from_db_value = from_db_value  # type: ignore[method-assign]
    try:
        yield
    finally:
        EncryptedField.from_db_value = original  # type: ignore[method-assign]


# --- The copy ----------------------------------------------------------------------------------


@contextmanager
def using(wrapper: Any) -> Iterator[Any]:
    """`wrapper` (a DatabaseWrapper) as Django's default connection while inside; the one it replaces stays open."""
    from django.db import DEFAULT_DB_ALIAS, connections

    previous = connections[DEFAULT_DB_ALIAS]
    connections[DEFAULT_DB_ALIAS] = wrapper
    try:
        yield wrapper
    finally:
        connections[DEFAULT_DB_ALIAS] = previous


def _sqlite_copy(path: Path) -> None:
    from django.db import connection

    if connection.in_atomic_block:
        # SQLite's backup waits, for ever, for the source's own write transaction to end.
        raise RuntimeError("the database can be copied only outside a transaction")
    for leftover in _sqlite_files(path):
        leftover.unlink(missing_ok=True)
    connection.ensure_connection()
    target = sqlite3.connect(path)
    try:
        # Through the open connection: it sees the WAL's pages, and (in tests) an in-memory database.
        connection.connection.backup(target)
    finally:
        target.close()


def _sqlite_files(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def _postgresql_database(statement: str) -> None:
    """Run CREATE/DROP DATABASE from the maintenance database (they cannot run inside the bench database)."""
    from django.db import connection

    with connection._nodb_cursor() as cursor:
        cursor.execute(statement)


@contextmanager
def database_copy(directory: Path) -> Iterator[Any]:
    """A copy of the default database as it is now, open on a second DatabaseWrapper (alias "default", to be
    swapped in by `using`); closed and removed at the end. PostgreSQL: the default connection is closed first,
    as CREATE DATABASE ... TEMPLATE needs the bench database without connections."""
    from django.db import DEFAULT_DB_ALIAS, connection, connections

    settings = dict(connection.settings_dict)
    if connection.vendor == "sqlite":
        path = directory / COPY_FILE
        _sqlite_copy(path)
        settings["NAME"] = str(path)
    elif connection.vendor == "postgresql":
        source = str(settings["NAME"])
        name = (source[: 63 - len(COPY_SUFFIX)] + COPY_SUFFIX).lower()
        quote = connection.ops.quote_name
        connection.close()
        _postgresql_database(f"DROP DATABASE IF EXISTS {quote(name)}")
        _postgresql_database(f"CREATE DATABASE {quote(name)} TEMPLATE {quote(source)}")
        settings["NAME"] = name
    else:
        raise RuntimeError(f"no plaintext copy for {connection.vendor}")
    real = connections[DEFAULT_DB_ALIAS]  # `connection` is a proxy to it
    copy = type(real)(settings, DEFAULT_DB_ALIAS)
    try:
        yield copy
    finally:
        copy.close()
        if connection.vendor == "sqlite":
            for leftover in _sqlite_files(Path(settings["NAME"])):
                leftover.unlink(missing_ok=True)
        else:
            _postgresql_database(f"DROP DATABASE IF EXISTS {connection.ops.quote_name(settings['NAME'])}")


def same_page(first: str, second: str) -> bool:
    """The two pages' HTML is the same apart from what is new on every request (CSRF and form tokens, CSP
    nonces): the token inputs are blanked by the tests' shared helper, the rest by `_PER_REQUEST`."""
    from circlekeeper.testing import without_form_tokens

    def blanked(page: str) -> str:
        return _PER_REQUEST.sub(r"\1", without_form_tokens(page))

    return blanked(first) == blanked(second)


def html(get: Callable[[], Any]) -> str:
    response = get()
    if response.status_code != 200:
        raise RuntimeError(f"status {response.status_code}")
    return str(response.content.decode())

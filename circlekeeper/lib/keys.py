"""Each organization's keys: stored wrapped by the master key, unwrapped per request, rotated and shredded.

An organization has a *data* key (AES-GCM, for encrypted fields) and an *index* key (HMAC, for blind
indexes), each with numbered versions. The master key (settings.MASTER_KEY, from a file) wraps them; it is
never stored in the database, so a copy of the database alone decrypts nothing (SECURITY.md 6-10).

Unwrapped keys are cached per thread only for one request or task: the cache is cleared when a request or
task starts (see LibConfig.ready) and at the start of each command, so a rotation or a shredding done
elsewhere takes effect on the next request.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hmac
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from circlekeeper.lib import crypto
from circlekeeper.lib.crypto import DecryptionError


class KeysDestroyed(DecryptionError):
    """The organization's keys were destroyed (crypto-shredding): its encrypted data can never be read again.

    It names the organization and when, so that whoever answers the request can say so (the pages answer 410
    Gone, accounts.middleware.ShreddedOrganizationMiddleware), never a 500.
    """

    def __init__(
        self,
        message: str,
        *,
        organization_id: int | None = None,
        destroyed_at: datetime.datetime | None = None,
    ) -> None:
        super().__init__(message)
        self.organization_id = organization_id
        self.destroyed_at = destroyed_at

    def restated(self, message: str) -> KeysDestroyed:
        """The same error with a longer message (which field could not be decrypted)."""
        return KeysDestroyed(message, organization_id=self.organization_id, destroyed_at=self.destroyed_at)


class KeyPurpose(models.TextChoices):
    DATA = "data", "data"
    INDEX = "index", "index"


class DataKey(models.Model):
    """One version of an organization's data or index key, wrapped by the master key.

    Rows are never deleted: a retired version keeps its row (without key material) so that its number is
    never reused, and a shredded organization keeps rows marked destroyed so that no new keys are made for it.
    """

    # No foreign key: lib knows nothing of the apps (ARCHITECTURE.md), and a shredded organization's marker
    # rows must outlive anything the apps do with the organization itself.
    organization_id = models.BigIntegerField()
    purpose = models.CharField(max_length=5, choices=KeyPurpose.choices)
    version = models.PositiveIntegerField()
    wrapped = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization_id", "purpose", "version"], name="datakey_one_row_per_version"
            ),
        ]

    def __str__(self) -> str:
        return f"org:{self.organization_id}:{self.purpose}:v{self.version}"

    @property
    def is_live(self) -> bool:
        return self.retired_at is None and self.destroyed_at is None


@dataclass(frozen=True)
class Keyring:
    """One organization's unwrapped keys: the current versions and every version still live."""

    organization_id: int
    data_version: int
    index_version: int
    # repr=False: a keyring printed in a log or a traceback must not show key material.
    data_keys: Mapping[int, bytes] = field(repr=False)
    index_keys: Mapping[int, bytes] = field(repr=False)

    @property
    def data_key(self) -> bytes:
        return self.data_keys[self.data_version]

    @property
    def index_key(self) -> bytes:
        return self.index_keys[self.index_version]

    @property
    def rotating(self) -> bool:
        """More than one live version: a rotation started and has not finished."""
        return len(self.data_keys) > 1 or len(self.index_keys) > 1


class _State(threading.local):
    def __init__(self) -> None:
        self.rings: dict[int, Keyring] = {}
        # Organizations whose keys this thread changed in a transaction that has not committed yet. Their
        # keyring is never cached: if that transaction (or a savepoint) rolls back, the next use must see it
        # rather than encrypt under keys that no longer exist anywhere.
        self.uncommitted: set[int] = set()


_state = _State()


def clear_key_cache(*, everything: bool = False, **_signal_kwargs: Any) -> None:
    """Forget every unwrapped key of this thread (on request_started, task_started, and in commands).

    Outside any transaction (where requests and tasks start) nothing uncommitted remains, so the marks of
    keys changed in unfinished transactions go too. `everything=True` also drops them inside a transaction;
    the test suite uses it at the start of each test, whose class transaction outlives the test.
    """
    _state.rings.clear()
    if everything or not transaction.get_connection().in_atomic_block:
        _state.uncommitted.clear()


def _changed_keys(organization_id: int) -> None:
    """This thread wrote key rows of the organization: no caching its keys until that commits."""
    _state.rings.pop(organization_id, None)
    _state.uncommitted.add(organization_id)
    transaction.on_commit(lambda: _state.uncommitted.discard(organization_id))


def _label(organization_id: int, purpose: str, version: int) -> str:
    return f"org:{organization_id}:{purpose}:v{version}"


def _master_key() -> bytes:
    return bytes(settings.MASTER_KEY)


def _wrap_new_key(master: bytes, organization_id: int, purpose: str, version: int) -> DataKey:
    wrapped = crypto.wrap_key(master, crypto.generate_key(), label=_label(organization_id, purpose, version))
    return DataKey(organization_id=organization_id, purpose=purpose, version=version, wrapped=wrapped)


def _destroyed_error(organization_id: int, when: datetime.datetime) -> KeysDestroyed:
    return KeysDestroyed(
        f"the keys of organization {organization_id} were destroyed on {when:%Y-%m-%d %H:%M} UTC "
        "(crypto-shredding): its encrypted data can never be read again",
        organization_id=organization_id,
        destroyed_at=when,
    )


def _create_first_keys(organization_id: int) -> None:
    master = _master_key()
    try:
        with transaction.atomic():
            DataKey.objects.bulk_create(
                [_wrap_new_key(master, organization_id, purpose, 1) for purpose in KeyPurpose]
            )
    except IntegrityError:
        return  # another worker made them first (the unique constraint decided); theirs are the keys
    _changed_keys(organization_id)


def _load(organization_id: int, *, create: bool) -> Keyring | None:
    rows = list(DataKey.objects.filter(organization_id=organization_id))
    destroyed = [row.destroyed_at for row in rows if row.destroyed_at is not None]
    if destroyed:
        raise _destroyed_error(organization_id, min(destroyed))
    if not rows:
        if not create:
            return None
        _create_first_keys(organization_id)
        ring = _load(organization_id, create=False)
        if ring is None:  # the keys another worker was making were rolled back meanwhile
            raise DecryptionError(f"organization {organization_id}: its keys could not be made; try again")
        return ring
    master = _master_key()
    keys: dict[str, dict[int, bytes]] = {KeyPurpose.DATA: {}, KeyPurpose.INDEX: {}}
    for row in rows:
        if row.is_live:
            label = _label(organization_id, row.purpose, row.version)
            keys[row.purpose][row.version] = crypto.unwrap_key(master, bytes(row.wrapped), label=label)
    if not keys[KeyPurpose.DATA] or not keys[KeyPurpose.INDEX]:
        raise DecryptionError(f"organization {organization_id} has key rows but no live data or index key")
    return Keyring(
        organization_id=organization_id,
        data_version=max(keys[KeyPurpose.DATA]),
        index_version=max(keys[KeyPurpose.INDEX]),
        data_keys=keys[KeyPurpose.DATA],
        index_keys=keys[KeyPurpose.INDEX],
    )


def _ring(organization_id: int, *, create: bool, reload: bool = False) -> Keyring | None:
    ring = None if reload else _state.rings.get(organization_id)
    if ring is None:
        ring = _load(organization_id, create=create)
        if ring is not None and organization_id not in _state.uncommitted:
            _state.rings[organization_id] = ring
    return ring


def keyring_for(organization_id: int) -> Keyring:
    """The organization's keys, made on first use; raises KeysDestroyed for a shredded organization."""
    ring = _ring(organization_id, create=True)
    assert ring is not None  # create=True always returns a keyring or raises
    return ring


def encrypt_value(organization_id: int, context: crypto.Context, value: object) -> bytes:
    """Encrypt a typed value (str, int, bool, date, dict, list, None) under the current data key."""
    if context.organization_id != organization_id:
        raise ValueError("the context names another organization")
    ring = keyring_for(organization_id)
    return crypto.encrypt(ring.data_key, ring.data_version, crypto.encode_value(value), context)


def decrypt_value(organization_id: int, context: crypto.Context, token: bytes) -> object:
    """Decrypt a token; raises DecryptionError (KeysDestroyed after shredding), never returns garbage."""
    if context.organization_id != organization_id:
        raise ValueError("the context names another organization")
    version = crypto.token_key_version(token)
    ring = _ring(organization_id, create=False)
    if ring is not None and version not in ring.data_keys:
        # A rotation may have started since this thread loaded the keys: look once more.
        ring = _ring(organization_id, create=False, reload=True)
    if ring is None:
        raise DecryptionError(
            f"organization {organization_id} has no keys, so nothing of it can be decrypted"
        )
    if version not in ring.data_keys:
        raise DecryptionError(
            f"encrypted under key version {version}, which organization {organization_id} no longer has "
            "(retired by a key rotation that did not re-encrypt this value)"
        )
    return crypto.decode_value(crypto.decrypt(ring.data_keys, token, context))


def blind_index_value(
    organization_id: int, purpose: str, normalized_parts: Sequence[str], *, version: int | None = None
) -> str:
    """The blind index of already-normalized parts under the organization's current (or given) index key."""
    ring = keyring_for(organization_id)
    key = ring.index_keys[ring.index_version if version is None else version]
    return crypto.blind_index(key, purpose, normalized_parts)


def blind_index_values(organization_id: int, purpose: str, normalized_parts: Sequence[str]) -> list[str]:
    """The blind index under every live index key, current first (complete lookups during a rotation)."""
    ring = keyring_for(organization_id)
    versions = sorted(ring.index_keys, reverse=True)
    return [crypto.blind_index(ring.index_keys[v], purpose, normalized_parts) for v in versions]


# --- Rotation ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchDone:
    """Passed to a rotation's on_batch callback, inside the batch's transaction, after its rows are written."""

    organization_id: int
    model: str
    batch: int  # batches done so far in this run, this one included
    rows_checked: int
    rows_rewritten: int


@dataclass
class RotationReport:
    organization_id: int
    data_version: int = 0
    index_version: int = 0
    resumed: bool = False
    rows_checked: int = 0
    rows_rewritten: int = 0
    retired_versions: list[int] = field(default_factory=list)


def organizations_with_keys() -> list[int]:
    """Organizations that have live keys (shredded ones have none to rotate)."""
    destroyed = DataKey.objects.filter(destroyed_at__isnull=False).values("organization_id")
    return list(
        DataKey.objects.exclude(organization_id__in=destroyed)
        .order_by("organization_id")
        .values_list("organization_id", flat=True)
        .distinct()
    )


@transaction.atomic
def _begin_rotation(organization_id: int) -> bool | None:
    """Make the next key versions, or find the unfinished rotation: True if resumed, None if no keys."""
    rows = list(DataKey.objects.select_for_update().filter(organization_id=organization_id))
    destroyed = [row.destroyed_at for row in rows if row.destroyed_at is not None]
    if destroyed:
        raise _destroyed_error(organization_id, min(destroyed))
    if not rows:
        return None
    live = {purpose: [r for r in rows if r.purpose == purpose and r.is_live] for purpose in KeyPurpose}
    # Old versions are retired only when every row is on the new one; until then, two live versions mean
    # "a rotation is under way", and running again continues it instead of starting yet another version.
    if any(len(versions) > 1 for versions in live.values()):
        return True
    master = _master_key()
    DataKey.objects.bulk_create(
        [
            _wrap_new_key(
                master,
                organization_id,
                purpose,
                max(r.version for r in rows if r.purpose == purpose) + 1,
            )
            for purpose in KeyPurpose
        ]
    )
    _changed_keys(organization_id)
    return False


@transaction.atomic
def _finish_rotation(organization_id: int) -> list[int]:
    rows = list(DataKey.objects.select_for_update().filter(organization_id=organization_id))
    retired: set[int] = set()
    now = timezone.now()
    for purpose in KeyPurpose:
        live = [r for r in rows if r.purpose == purpose and r.is_live]
        current = max(r.version for r in live)
        for row in live:
            if row.version != current:
                # The key material goes; the row stays so that the version number is never used again.
                row.retired_at, row.wrapped = now, b""
                row.save(update_fields=["retired_at", "wrapped"])
                if purpose == KeyPurpose.DATA:
                    retired.add(row.version)
    _changed_keys(organization_id)
    return sorted(retired)


# Re-encryption passes before giving up: a second pass normally finds nothing, unless a request that loaded
# the keys before the rotation began wrote a row under the old version meanwhile.
_MAX_PASSES = 5


def rotate_organization_keys(
    organization_id: int,
    *,
    batch_size: int = 500,
    on_batch: Callable[[BatchDone], None] | None = None,
) -> RotationReport:
    """Rotate one organization's data and index keys and re-encrypt every encrypted field under them.

    Safe to interrupt at any point and to run again: each batch of rows commits on its own, rows already
    under the current version are skipped, and an unfinished rotation is continued, not restarted. Only
    when every row is on the new version are the old versions retired and their key material deleted, so a
    row always decrypts under exactly one live version. `on_batch` runs inside each batch's transaction
    (for progress; an exception there rolls that batch back, as a crash would).
    """
    # fields imports this module; the re-encryption itself lives with the fields it rewrites.
    from circlekeeper.lib.fields import reencrypt_organization

    report = RotationReport(organization_id=organization_id)
    clear_key_cache()
    try:
        resumed = _begin_rotation(organization_id)
    except IntegrityError:
        # Another rotation made the next versions at the same moment: continue that one.
        resumed = _begin_rotation(organization_id)
    if resumed is None:
        return report
    report.resumed = resumed
    clear_key_cache()
    ring = keyring_for(organization_id)
    report.data_version, report.index_version = ring.data_version, ring.index_version
    batches = 0

    def batch_done(model: str, checked: int, rewritten: int) -> None:
        nonlocal batches
        batches += 1
        if on_batch is not None:
            on_batch(BatchDone(organization_id, model, batches, checked, rewritten))

    for _pass in range(_MAX_PASSES):
        checked, rewritten = reencrypt_organization(
            organization_id, batch_size=batch_size, on_batch=batch_done
        )
        report.rows_checked += checked
        report.rows_rewritten += rewritten
        if rewritten == 0:
            break
    else:
        raise RuntimeError(
            f"organization {organization_id}: rows keep being written under old keys; run rotate_keys again"
        )
    report.retired_versions = _finish_rotation(organization_id)
    clear_key_cache()
    return report


# --- Crypto-shredding ----------------------------------------------------------------------------


def keys_destroyed_at(organization_id: int) -> datetime.datetime | None:
    return (
        DataKey.objects.filter(organization_id=organization_id, destroyed_at__isnull=False)
        .order_by("destroyed_at")
        .values_list("destroyed_at", flat=True)
        .first()
    )


def refuse_if_destroyed(organization_id: int) -> None:
    """Raise KeysDestroyed now if the organization was shredded: for an answer that would otherwise fail only
    once it has started (a streamed export), after its status and headers were sent."""
    when = keys_destroyed_at(organization_id)
    if when is not None:
        raise _destroyed_error(organization_id, when)


@transaction.atomic
def destroy_keys(organization_id: int) -> int:
    """Crypto-shred an organization: delete its key material, for good, and refuse to make new keys.

    Returns the number of key versions destroyed. The rows stay, marked destroyed, so that keyring_for
    raises KeysDestroyed instead of quietly making fresh keys. Other processes stop using keys they hold
    when their current request or task ends.
    """
    now = timezone.now()
    rows = list(DataKey.objects.select_for_update().filter(organization_id=organization_id))
    if not rows:
        # Never had keys: record the shredding all the same, so none are ever made.
        DataKey.objects.bulk_create(
            [
                DataKey(
                    organization_id=organization_id,
                    purpose=purpose,
                    version=1,
                    wrapped=b"",
                    retired_at=now,
                    destroyed_at=now,
                )
                for purpose in KeyPurpose
            ]
        )
        destroyed = 0
    else:
        destroyed = DataKey.objects.filter(
            organization_id=organization_id, destroyed_at__isnull=True, retired_at__isnull=True
        ).count()
        DataKey.objects.filter(organization_id=organization_id, destroyed_at__isnull=True).update(
            wrapped=b"", destroyed_at=now
        )
    _changed_keys(organization_id)
    return destroyed


# --- Master key rotation -------------------------------------------------------------------------


class MasterKeyError(Exception):
    """A master key that cannot be used, or keys that cannot be re-wrapped; raised before anything commits."""


def parse_master_key(text: str) -> bytes:
    """A master key as written in its file: 32 bytes in urlsafe base64 (as `secrets.token_urlsafe(32)` prints).

    The same rule as settings.envkey, so that a key file accepted here is accepted at start-up too.
    """
    text = text.strip()
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != crypto.KEY_SIZE:
        raise MasterKeyError(
            "it does not hold a 32-byte key in urlsafe base64 "
            '(e.g. from `python -c "import secrets; print(secrets.token_urlsafe(32))"`)'
        )
    return key


def read_master_key_file(path: str | os.PathLike[str]) -> bytes:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise MasterKeyError(f"{os.fspath(path)} cannot be read: {reason}") from None
    try:
        return parse_master_key(text)
    except MasterKeyError as exc:
        raise MasterKeyError(f"{os.fspath(path)}: {exc}") from None


@dataclass(frozen=True)
class MasterKeyReport:
    rewrapped: int  # live keys moved from the old master key to the new one
    already_new: int  # live keys found already under the new master key (a re-run), left as they were
    without_material: int  # retired or destroyed versions: no key material, left as they were
    organizations: int


def _lock_key_table() -> None:
    """Keep every other writer of key rows out until this transaction ends; readers carry on.

    Without it a worker could make an organization's first keys under the old master key after the rows were
    read, and those keys would be lost with the old master key. SQLite needs nothing: its write transactions
    are exclusive (transaction_mode IMMEDIATE takes the lock at BEGIN).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"LOCK TABLE {connection.ops.quote_name(DataKey._meta.db_table)} IN EXCLUSIVE MODE"
            )


def rewrap_keys(
    *,
    new_master_key: bytes,
    old_master_key: bytes | None = None,
    on_key: Callable[[DataKey], None] | None = None,
) -> MasterKeyReport:
    """Re-wrap every live data and index key of every organization under a new master key, in one transaction.

    The old master key is the one in use (settings.MASTER_KEY) unless given. Every re-wrapped key is read
    back and unwrapped under the new master key before the transaction commits; any failure, or an exception
    from `on_key` (called after each key is re-wrapped), rolls everything back, leaving every key under the
    old master key. Retired and destroyed versions hold no key material and stay as they are: a shredded
    organization stays shredded. Keys already under the new master key (from an earlier run) are kept, so
    running again is safe. Processes still configured with the old master key cannot read any key once this
    commits: stop them first, and restart them with the new one.
    """
    old_master_key = _master_key() if old_master_key is None else old_master_key
    for what, key in (("new", new_master_key), ("old", old_master_key)):
        if not isinstance(key, bytes) or len(key) != crypto.KEY_SIZE:
            raise MasterKeyError(f"The {what} master key must be {crypto.KEY_SIZE} bytes")
    if hmac.compare_digest(new_master_key, old_master_key):
        raise MasterKeyError("The new master key is the one the keys are wrapped under already")
    rewrapped = already_new = without_material = 0
    with transaction.atomic():
        _lock_key_table()
        expected: dict[int, bytes] = {}
        for row in DataKey.objects.select_for_update().order_by("pk"):
            if not row.is_live:
                without_material += 1
                continue
            label = _label(row.organization_id, row.purpose, row.version)
            try:
                key = crypto.unwrap_key(old_master_key, bytes(row.wrapped), label=label)
            except DecryptionError:
                try:
                    expected[row.pk] = crypto.unwrap_key(new_master_key, bytes(row.wrapped), label=label)
                except DecryptionError:
                    raise MasterKeyError(
                        f"Key {label} unwraps under neither the old master key nor the new one "
                        "(is the old one the key in use?)"
                    ) from None
                already_new += 1
                continue
            row.wrapped = crypto.wrap_key(new_master_key, key, label=label)
            row.save(update_fields=["wrapped"])
            expected[row.pk] = key
            rewrapped += 1
            if on_key is not None:
                on_key(row)
        _verify_rewrapped(new_master_key, expected)
        organizations = len({row.organization_id for row in DataKey.objects.filter(pk__in=expected)})
    clear_key_cache()
    return MasterKeyReport(rewrapped, already_new, without_material, organizations)


def _verify_rewrapped(new_master_key: bytes, expected: Mapping[int, bytes]) -> None:
    """Read every live key back from the database and unwrap it under the new master key, or roll back."""
    live = DataKey.objects.filter(retired_at__isnull=True, destroyed_at__isnull=True)
    seen = set()
    for row in live:
        label = _label(row.organization_id, row.purpose, row.version)
        try:
            key = crypto.unwrap_key(new_master_key, bytes(row.wrapped), label=label)
        except DecryptionError:
            raise MasterKeyError(
                f"Key {label} does not unwrap under the new master key after re-wrapping"
            ) from None
        if row.pk not in expected or not hmac.compare_digest(key, expected[row.pk]):
            raise MasterKeyError(f"Key {label} changed while it was re-wrapped")
        seen.add(row.pk)
    if seen != set(expected):
        raise MasterKeyError("Key rows changed while they were re-wrapped")


MASTER_KEY_FIX = (
    "The master key in CIRCLEKEEPER_MASTER_KEY_FILE (or CIRCLEKEEPER_MASTER_KEY) is not the one these keys were "
    "wrapped with: put the right key file back (from where you keep it, never from the database's backups), or "
    "restore the database that goes with this key."
)


def master_key_problem() -> str | None:
    """Unwrap one stored organization key with the configured master key: None when it works (or no key is
    stored yet), else what is wrong and how to fix it (issue 20: a wrong key once started a server whose every
    case page was a 500)."""
    row = DataKey.objects.filter(retired_at__isnull=True, destroyed_at__isnull=True).order_by("pk").first()
    if row is None:
        return None
    try:
        crypto.unwrap_key(
            _master_key(), bytes(row.wrapped), label=_label(row.organization_id, row.purpose, row.version)
        )
    except DecryptionError:
        return f"the master key cannot unwrap the stored organization keys (key {row.pk}). {MASTER_KEY_FIX}"
    return None


def refuse_a_wrong_master_key() -> None:
    """At start-up (wsgi.py, run_worker): stop with the reason rather than serve 500s. A database that cannot
    be reached or is not migrated yet is left for /healthz to report."""
    from django.core.exceptions import ImproperlyConfigured
    from django.db import DatabaseError

    try:
        problem = master_key_problem()
    except DatabaseError:
        return
    if problem:
        raise ImproperlyConfigured(f"Circlekeeper will not start: {problem}")

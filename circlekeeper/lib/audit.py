"""The audit log (SECURITY.md 16-17): who did what, when and from where; never the data itself.

The log is append-only and tamper-evident. Each event carries the hash of the one before it, so editing,
deleting or reordering rows in SQL breaks the chain, and `manage.py verify_audit` finds the first broken link.
Appending takes a lock on the one `AuditChainHead` row, so two writers can never fork the chain.

Reads are not appended at once (issue 23): a page view that changes nothing (the accounts app's READ_ACTIONS)
is written by `record_pending` as a `PendingAuditEvent`, one INSERT in the request's transaction, with the hash
of its own content and no lock on the head. `seal()` chains the pending events in id order (each becomes the
next AuditEvent, its time kept) and removes them in the same transaction, under the head's lock. It runs inside
every `record()` (after the head is locked, before the new event, so a read committed before a change comes
before it in the chain), every SEAL_SECONDS from the worker (lib/tasks.py), when the audit log page opens and in
`manage.py verify_audit --seal`. Until sealed, a pending row could be deleted unseen (the window, normally under
15 s; the README says so); an edit shows against its own hash, and such an event is never sealed (that would
hash the edit anew), so `verify_chain` keeps reporting it. Reads still uncommitted when a sealer runs (or, on
PostgreSQL, committed out of id order) are sealed by the next one, so the chain's order is that of sealing.

Why appending cannot deadlock with row locks on cases (issue 20, PostgreSQL). The chain head is the one row
every writing request locks, and it stays locked until the request commits, so while a request holds it, it
must never wait for any other lock. The trap was the foreign keys: Django declares them DEFERRABLE INITIALLY
DEFERRED, so a note's reference to its case was only checked at COMMIT, and that check takes FOR KEY SHARE on
the case row. A request that had appended its event (holding the head) then waited at COMMIT for a colleague
who held the case FOR UPDATE (scheduling a meeting) and was waiting for the head: a cycle, "deadlock detected".
So `record` does two things before it touches the head:

1. `SET CONSTRAINTS ALL IMMEDIATE` checks every foreign key written so far in the transaction now, taking
   those FOR KEY SHARE locks before the head (and any written after it is checked as it is written, not at
   COMMIT). Whatever this waits for, it waits for without holding the head, so the wait ends.
2. The head is locked FOR NO KEY UPDATE (nothing refers to it; the lock still serializes appenders), and the
   services lock case and organization rows FOR NO KEY UPDATE too (`select_for_update(no_key=True)`): that
   lock does not conflict with the FOR KEY SHARE a foreign-key check takes, so adding a note to a case never
   waits for a colleague who is changing the case.

3. The sealer inside `record()` runs after both (it reads the pending events in the same round trip as the
   head's lock), and a standalone `seal()` takes the same path. It waits for no lock either: pending events
   have no foreign keys, a row still uncommitted is invisible to it rather than waited for, and the rows it
   deletes are locked by nobody but another sealer, which would hold the head first. `record_pending` takes
   no lock at all that a sealer holds.

What remains is the rule for callers: record the event last, after the writes it describes (an event written
inside a transaction commits or rolls back with them). tests/test_audit_deadlocks.py reproduces the
notes-and-meetings interleaving on PostgreSQL and fails without step 1. On SQLite there is one write lock for
the whole database (BEGIN IMMEDIATE), so no cycle can form there.

This module knows nothing of the apps: callers pass plain values (the accounts app's `audit()` fills in the
organization and roles of the signed-in person).
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from circlekeeper.lib.redaction import redact
from circlekeeper.lib.tenancy import OrganizationScopedQuerySet

logger = logging.getLogger("circlekeeper.audit")

GENESIS = "0" * 64

# Every column but the hash itself. Adding a field later means hashing it only for events that have it,
# so that the events written before still verify.
HASHED_FIELDS = (
    "sequence",
    "occurred_at",
    "actor_id",
    "actor_label",
    "roles",
    "organization_id",
    "action",
    "object_type",
    "object_id",
    "outcome",
    "ip_address",
    "user_agent",
    "path",
    "prev_hash",
)
# A pending event (a read not yet sealed into the chain) hashes the same columns but its place in the chain,
# which it does not have yet. Its id is not hashed either: it is known only once the row is written.
PENDING_HASHED_FIELDS = tuple(name for name in HASHED_FIELDS if name not in ("sequence", "prev_hash"))


class Outcome(models.TextChoices):
    OK = "ok", _("Done")
    REFUSED = "refused", _("Refused")
    FAILED = "failed", _("Failed")


class AuditLogIsAppendOnly(Exception):
    """Raised by every ORM path that would change or remove an audit event."""


def _refuse() -> NoReturn:
    raise AuditLogIsAppendOnly("Audit events are never changed or deleted.")


class AuditEventQuerySet(OrganizationScopedQuerySet):
    # Only record() writes events, one at a time, through the chain head; nothing changes or removes them.
    def update(self, **kwargs: Any) -> NoReturn:
        _refuse()

    def delete(self) -> NoReturn:
        _refuse()

    def bulk_create(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse()

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse()

    def _raw_delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse()

    update.alters_data = delete.alters_data = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]

    def by_actor(self, actor_id: int) -> AuditEventQuerySet:
        return self.filter(actor_id=actor_id)

    def about(self, object_type: str, object_id: str | int) -> AuditEventQuerySet:
        return self.filter(object_type=object_type, object_id=str(object_id))


class AuditEvent(models.Model):
    sequence = models.BigIntegerField(primary_key=True, editable=False)
    occurred_at = models.DateTimeField(editable=False)
    # Plain ids rather than foreign keys: the log outlives the people and organizations it mentions.
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=254, blank=True)
    roles = models.CharField(max_length=200, blank=True)
    organization_id = models.BigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=40)
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.OK)
    ip_address = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)
    path = models.CharField(max_length=300, blank=True)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit event")
        ordering = ["-sequence"]
        indexes = [
            models.Index(fields=["organization_id", "-sequence"], name="audit_org_seq"),
            models.Index(fields=["organization_id", "actor_id", "-sequence"], name="audit_org_actor_seq"),
            models.Index(fields=["organization_id", "object_type", "object_id"], name="audit_org_object"),
            models.Index(fields=["organization_id", "action", "-sequence"], name="audit_org_action_seq"),
            models.Index(fields=["organization_id", "occurred_at"], name="audit_org_time"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} {self.outcome}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            _refuse()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse()

    def canonical(self) -> bytes:
        """Every field in a fixed, unambiguous form: JSON with sorted keys, times in UTC to the microsecond."""
        return _canonical(self, HASHED_FIELDS)

    def compute_hash(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()


def _canonical(event: Any, fields: tuple[str, ...]) -> bytes:
    values: dict[str, Any] = {name: getattr(event, name) for name in fields}
    values["occurred_at"] = event.occurred_at.astimezone(datetime.UTC).isoformat(timespec="microseconds")
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


class PendingAuditEventQuerySet(models.QuerySet["PendingAuditEvent"]):
    # Only record_pending() writes pending events, one at a time; only the sealer removes them, through
    # _remove_sealed(), in the transaction that chains them. Nothing else changes or removes one.
    def update(self, **kwargs: Any) -> NoReturn:
        _refuse()

    def delete(self) -> NoReturn:
        _refuse()

    def bulk_create(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse()

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse()

    def _raw_delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse()

    update.alters_data = delete.alters_data = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]


class PendingAuditEvent(models.Model):
    """A read (a page view that changes nothing) recorded without the chain head's lock, until sealed.

    `seal()` turns pending events, in id order, into AuditEvents at the end of the chain and removes them in
    the same transaction. Until then each carries the hash of its own content, so an edit shows.
    """

    occurred_at = models.DateTimeField(editable=False)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=254, blank=True)
    roles = models.CharField(max_length=200, blank=True)
    organization_id = models.BigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=40)
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.OK)
    ip_address = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)
    path = models.CharField(max_length=300, blank=True)
    hash = models.CharField(max_length=64, editable=False)

    objects = PendingAuditEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("pending audit event")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"pending #{self.pk} {self.action} {self.outcome}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            _refuse()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse()

    def canonical(self) -> bytes:
        return _canonical(self, PENDING_HASHED_FIELDS)

    def compute_hash(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()


def _remove_sealed(ids: list[int]) -> None:
    """The sealer's own removal of the pending events it has just chained (the only removal there is)."""
    for start in range(0, len(ids), 500):
        chunk = PendingAuditEvent.objects.filter(pk__in=ids[start : start + 500])
        models.QuerySet._raw_delete(chunk, chunk.db)


class AuditChainHead(models.Model):
    """The one row that says where the chain ends. Appending locks it, which serializes writers."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    sequence = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="audit_head_single_row")]

    def __str__(self) -> str:
        return f"audit chain head #{self.sequence}"


def _printable(text: str, limit: int) -> str:
    # Control characters (a NUL is refused by PostgreSQL) and lone surrogates never reach the log.
    return "".join(ch for ch in text if ch.isprintable())[:limit]


def _ip(value: str | None) -> str:
    try:
        return ipaddress.ip_address((value or "").strip()).compressed
    except ValueError:
        return ""


_PENDING_COLUMNS = ("id", *PENDING_HASHED_FIELDS, "hash")


def _locked_head(*, create: bool = True) -> tuple[AuditChainHead | None, list[PendingAuditEvent]]:
    """The chain head, locked, after the transaction's deferred foreign keys were checked (see the module's text),
    and the pending events to seal before anything else is appended, in id order.

    On PostgreSQL the three go in one round trip ("SET CONSTRAINTS ALL IMMEDIATE; SELECT ... FOR NO KEY UPDATE;
    SELECT the pending events"): each statement takes its own snapshot, so the pending events are read after the
    head's lock was granted and none sealed meanwhile by another sealer is seen again. On SQLite (one writer at
    a time, whose transaction began with the write lock) one query reads the head and the pending events joined.
    Either way an audited page costs the same number of queries on both databases (the query budgets are the
    same there), and nothing more than before when nothing is pending.
    """
    connection = transaction.get_connection()
    pending_columns = ", ".join(connection.ops.quote_name(name) for name in _PENDING_COLUMNS)
    table = PendingAuditEvent._meta.db_table
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # No parameters: psycopg sends the statements at once; each result follows the one before.
            cursor.execute(
                "SET CONSTRAINTS ALL IMMEDIATE; "  # noqa: S608  # nosec B608: constant names, no values
                "SELECT id, sequence, hash FROM lib_auditchainhead WHERE id = 1 FOR NO KEY UPDATE; "
                f"SELECT {pending_columns} FROM {table} ORDER BY id"
            )
            cursor.nextset()
            row = cursor.fetchone()
            cursor.nextset()
            rows = cursor.fetchall()
        if row is not None:
            head = AuditChainHead.from_db(connection.alias, ["id", "sequence", "hash"], row)
            return head, [
                PendingAuditEvent.from_db(connection.alias, list(_PENDING_COLUMNS), r) for r in rows
            ]
    else:
        joined_columns = ", ".join("p." + connection.ops.quote_name(name) for name in _PENDING_COLUMNS)
        joined = list(
            PendingAuditEvent.objects.raw(
                f"SELECT {joined_columns}, "  # noqa: S608  # nosec B608: constant names, no values
                "h.sequence AS head_sequence, h.hash AS head_hash FROM lib_auditchainhead h "
                f"LEFT JOIN {table} p ON 1 = 1 WHERE h.id = 1 ORDER BY p.id"
            )
        )
        if joined:
            first: Any = joined[0]
            head = AuditChainHead.from_db(
                connection.alias, ["id", "sequence", "hash"], (1, first.head_sequence, first.head_hash)
            )
            return head, [event for event in joined if event.pk is not None]
    # No head row yet (a new database): made here, once (by a sealer only if there is something to seal).
    pending = list(PendingAuditEvent.objects.order_by("id"))
    if not create and not pending:
        return None, []
    head, _created = AuditChainHead.objects.select_for_update(no_key=True).get_or_create(pk=1)
    return head, pending


def _seal_pending(head: AuditChainHead, pending: list[PendingAuditEvent]) -> int:
    """Chain `pending` (in its order) after `head`, which the caller has locked; remove them; move `head` on
    in memory (the caller saves it). An event whose content no longer matches its hash is not chained (that
    would launder the edit under a new hash): it stays pending, for verify_chain to report. Returns how many."""
    events: list[AuditEvent] = []
    sealed_ids: list[int] = []
    for item in pending:
        if item.compute_hash() != item.hash:
            logger.error(
                "Pending audit event %s was edited: left unsealed for verify_audit to report", item.pk
            )
            continue
        event = AuditEvent(
            sequence=head.sequence + 1,
            prev_hash=head.hash,
            **{name: getattr(item, name) for name in PENDING_HASHED_FIELDS},
        )
        event.hash = event.compute_hash()
        events.append(event)
        sealed_ids.append(item.pk)
        head.sequence, head.hash = event.sequence, event.hash
    if events:
        # The sealer's own bulk insert: AuditEvent's queryset refuses bulk_create to everyone else.
        models.QuerySet.bulk_create(AuditEvent.objects.all(), events)
        _remove_sealed(sealed_ids)
    return len(events)


def seal() -> int:
    """Chain every pending event (reads recorded by record_pending), in id order; returns how many.

    Run from the worker every SEAL_SECONDS (lib/tasks.py), when the audit log page opens, by
    `manage.py verify_audit --seal`, and inside every record() before its own event.
    """
    with transaction.atomic(savepoint=False):
        head, pending = _locked_head(create=False)
        if head is None:
            return 0
        sealed = _seal_pending(head, pending)
        if sealed:
            head.save(update_fields=["sequence", "hash"])
    return sealed


def _values(
    request: HttpRequest | None,
    *,
    action: str,
    object_type: str,
    object_id: str | int,
    outcome: str,
    organization_id: int | None,
    actor: Any,
    roles: Iterable[str],
    ip_address: str | None,
) -> dict[str, Any]:
    if not action:
        raise ValueError("An audit event needs an action.")
    if outcome not in Outcome.values:
        raise ValueError(f"Unknown audit outcome: {outcome!r}")
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            actor = user
    meta = request.META if request is not None else {}
    return {
        "actor_id": actor.pk if actor is not None else None,
        "actor_label": _printable(actor.get_username(), 254) if actor is not None else "",
        "roles": ",".join(sorted(set(roles))),
        "organization_id": organization_id,
        "action": _printable(action, 40),
        "object_type": _printable(object_type, 40),
        "object_id": _printable(str(object_id), 64),
        "outcome": outcome,
        "ip_address": _ip(ip_address if ip_address is not None else meta.get("REMOTE_ADDR")),
        "user_agent": _printable(meta.get("HTTP_USER_AGENT", ""), 200),
        "path": _printable(redact(request.path), 300) if request is not None else "",
    }


def record(
    request: HttpRequest | None,
    *,
    action: str,
    object_type: str = "",
    object_id: str | int = "",
    outcome: str = Outcome.OK,
    organization_id: int | None = None,
    actor: Any = None,
    roles: Iterable[str] = (),
    ip_address: str | None = None,
) -> AuditEvent:
    """Append one event to the chain, in the caller's transaction if there is one.

    Inside a request transaction the event commits or rolls back with the work it describes; the chain head
    stays locked until then, so call this after the writes it describes; the foreign keys of those writes are
    checked before the head is locked (the module's text says why). The pending reads committed so far are
    sealed first, under the same lock, so they come before this event. The actor is the request's signed-in
    user unless given; the address, browser and path come from the request (the path only: query strings may
    carry search terms).
    """
    event = AuditEvent(
        **_values(
            request,
            action=action,
            object_type=object_type,
            object_id=object_id,
            outcome=outcome,
            organization_id=organization_id,
            actor=actor,
            roles=roles,
            ip_address=ip_address,
        )
    )
    # No savepoint: if the event cannot be written, the work it describes must not commit either.
    with transaction.atomic(savepoint=False):
        head, pending = _locked_head()
        assert head is not None  # made above when missing  # nosec B101
        _seal_pending(head, pending)
        event.sequence = head.sequence + 1
        event.prev_hash = head.hash
        event.occurred_at = timezone.now()
        event.hash = event.compute_hash()
        event.save(force_insert=True)
        head.sequence, head.hash = event.sequence, event.hash
        head.save(update_fields=["sequence", "hash"])
    return event


def record_pending(
    request: HttpRequest | None,
    *,
    action: str,
    object_type: str = "",
    object_id: str | int = "",
    outcome: str = Outcome.OK,
    organization_id: int | None = None,
    actor: Any = None,
    roles: Iterable[str] = (),
    ip_address: str | None = None,
) -> PendingAuditEvent:
    """Record a read (a page view that changes nothing) as a pending event: one INSERT, no lock on the head.

    Written in the caller's transaction if there is one (so it rolls back with a failed request), else at
    once (a GET runs in autocommit): either way it is in the database before the response is sent. seal()
    chains it later, within seconds. Same arguments as record().
    """
    event = PendingAuditEvent(
        **_values(
            request,
            action=action,
            object_type=object_type,
            object_id=object_id,
            outcome=outcome,
            organization_id=organization_id,
            actor=actor,
            roles=roles,
            ip_address=ip_address,
        )
    )
    event.occurred_at = timezone.now()
    event.hash = event.compute_hash()
    event.save(force_insert=True)
    return event


@dataclass(frozen=True)
class ChainReport:
    events: int
    last_sequence: int
    last_hash: str
    broken_at: int | None = None
    reason: str = ""
    # Reads recorded but not yet sealed into the chain, and those among them edited since (their ids).
    pending: int = 0
    pending_edited: tuple[int, ...] = ()

    @property
    def intact(self) -> bool:
        return self.broken_at is None and not self.pending_edited


def verify_chain(*, batch_size: int = 1000, anchor: tuple[int, str] | None = None) -> ChainReport:
    """Walk the chain in order, recomputing every hash; report the first broken link and why. Then check every
    pending event (a read not yet sealed) against its own hash, and count them.

    `anchor` is a (sequence, hash) pair noted down outside the database earlier: someone able to rewrite the
    whole chain after an edit cannot also change a copy they never saw.
    """
    count, last_sequence, last_hash = 0, 0, GENESIS

    pending, edited = 0, []
    for item in PendingAuditEvent.objects.order_by("id").iterator(chunk_size=batch_size):
        pending += 1
        if item.compute_hash() != item.hash:
            edited.append(item.pk)
    pending_edited = tuple(edited)

    def broken(sequence: int, reason: str) -> ChainReport:
        return ChainReport(
            count,
            last_sequence,
            last_hash,
            broken_at=sequence,
            reason=reason,
            pending=pending,
            pending_edited=pending_edited,
        )

    while True:
        batch = list(AuditEvent.objects.filter(sequence__gt=last_sequence).order_by("sequence")[:batch_size])
        if not batch:
            break
        for event in batch:
            expected = last_sequence + 1
            if event.sequence != expected:
                gone = f"{expected}" if event.sequence == expected + 1 else f"{expected}–{event.sequence - 1}"
                return broken(expected, f"missing: event {gone} is gone from before event {event.sequence}")
            if event.compute_hash() != event.hash:
                return broken(event.sequence, "edited: its contents no longer match its hash")
            if event.prev_hash != last_hash:
                return broken(
                    event.sequence,
                    f"reordered or replaced: it does not follow event {last_sequence} (previous hash differs)",
                )
            if anchor is not None and event.sequence == anchor[0] and event.hash != anchor[1]:
                return broken(event.sequence, "rewritten: its hash differs from the anchor noted earlier")
            count, last_sequence, last_hash = count + 1, event.sequence, event.hash
    if anchor is not None and anchor[0] > last_sequence:
        return broken(
            last_sequence + 1, f"missing: the anchor names event {anchor[0]}, the chain ends before it"
        )
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is None:
        if count:
            return broken(last_sequence, "the chain head row is missing")
    elif head.sequence > last_sequence:
        return broken(
            last_sequence + 1, f"missing at the end: the chain head says it ends at event {head.sequence}"
        )
    elif head.sequence != last_sequence or head.hash != last_hash:
        return broken(last_sequence, "the chain head does not match the last event")
    return ChainReport(count, last_sequence, last_hash, pending=pending, pending_edited=pending_edited)

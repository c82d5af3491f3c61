"""The audit log (SECURITY.md 16-17): who did what, when and from where; never the data itself.

The log is append-only and tamper-evident. Each event carries the hash of the one before it, so editing,
deleting or reordering rows in SQL breaks the chain, and `manage.py verify_audit` finds the first broken link.
Appending takes a lock on the one `AuditChainHead` row, so two writers can never fork the chain.

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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from circlekeeper.lib.redaction import redact
from circlekeeper.lib.tenancy import OrganizationScopedQuerySet

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
        values: dict[str, Any] = {name: getattr(self, name) for name in HASHED_FIELDS}
        values["occurred_at"] = self.occurred_at.astimezone(datetime.UTC).isoformat(timespec="microseconds")
        return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")

    def compute_hash(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()


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


def _locked_head() -> AuditChainHead:
    """The chain head, locked, after the transaction's deferred foreign keys were checked (see the module's text).

    On PostgreSQL both go in one round trip ("SET CONSTRAINTS ALL IMMEDIATE; SELECT ... FOR NO KEY UPDATE"), so
    an audited page costs the same number of queries on both databases (the query budgets are the same there).
    """
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # No parameters: psycopg sends both statements at once; the second one's result follows the first.
            cursor.execute(
                "SET CONSTRAINTS ALL IMMEDIATE; "
                "SELECT id, sequence, hash FROM lib_auditchainhead WHERE id = 1 FOR NO KEY UPDATE"
            )
            cursor.nextset()
            row = cursor.fetchone()
        if row is not None:
            return AuditChainHead.from_db(connection.alias, ["id", "sequence", "hash"], row)
    head, _created = AuditChainHead.objects.select_for_update(no_key=True).get_or_create(pk=1)
    return head


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
    checked before the head is locked (the module's text says why). The actor is the request's signed-in user
    unless given; the address, browser and path come from the request (the path only: query strings may carry
    search terms).
    """
    if not action:
        raise ValueError("An audit event needs an action.")
    if outcome not in Outcome.values:
        raise ValueError(f"Unknown audit outcome: {outcome!r}")
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            actor = user
    meta = request.META if request is not None else {}
    event = AuditEvent(
        actor_id=actor.pk if actor is not None else None,
        actor_label=_printable(actor.get_username(), 254) if actor is not None else "",
        roles=",".join(sorted(set(roles))),
        organization_id=organization_id,
        action=_printable(action, 40),
        object_type=_printable(object_type, 40),
        object_id=_printable(str(object_id), 64),
        outcome=outcome,
        ip_address=_ip(ip_address if ip_address is not None else meta.get("REMOTE_ADDR")),
        user_agent=_printable(meta.get("HTTP_USER_AGENT", ""), 200),
        path=_printable(redact(request.path), 300) if request is not None else "",
    )
    # No savepoint: if the event cannot be written, the work it describes must not commit either.
    with transaction.atomic(savepoint=False):
        head = _locked_head()
        event.sequence = head.sequence + 1
        event.prev_hash = head.hash
        event.occurred_at = timezone.now()
        event.hash = event.compute_hash()
        event.save(force_insert=True)
        head.sequence, head.hash = event.sequence, event.hash
        head.save(update_fields=["sequence", "hash"])
    return event


@dataclass(frozen=True)
class ChainReport:
    events: int
    last_sequence: int
    last_hash: str
    broken_at: int | None = None
    reason: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def verify_chain(*, batch_size: int = 1000, anchor: tuple[int, str] | None = None) -> ChainReport:
    """Walk the chain in order, recomputing every hash; report the first broken link and why.

    `anchor` is a (sequence, hash) pair noted down outside the database earlier: someone able to rewrite the
    whole chain after an edit cannot also change a copy they never saw.
    """
    count, last_sequence, last_hash = 0, 0, GENESIS

    def broken(sequence: int, reason: str) -> ChainReport:
        return ChainReport(count, last_sequence, last_hash, broken_at=sequence, reason=reason)

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
    return ChainReport(count, last_sequence, last_hash)

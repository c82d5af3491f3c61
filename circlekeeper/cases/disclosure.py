"""Sharing identifying information outside the organization (SECURITY.md 1-4).

`require_release` is the one guard every path that shares identifying data outside the organization calls:
without a current release from the participant, naming that recipient and covering every field, it refuses.
Intake and services never call it: nothing inside the organization needs a release.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from circlekeeper.accounts.models import User
from circlekeeper.cases.models import (
    BarrierSource,
    Case,
    CaseTask,
    CompelledDisclosure,
    EventKind,
    Participant,
    ReleasableField,
    ReleaseOfInformation,
    TaskKind,
    record_event,
)
from circlekeeper.cases.participants import set_barrier
from circlekeeper.lib.fields import blind_indexes_for
from circlekeeper.lib.hooks import hooks

RECIPIENT_INDEX = ("release_recipient", ("text",))
# How soon the team must tell a participant about a disclosure the law compelled.
NOTIFY_WITHIN_DAYS = 2


class DisclosureRefused(Exception):
    """Identifying information may not go to this recipient: the message says why."""


def _clean_fields(fields: Iterable[str]) -> list[str]:
    chosen = sorted(set(fields))
    unknown = set(chosen) - set(ReleasableField.values)
    if not chosen:
        raise ValidationError(_("Choose the information this covers."))
    if unknown:
        raise ValidationError(
            _("Unknown kind of information: %(names)s") % {"names": ", ".join(sorted(unknown))}
        )
    return chosen


def require_release(
    *, participant: Participant, recipient: str, fields: Iterable[str], on: datetime.date | None = None
) -> ReleaseOfInformation:
    """The participant's current release covering this recipient and every field, or DisclosureRefused."""
    on = on or timezone.localdate()
    wanted = set(fields)
    if not wanted:
        raise DisclosureRefused(_("Nothing to share was named."))
    purpose, kinds = RECIPIENT_INDEX
    indexes = blind_indexes_for(participant.organization_id, purpose, kinds, [recipient])
    releases = ReleaseOfInformation.objects.for_organization(participant.organization).filter(
        participant=participant, recipient_index__in=indexes
    )
    current = [r for r in releases if r.is_current(on)]
    for release in current:
        if wanted <= set(release.fields):
            return release
    if current:
        missing = wanted - set().union(*(set(r.fields) for r in current))
        labels = ", ".join(
            str(ReleasableField(f).label) for f in sorted(missing) if f in ReleasableField.values
        )
        raise DisclosureRefused(
            _("The release for this recipient does not cover: %(fields)s.") % {"fields": labels}
        )
    if any(r.revoked_at is not None for r in releases):
        raise DisclosureRefused(_("The participant revoked their release for this recipient."))
    if releases:
        raise DisclosureRefused(_("The release for this recipient has expired or has not started yet."))
    raise DisclosureRefused(_("There is no release of information from this participant for this recipient."))


@transaction.atomic
def add_participant(
    *, case: Case, role: str, label: str, by: User | None = None, same_person: bool = False
) -> Participant:
    """Add a participant. A label under which a support network names a barrier (settings.NAMED_BARRIER_CHECKS)
    is refused until the keeper confirms it is the same person (`same_person`): then they are flagged a barrier at
    once, with that in their history, and the record is linked to them (settings.PARTICIPANT_ADDED_HANDLERS)."""
    label = label.strip()
    # Labels stay unique with the participants entered in error too (they stay on the record under theirs).
    if Participant.everyone.filter(case=case, label=label).exists():
        raise ValidationError(
            {
                "label": _(
                    "A participant with this label already exists on this case (perhaps entered in error): choose another."
                )
            }
        )
    named = any(check(case, label) for check in hooks("NAMED_BARRIER_CHECKS"))
    if named and not same_person:
        raise ValidationError(
            {
                "same_person": _(
                    "“%(label)s” is named a barrier in a support network of this case. If this is the same "
                    "person, confirm it: they are flagged a barrier and never invited or contacted. If it is "
                    "someone else, choose another label."
                )
                % {"label": label}
            },
            code="named_barrier",
        )
    participant = Participant(organization_id=case.organization_id, case=case, role=role, label=label)
    participant.full_clean()
    participant.save()
    record_event(case, EventKind.PARTICIPANT_ADDED, by=by, participant=participant.label, role=role)
    if named:
        set_barrier(participant, True, source=BarrierSource.LABEL_MATCH, by=by)
        for handler in hooks("PARTICIPANT_ADDED_HANDLERS"):
            handler(participant, by=by)
    return participant


@transaction.atomic
def record_release(
    *,
    participant: Participant,
    recipient: str,
    fields: Iterable[str],
    purpose: str,
    how_given: str,
    affirmed_on: datetime.date,
    expires_on: datetime.date,
    by: User,
) -> ReleaseOfInformation:
    if expires_on < timezone.localdate():
        raise ValidationError({"expires_on": _("This date has passed: a release must still be in force.")})
    if expires_on < affirmed_on:
        raise ValidationError({"expires_on": _("A release cannot expire before it was given.")})
    release = ReleaseOfInformation(
        organization_id=participant.organization_id,
        participant=participant,
        recipient=recipient.strip(),
        fields=_clean_fields(fields),
        purpose=purpose.strip(),
        how_given=how_given,
        affirmed_on=affirmed_on,
        expires_on=expires_on,
        recorded_by=by,
    )
    release.full_clean()
    release.save()
    return release


def revoke_release(*, release: ReleaseOfInformation, by: User) -> bool:
    """Revocation takes effect at once; revoking twice keeps the first time. Returns whether it changed."""
    updated = ReleaseOfInformation.objects.filter(pk=release.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=by
    )
    release.refresh_from_db(fields=["revoked_at", "revoked_by"])
    return bool(updated)


@transaction.atomic
def record_compelled_disclosure(
    *,
    participant: Participant,
    recipient: str,
    legal_basis: str,
    fields: Iterable[str],
    disclosed_on: datetime.date,
    by: User,
) -> CompelledDisclosure:
    """Record a disclosure the law compelled, and give the team a task to tell the participant."""
    disclosure = CompelledDisclosure(
        organization_id=participant.organization_id,
        participant=participant,
        recipient=recipient.strip(),
        legal_basis=legal_basis.strip(),
        fields=_clean_fields(fields),
        disclosed_on=disclosed_on,
        recorded_by=by,
    )
    disclosure.full_clean()
    disclosure.save()
    CaseTask.objects.create(
        organization_id=participant.organization_id,
        case_id=participant.case_id,
        participant=participant,
        kind=TaskKind.NOTIFY_COMPELLED_DISCLOSURE,
        due_on=timezone.localdate() + datetime.timedelta(days=NOTIFY_WITHIN_DAYS),
    )
    return disclosure


def complete_task(*, task: CaseTask) -> None:
    if task.done_at is None:
        task.done_at = timezone.now()
        task.save(update_fields=["done_at"])

"""Writes about a participant: identifying details, "already known?" lookups, consent, safe-contact rules.

Every write is one transaction, leaves a line in the case history (codes only, never what was written) and
refuses a save made from an outdated page (SECURITY.md 23).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from circlekeeper.accounts.models import Organization, User
from circlekeeper.cases.contact import report_safety_event
from circlekeeper.cases.models import (
    BarrierFlag,
    Consent,
    ConsentKind,
    ContactChannel,
    ContactRules,
    EventKind,
    Participant,
    Weekday,
    record_event,
)
from circlekeeper.lib.fields import blind_indexes_for

DETAIL_FIELDS = ("name", "phone", "email", "address", "date_of_birth", "languages", "pronouns")


class StaleEdit(ValidationError):
    """Someone else saved first: the page was out of date, and nothing was written."""

    def __init__(self) -> None:
        super().__init__(
            _(
                "Someone else changed this while you were editing. Nothing was saved: reload the page to see "
                "their changes, then make yours again."
            )
        )


@transaction.atomic
def update_details(*, participant: Participant, version: int, by: User, **details: Any) -> Participant:
    """Change a participant's identifying details; StaleEdit if `version` is not the one in the database."""
    unknown = set(details) - set(DETAIL_FIELDS)
    if unknown:
        raise TypeError(f"not identifying details: {sorted(unknown)}")
    locked = Participant.objects.select_for_update().get(pk=participant.pk)
    wanted = {name: _cleaned(value) for name, value in details.items()}
    if locked.details_version != version:
        if all(getattr(locked, name) == value for name, value in wanted.items()):
            return locked  # the same save sent twice (a double click): it is already done
        raise StaleEdit()
    for name, value in wanted.items():
        setattr(locked, name, value)
    locked.full_clean()
    locked.details_version = F("details_version") + 1
    locked.save(update_fields=[*details, "details_version", *_index_fields()])
    locked.refresh_from_db()
    record_event(locked.case, EventKind.DETAILS_CHANGED, by=by, participant=locked.label)
    born = locked.date_of_birth
    if born is not None and "date_of_birth" in details:
        today = timezone.localdate()
        if today.year - born.year - ((today.month, today.day) < (born.month, born.day)) < ADULT_AGE:
            # A child by date of birth is never asked to take part: what is live with them stops at once.
            report_safety_event(locked.case, "child", by=by, people=[locked])
    return locked


# Under this age on a day, a participant is a child that day (PROTOCOL.md: never asked to take part).
ADULT_AGE = 18


def _cleaned(value: Any) -> Any:
    return (value.strip() or None) if isinstance(value, str) else value


def _index_fields() -> list[str]:
    return ["name_dob_index", "name_index", "phone_index", "email_index"]


@dataclass(frozen=True)
class KnownMatch:
    participant: Participant
    on_team: bool
    matched_on: tuple[str, ...]


def already_known(
    *,
    organization: Organization,
    team_case_ids: Iterable[int],
    name: str = "",
    date_of_birth: datetime.date | None = None,
    phone: str = "",
    email: str = "",
) -> list[KnownMatch]:
    """Participants of this organization with the same name (and birth date), phone or email.

    Matches on blind indexes only: nothing is decrypted to answer. The caller shows details only of
    matches on cases the asker's team holds (`on_team`); the others are counted, so the asker can go to a
    supervisor.
    """
    org_id = organization.pk
    wanted: list[tuple[str, str, list[str]]] = []
    if name and date_of_birth:
        keys = blind_indexes_for(org_id, "participant_name_dob", ("name", "date"), [name, date_of_birth])
        wanted.append((_("name and date of birth"), "name_dob_index", keys))
    elif name:
        wanted.append(
            (_("name"), "name_index", blind_indexes_for(org_id, "participant_name", ("name",), [name]))
        )
    if phone:
        keys = blind_indexes_for(org_id, "participant_phone", ("phone",), [phone])
        wanted.append((_("phone"), "phone_index", keys))
    if email:
        keys = blind_indexes_for(org_id, "participant_email", ("email",), [email])
        wanted.append((_("email"), "email_index", keys))
    if not wanted:
        raise ValidationError(_("Type a name, a phone number or an email address to look for."))
    query = Q()
    for _label, attribute, keys in wanted:
        query |= Q(**{f"{attribute}__in": keys})
    team = set(team_case_ids)
    found = Participant.objects.for_organization(organization).filter(query).select_related("case")
    matches = []
    for participant in found:
        on = tuple(str(label) for label, attribute, keys in wanted if getattr(participant, attribute) in keys)
        matches.append(KnownMatch(participant, participant.case_id in team, on))
    return matches


@transaction.atomic
def record_consent(
    *,
    participant: Participant,
    kind: str,
    how_given: str,
    given_on: datetime.date,
    by: User,
    share_with: str = "",
) -> Consent:
    if kind == ConsentKind.SHARE and not share_with.strip():
        raise ValidationError({"share_with": _("Name who the information may be shared with, and what.")})
    if given_on > timezone.localdate():
        raise ValidationError({"given_on": _("Consent cannot be given in the future.")})
    # The same consent sent twice (a double click, a retry) is one record (SECURITY.md 24); the lock makes
    # the second request wait for the first.
    Participant.objects.select_for_update().filter(pk=participant.pk).first()
    for existing in participant.consents.current().filter(kind=kind, how_given=how_given, given_on=given_on):
        if (existing.share_with or "") == share_with.strip():
            return existing
    consent = Consent(
        organization_id=participant.organization_id,
        participant=participant,
        kind=kind,
        how_given=how_given,
        given_on=given_on,
        share_with=share_with.strip() or None,
        recorded_by=by,
    )
    consent.full_clean()
    consent.save()
    record_event(
        participant.case, EventKind.CONSENT_GIVEN, by=by, participant=participant.label, consent=kind
    )
    return consent


@transaction.atomic
def set_barrier(
    participant: Participant,
    barrier: bool,
    *,
    source: str,
    by: User | None = None,
    at: datetime.datetime | None = None,
) -> bool:
    """Flag (or clear) a participant as a barrier, keeping the change in their history; returns whether it changed.

    The only writer of `Participant.barrier`: the support app calls it when a record linked to the person names
    them a barrier (or, said plainly on that record, no longer one); unlinking a record never calls it.
    """
    locked = Participant.objects.select_for_update().get(pk=participant.pk)
    participant.barrier = locked.barrier
    if locked.barrier == barrier:
        return False
    at = at or timezone.now()
    BarrierFlag.objects.create(
        organization_id=locked.organization_id,
        case_id=locked.case_id,
        participant=locked,
        barrier=barrier,
        source=source,
        at=at,
        by=by,
    )
    Participant.objects.filter(pk=locked.pk).update(barrier=barrier)
    participant.barrier = barrier
    if barrier:
        # Named a barrier, by whatever path: their meetings are cancelled and their links revoked at once.
        report_safety_event(locked.case, "barrier", by=by, people=[locked])
    return True


@transaction.atomic
def withdraw_consent(*, consent: Consent, how: str, by: User) -> bool:
    """Withdrawal takes effect at once; withdrawing twice keeps the first time. Returns whether it changed."""
    now = timezone.now()
    updated = Consent.objects.filter(pk=consent.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_how=how, revoked_by=by
    )
    consent.refresh_from_db(fields=["revoked_at", "revoked_how", "revoked_by"])
    if updated:
        participant = consent.participant
        record_event(
            participant.case,
            EventKind.CONSENT_WITHDRAWN,
            by=by,
            at=now,
            participant=participant.label,
            consent=consent.kind,
        )
        if participant.is_survivor and consent.kind == ConsentKind.TAKE_PART:
            # The survivor's choice (PROTOCOL.md 1): everything live with the other side stops at once.
            report_safety_event(participant.case, "consent_withdrawn", by=by)
    return bool(updated)


@transaction.atomic
def save_contact_rules(
    *,
    participant: Participant,
    version: int | None,
    by: User,
    channels: Iterable[str],
    days: Iterable[int],
    from_time: datetime.time | None,
    until_time: datetime.time | None,
    code_word: str = "",
    never_leave_messages: bool = False,
    named_person: str = "",
    notes: str = "",
) -> ContactRules:
    """Record or replace a participant's safe-contact rules; StaleEdit if someone saved since `version`."""
    order = ContactChannel.values
    channels = sorted(set(channels), key=lambda c: order.index(c) if c in order else len(order))
    days = sorted(set(days))
    errors: dict[str, str] = {}
    if not set(channels) <= set(ContactChannel.values):
        errors["channels"] = _("Choose among the ways listed.")
    if not set(days) <= set(Weekday.values):
        errors["days"] = _("Choose among the days listed.")
    if (from_time is None) != (until_time is None):
        errors["until_time"] = _("Give both times, or neither for any time of day.")
    elif from_time is not None and until_time is not None and until_time <= from_time:
        errors["until_time"] = _("The end of the allowed time must come after its start.")
    if ContactChannel.NAMED_PERSON in channels and not named_person.strip():
        errors["named_person"] = _("Name the person the program may contact them through.")
    if errors:
        raise ValidationError(errors)
    wanted = {
        "channels": list(channels),
        "days": list(days),
        "from_time": from_time,
        "until_time": until_time,
        "code_word": _cleaned(code_word),
        "never_leave_messages": never_leave_messages,
        "named_person": _cleaned(named_person),
        "notes": _cleaned(notes),
    }
    rules = ContactRules.objects.select_for_update().filter(participant=participant).first()
    if rules is not None and rules.version != version:
        if all(getattr(rules, name) == value for name, value in wanted.items()):
            return rules  # the same save sent twice (a double click): it is already done
        raise StaleEdit()
    if rules is None:
        if version is not None:
            raise StaleEdit()
        rules = ContactRules(organization_id=participant.organization_id, participant=participant)
    else:
        rules.version += 1
    for name, value in wanted.items():
        setattr(rules, name, value)
    rules.updated_by, rules.updated_at = by, timezone.now()
    rules.full_clean()
    rules.save()
    record_event(participant.case, EventKind.CONTACT_RULES, by=by, participant=participant.label)
    return rules

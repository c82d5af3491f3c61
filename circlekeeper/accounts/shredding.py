"""Crypto-shredding an organization (SECURITY.md 10): its keys are destroyed, so every value encrypted under them
can never be read again. One service for the program admin's page and the `shred_organization` command.

Only the keys go: every row stays, with what was never encrypted (references, stages, dates, codes, levels,
counts, staff accounts, the audit log). What each side is, in words, is listed here so that the page that
asks for confirmation says exactly what will happen.
"""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from circlekeeper.accounts.models import Organization
from circlekeeper.lib import keys

# Every encrypted field of the apps, by what it holds (lib.fields: Encrypted*Field).
DESTROYED = (
    gettext_lazy(
        "Who the people on cases are: names, phone numbers, email and postal addresses, dates of birth, languages "
        "and pronouns; safe-contact code words, named persons and notes; community facilitators' names."
    ),
    gettext_lazy(
        "Every narrative: the survivor's account and the rest of the intake in words, how to reach the survivor "
        "safely, case summaries, notes, the reasons given for stage changes, holds and corrections, where a case "
        "was referred, meeting places and meeting notes."
    ),
    gettext_lazy(
        "Safety plans; acknowledgments and choices of track in people's own words; commitments, their evidence "
        "and progress notes; relationships in support networks; supervision notes."
    ),
    gettext_lazy(
        "Every answer to a questionnaire (safety checks included), releases of information and compelled "
        "disclosures (recipient, purpose, legal basis), and the file names, notes and codes of imported outcomes."
    ),
    gettext_lazy(
        'The "is this person already known?" look-up: its index key goes too, so nothing typed matches again.'
    ),
)
KEPT = (
    gettext_lazy(
        "The organization itself, its staff accounts and roles (people can still sign in), and the audit log."
    ),
    gettext_lazy(
        "Every record's row, with what was never encrypted: case references, participants' labels (such as "
        '"Survivor A"), stages, tracks, dates, risk levels, types of harm and other codes, and counts. Pages that '
        "need a destroyed value say that the data was destroyed, and when."
    ),
    gettext_lazy(
        "Backups taken before the keys are destroyed still hold them: whoever holds such a backup and the master "
        "key of its time can read it. Delete them, or ask the people who run the server to rotate the master key "
        "and destroy the old one (README: Crypto-shredding)."
    ),
)


class AlreadyShredded(Exception):
    def __init__(self, at: datetime.datetime) -> None:
        super().__init__(f"the keys were already destroyed on {at:%Y-%m-%d}")
        self.at = at


def matches(organization: Organization, typed: str) -> bool:
    """What was typed names this organization: its name as the pages show it, or its short name."""
    return typed.strip() in (organization.name, organization.slug)


@transaction.atomic
def shred_organization(*, organization: Organization, typed: str) -> int:
    """Destroy the organization's keys, for good; the number of key versions destroyed.

    `typed` is the confirmation: the organization's name or short name, typed by the person doing it. Anything
    else raises ValidationError and nothing changes; keys destroyed already raise AlreadyShredded.
    """
    if not matches(organization, typed):
        raise ValidationError(
            {"confirmation": _("What you typed is not the organization's name; nothing was changed.")}
        )
    destroyed = keys.keys_destroyed_at(organization.pk)
    if destroyed is not None:
        raise AlreadyShredded(destroyed)
    return keys.destroy_keys(organization.pk)

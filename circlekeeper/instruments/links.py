"""Personal survey links: whether a participant may be contacted, issuing a link, and finding one by its token.

A token is `secrets.token_urlsafe(32)` (256 bits). Only its SHA-256 is stored, so the lookup is by hash and a
copy of the database opens nothing. The token is handed back once, to be shown to the person who issued it.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import secrets

import segno
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from circlekeeper.accounts.models import User
from circlekeeper.cases.contact import contact_allowed, next_allowed_time, policy_refusals
from circlekeeper.cases.models import ContactChannel, Participant
from circlekeeper.instruments.models import InstrumentVersion, ParticipantLink, Response

TOKEN_BYTES = 32
# A short code read out in person: no letters or digits that sound or look alike (0/O, 1/I/L). 31 symbols,
# 10 of them: about 50 bits, so guessing one of the codes that work among a network's live links stays hopeless.
SHORT_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
SHORT_CODE_LENGTH = 10
DEFAULT_EXPIRY_DAYS = 14


class ContactRefused(Exception):
    """Issuing or sending was refused; `reason` says why, in words staff can act on."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def link_qr_svg(url: str) -> str:
    """An inline SVG QR code of the link, drawn here: the address never goes to another service."""
    buffer = io.BytesIO()
    segno.make(url, error="m").save(
        buffer, kind="svg", scale=5, border=2, xmldecl=False, svgns=True, title="QR code", nl=False
    )
    return buffer.getvalue().decode("utf-8")


def new_short_code() -> str:
    return "".join(secrets.choice(SHORT_CODE_ALPHABET) for _ in range(SHORT_CODE_LENGTH))


def normalize_code(typed: str) -> str:
    """What was typed, as the code it stands for: capitals, without spaces or dashes."""
    return "".join(typed.split()).replace("-", "").upper()


def format_code(code: str) -> str:
    """The code in two groups of five, easier to read out: "ABCDE-FGHJK"."""
    return f"{code[:5]}-{code[5:]}"


@transaction.atomic
def issue_link(
    *,
    participant: Participant,
    version: InstrumentVersion,
    purpose: str,
    expires_at: datetime.datetime,
    by: User,
    channel: str,
    when: datetime.datetime,
    send_later: bool = False,
) -> tuple[ParticipantLink, str]:
    """A new link and its token (shown once, never stored); ContactRefused, writing nothing, if contact is not allowed.

    With `send_later`, a link asked for outside the times the safe-contact rules allow is created now and marked to
    be sent at the next allowed time (`send_at`); any other refusal (a channel, a consent, a hold) still refuses.
    """
    send_at = None
    decision = contact_allowed(participant, channel, when)
    if not decision.allowed:
        send_at = next_allowed_time(participant, channel, when) if send_later else None
        if send_at is None:
            raise ContactRefused(decision.reason)
        if expires_at <= send_at:
            raise ValidationError(
                {
                    "expires_on": _(
                        "The link would stop working before it may be sent (the next allowed time is %(when)s)."
                    )
                    % {"when": date_format(timezone.localtime(send_at), "SHORT_DATETIME_FORMAT")}
                }
            )
    owner_id = version.instrument.owner_id
    if owner_id is not None and owner_id != participant.organization_id:
        raise ValidationError({"version": _("This questionnaire belongs to another organization.")})
    if expires_at <= when:
        raise ValidationError({"expires_on": _("A link must expire in the future.")})
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = ParticipantLink(
        organization_id=participant.organization_id,
        participant=participant,
        version=version,
        purpose=purpose.strip(),
        channel=channel,
        token_hash=hash_token(token),
        created_by=by,
        created_at=when,
        expires_at=expires_at,
        send_at=send_at,
    )
    code = new_short_code() if channel == ContactChannel.IN_PERSON else None
    if code is not None:
        link.short_code_hash = hash_token(code)
    link.full_clean()
    link.save()
    # Shown once with the token, never stored: the issued page reads it from here.
    link.short_code = format_code(code) if code else ""
    return link, token


def find_link_by_code(typed: str, *, now: datetime.datetime | None = None) -> ParticipantLink | None:
    """The link a short code opens, if it still works and the contact policy allows it now; None for a wrong,
    expired, revoked, answered or refused one alike."""
    code = normalize_code(typed)
    if len(code) != SHORT_CODE_LENGTH or any(c not in SHORT_CODE_ALPHABET for c in code):
        return None
    link = (
        ParticipantLink.objects.usable(now or timezone.now())
        .filter(short_code_hash=hash_token(code))
        .select_related("version", "response", "participant__case")
        .first()
    )
    # Opening by code is opening the link: the contact policy decides it as for the link's address.
    if link is None or link_refusals(link, now=now):
        return None
    return link


def link_refusals(link: ParticipantLink, *, now: datetime.datetime | None = None) -> list[str]:
    """What the contact policy says against this link being used now (opened, saved, submitted)."""
    participant = link.participant
    refused = policy_refusals(participant.case, kind="link", participants=[participant], now=now)
    if link.response_id is not None and link.response is not None and link.response.voided_at is not None:
        refused.append(_("This questionnaire was stopped by a safety event and cannot go on."))
    return refused


def find_usable_link(token: str, *, now: datetime.datetime | None = None) -> ParticipantLink | None:
    """The link this token opens, if it still works and the contact policy allows it now; None for a wrong,
    expired, revoked, answered or refused one alike."""
    # token_urlsafe(32) is 43 characters; anything far from that is not worth hashing.
    if not token or len(token) > 100:
        return None
    link = (
        ParticipantLink.objects.usable(now or timezone.now())
        .filter(token_hash=hash_token(token))
        .select_related("version", "response", "participant__case")
        .first()
    )
    if link is None or link_refusals(link, now=now):
        return None
    return link


@transaction.atomic
def start_response(*, link: ParticipantLink) -> Response:
    """The link's response, made when the participant first saves a section (nothing is written before)."""
    # Only the link row is locked (PostgreSQL locks no row of an outer join's nullable side).
    locked = (
        ParticipantLink.objects.select_for_update(of=("self",)).select_related("participant").get(pk=link.pk)
    )
    refused = link_refusals(locked)
    if refused:
        raise ContactRefused(" ".join(refused))
    if locked.response_id is not None:  # another tab got there first
        return Response.objects.get(pk=locked.response_id)
    response = Response(
        organization_id=locked.organization_id,
        version_id=locked.version_id,
        participant=locked.participant,
        case_id=locked.participant.case_id,
        purpose=locked.purpose,
    )
    response.full_clean(exclude=["answers"])  # empty until the first section is saved
    response.save()
    locked.response = response
    locked.save(update_fields=["response"])
    link.response = response
    return response

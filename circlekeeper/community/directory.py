"""The network's public directory of options (issue 9 item 3): what each organization offers, and its approval.

A program admin edits their organization's entry as a draft and submits it; a network admin of the
organization's network approves it (the draft is copied to `published`, what the public sees) or returns it
with a comment. An edit made after an approval is a new draft: the public keeps seeing the approved version
until the new one is approved too. Nothing in an entry is about a person: it is what the organization tells the
public, so it is stored as it is (not encrypted).

An entry's fields (the keys of `DirectoryEntry.draft` and `.published`):

- `summary_en`, `summary_es`: what the organization offers, in a few plain sentences;
- `tracks`: the options it offers (cases.Track values);
- `languages`, `areas`: lists of short names (as the organization writes them);
- `how_to_reach_en`, `how_to_reach_es`: how to reach them safely;
- `hours_en`, `hours_es`, `cost_en`, `cost_es`;
- `works_with_harm`: whether it works with people who caused harm.

The `_es` texts are optional; the public page shows the English one where a Spanish one is missing.
"""

from __future__ import annotations

import datetime
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from circlekeeper.accounts.models import Membership, Network, Organization, Role, User
from circlekeeper.cases.models import Track
from circlekeeper.community.models import DirectoryEntry, EntryStatus

LANGUAGES = ("en", "es")
# Texts with a version per language; the English one is required where marked.
TEXT_FIELDS = {
    "summary": (gettext_lazy("What we offer"), True, 1000),
    "how_to_reach": (gettext_lazy("How to reach us safely"), True, 1000),
    "hours": (gettext_lazy("Hours"), False, 300),
    "cost": (gettext_lazy("Cost"), False, 300),
}
LIST_FIELDS = {
    "languages": gettext_lazy("Languages"),
    "areas": gettext_lazy("Areas served"),
}
LIST_ITEM_LENGTH = 60
LIST_ITEMS = 20
FIELD_NAMES = (
    *(f"{name}_{language}" for name in TEXT_FIELDS for language in LANGUAGES),
    "tracks",
    *LIST_FIELDS,
    "works_with_harm",
)


def _text(value: Any) -> str:
    """Text as the public may see it: no control characters (they hide text or break lines in odd ways)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(_("Expected text."))
    cleaned = "".join(ch for ch in value if ch in "\n" or unicodedata.category(ch)[0] != "C")
    return cleaned.replace("\r", "").strip()


def split_list(value: str) -> list[str]:
    """A comma-separated line as the list it names ("English, Spanish" → ["English", "Spanish"])."""
    return [part.strip() for part in value.split(",") if part.strip()]


def clean_entry(data: Mapping[str, Any]) -> dict[str, Any]:
    """The entry's fields checked and normalized, or a ValidationError naming every field that is wrong."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for name, (label, required, limit) in TEXT_FIELDS.items():
        for language in LANGUAGES:
            key = f"{name}_{language}"
            try:
                value = _text(data.get(key))
            except ValidationError as exc:
                errors.setdefault(key, []).extend(exc.messages)
                continue
            if required and language == "en" and not value:
                errors.setdefault(key, []).append(_("%(field)s is required (in English).") % {"field": label})
            if len(value) > limit:
                errors.setdefault(key, []).append(
                    _("%(field)s may be at most %(limit)d characters long.")
                    % {"field": label, "limit": limit}
                )
            cleaned[key] = value
    tracks = data.get("tracks") or []
    if not isinstance(tracks, list | tuple) or any(t not in Track.values for t in tracks):
        errors.setdefault("tracks", []).append(_("Choose the options from the list."))
    elif not tracks:
        errors.setdefault("tracks", []).append(_("Choose at least one option that you offer."))
    else:
        cleaned["tracks"] = [t for t in Track.values if t in tracks]
    for name, label in LIST_FIELDS.items():
        raw = data.get(name) or []
        items = split_list(raw) if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple):
            errors.setdefault(name, []).append(_("Expected a list."))
            continue
        try:
            values = list(dict.fromkeys(_text(item) for item in items if _text(item)))
        except ValidationError as exc:
            errors.setdefault(name, []).extend(exc.messages)
            continue
        if not values:
            errors.setdefault(name, []).append(_("%(field)s: name at least one.") % {"field": label})
        if len(values) > LIST_ITEMS:
            errors.setdefault(name, []).append(
                _("%(field)s: at most %(limit)d, separated by commas.")
                % {"field": label, "limit": LIST_ITEMS}
            )
        if any(len(value) > LIST_ITEM_LENGTH for value in values):
            errors.setdefault(name, []).append(
                _("%(field)s: each one may be at most %(limit)d characters long.")
                % {"field": label, "limit": LIST_ITEM_LENGTH}
            )
        cleaned[name] = values
    works = data.get("works_with_harm")
    if not isinstance(works, bool):
        errors.setdefault("works_with_harm", []).append(
            _("Say whether you work with people who caused harm.")
        )
    else:
        cleaned["works_with_harm"] = works
    if errors:
        raise ValidationError(errors)
    return cleaned


def is_complete(data: Mapping[str, Any]) -> bool:
    try:
        clean_entry(data)
    except ValidationError:
        return False
    return True


# --- the approval flow -----------------------------------------------------------------------------------------


def _locked_entry(organization: Organization) -> DirectoryEntry:
    entry, _created = DirectoryEntry.objects.select_for_update().get_or_create(organization=organization)
    return entry


def _check_version(entry: DirectoryEntry, lock_version: int) -> None:
    if entry.lock_version != lock_version:
        raise ValidationError(
            _(
                "This entry was changed by someone else (or in another tab) since you opened it. "
                "Nothing was saved: open it again to see the latest version."
            ),
            code="stale",
        )


def entry_of(organization: Organization) -> DirectoryEntry:
    """The organization's entry (an empty draft until its program admin writes one)."""
    entry = DirectoryEntry.objects.filter(organization=organization).first()
    return entry or DirectoryEntry(organization=organization)


@transaction.atomic
def save_draft(
    *, organization: Organization, by: User, data: Mapping[str, Any], lock_version: int
) -> DirectoryEntry:
    """Save the program admin's draft. It is never public by itself: a submitted draft goes back to being a draft."""
    _require_program_admin(organization, by)
    entry = _locked_entry(organization)
    _check_version(entry, lock_version)
    entry.draft = clean_entry(data)
    entry.status = EntryStatus.DRAFT
    entry.submitted_at = None
    entry.lock_version += 1
    entry.full_clean()
    entry.save(update_fields=["draft", "status", "submitted_at", "lock_version"])
    return entry


@transaction.atomic
def submit(*, organization: Organization, by: User, lock_version: int) -> DirectoryEntry:
    """Send the draft to the network's admins for approval (submitting twice submits once)."""
    _require_program_admin(organization, by)
    entry = _locked_entry(organization)
    if entry.status == EntryStatus.SUBMITTED:
        return entry
    _check_version(entry, lock_version)
    if not is_complete(entry.draft):
        raise ValidationError(_("Fill in the entry before sending it for approval."), code="incomplete")
    if entry.status == EntryStatus.APPROVED and entry.draft == entry.published:
        raise ValidationError(
            _("The approved entry is already public; change it first to send a new version."),
            code="unchanged",
        )
    entry.status = EntryStatus.SUBMITTED
    entry.submitted_at = timezone.now()
    entry.lock_version += 1
    entry.save(update_fields=["status", "submitted_at", "lock_version"])
    return entry


@transaction.atomic
def approve(*, entry: DirectoryEntry, by: User, lock_version: int) -> DirectoryEntry:
    """Publish the submitted draft: from now on the public sees it."""
    entry = _locked_for_review(entry, by, lock_version)
    entry.published = clean_entry(entry.draft)
    entry.published_at = timezone.now()
    entry.status = EntryStatus.APPROVED
    entry.reviewed_by = by
    entry.reviewed_at = entry.published_at
    entry.review_comment = ""
    entry.lock_version += 1
    entry.save(
        update_fields=[
            "published",
            "published_at",
            "status",
            "reviewed_by",
            "reviewed_at",
            "review_comment",
            "lock_version",
        ]
    )
    return entry


@transaction.atomic
def return_entry(*, entry: DirectoryEntry, by: User, comment: str, lock_version: int) -> DirectoryEntry:
    """Send the draft back to the program admin with a comment; what the public sees does not change."""
    comment = _text(comment)
    if not comment:
        raise ValidationError({"comment": [_("Say what needs to change, so the program can fix it.")]})
    if len(comment) > 1000:
        raise ValidationError({"comment": [_("A comment may be at most 1000 characters long.")]})
    entry = _locked_for_review(entry, by, lock_version)
    entry.status = EntryStatus.RETURNED
    entry.reviewed_by = by
    entry.reviewed_at = timezone.now()
    entry.review_comment = comment
    entry.lock_version += 1
    entry.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_comment", "lock_version"])
    return entry


def _locked_for_review(entry: DirectoryEntry, by: User, lock_version: int) -> DirectoryEntry:
    locked = DirectoryEntry.objects.select_for_update().select_related("organization").get(pk=entry.pk)
    if not is_network_admin(by, locked.organization.network_id):
        raise ValidationError(_("Only the network's admins approve its directory."), code="not_admin")
    _check_version(locked, lock_version)
    if locked.status != EntryStatus.SUBMITTED:
        raise ValidationError(_("This entry is not waiting for approval."), code="not_submitted")
    return locked


def is_network_admin(user: User, network_id: int) -> bool:
    return (
        Membership.objects.active()
        .filter(user=user, network_id=network_id, role=Role.NETWORK_ADMIN, organization__isnull=True)
        .exists()
    )


def _require_program_admin(organization: Organization, user: User) -> None:
    if (
        not Membership.objects.active()
        .filter(user=user, organization=organization, role=Role.PROGRAM_ADMIN)
        .exists()
    ):
        raise ValidationError(_("Only the organization's program admins edit its entry."), code="not_admin")


# --- what the public sees ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicEntry:
    """An approved entry as the public page shows it, in the page's language."""

    name: str
    slug: str
    fields: Mapping[str, Any]
    language: str
    published_at: datetime.datetime | None

    def text(self, name: str) -> str:
        own = self.fields.get(f"{name}_{self.language}") or ""
        return str(own or self.fields.get(f"{name}_en") or "")

    @property
    def summary(self) -> str:
        return self.text("summary")

    @property
    def how_to_reach(self) -> str:
        return self.text("how_to_reach")

    @property
    def hours(self) -> str:
        return self.text("hours")

    @property
    def cost(self) -> str:
        return self.text("cost")

    @property
    def tracks(self) -> list[str]:
        return list(self.fields.get("tracks") or [])

    @property
    def track_labels(self) -> list[str]:
        return [str(Track(t).label) for t in self.tracks if t in Track.values]

    @property
    def languages(self) -> list[str]:
        return list(self.fields.get("languages") or [])

    @property
    def areas(self) -> list[str]:
        return list(self.fields.get("areas") or [])

    @property
    def works_with_harm(self) -> bool:
        return bool(self.fields.get("works_with_harm"))


def public_entries(network: Network, language: str) -> list[PublicEntry]:
    """The network's organizations with an approved entry, as last approved (never a later draft)."""
    entries = (
        DirectoryEntry.objects.filter(organization__network=network, published_at__isnull=False)
        .select_related("organization")
        .only("published", "published_at", "organization__name", "organization__slug")
        .order_by("organization__name", "organization_id")
    )
    shown = "es" if language.startswith("es") else "en"
    return [
        PublicEntry(e.organization.name, e.organization.slug, e.published, shown, e.published_at)
        for e in entries
        if e.published
    ]


def _folded(value: str) -> str:
    return value.casefold().strip()


def filter_entries(
    entries: Iterable[PublicEntry],
    *,
    track: str = "",
    language: str = "",
    area: str = "",
    works_with_harm: bool | None = None,
) -> list[PublicEntry]:
    chosen = []
    for entry in entries:
        if track and track not in entry.tracks:
            continue
        if language and _folded(language) not in {_folded(v) for v in entry.languages}:
            continue
        if area and _folded(area) not in {_folded(v) for v in entry.areas}:
            continue
        if works_with_harm is not None and entry.works_with_harm != works_with_harm:
            continue
        chosen.append(entry)
    return chosen


def choices_of(entries: Iterable[PublicEntry], name: str) -> list[str]:
    """The distinct languages (or areas) the entries name, for the filter's list."""
    seen: dict[str, str] = {}
    for entry in entries:
        for value in getattr(entry, name):
            seen.setdefault(_folded(value), value)
    return sorted(seen.values(), key=_folded)


def waiting_entries(network: Network) -> list[DirectoryEntry]:
    """The network's entries for its admins: those waiting for approval first."""
    entries = list(
        DirectoryEntry.objects.filter(organization__network=network)
        .select_related("organization", "reviewed_by")
        .order_by("organization__name", "id")
    )
    return sorted(entries, key=lambda e: e.status != EntryStatus.SUBMITTED)

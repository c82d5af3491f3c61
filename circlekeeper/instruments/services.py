"""Writing instruments: the one way a definition becomes a version (loader, import commands, upload page)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max

from circlekeeper.accounts.models import Organization, User
from circlekeeper.instruments.definition import content_hash, localized, validate_definition
from circlekeeper.instruments.models import Instrument, InstrumentVersion
from circlekeeper.lib.audit import record


@transaction.atomic
def save_version(
    *,
    definition: dict[str, Any],
    source: str,
    owner: Organization | None,
    imported_by: User | None = None,
) -> tuple[InstrumentVersion, bool]:
    """The version holding this definition, and whether it is new.

    The same definition again gives back the version that holds it; a changed one makes the next version,
    and no version is ever edited. Raises DefinitionError (nothing written) when the definition is invalid.
    """
    definition = validate_definition(definition)
    digest = content_hash(definition)
    title = localized(definition["title"], definition["default_language"], definition)[:200]
    instrument, _created = Instrument.objects.select_for_update().get_or_create(
        owner=owner, code=definition["code"], defaults={"name": title}
    )
    existing = instrument.versions.filter(content_hash=digest).first()
    if existing is not None:
        return existing, False
    latest = instrument.versions.aggregate(latest=Max("number"))["latest"] or 0
    version = InstrumentVersion(
        instrument=instrument,
        number=latest + 1,
        definition=definition,
        content_hash=digest,
        source=source,
        imported_by=imported_by,
    )
    version.full_clean()
    version.save()
    if instrument.name != title:
        instrument.name = title
        instrument.save(update_fields=["name"])
    record(
        None,
        action="instrument.version.add",
        object_type="instrument_version",
        object_id=version.pk,
        organization_id=owner.pk if owner else None,
        actor=imported_by,
    )
    return version, True

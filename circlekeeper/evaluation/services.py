"""Writes of the evaluation app: importing external outcomes."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from circlekeeper.accounts.audit import Action
from circlekeeper.accounts.models import Organization, User
from circlekeeper.evaluation.models import ExternalOutcome, ImportBatch
from circlekeeper.evaluation.outcome_file import (
    OutcomeFileRejected,
    OutcomeRow,
    read_outcomes,
    shown_problems,
)
from circlekeeper.lib.audit import record
from circlekeeper.lib.fields import blind_indexes_for

IMPORT_ACTION = Action.OUTCOME_IMPORT
IMPORT_OBJECT_TYPE = "import_batch"
# SQLite allows 32766 parameters in one query, older builds 999: stay well under both.
_LOOKUP_CHUNK = 500


@transaction.atomic
def import_outcomes(
    *,
    organization: Organization,
    file_name: str,
    content: bytes,
    source_note: str = "",
    imported_by: User | None = None,
) -> ImportBatch:
    """Import a CSV of external outcomes (outcome_file.py) as one batch: every row, or nothing.

    Raises OutcomeFileRejected with every problem, each naming its row, among them a participant_code
    already imported in an earlier batch (each person is counted once in the analyses).
    """
    rows = read_outcomes(content)
    _refuse_codes_already_imported(organization, rows)
    batch = ImportBatch(
        organization=organization,
        file_name=file_name[:255],
        rows=len(rows),
        source_note=source_note or None,
        imported_by=imported_by,
    )
    try:
        batch.full_clean()
    except ValidationError as exc:
        raise OutcomeFileRejected(
            [f"{field}: {message}" for field, messages in exc.message_dict.items() for message in messages]
        ) from None
    batch.save()
    outcomes = []
    for row in rows:
        outcome = ExternalOutcome(
            organization=organization,
            import_batch=batch,
            participant_code=row.participant_code,
            group=row.group,
            person_days=row.person_days,
            events=row.events,
            first_event_day=row.first_event_day,
            imported_at=batch.imported_at,
        )
        # The file's checks already hold each row to these rules, and the database's constraints hold them
        # again; checking uniqueness and foreign keys here would cost queries per row for nothing.
        outcome.full_clean(
            exclude=["organization", "import_batch"], validate_unique=False, validate_constraints=False
        )
        outcomes.append(outcome)
    try:
        # A savepoint, so that a race lost to another import leaves this transaction usable to say so.
        with transaction.atomic():
            ExternalOutcome.objects.bulk_create(outcomes, batch_size=1000)
    except IntegrityError:
        raise OutcomeFileRejected(
            [_("Another import of some of these participant codes finished first; nothing was written.")]
        ) from None
    record(
        None,
        action=IMPORT_ACTION,
        object_type=IMPORT_OBJECT_TYPE,
        object_id=batch.pk,
        organization_id=organization.pk,
        actor=imported_by,
    )
    return batch


def _refuse_codes_already_imported(organization: Organization, rows: list[OutcomeRow]) -> None:
    # Every live index key, so that a code imported before a key rotation is still found.
    row_of: dict[str, OutcomeRow] = {}
    for row in rows:
        for index in blind_indexes_for(
            organization.pk, "external_outcome_code", ("text",), (row.participant_code,)
        ):
            row_of[index] = row
    indexes = list(row_of)
    clashes: dict[int, tuple[OutcomeRow, int]] = {}
    for start in range(0, len(indexes), _LOOKUP_CHUNK):
        found = (
            ExternalOutcome.objects.for_organization(organization)
            .filter(code_index__in=indexes[start : start + _LOOKUP_CHUNK])
            .values_list("code_index", "import_batch_id")
        )
        for index, batch_id in found:
            row = row_of[index]
            clashes[row.row] = (row, batch_id)
    if clashes:
        raise OutcomeFileRejected(
            shown_problems(
                [
                    _(
                        "row %(row)s: participant_code %(code)r was already imported (import %(batch)s); "
                        "each person is counted once."
                    )
                    % {"row": row.row, "code": row.participant_code, "batch": batch_id}
                    for row, batch_id in (clashes[number] for number in sorted(clashes))
                ]
            )
        )

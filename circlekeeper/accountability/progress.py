"""What the person who caused harm sees on their own progress page, and nothing else.

Built from an allow-list: their commitments in force (what, how it will be known, who helps, when) and the
statuses and dates of the progress recorded on them. Never a check-in's note, who reported it, the survivor's
view, wishes or labels, the safety concerns of a commitment, or anything of the safety plan.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from circlekeeper.accountability.models import (
    AgreementVersion,
    Cadence,
    CheckIn,
    CommitmentKind,
    ProgressStatus,
    in_force,
)
from circlekeeper.cases.models import Case


@dataclass(frozen=True)
class Progress:
    status: str
    label: str
    at: datetime.datetime


@dataclass(frozen=True)
class OwnCommitment:
    number: int
    kind: str
    description: str
    evidence: str
    supporter: str
    due_on: datetime.date | None
    cadence: str
    progress: list[Progress]


def own_commitments(case: Case) -> tuple[AgreementVersion | None, list[OwnCommitment]]:
    """The version in force and its commitments as the person who caused harm may see them."""
    version = in_force(list(AgreementVersion.objects.filter(agreement__case=case)))
    if version is None:
        return None, []
    commitments = list(version.commitments.select_related("supporter").order_by("number"))
    # Codes and dates only, never the rows: a check-in's note is not even read.
    rows = (
        CheckIn.objects.filter(
            commitment__version__agreement_id=version.agreement_id,
            commitment__number__in=[c.number for c in commitments],
        )
        .order_by("at", "id")
        .values_list("commitment__number", "status", "at")
    )
    progress: dict[int, list[Progress]] = {}
    for number, status, at in rows:
        label = str(ProgressStatus(status).label) if status in ProgressStatus.values else status
        progress.setdefault(number, []).append(Progress(status, label, at))
    return version, [
        OwnCommitment(
            number=c.number,
            kind=str(CommitmentKind(c.kind).label) if c.kind in CommitmentKind.values else c.kind,
            description=c.description,
            evidence=c.evidence,
            supporter=c.supporter.label if c.supporter else "",
            due_on=c.due_on,
            cadence=str(Cadence(c.cadence).label) if c.cadence in Cadence.values else "",
            progress=progress.get(c.number, []),
        )
        for c in commitments
    ]

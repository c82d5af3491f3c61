"""The keeper's view of progress beside the survivor's own, and whether the two disagree (PROTOCOL.md: progress
"seen beside the survivor's own view").

The keeper's view is read from the check-ins: among the commitments in force, the latest status of each (kept 1,
partly 0.5, not kept 0; "not known" and never checked are left out) gives the share kept, and the same over the
repair kinds gives the share repaired. The survivor's view is their latest rating, 0 (not at all) to 3 (fully).
They disagree when both are known and one says "mostly or fully" (2 or more; half or more) and the other not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from circlekeeper.accountability.models import (
    REPAIR_KINDS,
    Agreement,
    CheckIn,
    Commitment,
    ProgressStatus,
    StaircaseStep,
    SurvivorView,
    in_force,
)
from circlekeeper.cases.models import Case

STATUS_SHARE = {ProgressStatus.KEPT: 1.0, ProgressStatus.PARTLY: 0.5, ProgressStatus.NOT_KEPT: 0.0}
# "Mostly" or "fully" on the survivor's 0-3 scale; half or more on the keeper's share.
SURVIVOR_YES = 2
KEEPER_YES = 0.5


@dataclass(frozen=True)
class KeeperView:
    kept: float | None
    repair: float | None
    step: int | None
    # How many commitments in force have a known status (kept, partly or not kept).
    known: int

    @property
    def kept_percent(self) -> int | None:
        return None if self.kept is None else round(self.kept * 100)

    @property
    def repair_percent(self) -> int | None:
        return None if self.repair is None else round(self.repair * 100)


@dataclass(frozen=True)
class Comparison:
    keeper: KeeperView
    survivor: SurvivorView | None
    kept_disagree: bool
    repair_disagree: bool

    @property
    def disagree(self) -> bool:
        return self.kept_disagree or self.repair_disagree

    @property
    def survivor_kept(self) -> int | None:
        return self.survivor.kept if self.survivor else None

    @property
    def survivor_repair(self) -> int | None:
        return self.survivor.repair if self.survivor else None


def share(statuses: Iterable[str]) -> float | None:
    values = [STATUS_SHARE[ProgressStatus(s)] for s in statuses if s in STATUS_SHARE]
    return sum(values) / len(values) if values else None


def keeper_view(commitments: Iterable[Commitment], latest: Mapping[int, str], step: int | None) -> KeeperView:
    """From the commitments in force and the latest status of each (by commitment number)."""
    chosen = list(commitments)
    statuses = [latest.get(c.number, "") for c in chosen]
    repairs = [latest.get(c.number, "") for c in chosen if c.kind in REPAIR_KINDS]
    return KeeperView(
        kept=share(statuses),
        repair=share(repairs),
        step=step,
        known=sum(1 for s in statuses if s in STATUS_SHARE),
    )


def disagree(survivor: int | None, keeper: float | None) -> bool:
    if survivor is None or keeper is None:
        return False
    return (survivor >= SURVIVOR_YES) != (keeper >= KEEPER_YES)


def compare(keeper: KeeperView, survivor: SurvivorView | None) -> Comparison:
    return Comparison(
        keeper=keeper,
        survivor=survivor,
        kept_disagree=disagree(survivor.kept if survivor else None, keeper.kept),
        repair_disagree=disagree(survivor.repair if survivor else None, keeper.repair),
    )


def latest_statuses(agreement_id: int, numbers: Iterable[int]) -> dict[int, str]:
    """The latest status of each of these commitment numbers, over every version of the agreement (a number is
    the same commitment in each version)."""
    rows = (
        CheckIn.objects.filter(commitment__version__agreement_id=agreement_id, commitment__number__in=numbers)
        .order_by("at", "id")
        .values_list("commitment__number", "status")
    )
    return dict(rows)


def current_step(case: Case) -> int | None:
    return (
        StaircaseStep.objects.filter(case=case)
        .order_by("-recorded_at", "-id")
        .values_list("step", flat=True)
        .first()
    )


def latest_survivor_view(case: Case) -> SurvivorView | None:
    return SurvivorView.objects.filter(case=case).order_by("-recorded_at", "-id").first()


def comparison_for(case: Case) -> Comparison:
    """The comparison as it stands in the database (the services keep Case.progress_views_disagree with it)."""
    agreement = Agreement.objects.filter(case=case).first()
    commitments: list[Commitment] = []
    latest: dict[int, str] = {}
    if agreement is not None:
        version = in_force(list(agreement.versions.all()))
        if version is not None:
            commitments = list(version.commitments.all())
            latest = latest_statuses(agreement.pk, [c.number for c in commitments])
    return compare(keeper_view(commitments, latest, current_step(case)), latest_survivor_view(case))

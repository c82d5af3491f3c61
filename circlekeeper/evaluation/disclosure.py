"""Disclosure control over a whole release (issue 21, Build 1): one suppression pass over every number published
from the same data, checked by linear programming.

suppression.py protects one table with its totals. A release publishes many tables from the same records — the
same counts by quarter, by track, by organization, pooled and apart — and a hidden cell of one table can be
recovered from others (178 of 863 hidden cells were, in the review). Here every published count is a sum of
*base cells* (the finest cross-classification of the records: e.g. organization by track by quarter), so every
relation between published numbers is known, whichever table they appear in:

1. primary suppression: a count of 1 to threshold - 1 is hidden ("<11"); 0 is shown;
2. the audit: for each hidden count, the smallest and largest value it can take given every number shown, each
   primary-hidden count in 1..threshold - 1, and every base cell at least 0 — two linear programmes each
   (scipy.optimize.linprog, HiGHS). A hidden count whose interval is narrower than `min_width` is exposed;
3. complementary suppression: for each exposed count, the smallest shown count that shares base cells with it is
   hidden too (shown as "*"), and the audit runs again, until no hidden count is exposed;
4. demotion, when an exposed count overlaps nothing left to hide: what still pins it is the published range of
   small counts (nine "<5" under a shown total of 9 are each 1; two "<5" under a "<5" total are each at most 3).
   Every small count overlapping an exposed one then loses its range: it is shown as "*" like a complementary
   count, and the audit no longer knows it is 1..threshold - 1 (the pages say that "*" may be any count, small or
   not). A small count an earlier release showed with its range (`kept_bounded`) keeps it: that range is public.

`rounding` (optional, e.g. 5) publishes the remaining counts rounded to that base; the audit then knows only that
each lies within half a base of what is shown.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog

from circlekeeper.evaluation.suppression import COMPLEMENT_MARK, DEFAULT_THRESHOLD, Shown, small_mark

DEFAULT_MIN_WIDTH = 3


@dataclass
class Release:
    """Base cells (their true counts) and the counts published over them (each a sum of base cells)."""

    base: dict[Hashable, int] = field(default_factory=dict)
    published: dict[Hashable, frozenset[Hashable]] = field(default_factory=dict)

    def add_base(self, key: Hashable, count: int) -> None:
        if count < 0:
            raise ValueError(f"a count is 0 or more, not {count!r}")
        self.base[key] = count

    def publish(self, key: Hashable, cells: Iterable[Hashable]) -> None:
        chosen = frozenset(cells)
        unknown = chosen - set(self.base)
        if unknown:
            raise ValueError(f"{key!r} sums cells that are not base cells: {sorted(map(repr, unknown))}")
        self.published[key] = chosen

    def value(self, key: Hashable) -> int:
        return sum(self.base[cell] for cell in self.published[key])


@dataclass
class Protected:
    shown: dict[Hashable, Shown]
    primary: set[Hashable]
    complementary: set[Hashable]
    intervals: dict[Hashable, tuple[float, float]]
    # Small counts shown as "*" rather than "<11", because their range would pin a hidden count (see protect).
    demoted: set[Hashable] = field(default_factory=set)
    # Hidden counts still narrower than min_width when nothing overlapping was left to hide or demote.
    narrow: set[Hashable] = field(default_factory=set)

    @property
    def bounded(self) -> set[Hashable]:
        """The hidden counts published with a range ("<11")."""
        return self.primary - self.demoted


def _round(value: int, base: int | None) -> int:
    return value if not base else int(base * round(value / base))


def audit(
    release: Release,
    hidden: set[Hashable],
    bounded: set[Hashable],
    threshold: int = DEFAULT_THRESHOLD,
    rounding: int | None = None,
) -> dict[Hashable, tuple[float, float]]:
    """The interval each hidden count can take given everything else published (see the module's docstring):
    `bounded` are the hidden counts published as "<11", known to be 1..threshold - 1."""
    cells = list(release.base)
    position = {cell: number for number, cell in enumerate(cells)}

    def row(key: Hashable) -> np.ndarray:
        vector = np.zeros(len(cells))
        for cell in release.published[key]:
            vector[position[cell]] = 1.0
        return vector

    equal_rows: list[np.ndarray] = []
    upper_rows: list[np.ndarray] = []
    equal_values: list[float] = []
    upper_values: list[float] = []
    for key in release.published:
        if key in hidden:
            if key in bounded:  # 1 <= count <= threshold - 1
                upper_rows += [row(key), -row(key)]
                upper_values += [threshold - 1, -1]
            continue
        shown = _round(release.value(key), rounding)
        if rounding:
            half = rounding / 2
            upper_rows += [row(key), -row(key)]
            upper_values += [shown + half, -(shown - half)]
        else:
            equal_rows.append(row(key))
            equal_values.append(shown)
    constraints = {
        "A_eq": np.array(equal_rows) if equal_rows else None,
        "b_eq": np.array(equal_values) if equal_rows else None,
        "A_ub": np.array(upper_rows) if upper_rows else None,
        "b_ub": np.array(upper_values) if upper_rows else None,
        "bounds": [(0, None)] * len(cells),
        "method": "highs",
    }
    intervals = {}
    for key in hidden:
        objective = row(key)
        low = linprog(objective, **constraints)
        high = linprog(-objective, **constraints)
        lowest = float(low.fun) if low.status == 0 else 0.0
        highest = -float(high.fun) if high.status == 0 else float("inf")
        intervals[key] = (lowest, highest)
    return intervals


def protect(
    release: Release,
    threshold: int = DEFAULT_THRESHOLD,
    *,
    min_width: float = DEFAULT_MIN_WIDTH,
    rounding: int | None = None,
    kept_hidden: Iterable[Hashable] = (),
    kept_shown: Iterable[Hashable] = (),
    kept_bounded: Iterable[Hashable] = (),
) -> Protected:
    """Every published count as it may be shown, after one suppression pass over the whole release.

    `kept_hidden`: counts an earlier release hid, which stay hidden (issue 21, finding 3): a count hidden in one
    release and shown in the next would let a reader who kept both solve what the first one protected.
    `kept_shown`: counts an earlier release showed: public already, so never chosen as complementary cells (hiding
    them now would protect nothing).
    `kept_bounded`: small counts an earlier release showed as "<11": their range is public, so never demoted."""
    already_shown = set(kept_shown)
    primary = {key for key in release.published if 0 < release.value(key) < threshold}
    hidden = set(primary)
    complementary: set[Hashable] = {key for key in kept_hidden if key in release.published} - primary
    hidden |= complementary
    undemotable = set(kept_bounded)
    demoted: set[Hashable] = set()
    narrow: set[Hashable] = set()
    while True:
        intervals = audit(release, hidden, primary - demoted, threshold, rounding)
        exposed = sorted((key for key, (low, high) in intervals.items() if high - low < min_width), key=repr)
        if not exposed:
            break
        added = False
        for key in exposed:
            candidates = [
                other
                for other, cells in release.published.items()
                if other not in hidden and other not in already_shown and cells & release.published[key]
            ]
            if not candidates:
                continue
            # The smallest shown count that overlaps: least lost; a zero only when nothing else is left.
            chosen = min(
                candidates, key=lambda other: (release.value(other) == 0, release.value(other), repr(other))
            )
            hidden.add(chosen)
            complementary.add(chosen)
            added = True
        if added:
            continue
        # Every count that overlaps the exposed ones is hidden already: what is left narrowing them is the
        # published range of small counts. Those overlapping an exposed count lose theirs. Removing ranges only
        # widens every interval, so nothing newly exposed can appear; a count still narrow once no range is left
        # to drop (one the shown counts fix, or pinned by ranges an earlier release published) is reported.
        pinning = {
            other
            for other in primary - demoted - undemotable
            if any(release.published[other] & release.published[key] for key in exposed)
        }
        if not pinning:
            narrow = set(exposed)
            break
        demoted |= pinning
    # A complementary count the numbers shown already fix exactly protects nothing (the same values solve the
    # programme with it shown), and hidden it would only mislead: it is shown.
    determined = {key for key in complementary if intervals[key][1] - intervals[key][0] < 1e-9}
    complementary -= determined
    narrow -= determined
    shown: dict[Hashable, Shown] = {}
    for key in release.published:
        if key in primary and key not in demoted:
            shown[key] = small_mark(threshold)
        elif key in complementary or key in demoted:
            shown[key] = COMPLEMENT_MARK
        else:
            shown[key] = _round(release.value(key), rounding)
    return Protected(shown, primary, complementary, intervals, demoted, narrow)

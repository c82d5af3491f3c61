"""One release: every count a page (or a set of pages) publishes from the same data, suppressed in one pass
(issue 21, Build 1).

A page does not suppress its tables one by one. It names each count it will publish and the units it counts
(cases, people, facilitators, each person reached at an event), then asks for all of them at once:

    counts = ReleaseCounts()
    opened = counts.count(("opened", "2026 Q1"), case_ids)
    ...
    shown = counts.protect(threshold=network.suppression_threshold, rounding=network.rounding_base)
    shown[opened]  # 27, "<11" or "*"

The units give the relations between the counts, whichever table they sit in: units that fall in exactly the
same published counts make one base cell of disclosure.Release, so every published count is a sum of base cells
and disclosure.protect audits and suppresses the whole release with linear programming (complementary cells
until no hidden count can be narrowed below a width of 3). Rounding, where the network chose a base, applies to
every count left shown.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from circlekeeper.evaluation.suppression import Shown

if TYPE_CHECKING:
    from circlekeeper.evaluation import disclosure


@dataclass
class ReleaseCounts:
    """The counts of one release, each with the units it counts (see the module's docstring)."""

    def __post_init__(self) -> None:
        self.units: dict[Hashable, frozenset[Hashable]] = {}
        self.protected: disclosure.Protected | None = None

    def count(self, key: Hashable, units: Iterable[Hashable]) -> Hashable:
        """Name one published count and the units it counts; returns its key. A key named twice must count
        the same units (a page that shows one count in two places)."""
        chosen = frozenset(units)
        if key in self.units and self.units[key] != chosen:
            raise ValueError(f"the count {key!r} is named twice with different units")
        self.units[key] = chosen
        return key

    def fingerprint(self) -> str:
        """A digest of every count and the units it counts: two releases with the same one are suppressed alike."""
        named = sorted((repr(key), sorted(map(repr, units))) for key, units in self.units.items())
        return hashlib.sha256(repr(named).encode()).hexdigest()

    def release(self) -> disclosure.Release:
        """Base cells: the units grouped by the set of published counts they fall in."""
        member_of: dict[Hashable, list[Hashable]] = defaultdict(list)
        for key, units in self.units.items():
            for unit in units:
                member_of[unit].append(key)
        sizes: dict[frozenset[Hashable], int] = defaultdict(int)
        for memberships in member_of.values():
            sizes[frozenset(memberships)] += 1
        # numpy and scipy load only when a page suppresses a release, never when a web worker starts (issue 10).
        from circlekeeper.evaluation import disclosure

        release = disclosure.Release()
        cells_of: dict[Hashable, list[Hashable]] = defaultdict(list)
        for number, (signature, size) in enumerate(
            sorted(sizes.items(), key=lambda item: sorted(map(repr, item[0])))
        ):
            release.add_base(number, size)
            for key in signature:
                cells_of[key].append(number)
        for key in self.units:
            release.publish(key, cells_of.get(key, []))
        return release

    def protect(
        self,
        *,
        threshold: int,
        rounding: int | None = None,
        kept_hidden: Iterable[Hashable] = (),
        kept_shown: Iterable[Hashable] = (),
        kept_bounded: Iterable[Hashable] = (),
    ) -> dict[Hashable, Shown]:
        """Every count as it may be shown, from one suppression pass over all of them (`kept_hidden`,
        `kept_shown`, `kept_bounded`: what earlier releases of the same data hid, showed, and showed as "<11";
        disclosure.protect)."""
        from circlekeeper.evaluation import disclosure

        self.protected = disclosure.protect(
            self.release(),
            threshold,
            rounding=rounding or None,
            kept_hidden=kept_hidden,
            kept_shown=kept_shown,
            kept_bounded=kept_bounded,
        )
        return self.protected.shown

    @property
    def hidden(self) -> set[Hashable]:
        assert self.protected is not None, "protect() first"
        return self.protected.primary | self.protected.complementary

    @property
    def bounded(self) -> set[Hashable]:
        """The hidden counts shown with their range ("<11"), not as "*"."""
        assert self.protected is not None, "protect() first"
        return self.protected.bounded


def replay_releases(
    releases: Iterable[ReleaseCounts],
    *,
    threshold: int,
    rounding: int | None = None,
    hidden: Iterable[Hashable] = (),
    public: Iterable[Hashable] = (),
    bounded: Iterable[Hashable] = (),
) -> Iterator[tuple[dict[Hashable, Shown], frozenset[Hashable], frozenset[Hashable], frozenset[Hashable]]]:
    """Each release in turn, oldest first, as it is shown after every release before it: a count hidden by one
    release stays hidden in every later one, and one shown stays shown, so that no two releases together say
    more than either (issue 21, finding 3), and a hidden count once shown with its range ("<11") keeps it (that
    range is public). Each release is one suppression pass. Yields what it shows and what has been hidden, shown
    and shown with a range so far (`hidden`, `public`, `bounded`: the same from earlier releases, to resume a
    replay)."""
    kept_hidden, kept_shown, kept_bounded = set(hidden), set(public), set(bounded)
    for counts in releases:
        shown = dict(
            counts.protect(
                threshold=threshold,
                rounding=rounding,
                kept_hidden=kept_hidden,
                kept_shown=kept_shown,
                kept_bounded=kept_bounded,
            )
        )
        kept_hidden |= counts.hidden
        kept_bounded |= counts.bounded
        kept_shown |= set(shown) - counts.hidden
        yield shown, frozenset(kept_hidden), frozenset(kept_shown), frozenset(kept_bounded)


def protect_releases(
    releases: Iterable[ReleaseCounts], *, threshold: int, rounding: int | None = None
) -> dict[Hashable, Shown]:
    """The counts as the latest of `releases` shows them, after replaying every release since the first
    (replay_releases)."""
    shown: dict[Hashable, Shown] = {}
    for state in replay_releases(releases, threshold=threshold, rounding=rounding):
        shown = state[0]
    return shown

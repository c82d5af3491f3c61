"""One suppression pass over a whole release (issue 21, Build 1): the linear-programming audit written here, apart
from disclosure.py, finds no hidden count narrower than 3 given every number published and the bounds
1..threshold - 1 of the small ones, on random releases shaped like the dashboards' filters (period by track by
organization, each alone and pooled)."""

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from circlekeeper.evaluation.disclosure import Release, protect
from circlekeeper.evaluation.suppression import suppress_table

THRESHOLD = 11
WIDTH = 3
PERIODS = ["2026-Q1", "2026-Q2", "2026-Q3"]
TRACKS = ["support_only", "direct_dialogue", "indirect_dialogue"]
ORGANIZATIONS = ["harbor", "valley"]
ALL = "all"


def filter_release(counts):
    """Every filter a dashboard offers (each period, track and organization, or all of them): each a published
    count, the sum of the base cells it selects."""
    release = Release()
    base = list(itertools.product(PERIODS, TRACKS, ORGANIZATIONS))
    for cell, count in zip(base, counts, strict=True):
        release.add_base(cell, count)
    for period, track, organization in itertools.product(
        [*PERIODS, ALL], [*TRACKS, ALL], [*ORGANIZATIONS, ALL]
    ):
        chosen = [
            cell
            for cell in base
            if period in (ALL, cell[0]) and track in (ALL, cell[1]) and organization in (ALL, cell[2])
        ]
        release.publish((period, track, organization), chosen)
    return release


def attacker_intervals(release, shown, threshold=THRESHOLD):
    """The interval of each hidden count from what is shown: min and max of its sum over base cells >= 0, every
    shown count fixed, every "<11" count in 1..10; a "*" count is known to be nothing more than 0 or more."""
    cells = list(release.base)
    rows = {
        key: np.array([1.0 if cell in members else 0.0 for cell in cells])
        for key, members in release.published.items()
    }
    equal = [(rows[key], value) for key, value in shown.items() if isinstance(value, int)]
    upper = []
    for key, value in shown.items():
        if value == f"<{threshold}":
            upper += [(rows[key], threshold - 1), (-rows[key], -1)]
    options = {
        "A_eq": np.array([r for r, _v in equal]) if equal else None,
        "b_eq": np.array([v for _r, v in equal]) if equal else None,
        "A_ub": np.array([r for r, _v in upper]) if upper else None,
        "b_ub": np.array([v for _r, v in upper]) if upper else None,
        "bounds": [(0, None)] * len(cells),
        "method": "highs",
    }
    found = {}
    for key, value in shown.items():
        if isinstance(value, int):
            continue
        low = linprog(rows[key], **options)
        high = linprog(-rows[key], **options)
        assert low.status == 0
        found[key] = (low.fun, -high.fun if high.status == 0 else float("inf"))
    return found


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=25), min_size=18, max_size=18))
def test_no_hidden_count_of_a_random_release_can_be_narrowed_below_a_width_of_3(counts):
    release = filter_release(counts)
    protected = protect(release, THRESHOLD, min_width=WIDTH)
    for key in release.published:
        value = release.value(key)
        if 0 < value < THRESHOLD:
            assert protected.shown[key] == "<11"
        elif isinstance(protected.shown[key], int):
            assert protected.shown[key] == value
    for key, (low, high) in attacker_intervals(release, protected.shown).items():
        assert high - low >= WIDTH - 1e-6, (key, low, high, release.value(key))


def test_the_finding_suppressing_each_table_alone_lets_a_hidden_month_come_back_and_one_pass_does_not():
    # Valley: 36 cases up to October, 4 in November. Two tables, each suppressed alone: "up to October" and
    # "up to November" (each one count), and "from November" (one count, "<11").
    release = Release()
    release.add_base("to-october", 36)
    release.add_base("november", 4)
    release.publish("up to 2026-10", ["to-october"])
    release.publish("up to 2026-11", ["to-october", "november"])
    release.publish("from 2026-11", ["november"])
    alone = {key: suppress_table([[release.value(key)]], THRESHOLD).cells[0][0] for key in release.published}
    assert attacker_intervals(release, alone)["from 2026-11"] == (4.0, 4.0)
    protected = protect(release, THRESHOLD, min_width=WIDTH)
    low, high = attacker_intervals(release, protected.shown)["from 2026-11"]
    assert high - low >= WIDTH


def test_rounding_publishes_multiples_of_the_base():
    release = filter_release([12] * 18)
    protected = protect(release, THRESHOLD, min_width=WIDTH, rounding=5)
    assert all(value % 5 == 0 for value in protected.shown.values() if isinstance(value, int))


def nine_small_groups_under_a_total_of_9():
    release = Release()
    for group in range(9):
        release.add_base(group, 1)
        release.publish(("group", group), [group])
    release.publish("total", range(9))
    return release


def test_nine_small_groups_under_a_total_already_shown_lose_their_range():
    # Threshold 5: nine groups of 1 under a total of 9 that an earlier release showed (so it cannot be hidden).
    # Shown "<5", each group is 1..4 and the eight others at least 8 of the 9: each is exactly 1.
    release = nine_small_groups_under_a_total_of_9()
    pinned = {("group", g): "<5" for g in range(9)} | {"total": 9}
    assert attacker_intervals(release, pinned, threshold=5)[("group", 0)] == (1.0, 1.0)

    protected = protect(release, 5, min_width=WIDTH, kept_shown=["total"])

    assert protected.shown == {("group", g): "*" for g in range(9)} | {"total": 9}
    assert protected.demoted == {("group", g) for g in range(9)}
    assert protected.narrow == set()
    for low, high in attacker_intervals(release, protected.shown, threshold=5).values():
        assert (low, high) == (0.0, 9.0)


def test_two_small_counts_under_a_small_total_lose_their_range():
    # Threshold 5: 1 and 1 under a total of 2, all three "<5": each part is 1..3 (the other is at least 1 and the
    # total at most 4), the total 2..4. Nothing else is published, so nothing is left to hide.
    release = Release()
    release.add_base("a", 1)
    release.add_base("b", 1)
    release.publish("a", ["a"])
    release.publish("b", ["b"])
    release.publish("a + b", ["a", "b"])
    pinned = {"a": "<5", "b": "<5", "a + b": "<5"}
    assert attacker_intervals(release, pinned, threshold=5) == {
        "a": (1.0, 3.0),
        "b": (1.0, 3.0),
        "a + b": (2.0, 4.0),
    }

    protected = protect(release, 5, min_width=WIDTH)

    assert protected.shown == {"a": "*", "b": "*", "a + b": "*"}
    assert protected.bounded == set()
    assert protected.narrow == set()
    for low, high in attacker_intervals(release, protected.shown, threshold=5).values():
        assert high - low >= WIDTH


def test_a_range_an_earlier_release_published_is_kept_and_the_count_reported_narrow():
    release = nine_small_groups_under_a_total_of_9()
    groups = {("group", g) for g in range(9)}

    protected = protect(release, 5, min_width=WIDTH, kept_shown=["total"], kept_bounded=groups)

    assert protected.shown == dict.fromkeys(groups, "<5") | {"total": 9}
    assert protected.demoted == set()
    assert protected.narrow == groups


def test_a_small_count_whose_range_pins_nothing_keeps_it():
    release = nine_small_groups_under_a_total_of_9()
    protected = protect(release, 5, min_width=WIDTH)
    # The total is hidden instead ("*"), and each group is 1..4 again.
    assert protected.shown == {("group", g): "<5" for g in range(9)} | {"total": "*"}
    assert protected.demoted == set()

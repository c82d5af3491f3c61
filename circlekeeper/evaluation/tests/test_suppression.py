"""Small-cell suppression: small counts show as "<11", and no hidden cell can be recovered from the totals.

The checkers here read only the published table (numbers and marks), not how it was made.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from circlekeeper.evaluation.suppression import suppress_count, suppress_table

# Counts that sit around the threshold, with zeros and large ones.
counts = st.one_of(st.just(0), st.integers(1, 10), st.integers(11, 14), st.integers(15, 400))
tables = st.integers(1, 5).flatmap(
    lambda columns: st.lists(st.lists(counts, min_size=columns, max_size=columns), min_size=1, max_size=5)
)


def published(table):
    """The table with its totals as a reader sees it: a grid whose last row and column are the totals."""
    grid = [[*row, total] for row, total in zip(table.cells, table.row_totals, strict=True)]
    grid.append([*table.column_totals, table.total])
    return grid


def lines(grid):
    return [list(row) for row in grid] + [list(column) for column in zip(*grid, strict=True)]


def full(counts_):
    grid = [[*row, sum(row)] for row in counts_]
    grid.append([sum(column) for column in zip(*grid, strict=True)])
    return grid


def hidden(value):
    return isinstance(value, str)


@settings(max_examples=400, deadline=None)
@given(tables, st.integers(2, 20))
def test_no_hidden_cell_can_be_recovered_by_subtraction_from_its_row_or_column(table_counts, threshold):
    grid = published(suppress_table(table_counts, threshold))
    for line in lines(grid):
        *cells, total = line
        hidden_cells = [cell for cell in cells if hidden(cell)]
        if not hidden(total):
            # The total is published: exactly one hidden cell would be the total minus the others.
            assert len(hidden_cells) != 1, line
        else:
            # A hidden total is the sum of its cells if they are all published.
            assert hidden_cells, line


@settings(max_examples=300, deadline=None)
@given(tables)
def test_no_hidden_cell_can_be_worked_out_from_any_combination_of_rows_and_columns(table_counts):
    grid = published(suppress_table(table_counts))
    unknowns = [(i, j) for i, row in enumerate(grid) for j, value in enumerate(row) if hidden(value)]
    if not unknowns:
        return
    # Each row and column is one equation in the hidden cells (its published part is known). A hidden cell
    # is determined exactly when its unit vector lies in the span of those equations.
    equations = [[1.0 if i == r else 0.0 for i, _j in unknowns] for r in range(len(grid))]
    equations += [[1.0 if j == c else 0.0 for _i, j in unknowns] for c in range(len(grid[0]))]
    system = np.array(equations)
    rank = np.linalg.matrix_rank(system)
    for position in range(len(unknowns)):
        unit = np.zeros(len(unknowns))
        unit[position] = 1
        assert np.linalg.matrix_rank(np.vstack([system, unit])) > rank, unknowns[position]


@settings(max_examples=300, deadline=None)
@given(tables, st.integers(2, 20))
def test_every_small_count_shows_as_below_the_threshold_and_every_number_shown_is_true(
    table_counts, threshold
):
    table = suppress_table(table_counts, threshold)
    for shown_row, true_row in zip(published(table), full(table_counts), strict=True):
        for shown, true in zip(shown_row, true_row, strict=True):
            if 0 < true < threshold:
                assert shown == f"<{threshold}"
            elif hidden(shown):
                # Hidden only to protect another cell: not marked as small, since it is not.
                assert shown == "*"
            else:
                assert shown == true


def test_a_small_cell_hides_a_partner_in_its_row_and_its_column_and_the_totals_stay():
    table = suppress_table([[5, 30, 40], [20, 30, 12]])
    assert table.cells == [["<11", "*", 40], ["*", "*", 12]]
    assert table.row_totals == [75, 62]
    assert table.column_totals == [25, 60, 52]
    assert table.total == 137


def test_zero_is_shown_as_zero():
    table = suppress_table([[0, 40], [25, 0]])
    assert table.cells == [[0, 40], [25, 0]]
    assert not table.hidden


def test_a_small_total_is_hidden_too():
    table = suppress_table([[3, 4], [30, 40]])
    assert table.row_totals[0] == "<11"
    assert table.cells[0] == ["<11", "<11"]


def test_the_threshold_is_a_parameter():
    assert suppress_table([[12, 30], [40, 50]], threshold=20).cells[0][0] == "<20"
    assert suppress_table([[12, 30], [40, 50]]).cells[0][0] == 12


@pytest.mark.parametrize(("n", "shown"), [(0, 0), (1, "<11"), (10, "<11"), (11, 11), (222, 222)])
def test_a_single_count_below_the_threshold_shows_as_below_it(n, shown):
    assert suppress_count(n) == shown


def test_a_single_count_with_another_threshold():
    assert suppress_count(19, threshold=20) == "<20"


@pytest.mark.parametrize("bad", [-1, 2.5, "7", True, None])
def test_something_that_is_not_a_count_is_refused(bad):
    with pytest.raises(ValueError, match="whole number of 0 or more"):
        suppress_count(bad)
    with pytest.raises(ValueError, match="whole number of 0 or more"):
        suppress_table([[1, bad]])


def test_a_ragged_or_empty_table_or_a_bad_threshold_is_refused():
    with pytest.raises(ValueError, match="same number of columns"):
        suppress_table([[1, 2], [3]])
    with pytest.raises(ValueError, match="at least one row"):
        suppress_table([])
    with pytest.raises(ValueError, match="threshold"):
        suppress_table([[1]], threshold=0)

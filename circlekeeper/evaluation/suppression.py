"""Small-cell suppression of counts shown to anyone but a case team (SECURITY.md 5; issue 8 item 8).

The rule: a count of 1 to threshold - 1 people (default 11, so 1..10) is shown as "<11". Zero is shown as
0. That is the common rule of public-health and CMS publication policies (a cell of 1..10 is suppressed,
an empty cell is not): a zero names nobody, and hiding zeros would hide most of a sparse table while
protecting no one. Totals are counts too and follow the same rule.

In a table with row and column totals, hiding small cells is not enough: a hidden cell whose row total and
other cells are shown is found by subtraction. Complementary suppression hides more cells, until stable:

1. every row and every column of the table *with its totals* (the totals row and column included, the
   grand total at their corner) holds no hidden cell, or at least two; and
2. no hidden cell can be worked out by adding and subtracting whole rows and columns either. Seen as a
   graph — one node per row and per column, one edge per hidden cell — a hidden cell is determined by the
   published totals exactly when its edge is a bridge (it lies on no cycle), so the bridges are closed
   with another hidden cell that puts them on a cycle (networkx finds the bridges).

Complementary cells are chosen to lose as little as possible: the smallest non-zero published cell that
does the job (a zero only when nothing else can). They are shown as "*", not "<11": they may be large.

What this does not do: audit intervals. A reader who knows that a "<11" cell is between 1 and 10, and that a
"*" cell is 0 or at least 11, can sometimes narrow a hidden cell further with those bounds; a
linear-programming audit of the published table would catch that and is not built yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_THRESHOLD = 11
COMPLEMENT_MARK = "*"

Cell = tuple[int, int]
Shown = int | str


def small_mark(threshold: int) -> str:
    return f"<{threshold}"


def is_small(n: int, threshold: int = DEFAULT_THRESHOLD) -> bool:
    """True for a count that must not be shown as it is: 1 to threshold - 1."""
    return 0 < n < threshold


def suppress_count(n: int, threshold: int = DEFAULT_THRESHOLD) -> Shown:
    """A single aggregate count as it may be shown: n itself, or "<11" for 1..threshold - 1 (0 stays 0)."""
    _check_threshold(threshold)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"a count is a whole number of 0 or more, not {n!r}")
    return small_mark(threshold) if is_small(n, threshold) else n


@dataclass(frozen=True)
class SuppressedTable:
    """A table of counts as it may be shown. `hidden` and `complementary` name cells of the table with its
    totals: (row, column), where row == len(cells) is the totals row and column == len(cells[0]) the
    totals column."""

    cells: list[list[Shown]]
    row_totals: list[Shown]
    column_totals: list[Shown]
    total: Shown
    hidden: frozenset[Cell]
    complementary: frozenset[Cell]
    threshold: int


def suppress_table(counts: Sequence[Sequence[int]], threshold: int = DEFAULT_THRESHOLD) -> SuppressedTable:
    """Suppress small cells of a table of counts (rows by columns), with complementary suppression so that no
    hidden cell can be recovered from the totals (see the module's docstring)."""
    _check_threshold(threshold)
    grid = _with_totals(counts)
    primary = {cell for cell, value in _cells(grid) if is_small(value, threshold)}
    hidden = set(primary)
    while (cell := _next_complement(grid, hidden)) is not None:
        hidden.add(cell)
    complementary = hidden - primary

    def shown(cell: Cell) -> Shown:
        if cell in primary:
            return small_mark(threshold)
        if cell in complementary:
            return COMPLEMENT_MARK
        return grid[cell[0]][cell[1]]

    rows, columns = len(grid) - 1, len(grid[0]) - 1
    return SuppressedTable(
        cells=[[shown((i, j)) for j in range(columns)] for i in range(rows)],
        row_totals=[shown((i, columns)) for i in range(rows)],
        column_totals=[shown((rows, j)) for j in range(columns)],
        total=shown((rows, columns)),
        hidden=frozenset(hidden),
        complementary=frozenset(complementary),
        threshold=threshold,
    )


def _check_threshold(threshold: int) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise ValueError(f"the threshold is a whole number of 1 or more, not {threshold!r}")


def _with_totals(counts: Sequence[Sequence[int]]) -> list[list[int]]:
    rows = [list(row) for row in counts]
    if not rows or not rows[0]:
        raise ValueError("a table needs at least one row and one column")
    if any(len(row) != len(rows[0]) for row in rows):
        raise ValueError("every row of the table needs the same number of columns")
    for row in rows:
        for value in row:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"a count is a whole number of 0 or more, not {value!r}")
    grid = [[*row, sum(row)] for row in rows]
    grid.append([sum(column) for column in zip(*grid, strict=True)])
    return grid


def _cells(grid: list[list[int]]) -> list[tuple[Cell, int]]:
    return [((i, j), value) for i, row in enumerate(grid) for j, value in enumerate(row)]


def _next_complement(grid: list[list[int]], hidden: set[Cell]) -> Cell | None:
    """One more cell to hide, or None when every hidden cell is safe."""
    rows, columns = len(grid), len(grid[0])
    lines = [[(i, j) for j in range(columns)] for i in range(rows)]
    lines += [[(i, j) for i in range(rows)] for j in range(columns)]
    for line in lines:
        if sum(cell in hidden for cell in line) == 1:
            return _cheapest(grid, hidden, [cell for cell in line if cell not in hidden])
    if not hidden:
        return None  # nothing hidden, nothing to protect (and no graph to build)
    # Imported here, not at the top: a web worker loads networkx only when a table has a hidden cell, not
    # for every page that imports this module for its constants (issue 10, the worker's memory).
    import networkx as nx

    # A cell is the one edge between its row and its column, so a simple graph holds them all.
    graph = nx.Graph()
    graph.add_edges_from((("row", i), ("column", j)) for i, j in hidden)
    for bridge in sorted(tuple(sorted(edge)) for edge in nx.bridges(graph)):
        column_node, row_node = bridge  # "column" sorts before "row"
        graph.remove_edge(row_node, column_node)
        one = nx.node_connected_component(graph, row_node)
        other = nx.node_connected_component(graph, column_node)
        # A new hidden cell joining the two sides (a row of one to a column of the other, either way round)
        # closes a cycle through the bridge. One always exists: every line here holds two hidden cells.
        candidates = [
            (i, j)
            for i in range(rows)
            for j in range(columns)
            if (i, j) not in hidden
            and (
                (("row", i) in one and ("column", j) in other)
                or (("row", i) in other and ("column", j) in one)
            )
        ]
        return _cheapest(grid, hidden, candidates)
    return None


def _cheapest(grid: list[list[int]], hidden: set[Cell], candidates: list[Cell]) -> Cell:
    """The candidate whose hiding loses least: non-zero (a hidden 0 beside a small cell in a small line
    gives it away), then one whose row and column already hold hidden cells (it protects without opening a
    new line to protect), then the smallest."""
    hidden_rows = {i for i, _j in hidden}
    hidden_columns = {j for _i, j in hidden}

    def cost(cell: Cell) -> tuple[bool, int, int, Cell]:
        i, j = cell
        return (grid[i][j] == 0, -((i in hidden_rows) + (j in hidden_columns)), grid[i][j], cell)

    return min(candidates, key=cost)

"""Timing helpers shared by the measurements: the best of a few runs, in seconds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def best_of(function: Callable[[], Any], repeat: int = 3) -> float:
    """The shortest wall-clock time of `repeat` runs of `function` (the least disturbed by other work)."""
    if repeat < 1:
        raise ValueError("repeat must be 1 or more")
    best = float("inf")
    for _run in range(repeat):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, None when the denominator is not positive."""
    return numerator / denominator if denominator > 0 else None

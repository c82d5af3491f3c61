"""The evaluation dashboards' charts, drawn on the server as SVG (ARCHITECTURE.md: no chart library, no script).

Every chart is an image (`role="img"`) named by its <title> and described by its <desc>, and the page shows the
same numbers in a table below it. Nothing is told by colour alone: each bar carries its number in words beside
it, and the lines of a survival curve differ by dash pattern and are labelled at their end. A value that may not
be shown (a suppressed cell, a withheld estimate) is not drawn: its row says "suppressed" instead.

No inline style (the Content-Security-Policy forbids it): colours and sizes are SVG presentation attributes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

INK = "#1b1b1f"
MUTED = "#4a4a55"
BAR = "#1d4e7a"
WHISKER = "#0b0b0f"
GRID = "#c9c6bd"
ROW = 36
LABEL_WIDTH = 170
PLOT_WIDTH = 300
TEXT_WIDTH = 290  # room for "mean 2.24, 95% CI 2.01–2.48, n 28"
WIDTH = LABEL_WIDTH + PLOT_WIDTH + TEXT_WIDTH
FONT = 14
# Dash patterns of the survival curves, in the order of the groups (solid, dashed, dotted, dash-dot).
DASHES = ("", "8 4", "2 4", "10 4 2 4")


@dataclass(frozen=True)
class Bar:
    """One row of a bar chart. `value` None: not drawn (suppressed or withheld); `text` says what it is."""

    label: str
    value: float | None
    text: str
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Curve:
    """One group's step curve: (day, survival) points in order of day; None values end the line there."""

    label: str
    points: Sequence[tuple[float, float | None]]


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _open(chart_id: str, title: str, description: str, height: float) -> SafeString:
    return format_html(
        '<svg class="chart" id="{id}" role="img" aria-labelledby="{id}-title {id}-desc" viewBox="0 0 {w} {h}" '
        'width="100%" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>',
        id=chart_id,
        w=WIDTH,
        h=_n(height),
        title=title,
        desc=description,
    )


def _join(parts: list[SafeString]) -> SafeString:
    parts.append(mark_safe("</svg>"))  # nosec B308: a constant closing tag
    return format_html_join("", "{}", ((part,) for part in parts))


def bar_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    bars: Sequence[Bar],
    lowest: float = 0.0,
    highest: float | None = None,
    axis: Callable[[float], str] = _n,
) -> SafeString:
    """Horizontal bars from `lowest` to `highest` (the scale of the measure), with 95% CI whiskers where given.

    Horizontal, so that labels stay readable on a phone however many rows there are.
    """
    drawn = [v for bar in bars for v in (bar.value, bar.high) if v is not None]
    top = highest if highest is not None else max(drawn, default=1.0)
    if top <= lowest:
        top = lowest + 1.0
    axis_height = 22
    height = ROW * max(len(bars), 1) + axis_height + 8

    def x(value: float) -> float:
        share = (min(max(value, lowest), top) - lowest) / (top - lowest)
        return LABEL_WIDTH + share * PLOT_WIDTH

    parts = [_open(chart_id, title, description, height)]
    plot_bottom = ROW * max(len(bars), 1) + 4
    for tick in (lowest, (lowest + top) / 2, top):
        parts.append(
            format_html(
                '<line x1="{x}" y1="4" x2="{x}" y2="{y}" stroke="{c}" stroke-width="1"/>'
                '<text x="{x}" y="{ty}" font-size="12" fill="{t}" text-anchor="middle">{label}</text>',
                x=_n(x(tick)),
                y=_n(plot_bottom),
                ty=_n(plot_bottom + 16),
                c=GRID,
                t=MUTED,
                label=axis(tick),
            )
        )
    for index, bar in enumerate(bars):
        y = index * ROW + 4
        middle = y + ROW / 2
        parts.append(
            format_html(
                '<text x="{}" y="{}" font-size="{}" fill="{}" text-anchor="end" dominant-baseline="middle">{}</text>',
                LABEL_WIDTH - 8,
                _n(middle),
                FONT,
                INK,
                bar.label,
            )
        )
        if bar.value is not None:
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>',
                    LABEL_WIDTH,
                    _n(y + 8),
                    _n(max(x(bar.value) - LABEL_WIDTH, 1.0)),
                    ROW - 16,
                    BAR,
                )
            )
        if bar.value is not None and bar.low is not None and bar.high is not None:
            parts.append(
                format_html(
                    '<g class="whisker" stroke="{c}" stroke-width="2">'
                    '<line x1="{a}" y1="{m}" x2="{b}" y2="{m}"/>'
                    '<line x1="{a}" y1="{t}" x2="{a}" y2="{u}"/><line x1="{b}" y1="{t}" x2="{b}" y2="{u}"/></g>',
                    c=WHISKER,
                    a=_n(x(bar.low)),
                    b=_n(x(bar.high)),
                    m=_n(middle),
                    t=_n(middle - 7),
                    u=_n(middle + 7),
                )
            )
        parts.append(
            format_html(
                '<text x="{}" y="{}" font-size="{}" fill="{}" dominant-baseline="middle">{}</text>',
                LABEL_WIDTH + PLOT_WIDTH + 8,
                _n(middle),
                FONT,
                INK if bar.value is not None else MUTED,
                bar.text,
            )
        )
    return _join(parts)


def step_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    curves: Sequence[Curve],
    days: float,
    day_label: Callable[[float], str] = _n,
) -> SafeString:
    """Kaplan–Meier curves: the share without an event (0 to 1) over days, one dashed pattern per group."""
    left, top, plot_height = 60, 10, 220
    right = LABEL_WIDTH + PLOT_WIDTH
    height = top + plot_height + 40
    days = max(days, 1.0)

    def x(day: float) -> float:
        return left + min(day, days) / days * (right - left)

    def y(share: float) -> float:
        return top + (1 - share) * plot_height

    parts = [_open(chart_id, title, description, height)]
    for share in (0.0, 0.5, 1.0):
        parts.append(
            format_html(
                '<line x1="{l}" y1="{y}" x2="{r}" y2="{y}" stroke="{c}" stroke-width="1"/>'
                '<text x="{tx}" y="{y}" font-size="12" fill="{t}" text-anchor="end" dominant-baseline="middle">'
                "{label}</text>",
                l=left,
                r=right,
                y=_n(y(share)),
                tx=left - 6,
                c=GRID,
                t=MUTED,
                label=f"{share:.0%}",
            )
        )
    for day in (0.0, days / 2, days):
        parts.append(
            format_html(
                '<text x="{}" y="{}" font-size="12" fill="{}" text-anchor="middle">{}</text>',
                _n(x(day)),
                _n(top + plot_height + 18),
                MUTED,
                day_label(day),
            )
        )
    for index, curve in enumerate(curves):
        path: list[str] = []
        last: tuple[float, float] | None = None
        for day, value in curve.points:
            if value is None:
                break
            share = float(value)
            if last is None:
                path.append(f"M{_n(x(day))},{_n(y(share))}")
            else:
                path.append(f"H{_n(x(day))}V{_n(y(share))}")
            last = (day, share)
        if last is None:
            continue
        dash = DASHES[index % len(DASHES)]
        parts.append(
            format_html(
                '<path d="{}" fill="none" stroke="{}" stroke-width="2.5"{}/>'
                '<text x="{}" y="{}" font-size="13" fill="{}" dominant-baseline="middle">{}</text>',
                " ".join(path),
                BAR if index % 2 == 0 else INK,
                format_html(' stroke-dasharray="{}"', dash) if dash else "",
                _n(x(last[0]) + 6),
                _n(y(last[1]) + 14 * index),
                INK,
                curve.label,
            )
        )
    return _join(parts)

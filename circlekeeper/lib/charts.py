"""Small server-rendered SVG charts (ARCHITECTURE.md: charts are drawn on the server, with their table beside them).

No script, no inline style (the Content-Security-Policy forbids both): colours are SVG presentation attributes.
A value that may not be shown (a suppressed count) draws no bar; its row says so in words, so that nothing is
told by colour or length alone. Every chart is an image with a title and a description; the page shows the same
numbers in a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

BAR_COLOUR = "#1d4e7a"
TEXT_COLOUR = "#1b1b1f"
MUTED_COLOUR = "#4a4a55"
LINE_COLOUR = "#c9c6bd"
ROW_HEIGHT = 34
LABEL_WIDTH = 200
BAR_AREA = 260
VALUE_WIDTH = 150
WIDTH = LABEL_WIDTH + BAR_AREA + VALUE_WIDTH


@dataclass(frozen=True)
class Bar:
    """One row of a chart: its label, the number to draw (None when it may not be shown) and the text beside it."""

    label: str
    value: float | None
    text: str


def bar_chart(
    *, chart_id: str, title: str, description: str, bars: Sequence[Bar], maximum: float | None = None
) -> SafeString:
    """A horizontal bar chart (it reads on a phone: labels stay horizontal however many rows there are)."""
    drawn = [bar.value for bar in bars if bar.value is not None]
    top = maximum if maximum is not None else max(drawn, default=0.0)
    height = ROW_HEIGHT * max(len(bars), 1) + 8
    parts = [
        format_html(
            '<svg class="chart" id="{}" role="img" aria-labelledby="{}-title {}-desc" viewBox="0 0 {} {}" '
            'width="100%" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
            '<title id="{}-title">{}</title><desc id="{}-desc">{}</desc>',
            chart_id,
            chart_id,
            chart_id,
            WIDTH,
            height,
            chart_id,
            title,
            chart_id,
            description,
        ),
        format_html(
            '<line x1="{}" y1="0" x2="{}" y2="{}" stroke="{}" stroke-width="1"/>',
            LABEL_WIDTH,
            LABEL_WIDTH,
            height,
            LINE_COLOUR,
        ),
    ]
    for index, bar in enumerate(bars):
        y = index * ROW_HEIGHT + 4
        middle = y + ROW_HEIGHT / 2
        parts.append(
            format_html(
                '<text x="{}" y="{}" font-size="14" fill="{}" text-anchor="end" dominant-baseline="middle">{}</text>',
                LABEL_WIDTH - 8,
                _number(middle),
                TEXT_COLOUR,
                _shorten(bar.label),
            )
        )
        length = 0.0
        if bar.value is not None and top > 0:
            length = max(bar.value, 0.0) / top * BAR_AREA
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>',
                    LABEL_WIDTH,
                    _number(y + 6),
                    _number(length),
                    ROW_HEIGHT - 12,
                    BAR_COLOUR,
                )
            )
        parts.append(
            format_html(
                '<text x="{}" y="{}" font-size="14" fill="{}" dominant-baseline="middle">{}</text>',
                _number(LABEL_WIDTH + length + 6),
                _number(middle),
                TEXT_COLOUR if bar.value is not None else MUTED_COLOUR,
                bar.text,
            )
        )
    parts.append(mark_safe("</svg>"))  # nosec B308
    return format_html_join("", "{}", ((part,) for part in parts))


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _shorten(label: str, limit: int = 24) -> str:
    return escape(label if len(label) <= limit else label[: limit - 1] + "…")

"""Reading the dashboard's ranked worklist in tests: each row's text (tags removed) and the links it holds."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    text: str
    links: list[str]
    forms: list[str]


def worklist_rows(page) -> list[Row]:
    html = page.content.decode()
    start = html.index('id="worklist"')
    section = html[start : html.index("</section>", start)]
    listing = re.search(r"<ol[^>]*>(.*?)</ol>", section, re.S)
    if listing is None:
        return []
    rows = []
    for item in re.findall(r"<li[^>]*>(.*?)</li>", listing.group(1), re.S):
        # The visually hidden repeats of the reference are for screen readers; the row is read without them.
        visible = re.sub(r'<span class="visually-hidden">.*?</span>', "", item, flags=re.S)
        visible = re.sub(r"<form.*?</form>", "", visible, flags=re.S)
        text = " ".join(re.sub(r"<[^>]+>", "", visible).split())
        rows.append(
            Row(text, re.findall(r'<a href="([^"]+)"', item), re.findall(r'<form[^>]*action="([^"]+)"', item))
        )
    return rows


def counts(page) -> dict[str, int]:
    """The counts at the top of the worklist, by their label."""
    html = page.content.decode()
    start = html.index('id="worklist"')
    section = html[start : html.index("</section>", start)]
    return {
        " ".join(label.split()): int(number)
        for label, number in re.findall(r"<li>([^<:]+): <strong>(\d+)</strong></li>", section)
    }

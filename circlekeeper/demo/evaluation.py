"""External outcomes for the demo network: synthetic re-arrest records, with a known rate ratio.

Everything here is invented. Each demo organization gets one import, made through the real import path from
a generated CSV: a comparison group (a batterer intervention program alone, "bip") and a group that also
took part in circles ("bip_circles") at the rate ratio of the Utah trial (Mills, Barocas, Butters & Ariel
2019: 0.47), and a small pilot group that the report must withhold.
"""

from __future__ import annotations

import csv
import io

import numpy as np

from circlekeeper.accounts.models import Organization
from circlekeeper.demo.cases import ORGANIZATIONS
from circlekeeper.evaluation.models import ImportBatch
from circlekeeper.evaluation.services import import_outcomes

DEMO_RATE_RATIO = 0.47
# New arrests per person-year in the comparison group.
DEMO_BASE_RATE = 0.9
DEMO_GROUPS = (("bip", 111, 1.0), ("bip_circles", 111, DEMO_RATE_RATIO), ("pilot", 7, DEMO_RATE_RATIO))


def seed_outcomes() -> int:
    """Import the demo outcomes once per demo organization; returns the number of rows imported."""
    imported = 0
    for number, (_name, slug, prefix) in enumerate(ORGANIZATIONS):
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None or ImportBatch.objects.for_organization(organization).exists():
            continue
        batch = import_outcomes(
            organization=organization,
            file_name="demo-rearrests.csv",
            content=demo_csv(prefix, seed=number),
            source_note="Demo data: invented re-arrest records, not real people.",
        )
        imported += batch.rows
    return imported


def demo_csv(prefix: str, *, seed: int) -> bytes:
    """A CSV of synthetic outcomes: events of a Poisson process over each person's follow-up."""
    rng = np.random.default_rng(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["participant_code", "group", "person_days", "events", "first_event_day"])
    person = 0
    for group, size, ratio in DEMO_GROUPS:
        for _ in range(size):
            person += 1
            days = int(rng.integers(365, 731))
            events = int(rng.poisson(DEMO_BASE_RATE * ratio * days / 365))
            # Given k events of a Poisson process over the follow-up, the first is the earliest of k uniform times.
            first = int(rng.integers(1, days + 1, size=events).min()) if events else ""
            writer.writerow([f"{prefix}-X{person:04d}", group, days, events, first])
    return out.getvalue().encode("utf-8")

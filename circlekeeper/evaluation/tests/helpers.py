"""Outcome files for the tests: written as a program would export them, and read back as analysis frames."""

import csv
import io
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HEADER = ["participant_code", "group", "person_days", "events", "first_event_day"]


def outcome_csv(rows, header=HEADER):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def write_file(test, content, name="outcomes.csv"):
    """A file in a temporary folder that is removed when the test ends."""
    folder = tempfile.TemporaryDirectory()
    test.addCleanup(folder.cleanup)
    path = Path(folder.name) / name
    path.write_bytes(content)
    return str(path)


def trial_rows(groups, *, seed, prefix="P", base_rate=0.9):
    """Rows of a simulated follow-up: {group: (people, rate ratio)}; first events at a uniform time."""
    rng = np.random.default_rng(seed)
    rows: list[list[object]] = []
    for group, (people, ratio) in groups.items():
        for _ in range(people):
            days = int(rng.integers(365, 731))
            events = int(rng.poisson(base_rate * ratio * days / 365))
            first = int(rng.integers(1, days + 1, size=events).min()) if events else ""
            rows.append([f"{prefix}{len(rows) + 1:04d}", group, days, events, first])
    return rows


def frame_of(rows):
    """The rows as the analysis functions take them, built here from the file's rows, not from the database."""
    frame = pd.DataFrame(rows, columns=HEADER)
    frame["first_event_day"] = pd.to_numeric(frame["first_event_day"].replace("", None))
    frame["days"] = frame["first_event_day"].where(frame["events"] > 0, frame["person_days"]).astype(float)
    frame["event"] = frame["events"] > 0
    return frame

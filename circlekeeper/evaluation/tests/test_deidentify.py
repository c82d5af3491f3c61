"""k-anonymity of the row data (issue 21, Build 2): every person kept shares their quasi-identifiers with at least
k - 1 others, measured here independently with a pandas groupby over what the rows show, on random data and on
the demo's exports (the timepoint table and every instrument's table, joined by the participant code)."""

import io

import pandas as pd
import time_machine
from django.core.management import call_command
from django.test import TestCase
from hypothesis import given, settings
from hypothesis import strategies as st

from circlekeeper.accounts.models import Organization
from circlekeeper.evaluation import deidentify, items
from circlekeeper.evaluation.dataset import Scope
from circlekeeper.evaluation.deidentify import ROW_COLUMNS, make_plan
from circlekeeper.evaluation.tests.schedule_helpers import local

K = 5


def k_of_shown(rows: list[dict]) -> pd.Series:
    """How many people share each person's quasi-identifiers, from the rows as shown (the attacker's view): the
    organization, track, role, and every (source, timepoint, month or quarter) of their rows."""
    frame = pd.DataFrame(rows)
    frame["item"] = frame["source"] + "|" + frame["timepoint"] + "|" + frame["month"]
    pattern = frame.groupby("participant")["item"].agg(lambda items: tuple(sorted(items)))
    context = frame.groupby("participant")[["organization", "track", "role"]].agg(set)
    for column in ("organization", "track", "role"):
        # One value per person in every row: otherwise rows of the same person would tell more.
        assert (context[column].map(len) == 1).all(), column
    signature = context.apply(lambda row: tuple(next(iter(row[c])) for c in row.index), axis=1).astype(str)
    signature = signature + pattern.astype(str)
    return signature.groupby(signature).transform("size")


def people_rows(draw_people):
    rows = []
    for number, (track, role, points) in enumerate(draw_people):
        for source, timepoint, month in points:
            rows.append(
                {
                    "participant": f"P{number:03d}",
                    "organization": "harbor",
                    "track": track,
                    "role": role,
                    "source": source,
                    "timepoint": timepoint,
                    "month": month,
                }
            )
    return rows


MONTHS = [f"2026-{month:02d}" for month in range(1, 13)]
point = st.tuples(
    st.sampled_from(["due", "outcome_safety"]), st.sampled_from(["T0", "T3", "T6"]), st.sampled_from(MONTHS)
)
person = st.tuples(
    st.sampled_from(["direct_dialogue", "support_only", ""]),
    st.sampled_from(["survivor", "person_who_caused_harm"]),
    st.lists(point, min_size=1, max_size=3, unique_by=lambda p: (p[0], p[1])),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(person, min_size=1, max_size=80))
def test_on_random_data_every_person_kept_shares_what_the_rows_show_with_at_least_4_others(drawn):
    rows = people_rows(drawn)
    plan = make_plan(pd.DataFrame(rows, columns=ROW_COLUMNS), K)
    shown = list(plan.apply_all(rows))
    kept = {row["participant"] for row in shown}
    everyone = {row["participant"] for row in rows}
    assert plan.summary["people"] == len(everyone)
    assert plan.summary["people_dropped"] == len(everyone - kept)
    if shown:
        sizes = k_of_shown(shown)
        assert sizes.min() >= K
        assert plan.summary["k_achieved"] == sizes.min()
    else:
        assert plan.summary["k_achieved"] is None
    # A kept person keeps every one of their rows (their pattern of timepoints is not cut).
    assert len(shown) == sum(1 for row in rows if row["participant"] in kept)
    assert 0 <= plan.summary["share_altered"] <= 1


def test_five_alike_are_kept_as_they_are_and_a_sixth_alone_is_coarsened_then_suppressed():
    alike = [("direct_dialogue", "survivor", [("due", "T0", "2026-01")])] * 5
    rows = people_rows([*alike, ("direct_dialogue", "survivor", [("due", "T0", "2026-02")])])
    plan = make_plan(pd.DataFrame(rows, columns=ROW_COLUMNS), K)
    shown = list(plan.apply_all(rows))
    # January and February are both 2026-Q1: the sixth joins the five, and nothing is suppressed.
    assert plan.summary["quarters"] is True
    assert {row["month"] for row in shown} == {"2026-Q1"}
    assert (plan.summary["k_achieved"], plan.summary["records_altered"]) == (6, 0)


def test_months_are_kept_when_no_one_is_singled_out_by_them():
    rows = people_rows([("direct_dialogue", "survivor", [("due", "T0", "2026-01")])] * 5)
    plan = make_plan(pd.DataFrame(rows, columns=ROW_COLUMNS), K)
    assert plan.summary["quarters"] is False
    assert {row["month"] for row in plan.apply_all(rows)} == {"2026-01"}


def test_people_still_unique_after_every_suppression_are_left_out():
    alike = [("direct_dialogue", "survivor", [("due", "T0", "2026-01")])] * 5
    odd_track = ("support_only", "survivor", [("due", "T0", "2026-01")])
    odd_pattern = ("direct_dialogue", "survivor", [("due", "T0", "2026-01"), ("due", "T6", "2026-07")])
    rows = people_rows([*alike, odd_track, odd_pattern])
    plan = make_plan(pd.DataFrame(rows, columns=ROW_COLUMNS), K)
    shown = list(plan.apply_all(rows))
    assert "P006" not in {row["participant"] for row in shown}
    assert plan.summary["people_dropped"] == 2  # neither finds 4 others, even with everything suppressed
    assert plan.summary["periods_withheld"] == 2
    assert k_of_shown(shown).min() >= K


def test_a_row_of_a_person_the_plan_does_not_know_is_not_shown():
    rows = people_rows([("direct_dialogue", "survivor", [("due", "T0", "2026-01")])] * 5)
    plan = make_plan(pd.DataFrame(rows, columns=ROW_COLUMNS), K)
    assert plan.apply({**rows[0], "participant": "someone-new"}) is None


class DemoExportsTest(TestCase):
    @classmethod
    def setUpTestData(cls):
        with time_machine.travel(local(2026, 6, 15, 10), tick=True):
            call_command("seed_demo", "--force", stdout=io.StringIO())

    def test_every_demo_export_joined_by_the_participant_code_has_k_of_at_least_5(self):
        for organization in Organization.objects.all():
            scope = Scope.for_organization(organization)
            with self.subTest(organization.slug):
                shown = [{**row, "source": "due"} for row in items.timepoint_table(scope, language="en").rows]
                for instrument in items.instruments_by_code(scope).values():
                    table = items.item_table(scope, instrument, language="en")
                    shown += [
                        {
                            key: row[key]
                            for key in ("participant", "organization", "track", "role", "timepoint", "month")
                        }
                        | {"source": instrument.code}
                        for row in table.rows
                    ]
                self.assertTrue(shown)
                sizes = k_of_shown(shown)
                self.assertGreaterEqual(sizes.min(), K)
                summary = deidentify.plan_for(scope).summary
                self.assertEqual(summary["k_achieved"], sizes.min())
                self.assertGreater(summary["people"] - summary["people_dropped"], 0)

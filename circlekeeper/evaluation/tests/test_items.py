"""The item-level de-identified table: which columns, which values, which labels, which rows."""

from typing import Any

from circlekeeper.evaluation import dataset, items
from circlekeeper.evaluation.tests.test_exports_fixtures import LONG_A, MARKERS, PlantedData
from circlekeeper.instruments.definition import PNTS
from circlekeeper.instruments.models import Instrument
from circlekeeper.instruments.services import save_version
from circlekeeper.testing import PersonaTestCase


class ItemTableTests(PlantedData):
    def table(self, language="en"):
        return items.item_table(
            dataset.Scope.for_organization(self.harbor), self.instrument, language=language
        )

    def test_columns_are_context_answers_to_choice_and_number_items_and_scores_only(self):
        table = self.table()
        self.assertEqual(
            table.names,
            [
                "participant",
                "organization",
                "track",
                "role",
                "timepoint",
                "month",
                "feel",
                "helped",
                "supports___friends",
                "supports___family",
                "supports___faith_group",
                "supports___pnts",
                "visits",
                "hours",
                "mood",
                LONG_A,
                LONG_A.replace("first", "second"),
                "wellbeing",
            ],
        )

    def test_rows_hold_codes_numbers_and_flags_with_the_participant_code_and_month(self):
        scope = dataset.Scope.for_organization(self.harbor)
        survivor, harm = self.table().rows
        self.assertEqual(survivor["participant"], scope.evaluation.code_for(self.survivor.uid))
        self.assertEqual(
            {k: survivor[k] for k in ("organization", "track", "role", "timepoint", "month")},
            {
                "organization": "harbor",
                "track": "direct_dialogue",
                "role": "survivor",
                "timepoint": "T0",
                "month": "2026-03",
            },
        )
        self.assertEqual(survivor["feel"], 2)
        self.assertEqual(survivor["helped"], 1)
        self.assertEqual(
            [survivor[f"supports___{c}"] for c in ("friends", "family", "faith_group", "pnts")], [1, 0, 1, 0]
        )
        self.assertEqual((survivor["visits"], survivor["hours"], survivor["mood"]), (7, 6.5, 8))
        self.assertEqual(survivor["wellbeing"], 2)
        # The person who caused harm: a text code kept as it is, "prefer not to say" kept, nothing invented.
        self.assertEqual(harm["feel"], "na")
        self.assertEqual(harm["helped"], 0)
        self.assertEqual(
            [harm[f"supports___{c}"] for c in ("friends", "family", "faith_group", "pnts")],
            [None, None, None, 1],
        )
        self.assertEqual(harm["visits"], PNTS)
        self.assertIsNone(harm["hours"])
        self.assertIsNone(harm["wellbeing"])
        self.assertEqual(harm["timepoint"], "")
        self.assertEqual(harm["month"], "2026-04")

    def test_children_and_other_organizations_never_appear(self):
        rows = self.table().rows
        self.assertEqual(len(rows), 2)
        self.assertEqual({row["role"] for row in rows}, {"survivor", "person_who_caused_harm"})

    def test_nothing_identifying_reaches_the_table(self):
        text = repr(self.table().rows) + repr([v.__dict__ for v in self.table().variables])
        for marker in (*MARKERS, str(self.survivor.uid), str(self.harm.uid)):
            self.assertNotIn(marker, text)
        for name in ("full_name", "story", "note", "born", "case_number", "intro"):
            self.assertNotIn(name, self.table().names)

    def test_codes_differ_from_labels_uids_and_between_evaluations(self):
        code = self.table().rows[0]["participant"]
        self.assertNotIn(code, (self.survivor.label, str(self.survivor.uid), self.survivor.uid.hex))
        network_code = dataset.Scope.for_network(self.network).evaluation.code_for(self.survivor.uid)
        valley_code = dataset.Scope.for_organization(self.valley).evaluation.code_for(self.survivor.uid)
        self.assertEqual(len({code, network_code, valley_code}), 3)
        # Stable within the evaluation.
        self.assertEqual(self.table().rows[0]["participant"], code)

    def test_variable_and_value_labels_follow_the_language_chosen(self):
        english = {v.name: v for v in self.table("en").variables}
        spanish = {v.name: v for v in self.table("es").variables}
        self.assertEqual(english["feel"].label, "How safe do you feel?")
        self.assertEqual(spanish["feel"].label, "¿Qué tan a salvo se siente?")
        self.assertEqual(english["feel"].value_labels["na"], "No home")
        self.assertEqual(spanish["feel"].value_labels["na"], "No home (es)")
        # Our own words too, whatever the language of the page.
        self.assertEqual(spanish["feel"].value_labels[PNTS], "Prefiero no decirlo")
        self.assertEqual(english["feel"].value_labels[PNTS], "Prefer not to say")
        self.assertEqual(english["supports___faith_group"].label, "Who supports you?: Faith")
        self.assertEqual(english["wellbeing"].label, "Score: Well-being")

    def test_every_choice_gets_a_whole_number_and_prefer_not_to_say_its_own(self):
        feel = {v.name: v for v in self.table().variables}["feel"]
        self.assertEqual(feel.codes, {"1": 1, "2": 2, "3": 3, "na": 4, PNTS: -9})
        self.assertEqual(feel.value_labels[PNTS], "Prefer not to say")

    def test_an_item_identifying_in_any_version_stays_out(self):
        definition: dict[str, Any] = {
            "code": "changing",
            "title": {"en": "Changing"},
            "languages": ["en"],
            "default_language": "en",
            "sections": [
                {
                    "code": "s",
                    "title": {"en": "S"},
                    "items": [
                        {"code": "zip", "type": "integer", "label": {"en": "ZIP"}, "identifying": True}
                    ],
                }
            ],
        }
        save_version(definition=definition, source="manual", owner=self.harbor)
        definition["sections"][0]["items"][0].pop("identifying")
        definition["sections"][0]["items"].append({"code": "count", "type": "integer", "label": {"en": "N"}})
        save_version(definition=definition, source="manual", owner=self.harbor)
        instrument = Instrument.objects.get(code="changing")
        names = [v.name for v in items.variables_for(instrument, "en")]
        self.assertNotIn("zip", names)
        self.assertIn("count", names)

    def test_item_rows_are_never_made_for_a_network(self):
        with self.assertRaises(ValueError):
            items.responses_for(dataset.Scope.for_network(self.network), self.instrument)

    def test_the_timepoint_table_lists_each_participants_timepoints(self):
        table = items.timepoint_table(dataset.Scope.for_organization(self.harbor))
        self.assertEqual(
            table.names, ["participant", "organization", "track", "role", "timepoint", "status", "month"]
        )
        (row,) = table.rows
        self.assertEqual((row["timepoint"], row["status"], row["month"]), ("T0", "completed", "2026-03"))


class NameTests(PersonaTestCase):
    def test_safe_names_are_lower_case_letters_digits_and_underscores_starting_with_a_letter(self):
        self.assertEqual(items.safe_name("Q1.a-B"), "q1_a_b")
        self.assertEqual(items.safe_name("_x"), "v_x")
        self.assertEqual(items.safe_name("9lives"), "v_9lives")
        self.assertEqual(items.safe_name("a____b"), "a_b")

    def test_unique_names_skip_taken_and_reserved_words(self):
        taken: set[str] = set()
        self.assertEqual(
            [items.unique_name(n, taken) for n in ("in", "x", "x", "str12", "month")],
            ["in_2", "x", "x_2", "str12_2", "month_2"],
        )

    def test_numbers_read_from_answers(self):
        self.assertEqual(items._number("12"), 12)
        self.assertEqual(items._number(2.5), 2.5)
        self.assertIsNone(items._number(True))
        self.assertIsNone(items._number("x"))
        self.assertEqual(items._number("1.5"), 1.5)

"""Built-in instruments load from YAML, idempotently; a changed file makes a new version, never an edit."""

import io
import shutil
import tempfile
from pathlib import Path

import yaml
from django.core.management import call_command
from django.test import TestCase

from circlekeeper.instruments.builtins import BUILTIN_DIR, load_builtins
from circlekeeper.instruments.definition import PNTS, DefinitionError, localized
from circlekeeper.instruments.models import Instrument, InstrumentVersion, Source
from circlekeeper.instruments.scoring import score_response


class LoadInstrumentsTests(TestCase):
    def copy_of_builtins(self):
        folder = Path(self.enterContext(tempfile.TemporaryDirectory()))
        for path in BUILTIN_DIR.glob("*.yaml"):
            shutil.copy(path, folder)
        return folder

    def test_the_command_loads_each_file_once(self):
        out = io.StringIO()
        call_command("load_instruments", stdout=out)
        call_command("load_instruments", stdout=out)
        self.assertIn("experience_of_process.yaml: experience_of_process v1 (new version)", out.getvalue())
        self.assertIn("experience_of_process.yaml: experience_of_process v1 (unchanged)", out.getvalue())
        files = len(list(BUILTIN_DIR.glob("*.yaml")))
        self.assertEqual(InstrumentVersion.objects.count(), files)
        self.assertFalse(Instrument.objects.filter(owner__isnull=False).exists())
        self.assertEqual(set(InstrumentVersion.objects.values_list("source", flat=True)), {Source.BUILTIN})

    def test_a_changed_file_makes_a_new_version_and_leaves_the_old_one_alone(self):
        folder = self.copy_of_builtins()
        [first] = [item for item in load_builtins(folder) if item.file == "experience_of_process.yaml"]
        path = folder / "experience_of_process.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["sections"][0]["items"][1]["label"]["en"] = "I could say what mattered most to me."
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        [second] = [item for item in load_builtins(folder) if item.file == "experience_of_process.yaml"]
        self.assertTrue(second.created)
        self.assertEqual((first.version.number, second.version.number), (1, 2))
        self.assertEqual(first.version.instrument, second.version.instrument)
        first.version.refresh_from_db()
        self.assertEqual(
            first.version.definition["sections"][0]["items"][1]["label"]["en"],
            "I could say what mattered to me.",
        )
        self.assertEqual(second.version.instrument.latest_version(), second.version)

    def test_an_invalid_file_loads_nothing_and_names_its_problems(self):
        folder = self.copy_of_builtins()
        (folder / "broken.yaml").write_text(
            "code: broken\ntitle: {en: Broken}\nlanguages: [en]\n", encoding="utf-8"
        )
        with self.assertRaises(DefinitionError) as caught:
            load_builtins(folder)
        self.assertIn(
            "broken.yaml: definition: default_language must be one of the languages",
            caught.exception.problems,
        )
        self.assertFalse(InstrumentVersion.objects.exists())

    def test_the_experience_instrument_speaks_english_and_spanish_and_scores_a_mean(self):
        [loaded] = [item for item in load_builtins() if item.file == "experience_of_process.yaml"]
        definition = loaded.version.definition
        self.assertEqual(definition["languages"], ["en", "es"])
        for section in definition["sections"]:
            for item in section["items"]:
                self.assertEqual(set(item["label"]), {"en", "es"}, item["code"])
        self.assertEqual(localized(definition["title"], "es", definition), "Su experiencia del proceso")
        answers = {
            "voice": "5",
            "listened": "4",
            "respect": "5",
            "choice": "4",
            "pressured": "2",
            "understood": PNTS,
        }
        # pressured 2 counts as 4 (reverse coded); understood is unanswered: (5+4+5+4+4) / 5.
        self.assertEqual(score_response(definition, answers), {"experience": 4.4, "follow_up": "no"})
        answers["pressured"] = PNTS
        self.assertEqual(score_response(definition, answers)["follow_up"], "yes")


def test_the_follow_up_on_pressure_is_asked_only_after_a_high_rating():
    from circlekeeper.instruments.builtins import BUILTIN_DIR
    from circlekeeper.instruments.definition import validate_definition
    from circlekeeper.instruments.scoring import visible_items

    definition = validate_definition(yaml.safe_load((BUILTIN_DIR / "experience_of_process.yaml").read_text()))
    assert "talk_about_pressure" in visible_items(definition, {"pressured": "4"})
    assert "talk_about_pressure" not in visible_items(definition, {"pressured": "2"})
    assert "talk_about_pressure" not in visible_items(definition, {"pressured": PNTS})

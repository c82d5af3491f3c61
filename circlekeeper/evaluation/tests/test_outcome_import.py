"""import_outcomes: a good file is imported whole; a file with any bad row writes nothing and names each row."""

import contextlib
import io
from unittest import mock

from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from circlekeeper.evaluation.management.commands.import_outcomes import Command
from circlekeeper.evaluation.models import ExternalOutcome, ImportBatch
from circlekeeper.evaluation.tests.helpers import outcome_csv, write_file
from circlekeeper.testing import PersonaTestCase, audit_log

GOOD = [
    ["C-001", "circles", 365, 0, ""],
    ["C-002", "circles", 400.5, 2, 120],
    ["B-001", "bip", 300, 1, 300],
]


class ImportOutcomesTest(PersonaTestCase):
    def run_import(self, content, *args):
        out = io.StringIO()
        call_command(
            "import_outcomes", write_file(self, content), "--organization", "harbor", *args, stdout=out
        )
        return out.getvalue()

    def assert_rejected(self, content, *problems):
        with self.assertRaises(CommandError) as raised:
            self.run_import(content)
        message = str(raised.exception)
        self.assertIn("was not imported; nothing was written", message)
        for problem in problems:
            self.assertIn(problem, message)
        self.assertFalse(ImportBatch.objects.exists())
        self.assertFalse(ExternalOutcome.objects.exists())
        self.assertFalse(audit_log().filter(action="outcome.import").exists())
        return message

    def test_it_imports_every_row_and_says_how_many(self):
        output = self.run_import(outcome_csv(GOOD), "--note", "Court records, 2025")
        self.assertIn("Imported 3 rows from outcomes.csv for harbor", output)
        batch = ImportBatch.objects.get()
        self.assertEqual((batch.organization, batch.rows, batch.imported_by), (self.harbor, 3, None))
        self.assertEqual((batch.file_name, batch.source_note), ("outcomes.csv", "Court records, 2025"))
        rows = ExternalOutcome.objects.for_organization(self.harbor).order_by("pk")
        self.assertEqual(
            [(o.participant_code, o.group, o.person_days, o.events, o.first_event_day) for o in rows],
            [
                ("C-001", "circles", 365, 0, None),
                ("C-002", "circles", 400.5, 2, 120),
                ("B-001", "bip", 300, 1, 300),
            ],
        )
        self.assertEqual({o.import_batch_id for o in rows}, {batch.pk})
        self.assertFalse(ExternalOutcome.objects.for_organization(self.valley).exists())

    def test_huge_counts_and_follow_up_are_rejected_by_row_before_the_database_sees_them(self):
        # Issue 21: events = 1e20 crashed with a traceback (on PostgreSQL from 2**31).
        self.assert_rejected(
            outcome_csv([["C-001", "circles", 365, "1e20", ""], ["C-002", "circles", "1e9", 2**31, 1]]),
            "row 2: events is 1e20, more than 100000 for one person; check the value.",
            "row 3: person_days is 1e9, more than 36525 days (a century); check the value.",
            "row 3: events is 2147483648, more than 100000 for one person; check the value.",
        )

    def test_the_import_is_audited_in_the_organization(self):
        self.run_import(outcome_csv(GOOD))
        event = audit_log().get(action="outcome.import")
        batch = ImportBatch.objects.get()
        self.assertEqual(
            (event.organization_id, event.object_type, event.object_id),
            (self.harbor.pk, "import_batch", str(batch.pk)),
        )
        self.assertIsNone(event.actor_id)

    def test_the_day_of_the_first_event_may_be_left_out_of_the_file(self):
        self.run_import(
            outcome_csv(
                [row[:4] for row in GOOD], header=["participant_code", "group", "person_days", "events"]
            )
        )
        self.assertEqual(ExternalOutcome.objects.filter(first_event_day__isnull=True).count(), 3)

    def test_the_header_may_have_spaces_capitals_and_a_byte_order_mark(self):
        content = "\ufeffParticipant_Code , GROUP,person_days,events\nA1,circles,30,0\n".encode()
        self.run_import(content)
        self.assertEqual(ExternalOutcome.objects.count(), 1)

    def test_participant_codes_are_encrypted_at_rest(self):
        self.run_import(outcome_csv(GOOD))
        raw = ExternalOutcome.objects.values_list("participant_code", flat=True)
        self.assertTrue(all(b"C-00" not in bytes(token) for token in raw))

    def test_a_missing_column_is_refused(self):
        content = outcome_csv([["A1", "circles", 0]], header=["participant_code", "group", "events"])
        self.assert_rejected(content, "row 1: the header has no column person_days")

    def test_an_unknown_column_is_refused_rather_than_silently_dropped(self):
        content = outcome_csv(
            [["A1", "circles", 30, 0, "Jane"]],
            header=["participant_code", "group", "person_days", "events", "name"],
        )
        self.assert_rejected(content, "row 1: unknown column 'name'")

    def test_an_empty_code_is_refused(self):
        self.assert_rejected(
            outcome_csv([*GOOD, ["  ", "bip", 30, 0, ""]]), "row 5: participant_code is empty"
        )

    def test_an_empty_group_is_refused(self):
        self.assert_rejected(outcome_csv([["A1", "", 30, 0, ""]]), "row 2: group is empty")

    def test_person_days_that_are_not_a_positive_number_are_refused(self):
        for value in ("0", "-3", "abc", "nan", "inf", ""):
            with self.subTest(value=value):
                self.assert_rejected(
                    outcome_csv([["A1", "bip", value, 0, ""]]),
                    f"row 2: person_days must be a number greater than 0, not '{value}'",
                )

    def test_events_that_are_not_a_whole_number_of_0_or_more_are_refused(self):
        for value in ("1.5", "-1", "two", ""):
            with self.subTest(value=value):
                self.assert_rejected(
                    outcome_csv([["A1", "bip", 30, value, ""]]),
                    f"row 2: events must be a whole number of 0 or more, not '{value}'",
                )

    def test_a_first_event_day_without_events_is_refused(self):
        self.assert_rejected(
            outcome_csv([["A1", "bip", 30, 0, 12]]), "row 2: first_event_day is given but events is 0"
        )

    def test_a_first_event_day_beyond_the_follow_up_is_refused(self):
        self.assert_rejected(
            outcome_csv([["A1", "bip", 30, 1, 31]]), "row 2: first_event_day 31 is beyond person_days 30"
        )

    def test_a_first_event_day_that_is_not_a_number_is_refused(self):
        self.assert_rejected(
            outcome_csv([["A1", "bip", 30, 1, "soon"]]), "row 2: first_event_day must be a number"
        )

    def test_the_same_participant_code_twice_in_a_file_is_refused_naming_both_rows(self):
        self.assert_rejected(
            outcome_csv([*GOOD, ["c-001", "bip", 30, 0, ""]]),
            "row 5: participant_code 'c-001' is already on row 2",
        )

    def test_a_row_with_too_many_or_too_few_values_is_refused(self):
        content = b"participant_code,group,person_days,events\nA1,bip,30,0,extra\nA2,bip\n"
        self.assert_rejected(
            content,
            "row 2: 5 values where the header has 4 columns",
            "row 3: 2 values where the header has 4 columns",
        )

    def test_every_bad_row_is_named_at_once_and_the_good_ones_are_not_written_either(self):
        rows = [*GOOD, ["", "bip", 30, 0, ""], ["A2", "bip", -1, 0, ""], ["A3", "bip", 30, "x", ""]]
        message = self.assert_rejected(outcome_csv(rows), "row 5:", "row 6:", "row 7:")
        self.assertNotIn("row 2:", message)

    def test_an_empty_file_a_header_alone_or_a_file_that_is_not_text_is_refused(self):
        self.assert_rejected(b"", "row 1: the file is empty")
        self.assert_rejected(b"participant_code,group,person_days,events\n", "header but no rows")
        self.assert_rejected(
            "participant_code,group,person_days,events\nA\xe9,b,1,0\n".encode("latin-1"), "not UTF-8"
        )

    def test_a_participant_imported_before_is_refused_so_that_each_person_counts_once(self):
        self.run_import(outcome_csv(GOOD))
        with self.assertRaises(CommandError) as raised:
            self.run_import(outcome_csv([["A9", "bip", 30, 0, ""], [" b-001 ", "bip", 30, 0, ""]]))
        batch = ImportBatch.objects.get()
        self.assertIn(
            f"row 3: participant_code 'b-001' was already imported (import {batch.pk})", str(raised.exception)
        )
        self.assertEqual(ExternalOutcome.objects.count(), 3)

    def test_the_same_code_may_be_imported_by_another_organization(self):
        self.run_import(outcome_csv(GOOD))
        call_command(
            "import_outcomes",
            write_file(self, outcome_csv(GOOD)),
            "--organization",
            "valley",
            stdout=io.StringIO(),
        )
        self.assertEqual(ExternalOutcome.objects.for_organization(self.valley).count(), 3)

    def test_a_note_too_long_to_keep_is_refused(self):
        with self.assertRaises(CommandError) as raised:
            self.run_import(outcome_csv(GOOD), "--note", "x" * 2001)
        self.assertIn("source_note: Ensure this value has at most 2000 characters", str(raised.exception))
        self.assertFalse(ImportBatch.objects.exists())

    def test_an_unknown_organization_or_a_missing_file_is_refused(self):
        with self.assertRaisesMessage(CommandError, "No organization with the short name 'nowhere'"):
            call_command("import_outcomes", write_file(self, outcome_csv(GOOD)), "--organization", "nowhere")
        with self.assertRaisesMessage(CommandError, "No such file"):
            call_command("import_outcomes", "/nonexistent/outcomes.csv", "--organization", "harbor")

    def test_from_the_command_line_a_bad_file_exits_with_1_and_lists_the_problems(self):
        path = write_file(self, outcome_csv([["A1", "bip", 0, 0, ""], ["A2", "bip", 30, -2, ""]]))
        errors = io.StringIO()
        # run_from_argv closes every database connection when it ends, which would take the test's own
        # transaction with it on PostgreSQL; the command's exit is what is tested here.
        with (
            contextlib.redirect_stderr(errors),
            mock.patch("django.core.management.base.connections.close_all"),
            self.assertRaises(SystemExit) as exited,
        ):
            Command().run_from_argv(["manage.py", "import_outcomes", path, "--organization", "harbor"])
        self.assertEqual(exited.exception.code, 1)
        self.assertIn("row 2: person_days must be a number greater than 0", errors.getvalue())
        self.assertIn("row 3: events must be a whole number of 0 or more", errors.getvalue())
        self.assertFalse(ExternalOutcome.objects.exists())

    def test_the_database_itself_refuses_a_second_row_for_the_same_person(self):
        self.run_import(outcome_csv(GOOD))
        first = ExternalOutcome.objects.order_by("pk")[0]
        twin = ExternalOutcome(
            organization=self.harbor,
            import_batch=first.import_batch,
            participant_code=" c-001",
            group="bip",
            person_days=10,
            events=0,
        )
        with self.assertRaises(IntegrityError), transaction.atomic():
            twin.save()

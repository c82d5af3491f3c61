"""import_redcap_records: a real REDCap export comes in as submitted, scored responses; a bad file writes nothing."""

import copy
import csv
import datetime
import io
from pathlib import Path

from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from circlekeeper.cases.models import Case, Participant, ParticipantRole
from circlekeeper.evaluation.models import (
    Anchor,
    Enrollment,
    EvaluationPlan,
    PlanTimepoint,
    Timepoint,
    TimepointStatus,
)
from circlekeeper.evaluation.tests.helpers import write_file
from circlekeeper.instruments.builtins import load_builtins
from circlekeeper.instruments.importing import import_instrument_file
from circlekeeper.instruments.models import (
    Instrument,
    InstrumentVersion,
    ParticipantLink,
    Response,
    ResponseStatus,
    Source,
)
from circlekeeper.instruments.redcap import COLUMNS
from circlekeeper.instruments.services import save_version
from circlekeeper.testing import PersonaTestCase, audit_log, make_case, make_participant

FIXTURES = Path(settings.BASE_DIR).parent / "shared" / "fixtures" / "redcap"
DICTIONARY = FIXTURES / "redcapr_longitudinal_dictionary.csv"
DATA = FIXTURES / "redcapr_longitudinal_data.csv"
ACTION = "redcap.records"


def fixture_rows():
    with DATA.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def as_csv(rows, bom=False):
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return (("\ufeff" if bom else "") + out.getvalue()).encode("utf-8")


class ImportCase(PersonaTestCase):
    def run_import(self, content, *args, name="records.csv"):
        out = io.StringIO()
        call_command(
            "import_redcap_records",
            write_file(self, content, name),
            "--organization",
            "harbor",
            *args,
            stdout=out,
        )
        return out.getvalue()

    def assert_rejected(self, content, *args, problems=()):
        responses_before = Response.objects.count()
        audited_before = audit_log().filter(action=ACTION).count()
        with self.assertRaises(CommandError) as raised:
            self.run_import(content, *args)
        message = str(raised.exception)
        self.assertIn("was not imported; nothing was written", message)
        for problem in problems:
            self.assertIn(problem, message)
        self.assertEqual(Response.objects.count(), responses_before)
        self.assertEqual(audit_log().filter(action=ACTION).count(), audited_before)
        return message


class FixtureImportTest(ImportCase):
    """The REDCapR longitudinal project: its dictionary through our importer, its data through this command."""

    version: InstrumentVersion
    case_304: Case
    p100: Participant
    p220: Participant
    p304: Participant

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        imported = import_instrument_file(
            content=DICTIONARY.read_bytes(),
            file_name=DICTIONARY.name,
            source=Source.REDCAP,
            owner=cls.harbor,
            code="longitudinal",
        )
        # The program scores the morale questionnaire: editing the instrument makes a version 2, which is
        # the one the records are imported into.
        definition = copy.deepcopy(imported.version.definition)
        definition["scoring"] = {
            "scores": [
                {
                    "code": "morale",
                    "label": {"en": "Morale"},
                    "method": "sum",
                    "items": ["pmq1", "pmq2", "pmq3", "pmq4"],
                },
                {
                    "code": "observed",
                    "label": {"en": "Behaviours observed"},
                    "method": "sum",
                    "items": ["vob1", "vob2", "vob3", "vob4", "vob5", "vob6"],
                    "min_answered": 1,
                },
            ]
        }
        cls.version, created = save_version(definition=definition, source=Source.REDCAP, owner=cls.harbor)
        assert created and cls.version.number == 2
        cls.case_304 = make_case(cls.harbor, reference="HAR-2026-0304")
        cls.p100 = make_participant(cls.case, label="Survivor A")
        cls.p220 = make_participant(cls.other_team_case, label="Survivor B")
        cls.p304 = make_participant(
            cls.case_304, label="Person C", role=ParticipantRole.PERSON_WHO_CAUSED_HARM
        )

    def map_file(self, rows=None):
        rows = rows or [
            ["100", "HAR-2026-0001", "Survivor A"],
            ["220", "HAR-2026-0002", "Survivor B"],
            ["304", "HAR-2026-0304", "Person C"],
        ]
        return write_file(self, as_csv([["record_id", "case", "participant"], *rows]), "map.csv")

    def response(self, participant, event):
        return Response.objects.get(participant=participant, purpose=f"REDCap {event}")

    def test_it_imports_each_answered_event_as_a_submitted_scored_response(self):
        output = self.run_import(DATA.read_bytes(), "--instrument", "longitudinal", "--map", self.map_file())
        self.assertIn(
            "Imported from records.csv for harbor: 16 responses to longitudinal v2 (0 filed under timepoints); "
            "2 rows skipped (no answer for longitudinal)",
            output,
        )
        responses = Response.objects.for_organization(self.harbor)
        self.assertEqual(responses.count(), 16)
        self.assertEqual({r.version_id for r in responses}, {self.version.pk})
        self.assertEqual({r.status for r in responses}, {ResponseStatus.SUBMITTED})
        self.assertEqual(
            sorted(r.purpose for r in responses.filter(participant=self.p304)),
            [
                "REDCap enrollment_arm_2",
                "REDCap final_visit_arm_2",
                "REDCap first_dose_arm_2",
                "REDCap first_visit_arm_2",
            ],
        )
        # Line 2 of the file, record 100 at enrolment, read by hand.
        enrolment = self.response(self.p100, "enrollment_arm_1")
        answers = enrolment.answers
        self.assertEqual(enrolment.case, self.case)
        self.assertEqual(
            {code: answers[code] for code in ("date_enrolled", "sex", "race", "ethnicity", "email", "age")},
            {
                "date_enrolled": "2015-04-02",
                "sex": "1",
                "race": "4",
                "ethnicity": "0",
                "email": "zlehnox@gmail.com",
                "age": "31",
            },
        )
        # Checkbox columns gym___0..gym___4 and the others become multiple-choice answers.
        self.assertEqual(answers["gym"], ["0"])
        self.assertEqual(answers["aerobics"], ["1", "2"])
        self.assertEqual(answers["eat"], ["3"])
        self.assertEqual(answers["drink"], ["4"])
        self.assertEqual(answers["meds"], ["2"])
        self.assertEqual((answers["specify_mood"], answers["height"], answers["weight"]), (71, 160, 80))
        # BMI is computed by the instrument's calculation (the file's own 31.3 is not read), as REDCap does.
        self.assertEqual(answers["bmi"], 31.3)
        # The record ID field is not an answer; given_birth is hidden for a man and so recorded as skipped.
        self.assertNotIn("study_id", answers)
        self.assertIn("given_birth", enrolment.skipped)
        self.assertIn("num_children", enrolment.skipped)
        self.assertEqual(enrolment.scores, {"morale": None, "observed": None})
        # Record 100 at dose 1: pmq1..pmq4 = 2, 2, 1, 1.
        dose = self.response(self.p100, "dose_1_arm_1")
        self.assertEqual(dose.answers, {"pmq1": "2", "pmq2": "2", "pmq3": "1", "pmq4": "1"})
        self.assertEqual(dose.scores["morale"], 6)
        # Record 304 at the first visit answered only vob1, vob2, vob9 of the observed behaviours.
        visit = self.response(self.p304, "first_visit_arm_2")
        source = next(row for row in fixture_rows() if row[:2] == ["304", "first_visit_arm_2"])
        header = fixture_rows()[0]
        expected = {code: source[header.index(code)] for code in ("vob1", "vob2", "vob9")}
        self.assertEqual({code: visit.answers[code] for code in expected}, expected)
        self.assertEqual(visit.scores["observed"], int(expected["vob1"]) + int(expected["vob2"]))
        self.assertEqual(
            visit.scores["morale"], sum(int(source[header.index(f"pmq{n}")]) for n in range(1, 5))
        )

    def test_the_answers_are_encrypted_in_the_database(self):
        self.run_import(DATA.read_bytes(), "--instrument", "longitudinal", "--map", self.map_file())
        enrolment = self.response(self.p100, "enrollment_arm_1")
        with connection.cursor() as cursor:
            cursor.execute("SELECT answers FROM instruments_response WHERE id = %s", [enrolment.pk])
            stored = str(cursor.fetchone()[0])
        self.assertNotIn("zlehnox", stored)
        self.assertNotIn("Lenox", stored)
        self.assertEqual(enrolment.answers["last_name"], "Lenox")

    def test_the_import_is_audited_once_with_counts_only(self):
        self.run_import(DATA.read_bytes(), "--instrument", "longitudinal", "--map", self.map_file())
        event = audit_log().get(action=ACTION)
        self.assertEqual(event.organization_id, self.harbor.pk)
        self.assertEqual(
            (event.object_type, event.object_id), ("redcap_records", "responses=16 timepoints=0 skipped=2")
        )
        self.assertIsNone(event.actor_id)

    def test_rows_whose_forms_are_not_on_the_event_are_skipped_and_counted(self):
        # Record 304's "deadline" events hold only a form status; a real export also writes unchecked
        # checkboxes as 0 on events without the form: neither is an answer.
        rows = fixture_rows()
        header = rows[0]
        blank = ["304", "deadline_to_return_arm_2"] + ["" for _ in header[2:]]
        for position, name in enumerate(header):
            if "___" in name:
                blank[position] = "0"
        content = as_csv([header, *rows[1:], ["220", "deadline_to_return_arm_1"] + blank[2:]])
        output = self.run_import(content, "--instrument", "longitudinal", "--map", self.map_file())
        self.assertIn("16 responses", output)
        self.assertIn("3 rows skipped", output)
        self.assertFalse(Response.objects.filter(purpose__startswith="REDCap deadline").exists())

    def test_importing_the_same_records_again_is_refused(self):
        self.run_import(DATA.read_bytes(), "--instrument", "longitudinal", "--map", self.map_file())
        with self.assertRaises(CommandError) as raised:
            self.run_import(DATA.read_bytes(), "--instrument", "longitudinal", "--map", self.map_file())
        message = str(raised.exception)
        self.assertIn(
            "line 2, column study_id: record '100' at event 'enrollment_arm_1' was imported before", message
        )
        self.assertEqual(Response.objects.count(), 16)
        self.assertEqual(audit_log().filter(action=ACTION).count(), 1)

    def test_a_dry_run_checks_and_counts_and_writes_nothing(self):
        output = self.run_import(
            DATA.read_bytes(), "--instrument", "longitudinal", "--map", self.map_file(), "--dry-run"
        )
        self.assertIn(
            "Dry run of records.csv for harbor, nothing was written: would import 16 responses", output
        )
        self.assertFalse(Response.objects.exists())
        self.assertFalse(audit_log().filter(action=ACTION).exists())

    def test_a_dry_run_reports_the_same_problems(self):
        rows = fixture_rows()
        rows[1][rows[0].index("weight")] = "500"
        message = self.assert_rejected(
            as_csv(rows), "--instrument", "longitudinal", "--map", self.map_file(), "--dry-run"
        )
        self.assertIn("line 2, column weight: Ensure this value is less than or equal to 200.", message)

    def test_every_bad_row_is_named_by_line_and_column_and_nothing_is_written(self):
        rows = fixture_rows()
        header = rows[0]
        rows[1][header.index("weight")] = "500"  # out of range (35 to 200)
        rows[2][header.index("pmq1")] = "7"  # not among the choices 0-3
        rows[3][header.index("vld1")] = "lots"  # not a number
        rows[7][header.index("gym___2")] = "x"  # a checkbox holds 1 or 0
        rows[7][header.index("email")] = "not an address"
        rows[8][0] = "999"  # not in the map
        duplicate = list(rows[3])  # record 100 at visit 1 again
        message = self.assert_rejected(
            as_csv([*rows, duplicate]), "--instrument", "longitudinal", "--map", self.map_file()
        )
        for problem in (
            "line 2, column weight: Ensure this value is less than or equal to 200.",
            "line 3, column pmq1: Select a valid choice. 7 is not one of the available choices.",
            "line 4, column vld1: Enter a number.",
            "line 8, column gym___2: a checkbox column holds 1 (checked) or 0, not 'x'",
            "line 8, column email: This does not look like a valid answer here.",
            "line 9, column study_id: unknown record '999': it is not in the map file",
            "line 20, column redcap_event_name: record '100' at event 'visit_1_arm_1' is already on line 4",
        ):
            self.assertIn(problem, message)
        # Listed in the order of the file.
        self.assertLess(message.index("line 2,"), message.index("line 3,"))
        self.assertLess(message.index("line 9,"), message.index("line 20,"))

    def test_lines_are_counted_as_the_file_numbers_them_with_line_breaks_inside_cells(self):
        rows = fixture_rows()
        header = rows[0]
        rows[1][header.index("comments")] = "Three lines\nof notes\nin one cell"  # line 2 spans lines 2-4
        rows[2][header.index("pmq2")] = "9"
        message = self.assert_rejected(as_csv(rows), "--instrument", "longitudinal", "--map", self.map_file())
        self.assertIn(
            "line 5, column pmq2: Select a valid choice. 9 is not one of the available choices.", message
        )

    def test_a_participant_of_another_organization_is_an_unknown_record(self):
        make_participant(self.valley_case, label="Survivor A")
        message = self.assert_rejected(
            DATA.read_bytes(),
            "--instrument",
            "longitudinal",
            "--map",
            self.map_file(
                [
                    ["100", "VAL-2026-0001", "Survivor A"],
                    ["220", "HAR-2026-0002", "Survivor B"],
                    ["304", "HAR-2026-0304", "Person C"],
                ]
            ),
        )
        self.assertIn(
            "line 2, column study_id: unknown record '100': harbor has no participant 'Survivor A' in case "
            "'VAL-2026-0001'",
            message,
        )

    def test_columns_that_are_not_items_are_named_once_in_a_warning(self):
        rows = fixture_rows()
        rows[0].append("favourite_colour")
        for row in rows[1:]:
            row.append("blue")
        output = self.run_import(as_csv(rows), "--instrument", "longitudinal", "--map", self.map_file())
        self.assertEqual(output.count("favourite_colour"), 1)
        self.assertIn(
            "1 columns are not items of this instrument and were not read: favourite_colour", output
        )
        self.assertNotIn("_complete", output)  # form status columns are ignored, not unknown
        self.assertEqual(Response.objects.count(), 16)

    def test_another_organizations_instrument_is_not_available(self):
        Instrument.objects.filter(owner=self.harbor).update(owner=self.valley)
        self.assert_rejected(
            DATA.read_bytes(),
            "--instrument",
            "longitudinal",
            "--map",
            self.map_file(),
            problems=["No instrument with the code 'longitudinal' is available to harbor."],
        )


class ScoredInstrumentImportTest(ImportCase):
    """A built-in outcome instrument answered in REDCap, its record ids written case reference/label."""

    survivor: Participant
    harm: Participant

    HEADER = [
        "record_id",
        "redcap_event_name",
        "safe_home",
        "safe_daily",
        "children_safe",
        "afraid",
        "changed_plans",
        "confident",
        "talk_about_safety",
        "felt_safety_complete",
    ]

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        load_builtins()
        cls.survivor = make_participant(cls.case, label="Survivor A")
        cls.harm = make_participant(cls.case, label="Person B", role=ParticipantRole.PERSON_WHO_CAUSED_HARM)

    def rows(self, *rows):
        return as_csv([self.HEADER, *rows], bom=True)

    def test_answers_are_scored_by_the_instruments_own_scoring(self):
        output = self.run_import(
            self.rows(
                # felt safety = mean(4, 3, afraid 2 reversed = 4, changed 1 reversed = 5, 4) = 4; no children
                ["HAR-2026-0001/Survivor A", "intake_arm_1", "4", "3", "na", "2", "1", "4", "", "2"],
                # safe at home 1 shows talk_about_safety; "prefer not to say" is a choice of these items
                ["HAR-2026-0001/Survivor A", "month_3_arm_1", "1", "_pnts", "2", "5", "4", "2", "1", "2"],
            ),
            "--instrument",
            "outcome_safety",
        )
        self.assertIn("2 responses to outcome_safety", output)
        first = Response.objects.get(purpose="REDCap intake_arm_1")
        self.assertEqual(first.participant, self.survivor)
        self.assertEqual(first.scores, {"felt_safety": 4})
        self.assertEqual(first.answers["children_safe"], "na")
        self.assertIn("talk_about_safety", first.skipped)
        second = Response.objects.get(purpose="REDCap month_3_arm_1")
        # mean(1, children 2, afraid 5 → 1, changed 4 → 2, 2) = 8 / 5; safe_daily PNTS is left out
        self.assertEqual(second.answers["safe_daily"], "_pnts")
        self.assertEqual(second.answers["talk_about_safety"], "1")
        self.assertAlmostEqual(second.scores["felt_safety"], 8 / 5)

    def test_a_number_item_takes_prefer_not_to_say_and_its_range_as_the_form_does(self):
        header = ["record_id", "people_count", "feel_supported", "practical_help", "emotional_help"]
        self.run_import(
            as_csv(
                [
                    header,
                    ["HAR-2026-0001/Survivor A", "_pnts", "4", "5", "3"],
                    ["HAR-2026-0001/Person B", "7", "2", "2", "2"],
                ]
            ),
            "--instrument",
            "outcome_connectedness",
        )
        survivor = Response.objects.get(participant=self.survivor)
        self.assertEqual(survivor.answers["people_count"], "_pnts")
        self.assertEqual(survivor.scores, {"connectedness": 4, "people_to_turn_to": None})
        other = Response.objects.get(participant=self.harm)
        self.assertEqual(other.scores, {"connectedness": 2, "people_to_turn_to": 7})
        self.assertEqual(other.purpose, "REDCap")

    def test_a_number_out_of_range_is_refused(self):
        header = ["record_id", "people_count", "feel_supported", "practical_help", "emotional_help"]
        message = self.assert_rejected(
            as_csv([header, ["HAR-2026-0001/Survivor A", "21", "4", "5", "3"]]),
            "--instrument",
            "outcome_connectedness",
        )
        self.assertIn("line 2, column people_count: Ensure this value is less than or equal to 20.", message)

    def test_an_answer_that_branching_logic_hides_is_not_imported_and_said(self):
        output = self.run_import(
            self.rows(["HAR-2026-0001/Survivor A", "intake_arm_1", "5", "5", "5", "1", "1", "5", "1", "2"]),
            "--instrument",
            "outcome_safety",
        )
        self.assertIn("column talk_about_safety: answers on lines 2 are hidden", output)
        response = Response.objects.get()
        self.assertNotIn("talk_about_safety", response.answers)
        self.assertEqual(response.skipped, ["talk_about_safety"])

    def test_a_record_id_that_names_no_participant_is_an_unknown_record(self):
        message = self.assert_rejected(
            self.rows(
                ["100", "intake_arm_1", "4", "3", "na", "2", "1", "4", "", "2"],
                ["HAR-2026-0001/Nobody", "intake_arm_1", "4", "3", "na", "2", "1", "4", "", "2"],
                ["HAR-2026-9999/Survivor A", "intake_arm_1", "4", "3", "na", "2", "1", "4", "", "2"],
            ),
            "--instrument",
            "outcome_safety",
        )
        self.assertIn("line 2, column record_id: unknown record '100': give a map file (--map)", message)
        self.assertIn("line 3, column record_id: unknown record 'HAR-2026-0001/Nobody'", message)
        self.assertIn("line 4, column record_id: unknown record 'HAR-2026-9999/Survivor A'", message)

    def test_a_child_is_never_imported(self):
        make_participant(self.case, label="Child C", role=ParticipantRole.CHILD)
        self.assert_rejected(
            self.rows(["HAR-2026-0001/Child C", "intake_arm_1", "4", "3", "na", "2", "1", "4", "", "2"]),
            "--instrument",
            "outcome_safety",
            problems=["line 2, column record_id: record 'HAR-2026-0001/Child C' is a child"],
        )

    def test_two_records_for_one_participant_at_one_event_are_refused(self):
        self.assert_rejected(
            self.rows(
                ["HAR-2026-0001/Survivor A", "intake_arm_1", "4", "3", "na", "2", "1", "4", "", "2"],
                ["HAR-2026-0001/ Survivor A", "intake_arm_1", "4", "3", "na", "2", "1", "4", "", "2"],
            ),
            "--instrument",
            "outcome_safety",
            problems=["line 3, column record_id: record 'HAR-2026-0001/ Survivor A' is the same participant"],
        )

    def test_an_unknown_instrument_is_refused(self):
        self.assert_rejected(
            self.rows(),
            "--instrument",
            "no_such_thing",
            problems=["No instrument with the code 'no_such_thing'"],
        )

    def test_a_file_that_is_not_utf8_is_refused(self):
        self.assert_rejected(
            "record_id,safe_home\nHAR-2026-0001/Survivor A,caf\xe9\n".encode("latin-1"),
            "--instrument",
            "outcome_safety",
            problems=["the file is not UTF-8 text"],
        )

    def test_an_event_option_must_name_a_timepoint(self):
        self.assert_rejected(
            self.rows(),
            "--instrument",
            "outcome_safety",
            "--event",
            "intake_arm_1",
            problems=["--event 'intake_arm_1': write it EVENT=TIMEPOINT"],
        )


class TimepointImportTest(ImportCase):
    survivor: Participant
    instrument: Instrument
    t0: PlanTimepoint
    t3: PlanTimepoint
    enrollment: Enrollment

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        load_builtins()
        cls.survivor = make_participant(cls.case, label="Survivor A")
        cls.instrument = Instrument.objects.get(owner__isnull=True, code="outcome_safety")
        plan = EvaluationPlan.objects.create(organization=cls.harbor, name="Harbor plan")
        cls.t0 = PlanTimepoint.objects.create(plan=plan, code="T0", label="Intake", anchor=Anchor.ENROLMENT)
        cls.t3 = PlanTimepoint.objects.create(
            plan=plan, code="T3", label="3 months", anchor=Anchor.ENROLMENT, offset_days=90, position=3
        )
        cls.enrollment = Enrollment.objects.create(
            organization=cls.harbor, case=cls.case, plan=plan, enrolled_on=datetime.date(2026, 3, 1)
        )

    def timepoint(self, plan_timepoint, status, **kwargs):
        now = timezone.now()
        return Timepoint.objects.create(
            organization=self.harbor,
            enrollment=self.enrollment,
            case=self.case,
            participant=self.survivor,
            plan_timepoint=plan_timepoint,
            code=plan_timepoint.code,
            instrument=self.instrument,
            opens_at=now - datetime.timedelta(days=3),
            due_at=now,
            closes_at=now + datetime.timedelta(days=11),
            status=status,
            **kwargs,
        )

    def content(self):
        return as_csv(
            [
                ["record_id", "redcap_event_name", "safe_home", "safe_daily", "afraid"],
                ["HAR-2026-0001/Survivor A", "intake_arm_1", "4", "4", "2"],
                ["HAR-2026-0001/Survivor A", "month_3_arm_1", "5", "5", "1"],
            ]
        )

    def test_an_open_timepoint_gets_the_response_and_is_completed(self):
        link = ParticipantLink.objects.create(
            organization=self.harbor,
            participant=self.survivor,
            version=self.instrument.versions.get(),
            channel="email",
            token_hash="x" * 64,
            created_by=self.alice,
            expires_at=timezone.now() + datetime.timedelta(days=7),
        )
        t0 = self.timepoint(self.t0, TimepointStatus.OPEN, link=link)
        t3 = self.timepoint(self.t3, TimepointStatus.SCHEDULED)
        events = write_file(
            self, as_csv([["redcap_event_name", "timepoint"], ["intake_arm_1", "T0"]]), "events.csv"
        )
        output = self.run_import(
            self.content(),
            "--instrument",
            "outcome_safety",
            "--events-map",
            events,
            "--event",
            "month_3_arm_1=T3",
        )
        self.assertIn("2 responses to outcome_safety v1 (2 filed under timepoints)", output)
        t0.refresh_from_db()
        t3.refresh_from_db()
        intake = Response.objects.get(purpose="REDCap intake_arm_1")
        self.assertEqual(
            (t0.status, t0.response, t0.completed_at), ("completed", intake, intake.submitted_at)
        )
        self.assertEqual((t3.status, t3.response.purpose), ("completed", "REDCap month_3_arm_1"))
        self.assertEqual(intake.scores, {"felt_safety": 4})
        # The link the participant holds for T0 stops working: the timepoint is answered.
        link.refresh_from_db()
        self.assertIsNotNone(link.revoked_at)
        self.assertEqual(audit_log().get(action=ACTION).object_id, "responses=2 timepoints=2 skipped=0")

    def test_a_missed_timepoint_stays_missed_and_the_response_is_imported_without_it(self):
        t0 = self.timepoint(self.t0, TimepointStatus.MISSED, missed_at=timezone.now())
        output = self.run_import(
            self.content(), "--instrument", "outcome_safety", "--event", "intake_arm_1=T0"
        )
        self.assertIn(
            "line 2, column redcap_event_name: record 'HAR-2026-0001/Survivor A': not filed under timepoint T0 "
            "(its window was missed and stays missed)",
            output,
        )
        self.assertIn("2 responses to outcome_safety v1 (0 filed under timepoints)", output)
        t0.refresh_from_db()
        self.assertEqual((t0.status, t0.response), ("missed", None))
        intake = Response.objects.get(purpose="REDCap intake_arm_1")
        self.assertEqual(intake.status, ResponseStatus.SUBMITTED)
        self.assertFalse(Timepoint.objects.filter(response=intake).exists())

    def test_a_window_that_has_closed_takes_no_answer_even_before_the_scheduler_marks_it_missed(self):
        t0 = self.timepoint(self.t0, TimepointStatus.OPEN)
        Timepoint.objects.filter(pk=t0.pk).update(
            opens_at=timezone.now() - datetime.timedelta(days=30),
            due_at=timezone.now() - datetime.timedelta(days=20),
            closes_at=timezone.now() - datetime.timedelta(days=1),
        )
        output = self.run_import(
            self.content(), "--instrument", "outcome_safety", "--event", "intake_arm_1=T0"
        )
        self.assertIn("(its window was missed and stays missed)", output)
        self.assertIn("2 responses to outcome_safety v1 (0 filed under timepoints)", output)
        t0.refresh_from_db()
        self.assertEqual((t0.status, t0.response), ("open", None))

    def test_a_dry_run_leaves_the_timepoint_open(self):
        t0 = self.timepoint(self.t0, TimepointStatus.OPEN)
        output = self.run_import(
            self.content(), "--instrument", "outcome_safety", "--event", "intake_arm_1=T0", "--dry-run"
        )
        self.assertIn("would import 2 responses to outcome_safety v1 (1 filed under timepoints)", output)
        t0.refresh_from_db()
        self.assertEqual((t0.status, t0.response), ("open", None))
        self.assertFalse(Response.objects.exists())

    def test_two_events_cannot_answer_one_timepoint(self):
        self.timepoint(self.t0, TimepointStatus.OPEN)
        self.assert_rejected(
            self.content(),
            "--instrument",
            "outcome_safety",
            "--event",
            "intake_arm_1=T0",
            "--event",
            "month_3_arm_1=T0",
            problems=[
                "line 3, column redcap_event_name: timepoint T0 of record 'HAR-2026-0001/Survivor A' is "
                "already answered by line 2"
            ],
        )
        self.assertEqual(Timepoint.objects.get().status, "open")


SMALL_DICTIONARY = [
    ["record_id", "intake", "", "text", "Record ID", "", "", "", "", "", "", "", "", "", "", "", "", ""],
    ["mood", "intake", "", "radio", "Mood today", "1, Low | 2, OK | 3, Good", "", "", "", "", "", "", "y"]
    + [""] * 5,
    [
        "support",
        "intake",
        "",
        "checkbox",
        "Support used",
        "a, Friends | b-2, Family | c, Group",
        "",
        "",
        "",
        "",
    ]
    + [""] * 8,
    ["nights", "follow_up", "", "text", "Nights away", "", "", "integer", "0", "31", "", "", "y"] + [""] * 5,
]


class RequiredItemsAndCheckboxesTest(ImportCase):
    """A small program-made dictionary (two forms, required items, checkbox codes with a dash)."""

    survivor: Participant

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        import_instrument_file(
            content=as_csv([COLUMNS, *SMALL_DICTIONARY]),
            file_name="small.csv",
            source=Source.REDCAP,
            owner=cls.harbor,
            code="small",
        )
        cls.survivor = make_participant(cls.case, label="Survivor A")

    HEADER = [
        "record_id",
        "redcap_event_name",
        "mood",
        "support___a",
        "support___b_2",
        "support___c",
        "nights",
    ]

    def test_a_required_item_is_required_on_a_form_with_answers_only(self):
        message = self.assert_rejected(
            as_csv(
                [
                    self.HEADER,
                    # intake answered without its required mood: refused, as the form would
                    ["HAR-2026-0001/Survivor A", "intake", "", "1", "0", "0", ""],
                    # only the follow-up form on this event: the blank intake form is not checked
                    ["HAR-2026-0001/Survivor A", "month_1", "", "0", "0", "0", "4"],
                ]
            ),
            "--instrument",
            "small",
        )
        self.assertIn("line 2, column mood: Answer this question.", message)
        self.assertNotIn("line 3", message)

    def test_checkbox_codes_are_matched_as_redcap_writes_them(self):
        self.run_import(
            as_csv(
                [
                    self.HEADER,
                    ["HAR-2026-0001/Survivor A", "intake", "3", "1", "1", "0", ""],
                    ["HAR-2026-0001/Survivor A", "month_1", "", "0", "0", "0", "4"],
                ]
            ),
            "--instrument",
            "small",
        )
        intake = Response.objects.get(purpose="REDCap intake")
        self.assertEqual(intake.answers, {"mood": "3", "support": ["a", "b-2"]})
        self.assertEqual(Response.objects.get(purpose="REDCap month_1").answers, {"nights": 4})

    def test_a_checked_column_for_a_choice_the_item_does_not_have_is_refused(self):
        header = [*self.HEADER, "support___z"]
        self.assert_rejected(
            as_csv([header, ["HAR-2026-0001/Survivor A", "intake", "3", "1", "0", "0", "", "1"]]),
            "--instrument",
            "small",
            problems=["line 2, column support___z: 'z' is not among the choices of support"],
        )
        output = self.run_import(
            as_csv([header, ["HAR-2026-0001/Survivor A", "intake", "3", "1", "0", "0", "", "0"]]),
            "--instrument",
            "small",
        )
        self.assertIn("not read: support___z", output)

"""Issue 22, finding 8: REDCap's [event][field] reads the same respondent's own answer at the timepoint the event
maps to (CIRCLEKEEPER_REDCAP_EVENTS, else `<timepoint>_arm_<n>`), in branching logic, calculations and piping.
Never another person's answer; an event that maps to no timepoint, or an answer not given there, is blank (as
REDCap's empty value), and the import report names the events that are not mapped.
"""

from __future__ import annotations

import datetime
import io
from typing import Any

from django.db import transaction
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from openpyxl import Workbook

from circlekeeper.cases.models import ParticipantRole, Track
from circlekeeper.evaluation import redcap_records
from circlekeeper.evaluation.models import (
    Anchor,
    Enrollment,
    EvaluationPlan,
    PlanTimepoint,
    Timepoint,
    TimepointStatus,
)
from circlekeeper.instruments import filling
from circlekeeper.instruments.definition import localized, report_as_text
from circlekeeper.instruments.events import event_answers
from circlekeeper.instruments.expressions import NO_EVENTS
from circlekeeper.instruments.importing import import_instrument_file
from circlekeeper.instruments.models import Response, ResponseStatus, Source
from circlekeeper.instruments.piping import pipe
from circlekeeper.instruments.scoring import visible_items
from circlekeeper.lib import keys
from circlekeeper.testing import PersonaTestCase, make_participant

HEADER = (
    '"Variable / Field Name","Form Name","Section Header","Field Type","Field Label",'
    '"Choices, Calculations, OR Slider Labels","Field Note","Text Validation Type OR Show Slider Number",'
    '"Text Validation Min","Text Validation Max",Identifier?,"Branching Logic (Show field only if...)",'
    '"Required Field?","Custom Alignment","Question Number (surveys only)","Matrix Group Name","Matrix Ranking?",'
    '"Field Annotation"\n'
)
# One instrument asked at T0 and at T3 (REDCap: events t0_arm_1 and t3_arm_1 of arm 1). At T3, one question
# is asked only of those who said yes at T0, a calculation reads the T0 answer, and a label pipes it.
DICTIONARY = (
    HEADER
    + 'had_support,followup,,yesno,"Do you have someone to support you?",,,,,,,,,,,,,\n'
    + 'support_kept,followup,,yesno,"KEPT-QUESTION: at intake you said [t0_arm_1][had_support]; is that support '
    'still there?",,,,,,,"[t0_arm_1][had_support] = \'1\'",,,,,,\n'
    + 't0_support_again,followup,,calc,"Support at T0, plus one",'
    '"[t0_arm_1][had_support] + 1",,,,,,,,,,,,\n'
)
UNMAPPED = (
    HEADER
    + 'consent,consent,,yesno,"Did you agree?",,,,,,,"[screening_arm_1][eligible] = \'1\'",,,,,,\n'
    + 'later,consent,,yesno,"Later?",,,,,,,"[t3_arm_1][consent] = \'1\'",,,,,,\n'
)
AT = timezone.make_aware(datetime.datetime(2026, 3, 2, 10, 0))


class EventPlanTestCase(PersonaTestCase):
    """A case's survivor and person who caused harm, a survivor of another organization, and plans with T0 and T3."""

    version: Any
    survivor: Any
    harm: Any
    valley_survivor: Any
    plans: Any

    @classmethod
    def setUpTestData(cls):
        keys.clear_key_cache(everything=True)
        super().setUpTestData()
        cls.case.track = Track.DIRECT_DIALOGUE
        cls.case.save()
        cls.version = import_instrument_file(
            content=DICTIONARY.encode(),
            file_name="followup.csv",
            source=Source.REDCAP,
            owner=cls.harbor,
        ).version
        cls.survivor = make_participant(cls.case, label="Survivor")
        cls.harm = make_participant(cls.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Harm")
        cls.valley_survivor = make_participant(cls.valley_case, label="Valley survivor")
        cls.plans = {}
        for organization, case in ((cls.harbor, cls.case), (cls.valley, cls.valley_case)):
            plan = EvaluationPlan.objects.create(organization=organization, name="Plan")
            cls.plans[organization.pk] = (
                Enrollment.objects.create(
                    organization=organization, case=case, plan=plan, enrolled_on=datetime.date(2026, 3, 1)
                ),
                {
                    code: PlanTimepoint.objects.create(
                        plan=plan, code=code, label=code, anchor=Anchor.ENROLMENT
                    )
                    for code in ("T0", "T3")
                },
            )

    def timepoint(self, participant, code, response=None, status=TimepointStatus.COMPLETED):
        enrollment, plan_timepoints = self.plans[participant.organization_id]
        return Timepoint.objects.create(
            organization_id=participant.organization_id,
            enrollment=enrollment,
            case=participant.case,
            participant=participant,
            plan_timepoint=plan_timepoints[code],
            code=code,
            instrument=self.version.instrument,
            opens_at=AT,
            due_at=AT,
            closes_at=AT + datetime.timedelta(days=400),
            status=status,
            response=response,
        )

    def answered_at(self, participant, code, answers):
        response = Response.objects.create(
            organization_id=participant.organization_id,
            version=self.version,
            participant=participant,
            case=participant.case,
            answers=answers,
            status=ResponseStatus.SUBMITTED,
            started_at=AT,
            submitted_at=AT,
        )
        self.timepoint(participant, code, response)
        return response

    def entering_t3(self, participant, answers=None):
        """T3 open, its answers being entered by staff (Alice), as the scheduler's staff entry files them."""
        response = Response.objects.create(
            organization_id=participant.organization_id,
            version=self.version,
            participant=participant,
            case=participant.case,
            answers=answers or {},
            entered_by_staff=self.alice,
        )
        self.timepoint(participant, "T3", response, status=TimepointStatus.OPEN)
        return response

    def shown(self, response):
        definition = self.version.definition
        events = event_answers(response, definition)
        return visible_items(definition, dict(response.answers), events=events)


@override_settings(REDCAP_EVENTS="", REDCAP_ARM=1)
class EventFieldTests(EventPlanTestCase):
    def test_the_t3_question_shows_only_when_their_own_t0_answer_was_yes(self):
        self.answered_at(self.survivor, "T0", {"had_support": "1"})
        t3 = self.entering_t3(self.survivor)
        self.assertIn("support_kept", self.shown(t3))
        # On the staff's answering page: the question, with the T0 answer piped into it.
        self.login(self.alice)
        page = self.client.get(reverse("instruments:response_answer", args=[self.case.pk, t3.pk]))
        self.assertContains(page, "KEPT-QUESTION: at intake you said Yes; is that support")
        # Submitted: answered, not skipped, and the calculation read the T0 answer (1 + 1).
        t3.answers = {"had_support": "0", "support_kept": "1"}
        t3.save()
        filling.submit(response=t3, today=datetime.date(2026, 6, 2), contact=False)
        t3.refresh_from_db()
        self.assertEqual(t3.answers["support_kept"], "1")
        self.assertNotIn("support_kept", t3.skipped)
        self.assertEqual(t3.answers["t0_support_again"], 2)

    def test_a_no_at_t0_hides_the_t3_question_and_its_answer_is_dropped(self):
        self.answered_at(self.survivor, "T0", {"had_support": "0"})
        t3 = self.entering_t3(self.survivor, {"had_support": "1", "support_kept": "1"})
        self.assertNotIn("support_kept", self.shown(t3))
        filling.submit(response=t3, today=datetime.date(2026, 6, 2), contact=False)
        t3.refresh_from_db()
        self.assertIn("support_kept", t3.skipped)
        self.assertNotIn("support_kept", t3.answers)
        self.assertEqual(t3.answers["t0_support_again"], 1)

    def test_another_persons_t0_answer_never_leaks_in(self):
        # Planted: yes at T0 for the person who caused harm in the same case, for a survivor of another
        # organization, and in the survivor's own T3 answers under the same name. The survivor said nothing at T0.
        self.answered_at(self.harm, "T0", {"had_support": "1"})
        self.answered_at(self.valley_survivor, "T0", {"had_support": "1"})
        t3 = self.entering_t3(self.survivor, {"had_support": "1"})
        self.assertNotIn("support_kept", self.shown(t3))
        self.login(self.alice)
        # Every question shown is answered: the page goes on to the review, which does not list it either.
        page = self.client.get(
            reverse("instruments:response_answer", args=[self.case.pk, t3.pk]), follow=True
        )
        self.assertContains(page, "Do you have someone to support you?")
        self.assertNotContains(page, "KEPT-QUESTION")
        filling.submit(response=t3, today=datetime.date(2026, 6, 2), contact=False)
        t3.refresh_from_db()
        self.assertIn("support_kept", t3.skipped)
        # Blank at T0, as REDCap's empty value: blank + 1 is blank, so the calculation has no value.
        self.assertNotIn("t0_support_again", t3.answers)
        # The other person's own T3 reads their own T0.
        harm_t3 = self.entering_t3(self.harm)
        self.assertIn("support_kept", self.shown(harm_t3))

    def test_a_prefer_not_to_say_at_t0_reads_as_blank(self):
        self.answered_at(self.survivor, "T0", {"had_support": "_pnts"})
        t3 = self.entering_t3(self.survivor)
        self.assertNotIn("support_kept", self.shown(t3))

    @override_settings(REDCAP_EVENTS="T0=intake_arm_1")
    def test_a_mapped_event_name_replaces_the_default_one(self):
        self.answered_at(self.survivor, "T0", {"had_support": "1"})
        t3 = self.entering_t3(self.survivor)
        # T0 is now the event intake_arm_1: t0_arm_1 maps to no timepoint, and reads as blank.
        self.assertNotIn("support_kept", self.shown(t3))

    def test_events_that_map_to_no_timepoint_are_named_in_the_import_report(self):
        result = import_instrument_file(
            content=UNMAPPED.encode(), file_name="consent.csv", source=Source.REDCAP, owner=self.harbor
        )
        text = report_as_text(result.report)
        warnings = next(group for group in result.report if group.key == "warnings").lines
        unmapped = [line for line in warnings if "screening_arm_1" in line]
        self.assertEqual(len(unmapped), 1, text)
        self.assertIn("line 2", unmapped[0])
        self.assertIn("maps to no timepoint", unmapped[0])
        self.assertFalse([line for line in warnings if "t3_arm_1" in line], text)
        translated = next(group for group in result.report if group.key == "translated").lines
        self.assertTrue(any("t3_arm_1" in line and "timepoint T3" in line for line in translated), text)
        # The unmapped event's logic reads as empty: the question it guards is not shown.
        response = self.entering_t3(self.survivor)
        response.version = result.version
        definition = result.version.definition
        self.assertNotIn("consent", visible_items(definition, {}, events=event_answers(response, definition)))

    def test_the_same_report_on_the_upload_page(self):
        self.login(self.pat)
        from django.core.files.uploadedfile import SimpleUploadedFile

        page = self.client.post(
            reverse("instruments:instrument_import"),
            {
                "source": Source.REDCAP,
                "file": SimpleUploadedFile("consent.csv", UNMAPPED.encode(), content_type="text/csv"),
                "code": "",
                "title": "",
                "language": "en",
            },
        )
        self.assertContains(page, "screening_arm_1")
        self.assertContains(page, "maps to no timepoint")

    def test_a_records_import_reads_each_records_own_answer_at_the_other_event(self):
        # REDCap's own meaning in a flat export: [t0_arm_1][had_support] is the same record's row at t0_arm_1.
        content = (
            b"record_id,redcap_event_name,had_support,support_kept\n"
            b"HAR-2026-0001/Survivor,t0_arm_1,1,\n"
            b"HAR-2026-0001/Survivor,t3_arm_1,0,1\n"
            b"HAR-2026-0001/Harm,t0_arm_1,0,\n"
            b"HAR-2026-0001/Harm,t3_arm_1,1,1\n"
        )
        result = redcap_records.import_redcap_records(
            organization=self.harbor, instrument="followup", content=content, today=datetime.date(2026, 6, 2)
        )
        self.assertEqual(result.imported, 4)
        survivor_t3 = Response.objects.get(participant=self.survivor, purpose="REDCap t3_arm_1")
        self.assertEqual(survivor_t3.answers["support_kept"], "1")
        self.assertEqual(survivor_t3.answers["t0_support_again"], 2)
        # The other person said no at T0: their T3 answer to it is hidden, whatever the survivor said.
        harm_t3 = Response.objects.get(participant=self.harm, purpose="REDCap t3_arm_1")
        self.assertNotIn("support_kept", harm_t3.answers)
        self.assertIn("support_kept", harm_t3.skipped)
        hidden = [w for w in result.warnings if "support_kept" in w and "hidden" in w]
        self.assertEqual(len(hidden), 1, result.warnings)
        self.assertIn("lines 5 ", hidden[0])


def intake_xlsform() -> bytes:
    """An intake asked at T0, in English and Spanish, with a single and a multiple choice."""
    book = Workbook()
    survey = book.active
    survey.title = "survey"
    for row in (
        ["type", "name", "label::English (en)", "label::Spanish (es)"],
        ["select_one mood", "mood", "How do you feel?", "¿Cómo se siente?"],
        ["select_multiple helps", "helps", "Who helps you?", "¿Quién le ayuda?"],
    ):
        survey.append(row)
    choices = book.create_sheet("choices")
    for row in (
        ["list_name", "name", "label::English (en)", "label::Spanish (es)"],
        ["mood", "1", "Calm", "Tranquila"],
        ["mood", "2", "Afraid", "Con miedo"],
        ["helps", "1", "Friends", "Amistades"],
        ["helps", "2", "Family", "Familia"],
        ["helps", "3", "Advocate", "Defensora"],
    ):
        choices.append(row)
    settings = book.create_sheet("settings")
    settings.append(["form_title", "form_id", "default_language"])
    settings.append(["Intake", "intake", "English (en)"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# A check-in asked at T3, a REDCap instrument of its own: its note pipes the intake's T0 answers.
CHECKIN = (
    HEADER + 'checkin_note,checkin,,descriptive,"PIPED: mood [t0_arm_1][mood], label [t0_arm_1][mood:label], '
    'code [t0_arm_1][mood:value], helps [t0_arm_1][helps:label], codes [t0_arm_1][helps:value].",,,,,,,,,,,,,\n'
    + 'still_there,checkin,,yesno,"Is it still so?",,,,,,,,,,,,,\n'
)


@override_settings(REDCAP_EVENTS="", REDCAP_ARM=1)
class PipingAnotherInstrumentTests(EventPlanTestCase):
    intake: Any
    checkin: Any

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.intake = import_instrument_file(
            content=intake_xlsform(), file_name="intake.xlsx", source=Source.XLSFORM, owner=cls.harbor
        ).version
        cls.checkin = import_instrument_file(
            content=CHECKIN.encode(), file_name="checkin.csv", source=Source.REDCAP, owner=cls.harbor
        ).version

    def answered(self, participant, version, code, answers, status=ResponseStatus.SUBMITTED, **extra):
        response = Response.objects.create(
            organization_id=participant.organization_id,
            version=version,
            participant=participant,
            case=participant.case,
            answers=answers,
            status=status,
            started_at=AT,
            submitted_at=AT if status == ResponseStatus.SUBMITTED else None,
            **extra,
        )
        timepoint = self.timepoint(
            participant, code, response, TimepointStatus.COMPLETED if extra == {} else TimepointStatus.OPEN
        )
        timepoint.instrument = version.instrument
        timepoint.save(update_fields=["instrument"])
        return response

    def note(self, response, language):
        definition = self.checkin.definition
        item = definition["sections"][0]["items"][0]
        return pipe(
            localized(item["label"], language, definition),
            definition,
            dict(response.answers),
            language,
            event_answers(response, definition),
        )

    def plant_and_enter_t3(self):
        self.answered(self.survivor, self.intake, "T0", {"mood": "2", "helps": ["1", "3"]})
        # Planted: other people's T0 intake, with other choices, in this case and in another organization.
        self.answered(self.harm, self.intake, "T0", {"mood": "1", "helps": ["2"]})
        self.answered(self.valley_survivor, self.intake, "T0", {"mood": "1", "helps": ["2"]})
        return self.answered(
            self.survivor,
            self.checkin,
            "T3",
            {},
            status=ResponseStatus.IN_PROGRESS,
            entered_by_staff=self.alice,
        )

    def test_a_choice_of_another_instrument_is_piped_as_its_label_and_value_as_its_code(self):
        t3 = self.plant_and_enter_t3()
        # REDCap: [event][field] and [event][field:label] show a choice's label, :value its code.
        self.assertEqual(
            self.note(t3, "en"),
            "PIPED: mood Afraid, label Afraid, code 2, helps Friends, Advocate, codes 1, 3.",
        )

    def test_in_the_readers_language(self):
        t3 = self.plant_and_enter_t3()
        self.assertEqual(
            self.note(t3, "es"),
            "PIPED: mood Con miedo, label Con miedo, code 2, helps Amistades, Defensora, codes 1, 3.",
        )

    def test_on_the_answering_page_and_never_another_persons_answer(self):
        t3 = self.plant_and_enter_t3()
        self.login(self.alice)
        page = self.client.get(reverse("instruments:response_answer", args=[self.case.pk, t3.pk]))
        self.assertContains(
            page, "PIPED: mood Afraid, label Afraid, code 2, helps Friends, Advocate, codes 1, 3."
        )
        for planted in ("Calm", "Family", "Tranquila", "Familia"):
            self.assertNotContains(page, planted)
        # The other person's own T3 shows their own T0 answer.
        harm_t3 = self.answered(
            self.harm, self.checkin, "T3", {}, status=ResponseStatus.IN_PROGRESS, entered_by_staff=self.alice
        )
        self.assertEqual(
            self.note(harm_t3, "en"), "PIPED: mood Calm, label Calm, code 1, helps Family, codes 2."
        )

    def test_no_question_is_asked_when_nothing_reads_another_event(self):
        t3 = self.plant_and_enter_t3()
        with self.assertNumQueries(0):
            self.assertIs(event_answers(t3, self.intake.definition), NO_EVENTS)


RECORD_ROWS = [
    b"HAR-2026-0001/Survivor,t0_arm_1,1,",
    b"HAR-2026-0001/Harm,t0_arm_1,0,",
    b"HAR-2026-0001/Survivor,t3_arm_1,0,1",
    b"HAR-2026-0001/Harm,t3_arm_1,1,1",
]
RECORDS_HEADER = b"record_id,redcap_event_name,had_support,support_kept"


@override_settings(REDCAP_EVENTS="", REDCAP_ARM=1)
class RecordsAtOtherEventsTests(EventPlanTestCase):
    def imported(self, rows):
        """Import the rows, and what was stored for each record and event (the import is then undone)."""
        with transaction.atomic():
            result = redcap_records.import_redcap_records(
                organization=self.harbor,
                instrument="followup",
                content=b"\n".join([RECORDS_HEADER, *rows]) + b"\n",
                today=datetime.date(2026, 6, 2),
            )
            stored = {
                (response.participant.label, response.purpose): (
                    dict(response.answers),
                    sorted(response.skipped),
                    response.scores,
                )
                for response in Response.objects.filter(purpose__startswith="REDCap").select_related(
                    "participant"
                )
            }
            transaction.set_rollback(True)
        return result, stored

    def test_rows_in_reverse_event_order_store_the_same_as_in_forward_order(self):
        forward, forward_stored = self.imported(RECORD_ROWS)
        backward, backward_stored = self.imported(list(reversed(RECORD_ROWS)))
        self.assertEqual(forward.imported, 4)
        self.assertEqual(backward.imported, 4)
        # The rule (REDCap's): at T3, support_kept is asked only of whoever said yes at T0 (the survivor), and
        # t0_support_again is their own T0 answer plus one.
        survivor_t3, _skipped, _scores = forward_stored[("Survivor", "REDCap t3_arm_1")]
        self.assertEqual((survivor_t3["support_kept"], survivor_t3["t0_support_again"]), ("1", 2))
        harm_t3, harm_skipped, _scores = forward_stored[("Harm", "REDCap t3_arm_1")]
        self.assertNotIn("support_kept", harm_t3)
        self.assertIn("support_kept", harm_skipped)
        self.assertEqual(harm_t3["t0_support_again"], 1)
        # Reversed, the T3 rows are written before the T0 rows they read: the same is stored.
        self.assertEqual(backward_stored, forward_stored)
        # And the same hidden answer is reported, on its own line of each file (harm's T3: line 5, then 2).
        self.assertEqual(len([w for w in forward.warnings if "hidden" in w and "lines 5 " in w]), 1)
        self.assertEqual(len([w for w in backward.warnings if "hidden" in w and "lines 2 " in w]), 1)

    def test_a_later_file_reads_the_t0_answer_an_earlier_file_imported(self):
        # T0 from one file, T3 from the next: checked and submitted against the answer stored at T0.
        redcap_records.import_redcap_records(
            organization=self.harbor,
            instrument="followup",
            content=b"\n".join([RECORDS_HEADER, *RECORD_ROWS[:2]]) + b"\n",
            today=datetime.date(2026, 6, 2),
        )
        result = redcap_records.import_redcap_records(
            organization=self.harbor,
            instrument="followup",
            content=b"\n".join([RECORDS_HEADER, *RECORD_ROWS[2:]]) + b"\n",
            today=datetime.date(2026, 6, 2),
        )
        survivor_t3 = Response.objects.get(participant=self.survivor, purpose="REDCap t3_arm_1")
        self.assertEqual(
            (survivor_t3.answers["support_kept"], survivor_t3.answers["t0_support_again"]), ("1", 2)
        )
        harm_t3 = Response.objects.get(participant=self.harm, purpose="REDCap t3_arm_1")
        self.assertNotIn("support_kept", harm_t3.answers)
        self.assertEqual(harm_t3.answers["t0_support_again"], 1)
        hidden = [w for w in result.warnings if "hidden" in w]
        self.assertEqual(len(hidden), 1, result.warnings)
        self.assertIn("lines 3", hidden[0])

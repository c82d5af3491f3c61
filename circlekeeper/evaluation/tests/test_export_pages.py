"""The de-identified data page and the exports page: evaluators only, audited, re-authentication first."""

import datetime
import tempfile
import time
from pathlib import Path

import pyreadstat
from django.urls import reverse

from circlekeeper.accounts.audit import Action
from circlekeeper.accounts.models import Role, User
from circlekeeper.accounts.reauth import REAUTHENTICATED_AT_KEY
from circlekeeper.evaluation import dataset
from circlekeeper.evaluation.export_forms import TIMEPOINTS
from circlekeeper.evaluation.tests.test_exports_fixtures import AT, HARM_ANSWERS, MARKERS, PlantedData
from circlekeeper.lib import keys
from circlekeeper.testing import audit_log, make_participant, make_user

DATA = reverse("evaluation:deidentified_data")
EXPORTS = reverse("evaluation:exports")
REAUTH = reverse("accounts:reauthenticate")
NOT_EVALUATORS = ("alice", "ada", "sam", "bob", "pat", "charlie", "nora")


class PageTestCase(PlantedData):
    valley_eve: User

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.valley_eve = make_user("eve@valley.example", organization=cls.valley, roles=(Role.EVALUATOR,))

    def confirm(self):
        session = self.client.session
        session[REAUTHENTICATED_AT_KEY] = time.time()
        session.save()

    def assert_nothing_identifying(self, content):
        for marker in (*MARKERS, str(self.survivor.uid), str(self.harm.uid)):
            self.assertNotIn(marker.encode("utf-8"), content, marker)


class DataPageTests(PageTestCase):
    def test_the_evaluator_sees_codes_months_and_answers(self):
        self.login(self.eve)
        page = self.client.get(DATA, {"instrument": "planted", "language": "en"})
        self.assertEqual(page.status_code, 200)
        code = dataset.Scope.for_organization(self.harbor).evaluation.code_for(self.survivor.uid)
        self.assertContains(page, f'<th scope="row">{code}</th>', html=False)
        self.assertContains(page, "2026-03")
        self.assertContains(page, "supports___faith_group")
        self.assertContains(page, "How this data is de-identified")
        self.assertContains(page, "2 responses.")
        self.assert_nothing_identifying(page.content)

    def test_at_the_default_k_of_5_the_planted_people_are_left_out_and_the_page_says_so(self):
        # Issue 21: the planted people are each unique, so at k = 5 none of their rows may be shown.
        self.login(self.eve)
        with self.settings(CIRCLEKEEPER_DEIDENTIFICATION_K=5):
            page = self.client.get(DATA, {"instrument": "planted", "language": "en"})
            self.confirm()
            exports_page = self.client.get(reverse("evaluation:exports"))
        code = dataset.Scope.for_organization(self.harbor).evaluation.code_for(self.survivor.uid)
        self.assertNotContains(page, code)
        self.assertContains(page, "How many people each row could be")
        self.assertContains(page, "k achieved: no one could be shown.")
        self.assertContains(page, "people are left out")
        self.assertContains(exports_page, "How many people each row could be")

    def test_without_a_language_the_labels_follow_the_page(self):
        self.login(self.eve)
        page = self.client.get(DATA, {"instrument": "planted"}, headers={"accept-language": "es"})
        self.assertContains(page, "¿Qué tan a salvo se siente?")
        self.assertContains(page, '<option value="es" selected>')

    def test_reading_rows_is_audited_with_the_instrument_and_the_form_alone_is_not(self):
        self.login(self.eve)
        self.client.get(DATA)
        self.assertFalse(audit_log().filter(action=Action.EVALUATION_DATA_VIEW).exists())
        self.client.get(DATA, {"instrument": "planted", "language": "en"})
        (event,) = audit_log().filter(action=Action.EVALUATION_DATA_VIEW)
        self.assertEqual(
            (event.actor_id, event.object_type, event.object_id), (self.eve.pk, "instrument", "planted")
        )
        self.assertEqual(event.organization_id, self.harbor.pk)

    def test_the_form_offers_only_the_organizations_instruments_with_data(self):
        self.login(self.eve)
        page = self.client.get(DATA)
        self.assertContains(page, '<option value="planted"')
        self.login(self.valley_eve)
        self.assertNotContains(self.client.get(DATA), '<option value="planted"')

    def test_an_evaluator_of_another_organization_gets_404_for_its_instrument(self):
        self.login(self.valley_eve)
        self.assertEqual(self.client.get(DATA, {"instrument": "planted", "language": "en"}).status_code, 404)
        self.assertFalse(audit_log().filter(action=Action.EVALUATION_DATA_VIEW).exists())

    def test_everyone_else_gets_403_and_anonymous_visitors_are_sent_to_sign_in(self):
        for name in NOT_EVALUATORS:
            with self.subTest(name):
                self.login(getattr(self, name))
                self.assertEqual(self.client.get(DATA, {"instrument": "planted"}).status_code, 403)
        self.client.logout()
        self.assertRedirects(self.client.get(DATA), f"{reverse('accounts:login')}?next={DATA}")

    def test_rows_are_paged_fifty_at_a_time(self):
        for n in range(55):
            person = make_participant(self.other_team_case, label=f"Person {n}")
            self.respond(person, {"feel": "1"}, {"wellbeing": 1}, when=AT + datetime.timedelta(minutes=n))
        self.login(self.eve)
        first = self.client.get(DATA, {"instrument": "planted", "language": "en"})
        self.assertEqual(first.content.count(b'<th scope="row">E'), 50)
        self.assertContains(first, "57 responses.")
        self.assertContains(first, "Page 1 of 2")
        second = self.client.get(DATA, {"instrument": "planted", "language": "en", "page": "2"})
        self.assertEqual(second.content.count(b'<th scope="row">E'), 7)

    def test_the_page_takes_a_fixed_number_of_queries(self):
        self.login(self.eve)
        query = {"instrument": "planted", "language": "en"}
        keys.clear_key_cache(everything=True)
        self.client.get(DATA, query)
        # 11, and 2 for the k-anonymity plan (deidentify.py): the timepoints and the responses' context columns.
        with self.assertNumQueries(13):
            self.client.get(DATA, query)
        for n in range(60):
            person = make_participant(self.other_team_case, label=f"Person {n}")
            self.respond(person, HARM_ANSWERS, {"wellbeing": 1})
        keys.clear_key_cache(everything=True)
        self.client.get(DATA, query)
        # 11, and 2 for the k-anonymity plan (deidentify.py): the timepoints and the responses' context columns.
        with self.assertNumQueries(13):
            self.assertEqual(self.client.get(DATA, query).status_code, 200)


class ExportPageTests(PageTestCase):
    def export(self, dataset="planted", format="csv", language="en"):
        return self.client.post(EXPORTS, {"dataset": dataset, "format": format, "language": language})

    def exported(self):
        return audit_log().filter(action=Action.EVALUATION_EXPORT)

    def test_without_a_recent_confirmation_it_sends_to_confirm_and_exports_nothing(self):
        self.login(self.eve)
        page = self.client.get(EXPORTS)
        self.assertRedirects(page, f"{REAUTH}?next=%2Fevaluation%2Fexports%2F", fetch_redirect_response=False)
        response = self.export()
        self.assertRedirects(
            response, f"{REAUTH}?next=%2Fevaluation%2Fexports%2F", fetch_redirect_response=False
        )
        self.assertFalse(self.exported().exists())

    def test_a_confirmation_older_than_ten_minutes_is_asked_again(self):
        self.login(self.eve)
        session = self.client.session
        session[REAUTHENTICATED_AT_KEY] = time.time() - 11 * 60
        session.save()
        self.assertEqual(self.export().status_code, 302)
        self.assertFalse(self.exported().exists())

    def test_a_csv_is_downloaded_not_cached_and_audited_without_the_data(self):
        self.login(self.eve)
        self.confirm()
        self.assertContains(self.client.get(EXPORTS), "Export de-identified data")
        response = self.export()
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Content-Type"], "text/csv; charset=utf-8")
        self.assertRegex(
            response["Content-Disposition"], r'^attachment; filename="harbor-planted-\d{4}-\d\d-\d\d\.csv"$'
        )
        self.assertIn("no-store", response["Cache-Control"])
        # The CSV streams: the responses are read as the file is sent, never all held in memory.
        self.assertTrue(response.streaming)
        content = response.getvalue()
        code = dataset.Scope.for_organization(self.harbor).evaluation.code_for(self.survivor.uid)
        self.assertIn(code.encode(), content)
        self.assert_nothing_identifying(content)
        (event,) = self.exported()
        self.assertEqual(
            (event.actor_id, event.object_type, event.object_id),
            (self.eve.pk, "evaluation_export", "csv:planted"),
        )

    def test_an_spss_file_reopens_with_its_labels(self):
        self.login(self.eve)
        self.confirm()
        response = self.export(format="sav", language="es")
        self.assertEqual(response["Content-Type"], "application/x-spss-sav")
        # The SPSS file streams too (issue 10 item 6).
        self.assertTrue(response.streaming)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "x.sav"
            path.write_bytes(response.getvalue())
            frame, meta = pyreadstat.read_sav(str(path))
        self.assertEqual(len(frame), 2)
        self.assertEqual(
            dict(zip(meta.column_names, meta.column_labels, strict=True))["feel"],
            "¿Qué tan a salvo se siente?",
        )
        self.assertEqual(self.exported().get().object_id, "sav:planted")

    def test_every_format_downloads_and_none_holds_anything_identifying(self):
        self.login(self.eve)
        self.confirm()
        for format in ("csv", "sav", "dta", "redcap_dictionary", "redcap_records"):
            with self.subTest(format):
                response = self.export(format=format)
                self.assertEqual(response.status_code, 200)
                self.assertTrue(response["Content-Disposition"].startswith("attachment;"))
                self.assert_nothing_identifying(response.getvalue())
        self.assertEqual(self.exported().count(), 5)

    def test_the_timepoint_table_exports_but_not_as_redcap(self):
        self.login(self.eve)
        self.confirm()
        response = self.export(dataset=TIMEPOINTS, format="csv")
        self.assertEqual(response.status_code, 200)
        self.assertIn(b"participant,organization,track,role,timepoint,status,month", response.getvalue())
        self.assertEqual(self.exported().get().object_id, "csv:timepoints")
        refused = self.export(dataset=TIMEPOINTS, format="redcap_dictionary")
        self.assertContains(refused, "REDCap files describe one questionnaire", status_code=400)
        self.assertEqual(self.exported().count(), 1)

    def test_bad_input_says_what_was_wrong_and_exports_nothing(self):
        self.login(self.eve)
        self.confirm()
        response = self.export(format="xlsx")
        self.assertContains(response, "Select a valid choice", status_code=400)
        self.assertFalse(self.exported().exists())

    def test_an_evaluator_of_another_organization_gets_404_for_its_instrument(self):
        self.login(self.valley_eve)
        self.confirm()
        self.assertEqual(self.export().status_code, 404)
        self.assertFalse(self.exported().exists())

    def test_everyone_else_gets_403_even_after_confirming(self):
        for name in NOT_EVALUATORS:
            with self.subTest(name):
                self.login(getattr(self, name))
                self.confirm()
                self.assertEqual(self.client.get(EXPORTS).status_code, 403)
                self.assertEqual(self.export().status_code, 403)
        self.assertFalse(self.exported().exists())
        self.client.logout()
        self.assertRedirects(self.client.get(EXPORTS), f"{reverse('accounts:login')}?next={EXPORTS}")

    def test_the_page_takes_a_fixed_number_of_queries(self):
        self.login(self.eve)
        self.confirm()
        self.client.get(EXPORTS)
        # 6, and 2 for the k-anonymity plan's summary (deidentify.py): the timepoints and the responses.
        with self.assertNumQueries(8):
            self.client.get(EXPORTS)
        for n in range(20):
            person = make_participant(self.other_team_case, label=f"Person {n}")
            self.respond(person, {"feel": "1"}, {"wellbeing": 1})
        with self.assertNumQueries(8):
            self.assertEqual(self.client.get(EXPORTS).status_code, 200)

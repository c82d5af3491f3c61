"""The REDCap-compatible API: tokens, what a token reaches, REDCap's answers and errors (issue 24).

The oracle for every answer is the web export of the same data (the REDCap dictionary and records files an
evaluator downloads from the export page) and REDCap's documented API shapes, not the API's own code.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import time

from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from circlekeeper.accounts.audit import Action
from circlekeeper.accounts.models import Membership, Role
from circlekeeper.accounts.reauth import REAUTHENTICATED_AT_KEY
from circlekeeper.api import services
from circlekeeper.api.models import ApiToken
from circlekeeper.evaluation.tests.test_exports_fixtures import MARKERS, PlantedData
from circlekeeper.testing import audit_log

API = reverse("api:redcap")
TOKENS = reverse("api:tokens")
EXPORTS = reverse("evaluation:exports")


def read_csv(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))


@override_settings(CIRCLEKEEPER_API_PLAIN_HTTP=False)
class ApiTestCase(PlantedData):
    def setUp(self):
        super().setUp()
        self.token, self.raw = services.create_token(self.eve, organization=self.harbor, name="Laptop token")

    def call(self, content, fmt="json", token=None, **params):
        data = {"token": self.raw if token is None else token, "content": content, "format": fmt, **params}
        return self.client.post(API, data, secure=True)

    def confirm(self):
        session = self.client.session
        session[REAUTHENTICATED_AT_KEY] = time.time()
        session.save()

    def web_export(self, format):
        """The file the export page gives the same evaluator (the oracle)."""
        self.login(self.eve)
        self.confirm()
        answer = self.client.post(EXPORTS, {"dataset": "planted", "format": format, "language": "en"})
        self.assertEqual(answer.status_code, 200)
        self.client.logout()
        return answer.content


class MetadataAndRecordsTests(ApiTestCase):
    def test_metadata_is_the_export_pages_dictionary(self):
        dictionary = read_csv(self.web_export("redcap_dictionary"))
        metadata = self.call("metadata").json()
        self.assertEqual(
            [row["field_name"] for row in metadata], [r["Variable / Field Name"] for r in dictionary]
        )
        for row, exported in zip(metadata, dictionary, strict=True):
            self.assertEqual(row["field_type"], exported["Field Type"])
            self.assertEqual(row["field_label"], exported["Field Label"])
            self.assertEqual(
                row["select_choices_or_calculations"], exported["Choices, Calculations, OR Slider Labels"]
            )
            self.assertEqual(row["form_name"], "planted")
        self.assertEqual(metadata[0]["field_name"], "record_id")

    def test_records_are_the_export_pages_records_with_redcap_event_names(self):
        exported = read_csv(self.web_export("redcap_records"))
        records = self.call("record", type="flat").json()
        for row in exported:
            row["redcap_event_name"] = row["redcap_event_name"] or "no_timepoint_arm_1"
        key = lambda row: (row["record_id"], row["redcap_event_name"])  # noqa: E731
        # The same rows, with the same codes, checkbox columns and blanks (as strings), in REDCap's record order.
        self.assertEqual(sorted(records, key=key), sorted(exported, key=key))
        self.assertEqual([row["record_id"] for row in records], sorted(row["record_id"] for row in records))

    def test_at_the_default_k_the_api_leaves_out_whom_the_export_leaves_out(self):
        with self.settings(CIRCLEKEEPER_DEIDENTIFICATION_K=5):
            exported = read_csv(self.web_export("redcap_records"))
            records = self.call("record").json()
        self.assertEqual(len(records), len(exported))  # the planted people are too few: both leave them out
        self.assertEqual(records, [])

    def test_csv_records_match_json_records(self):
        as_json = self.call("record", type="flat").json()
        as_csv = read_csv(self.call("record", "csv", type="flat").content)
        self.assertEqual(as_csv, as_json)

    def test_filters_by_fields_events_and_records(self):
        records = self.call("record").json()
        someone = records[0]["record_id"]
        chosen = self.call("record", **{"fields[0]": "feel", "records[0]": someone}).json()
        self.assertEqual(
            [set(row) for row in chosen], [{"record_id", "redcap_event_name", "feel"}] * len(chosen)
        )
        self.assertEqual({row["record_id"] for row in chosen}, {someone})
        t0 = self.call("record", **{"events[0]": "t0_arm_1"}).json()
        self.assertEqual({row["redcap_event_name"] for row in t0}, {"t0_arm_1"})
        self.assertLess(len(t0), len(records))
        checkbox = self.call("record", fields="supports").json()
        self.assertIn("supports___friends", checkbox[0])

    def test_labels_instead_of_codes(self):
        raw = {
            row["record_id"]: row
            for row in self.call("record").json()
            if row["redcap_event_name"] == "t0_arm_1"
        }
        labelled = self.call("record", rawOrLabel="label").json()
        row = next(r for r in labelled if r["redcap_event_name"] == "t0_arm_1")
        self.assertEqual(raw[row["record_id"]]["feel"], "2")
        self.assertEqual(row["feel"], "Somewhat")
        self.assertEqual(row["supports___friends"], "Checked")
        self.assertEqual(row["supports___family"], "Unchecked")
        with_labels = self.call("record", rawOrLabel="label", exportCheckboxLabel="true").json()
        row = next(r for r in with_labels if r["redcap_event_name"] == "t0_arm_1")
        self.assertEqual((row["supports___friends"], row["supports___family"]), ("Friends", ""))

    def test_project_events_arms_mapping_instruments_and_field_names(self):
        project = self.call("project").json()
        self.assertEqual(project["is_longitudinal"], 1)
        self.assertEqual(self.call("instrument").json()[0]["instrument_name"], "planted")
        events = [e["unique_event_name"] for e in self.call("event").json()]
        self.assertIn("t0_arm_1", events)
        self.assertEqual(self.call("arm").json(), [{"arm_num": 1, "name": "Arm 1"}])
        mapping = self.call("formEventMapping").json()
        self.assertIn({"arm_num": 1, "unique_event_name": "t0_arm_1", "form": "planted"}, mapping)
        names = self.call("exportFieldNames").json()
        self.assertIn(
            {
                "original_field_name": "supports",
                "choice_value": "friends",
                "export_field_name": "supports___friends",
            },
            names,
        )
        version = self.call("version", fmt="")
        self.assertEqual(version.content, b"14.0.0")

    def test_nothing_identifying_reaches_any_answer(self):
        contents = [
            "project",
            "metadata",
            "instrument",
            "event",
            "arm",
            "formEventMapping",
            "exportFieldNames",
        ]
        answers = [self.call(content, fmt).content for content in contents for fmt in ("json", "csv")]
        answers += [
            self.call("record", fmt, rawOrLabel=how).content
            for fmt in ("json", "csv")
            for how in ("raw", "label")
        ]
        for content in answers:
            for marker in (*MARKERS, str(self.survivor.uid), str(self.harm.uid), self.case.reference):
                self.assertNotIn(marker.encode("utf-8"), content, marker)
        self.assertNotIn(
            b"full_name", b"".join(answers)
        )  # the identifying item is not exported, as on the page

    def test_another_organizations_data_never_appears(self):
        valley_code = str(self.valley_survivor.uid)
        records = self.call("record").content
        self.assertNotIn(valley_code.encode(), records)
        self.assertEqual(len(self.call("record").json()), len(read_csv(self.web_export("redcap_records"))))


class RefusalTests(ApiTestCase):
    def assert_refused(self, answer, status, words):
        self.assertEqual(answer.status_code, status)
        self.assertIn(words, answer.json()["error"])

    def test_wrong_expired_and_revoked_tokens_get_redcaps_error(self):
        self.assert_refused(self.call("metadata", token="0" * 32), 403, "permissions")
        self.assert_refused(self.call("metadata", token=""), 401, "No API token")
        ApiToken.objects.filter(pk=self.token.pk).update(
            expires_at=timezone.now() - datetime.timedelta(seconds=1)
        )
        self.assert_refused(self.call("metadata"), 403, "permissions")
        ApiToken.objects.filter(pk=self.token.pk).update(
            expires_at=timezone.now() + datetime.timedelta(days=1)
        )
        self.assertEqual(self.call("metadata").status_code, 200)
        services.revoke(self.token)
        self.assert_refused(self.call("metadata"), 403, "permissions")

    def test_a_token_ends_with_its_owners_evaluator_role(self):
        Membership.objects.filter(user=self.eve, role=Role.EVALUATOR).update(is_active=False)
        self.assert_refused(self.call("record"), 403, "no longer an evaluator")

    def test_every_write_and_unknown_content_is_refused_as_read_only(self):
        self.assert_refused(self.call("record", data='[{"record_id": "x"}]'), 403, "read-only")
        self.assert_refused(self.call("record", action="delete", **{"records[0]": "x"}), 403, "read-only")
        self.assert_refused(self.call("user"), 400, "read-only")
        self.assert_refused(self.call("file", action="import"), 403, "read-only")

    def test_errors_follow_the_format_asked_for(self):
        answer = self.call("metadata", fmt="csv", token="0" * 32)
        self.assertTrue(answer.content.startswith(b"ERROR: "))
        answer = self.call("metadata", fmt="xml", token="0" * 32)
        self.assertIn(b"<error>", answer.content)

    def test_unknown_filters_are_named(self):
        self.assert_refused(self.call("record", **{"fields[0]": "nope"}), 400, '"fields" are not valid: nope')
        self.assert_refused(self.call("record", **{"events[0]": "t9_arm_1"}), 400, "t9_arm_1")

    @override_settings(CIRCLEKEEPER_API_PLAIN_HTTP=False)
    def test_plain_http_is_refused_outside_demo_mode(self):
        answer = self.client.post(API, {"token": self.raw, "content": "metadata", "format": "json"})
        self.assert_refused(answer, 403, "HTTPS")

    @override_settings(CIRCLEKEEPER_API_CALLS_PER_MINUTE=3)
    def test_calls_are_throttled_per_token(self):
        for _ in range(3):
            self.assertEqual(self.call("arm").status_code, 200)
        self.assert_refused(self.call("arm"), 429, "at most 3 a minute")
        ApiToken.objects.filter(pk=self.token.pk).update(
            window_started_at=timezone.now() - datetime.timedelta(minutes=1, seconds=1)
        )
        self.assertEqual(self.call("arm").status_code, 200)

    def test_every_call_is_audited_with_token_and_content_never_data(self):
        self.call("record")
        self.call("metadata", token="0" * 32)
        ok, refused = audit_log().filter(action=Action.API_CALL).order_by("sequence")
        self.assertEqual(
            (ok.actor_id, ok.object_id, ok.outcome, ok.organization_id),
            (self.eve.pk, f"{self.token.pk}:record", "ok", self.harbor.pk),
        )
        self.assertEqual(
            (refused.actor_id, refused.object_id, refused.outcome), (None, "-:metadata", "refused")
        )
        self.assertEqual(ApiToken.objects.get(pk=self.token.pk).last_used_at is not None, True)


class TokenPageTests(ApiTestCase):
    def test_the_account_page_links_to_the_tokens_for_those_who_hold_them(self):
        account = reverse("accounts:account")
        self.login(self.eve)
        self.assertContains(self.client.get(account), TOKENS)
        self.login(self.alice)
        self.assertNotContains(self.client.get(account), TOKENS)

    def test_only_evaluators_reach_the_page(self):
        for user in (self.alice, self.ada, self.sam, self.pat, self.charlie):
            self.login(user)
            self.assertEqual(self.client.get(TOKENS).status_code, 403, user)
        self.client.logout()
        self.assertEqual(self.client.get(TOKENS).status_code, 302)
        self.login(self.eve)
        self.assertContains(self.client.get(TOKENS), "Laptop token")

    def test_making_a_token_asks_who_you_are_shows_it_once_and_stores_only_its_digest(self):
        self.login(self.eve)
        answer = self.client.post(
            TOKENS, {"scope": f"organization:{self.harbor.pk}", "name": "R on my laptop", "days": 30}
        )
        self.assertEqual(answer.status_code, 302)
        self.assertIn(reverse("accounts:reauthenticate"), answer["Location"])
        self.assertFalse(ApiToken.objects.filter(name="R on my laptop").exists())
        self.confirm()
        answer = self.client.post(
            TOKENS, {"scope": f"organization:{self.harbor.pk}", "name": "R on my laptop", "days": 30}
        )
        token = ApiToken.objects.get(name="R on my laptop")
        raw = answer.context["created"]
        self.assertEqual(len(raw), 32)
        self.assertContains(answer, raw)
        self.assertNotIn(raw, json.dumps(list(ApiToken.objects.values_list("digest", "hint", "name"))))
        self.assertEqual(token.digest, services.digest(raw))
        self.assertAlmostEqual((token.expires_at - timezone.now()).total_seconds(), 30 * 86400, delta=60)
        self.assertNotContains(self.client.get(TOKENS), raw)  # shown once
        self.assertTrue(audit_log().filter(action=Action.API_TOKEN_CREATE, object_id=str(token.pk)).exists())

    def test_a_bad_lifetime_is_refused_with_a_reason(self):
        self.login(self.eve)
        self.confirm()
        answer = self.client.post(
            TOKENS, {"scope": f"organization:{self.harbor.pk}", "name": "x", "days": 999}
        )
        self.assertEqual(answer.status_code, 400)
        self.assertContains(answer, "less than or equal to 365", status_code=400)
        self.assertEqual(ApiToken.objects.filter(name="x").count(), 0)

    def test_revoking_ends_the_token_and_only_the_owner_can(self):
        self.login(self.eve)
        self.assertEqual(self.client.post(reverse("api:revoke", args=[self.token.pk])).status_code, 302)
        self.assertEqual(self.call("arm").status_code, 403)
        self.assertTrue(audit_log().filter(action=Action.API_TOKEN_REVOKE).exists())

    def test_another_person_cannot_revoke_or_see_a_token(self):
        from circlekeeper.testing import make_user

        colleague = make_user("eva@harbor.example", organization=self.harbor, roles=(Role.EVALUATOR,))
        self.login(colleague)
        self.assertNotContains(self.client.get(TOKENS), "Laptop token")
        self.assertEqual(self.client.post(reverse("api:revoke", args=[self.token.pk])).status_code, 404)
        self.assertEqual(self.call("arm").status_code, 200)

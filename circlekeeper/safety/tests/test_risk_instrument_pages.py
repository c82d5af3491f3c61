"""Program admins map their organization's own instrument (e.g. a validated one they are licensed for) to our
risk levels: every level of its band must be mapped. From then on a response to it is a safety check with the
mapped level, and a mapped "high" opens a hold, as the built-in check does."""

import datetime
from typing import Any

import time_machine
from django.urls import reverse

from circlekeeper.cases.models import Participant, ParticipantRole
from circlekeeper.instruments.models import InstrumentVersion, Response, Source
from circlekeeper.instruments.services import save_version
from circlekeeper.safety.models import CheckKind, RiskInstrument, SafetyCheck, SafetyHold
from circlekeeper.safety.tests.checks import builtin_version
from circlekeeper.testing import PersonaTestCase, audit_log, make_participant

NOW = datetime.datetime(2026, 5, 4, 10, 0, tzinfo=datetime.UTC)
YES_NO = [
    {"code": "1", "score": 1, "label": {"en": "Yes"}},
    {"code": "0", "score": 0, "label": {"en": "No"}},
]


def own_definition(code: str = "harbor_danger") -> dict[str, Any]:
    """An organization's own instrument whose band "danger" has levels "l1" < "l2" < "l3"."""
    return {
        "code": code,
        "title": {"en": "Harbor danger assessment"},
        "languages": ["en"],
        "default_language": "en",
        "choice_lists": {"yes_no": YES_NO},
        "sections": [
            {
                "code": "main",
                "title": {"en": "Main"},
                "items": [
                    {
                        "code": "a",
                        "type": "single_choice",
                        "choice_list": "yes_no",
                        "required": True,
                        "label": {"en": "First sign?"},
                    },
                    {
                        "code": "b",
                        "type": "single_choice",
                        "choice_list": "yes_no",
                        "required": True,
                        "label": {"en": "Second sign?"},
                    },
                ],
            }
        ],
        "scoring": {
            "scores": [{"code": "total", "method": "sum", "items": ["a", "b"]}],
            "bands": [
                {
                    "code": "danger",
                    "label": {"en": "Danger level"},
                    "levels": [
                        {"code": "l1", "label": {"en": "Level one"}},
                        {"code": "l2", "label": {"en": "Level two"}},
                        {"code": "l3", "label": {"en": "Level three"}},
                    ],
                    "default": "l1",
                    "score": "total",
                    "thresholds": [{"min": 1, "level": "l2"}, {"min": 2, "level": "l3"}],
                }
            ],
        },
    }


@time_machine.travel(NOW, tick=False)
class RiskInstrumentPageTests(PersonaTestCase):
    own: InstrumentVersion
    survivor: Participant

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        builtin_version("safety_check")
        cls.own, _created = save_version(definition=own_definition(), source=Source.MANUAL, owner=cls.harbor)
        cls.survivor = make_participant(cls.case, role=ParticipantRole.SURVIVOR, label="Survivor A")

    url = staticmethod(lambda: reverse("safety:risk_instruments"))

    @property
    def band(self) -> str:
        return f"{self.own.instrument_id}:danger"

    def map_it(self, **levels: str):
        data = {"step": "map", "band": self.band, "kind": "full", **levels}
        return self.client.post(self.url(), data)

    def test_the_page_lists_the_built_in_instruments_and_offers_the_organizations_own(self):
        self.login(self.pat)
        page = self.client.get(self.url())
        self.assertContains(page, "Safety check")
        self.assertContains(page, "None mapped")
        self.assertContains(page, "Harbor danger assessment (v1) — Danger level")

    def test_choosing_a_band_asks_for_each_of_its_levels(self):
        self.login(self.pat)
        page = self.client.post(self.url(), {"step": "choose", "band": self.band, "kind": "full"})
        self.assertContains(page, "Step 2 of 2")
        for label in ("Level one", "Level two", "Level three"):
            self.assertContains(page, f"“{label}” (code")
        self.assertFalse(RiskInstrument.objects.exists())

    def test_a_level_left_unmapped_is_refused(self):
        self.login(self.pat)
        page = self.map_it(level_0="low", level_1="elevated")
        self.assertContains(page, "every level of the band must be mapped", status_code=400)
        self.assertFalse(RiskInstrument.objects.exists())

    def test_a_band_that_does_not_exist_is_refused(self):
        self.login(self.pat)
        page = self.client.post(
            self.url(),
            {"step": "map", "band": f"{self.own.instrument_id}:nope", "kind": "full", "level_0": "low"},
        )
        self.assertContains(page, "That band does not exist", status_code=400)
        self.assertFalse(RiskInstrument.objects.exists())

    def test_another_organizations_instrument_cannot_be_mapped(self):
        valleys, _created = save_version(
            definition=own_definition("valley_danger"), source=Source.MANUAL, owner=self.valley
        )
        self.login(self.pat)
        page = self.client.post(
            self.url(),
            {
                "step": "map",
                "band": f"{valleys.instrument_id}:danger",
                "kind": "full",
                "level_0": "low",
                "level_1": "low",
                "level_2": "high",
            },
        )
        self.assertContains(page, "That band does not exist", status_code=400)
        self.assertFalse(RiskInstrument.objects.exists())

    def test_mapping_every_level_saves_the_mapping_and_audits_it(self):
        self.login(self.pat)
        answer = self.map_it(level_0="low", level_1="elevated", level_2="high")
        self.assertRedirects(answer, self.url(), fetch_redirect_response=False)
        mapping = RiskInstrument.objects.get()
        self.assertEqual(
            (
                mapping.organization,
                mapping.instrument_id,
                mapping.kind,
                mapping.band,
                mapping.level_map,
                mapping.created_by,
            ),
            (
                self.harbor,
                self.own.instrument_id,
                CheckKind.FULL,
                "danger",
                {"l1": "low", "l2": "elevated", "l3": "high"},
                self.pat,
            ),
        )
        self.assertTrue(audit_log().filter(action="safety.instrument", object_id=str(mapping.pk)).exists())
        page = self.client.get(self.url())
        self.assertContains(page, "Harbor danger assessment")
        self.assertContains(page, "<li><code>l3</code> → High</li>", html=True)

    def test_an_instrument_already_mapped_is_not_mapped_twice(self):
        self.login(self.pat)
        self.map_it(level_0="low", level_1="elevated", level_2="high")
        page = self.map_it(level_0="low", level_1="low", level_2="low")
        self.assertContains(page, "already gives risk levels", status_code=400)
        self.assertEqual(RiskInstrument.objects.get().level_map["l3"], "high")

    def test_removing_a_mapping(self):
        self.login(self.pat)
        self.map_it(level_0="low", level_1="elevated", level_2="high")
        mapping = RiskInstrument.objects.get()
        delete = reverse("safety:risk_instrument_delete", args=[mapping.pk])
        self.assertEqual(self.client.get(delete).status_code, 405)
        self.assertRedirects(self.client.post(delete), self.url(), fetch_redirect_response=False)
        self.assertFalse(RiskInstrument.objects.exists())
        self.assertEqual(audit_log().filter(action="safety.instrument", object_id=str(mapping.pk)).count(), 2)

    def test_only_program_admins_see_or_change_the_mappings(self):
        self.login(self.pat)
        self.map_it(level_0="low", level_1="elevated", level_2="high")
        delete = reverse("safety:risk_instrument_delete", args=[RiskInstrument.objects.get().pk])
        for person in (self.alice, self.ada, self.sam, self.eve, self.charlie):
            self.login(person)
            self.assertEqual(self.client.get(self.url()).status_code, 403, person)
            self.assertEqual(
                self.map_it(level_0="low", level_1="low", level_2="low").status_code, 403, person
            )
            self.assertEqual(self.client.post(delete).status_code, 403, person)
        self.assertTrue(RiskInstrument.objects.exists())

    def test_another_organizations_admin_gets_404_for_the_mapping(self):
        self.login(self.pat)
        self.map_it(level_0="low", level_1="elevated", level_2="high")
        from circlekeeper.accounts.models import Role
        from circlekeeper.testing import make_user

        valley_admin = make_user(organization=self.valley, roles=(Role.PROGRAM_ADMIN,))
        self.login(valley_admin)
        delete = reverse("safety:risk_instrument_delete", args=[RiskInstrument.objects.get().pk])
        self.assertEqual(self.client.post(delete).status_code, 404)
        self.assertNotContains(self.client.get(self.url()), "Harbor danger assessment")
        self.assertTrue(RiskInstrument.objects.exists())

    def answer_own_instrument(self, a: str, b: str) -> Response:
        """The advocate chooses the organization's instrument on the safety page and answers it."""
        self.login(self.ada)
        page = self.client.get(reverse("safety:case", args=[self.case.pk]))
        self.assertContains(
            page, f'<option value="{self.own.pk}">Harbor danger assessment v1</option>', html=True
        )
        started = self.client.post(
            reverse("safety:check_start", args=[self.case.pk, self.survivor.pk]),
            {"kind": "full", "version": self.own.pk},
        )
        response = Response.objects.get(version=self.own, participant=self.survivor, status="in_progress")
        self.assertRedirects(
            started,
            reverse("instruments:response_answer", args=[self.case.pk, response.pk]),
            fetch_redirect_response=False,
        )
        answer = reverse("instruments:response_answer", args=[self.case.pk, response.pk])
        self.client.post(answer, {"section": "0", "_shown": ["a", "b"], "q-a": a, "q-b": b})
        self.client.post(reverse("instruments:response_review", args=[self.case.pk, response.pk]))
        response.refresh_from_db()
        self.assertEqual(response.status, "submitted")
        return response

    def test_a_response_to_the_mapped_instrument_is_a_safety_check_with_the_mapped_level(self):
        self.login(self.pat)
        self.map_it(level_0="low", level_1="elevated", level_2="high")
        response = self.answer_own_instrument("1", "0")
        check = SafetyCheck.objects.get(response=response)
        self.assertEqual((check.kind, check.level), (CheckKind.FULL, "elevated"))
        self.case.refresh_from_db()
        self.assertEqual((self.case.risk_level, self.case.on_hold), ("elevated", False))

    def test_a_mapped_high_opens_a_hold(self):
        self.login(self.pat)
        self.map_it(level_0="low", level_1="elevated", level_2="high")
        response = self.answer_own_instrument("1", "1")
        check = SafetyCheck.objects.get(response=response)
        self.assertEqual(check.level, "high")
        hold = SafetyHold.objects.get(case=self.case)
        self.assertEqual(hold.opening_check, check)
        self.case.refresh_from_db()
        self.assertTrue(self.case.on_hold)

    def test_an_unmapped_instrument_records_no_check(self):
        self.login(self.ada)
        self.assertNotContains(
            self.client.get(reverse("safety:case", args=[self.case.pk])), "Harbor danger assessment"
        )
        self.client.post(
            reverse("instruments:response_start", args=[self.case.pk, self.survivor.pk]),
            {"version": self.own.pk, "purpose": "T1"},
        )
        response = Response.objects.get()
        self.client.post(
            reverse("instruments:response_answer", args=[self.case.pk, response.pk]),
            {"section": "0", "_shown": ["a", "b"], "q-a": "1", "q-b": "1"},
        )
        self.client.post(reverse("instruments:response_review", args=[self.case.pk, response.pk]))
        self.assertFalse(SafetyCheck.objects.exists())

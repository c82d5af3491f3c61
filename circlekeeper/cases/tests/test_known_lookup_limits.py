"""SECURITY.md 15b: "is this person already known?" is for the roles that do intake only (keeper, safety advocate,
supervisor), audited with the kinds of identifier asked about (never the values), throttled per person, and the
answer about other teams' cases stays a count."""

from __future__ import annotations

from django.test import override_settings
from django.urls import reverse

from circlekeeper.cases import participants as services
from circlekeeper.community.tests.test_facilitators_factory import make_facilitator_account
from circlekeeper.lib.keys import clear_key_cache
from circlekeeper.testing import PersonaTestCase, audit_log, make_participant

KNOWN = reverse("cases:known")
PHONE = "+1 555 0142 917"


class KnownLookupLimitTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        participant = make_participant(cls.other_team_case)
        services.update_details(
            participant=participant, version=participant.details_version, by=cls.bob, phone=PHONE
        )

    @classmethod
    def tearDownClass(cls):
        # Keys cached by this class's last test belong to rows rolled back now; the next class's test data
        # (made before any test's fixture clears the cache) must not be indexed under them.
        clear_key_cache(everything=True)
        super().tearDownClass()

    def lookup(self, **data):
        return self.client.post(KNOWN, {"name": "", "date_of_birth": "", "phone": "", "email": "", **data})

    def test_a_community_facilitators_account_and_an_evaluator_are_refused(self):
        facilitator = make_facilitator_account(self.harbor, self.pat, "rosa@harbor.example").user
        assert facilitator is not None
        for person in (facilitator, self.eve, self.pat, self.nora):
            self.login(person)
            self.assertEqual(self.lookup(phone=PHONE).status_code, 403, person)
            self.assertEqual(self.client.get(KNOWN).status_code, 403, person)

    def test_the_intake_roles_may_ask_and_other_teams_matches_stay_a_count(self):
        for person in (self.alice, self.ada, self.sam):
            self.login(person)
            response = self.lookup(phone=PHONE)
            self.assertContains(response, "1 match on a case you are not on")
            self.assertNotContains(response, "HAR-2026-0002")

    def test_each_lookup_is_audited_with_the_kinds_never_the_values(self):
        self.login(self.alice)
        self.lookup(phone=PHONE, name="Maria Example")
        event = audit_log().get(action="participant.lookup")
        self.assertEqual(
            (event.actor_id, event.object_type, event.object_id), (self.alice.pk, "lookup", "name,phone")
        )
        values = " ".join(str(v) for v in audit_log().values_list("object_id", "path", "user_agent"))
        self.assertNotIn("0142", values)
        self.assertNotIn("Maria", values)

    @override_settings(KNOWN_LOOKUPS_PER_HOUR=3)
    def test_lookups_are_throttled_per_person(self):
        self.login(self.alice)
        for _ in range(3):
            self.assertEqual(self.lookup(phone=PHONE).status_code, 200)
        refused = self.lookup(phone=PHONE)
        self.assertEqual(refused.status_code, 429)
        self.assertNotContains(refused, "case you are not on", status_code=429)
        self.login(self.ada)  # another person has their own allowance
        self.assertEqual(self.lookup(phone=PHONE).status_code, 200)

    def test_the_default_allowance_is_twenty_an_hour(self):
        self.login(self.alice)
        for _ in range(20):
            self.assertEqual(self.lookup(email="x@example.org").status_code, 200)
        self.assertEqual(self.lookup(email="x@example.org").status_code, 429)

"""Every safety page × every persona: the case team gets the page (or is sent on), another team or organization
and staff without a case role get 404, anonymous visitors are sent to sign in, and POST-only addresses refuse
GET. The two team-level exceptions (lifting a hold, acknowledging an alert) have their own page tests."""

import datetime

import time_machine
from django.urls import reverse

from circlekeeper.cases.models import Case, Participant, ParticipantRole
from circlekeeper.safety import services
from circlekeeper.safety.models import SafetyHold
from circlekeeper.safety.tests.checks import builtin_version
from circlekeeper.testing import PersonaTestCase, make_participant

NOW = datetime.datetime(2026, 5, 4, 10, 0, tzinfo=datetime.UTC)


@time_machine.travel(NOW, tick=False)
class SafetyAccessTests(PersonaTestCase):
    # own / other / other_org: the case, its survivor and its open hold.
    on_case: dict[str, tuple[Case, Participant, SafetyHold]]

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        builtin_version()
        cls.on_case = {}
        for name, case in (("own", cls.case), ("other", cls.other_team_case), ("other_org", cls.valley_case)):
            survivor = make_participant(case, role=ParticipantRole.SURVIVOR, label="Survivor A")
            services.save_plan(survivor=survivor, revision=0, by=cls.alice, signals="porch light")
            hold = services.report_new_violence(case=case, by=cls.alice, details="x")
            cls.on_case[name] = (case, survivor, hold)

    def urls(self, name: str) -> dict[str, tuple[str, str, dict]]:
        """url name -> (path, method, data) for the objects of one case."""
        case, survivor, hold = self.on_case[name]
        plan = [case.pk, survivor.pk]
        return {
            "safety:case": (reverse("safety:case", args=[case.pk]), "get", {}),
            "safety:report_violence": (reverse("safety:report_violence", args=[case.pk]), "get", {}),
            "safety:check_start": (reverse("safety:check_start", args=plan), "post", {"kind": "full"}),
            "safety:plan": (reverse("safety:plan", args=plan), "get", {}),
            "safety:plan_edit": (reverse("safety:plan_edit", args=plan), "get", {}),
            "safety:plan_review": (reverse("safety:plan_review", args=plan), "post", {"revision": "1"}),
            "safety:plan_history": (reverse("safety:plan_history", args=plan), "get", {}),
            "safety:plan_revision": (reverse("safety:plan_revision", args=[*plan, 1]), "get", {}),
            "safety:plan_print": (reverse("safety:plan_print", args=plan), "get", {}),
        }

    def request(self, path: str, method: str, data: dict):
        return self.client.post(path, data) if method == "post" else self.client.get(path)

    def test_the_team_gets_every_page_of_its_case(self):
        for person in (self.alice, self.ada, self.sam):
            self.login(person)
            for name, (path, method, data) in self.urls("own").items():
                expected = 302 if method == "post" else 200
                self.assertEqual(self.request(path, method, data).status_code, expected, (person, name))

    def test_another_team_another_organization_and_other_roles_get_404(self):
        for person in (self.bob, self.charlie, self.pat, self.eve):
            self.login(person)
            for name, (path, method, data) in self.urls("own").items():
                self.assertEqual(self.request(path, method, data).status_code, 404, (person, name))

    def test_each_team_gets_its_own_case_and_only_that(self):
        for person, own in ((self.bob, "other"), (self.charlie, "other_org")):
            self.login(person)
            for name, (path, method, _data) in self.urls(own).items():
                if method == "get":
                    self.assertEqual(self.client.get(path).status_code, 200, (person, name))
        self.login(self.alice)
        for obj in ("other", "other_org"):
            for name, (path, method, data) in self.urls(obj).items():
                self.assertEqual(self.request(path, method, data).status_code, 404, (obj, name))

    def test_anonymous_visitors_are_sent_to_sign_in(self):
        for name, (path, method, data) in self.urls("own").items():
            answer = self.request(path, method, data)
            self.assertEqual(answer.status_code, 302, name)
            self.assertTrue(answer["Location"].startswith(reverse("accounts:login")), name)

    def test_post_only_addresses_refuse_get(self):
        case, _survivor, hold = self.on_case["own"]
        self.login(self.sam)
        paths = [
            self.urls("own")["safety:check_start"][0],
            self.urls("own")["safety:plan_review"][0],
            reverse("safety:alert_ack", args=[case.pk, hold.alerts.get().pk]),
        ]
        for path in paths:
            self.assertEqual(self.client.get(path).status_code, 405, path)

from __future__ import annotations

from django.urls import reverse

from circlekeeper.cases.models import TeamRole
from circlekeeper.testing import PersonaTestCase, make_case, make_user


class CaseDetailTests(PersonaTestCase):
    def url(self, case=None) -> str:
        return reverse("cases:detail", args=[(case or self.case).pk])

    def test_the_team_sees_the_case_and_its_team(self):
        for person in (self.alice, self.ada, self.sam):
            self.login(person)
            response = self.client.get(self.url())
            self.assertContains(response, "HAR-2026-0001")
            self.assertContains(response, "Safety advocate")

    def test_staff_of_the_same_organization_outside_the_team_get_404(self):
        self.login(self.bob)
        self.assertEqual(self.client.get(self.url()).status_code, 404)

    def test_staff_of_another_organization_get_404(self):
        self.login(self.charlie)
        self.assertEqual(self.client.get(self.url()).status_code, 404)

    def test_evaluators_admins_and_network_admins_get_404(self):
        for person in (self.eve, self.pat, self.nora):
            self.login(person)
            self.assertEqual(self.client.get(self.url()).status_code, 404, person)

    def test_a_team_member_whose_role_was_deactivated_gets_404(self):
        self.alice.memberships.update(is_active=False)
        self.login(self.alice)
        self.assertEqual(self.client.get(self.url()).status_code, 404)

    def test_a_team_member_who_lost_their_case_role_gets_404(self):
        # Still assigned to the team, but now only an evaluator in the organization.
        self.alice.memberships.update(role="evaluator")
        self.login(self.alice)
        self.assertEqual(self.client.get(self.url()).status_code, 404)

    def test_a_missing_case_is_404_in_the_page_shell(self):
        self.login(self.alice)
        response = self.client.get(reverse("cases:detail", args=[999999]))
        self.assertContains(response, "Page not found", status_code=404)
        self.assertContains(response, 'href="#main"', status_code=404)

    def test_anonymous_visitors_are_sent_to_sign_in(self):
        response = self.client.get(self.url())
        self.assertRedirects(response, f"{reverse('accounts:login')}?next={self.url()}")

    def test_query_count_does_not_grow_with_the_team(self):
        self.login(self.alice)
        self.client.get(self.url())
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as small:
            self.client.get(self.url())
        for n in range(20):
            extra = make_user(organization=self.harbor, roles=("keeper",))
            self.case.assignments.create(organization=self.harbor, user=extra, role=TeamRole.KEEPER)
        with CaptureQueriesContext(connection) as large:
            self.assertEqual(self.client.get(self.url()).status_code, 200)
        self.assertEqual(len(small), len(large))
        # 11 to show the case, 3 to append the audit event of reading it (lock the head, insert, move the head).
        self.assertLessEqual(len(large), 14)

    def test_the_other_case_of_the_same_organization_is_visible_to_its_own_team(self):
        self.login(self.bob)
        self.assertContains(self.client.get(self.url(self.other_team_case)), "HAR-2026-0002")
        self.assertEqual(self.client.get(self.url(make_case(self.harbor))).status_code, 404)

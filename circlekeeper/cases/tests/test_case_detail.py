from __future__ import annotations

import datetime

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

    def test_query_count_does_not_grow_with_team_notes_participants_releases_or_history(self):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from circlekeeper.cases.disclosure import add_participant, record_release
        from circlekeeper.cases.models import EventKind, record_event
        from circlekeeper.cases.participants import record_consent
        from circlekeeper.cases.services import add_case_note

        def grow(start: int, stop: int) -> None:
            for i in range(start, stop):
                extra = make_user(organization=self.harbor, roles=("keeper",))
                self.case.assignments.create(organization=self.harbor, user=extra, role=TeamRole.KEEPER)
                add_case_note(case=self.case, author=self.alice, text=f"note {i}")
                participant = add_participant(case=self.case, role="community_member", label=f"Member {i}")
                record_release(
                    participant=participant,
                    recipient=f"Agency {i}",
                    fields=["name"],
                    purpose="referral",
                    how_given="signed",
                    affirmed_on=datetime.date.today(),
                    expires_on=datetime.date.today() + datetime.timedelta(days=30),
                    by=self.alice,
                )
                record_consent(
                    participant=participant,
                    kind="take_part",
                    how_given="oral",
                    given_on=datetime.date.today(),
                    by=self.alice,
                )
                record_event(
                    self.case, EventKind.CHECK_RECORDED, by=extra, participant=participant.label, level="high"
                )

        self.login(self.alice)
        # The organization's keys are made on first use; running the on-commit hooks lets the request
        # cache them as it would once they are committed in production.
        with self.captureOnCommitCallbacks(execute=True):
            grow(0, 1)
        self.client.get(self.url())
        with CaptureQueriesContext(connection) as small:
            self.client.get(self.url())
        grow(1, 25)
        with CaptureQueriesContext(connection) as large:
            response = self.client.get(self.url())
        self.assertContains(response, "Agency 24")
        self.assertContains(response, "note 24")
        self.assertContains(response, "Member 24")
        self.assertEqual(len(small), len(large))
        # 18 to show the case (session, person, device, roles, keys, case, team, notes, participants with
        # releases and disclosures, tasks, the last events with who recorded them, savepoints), 3 to append
        # the audit event of reading it.
        self.assertLessEqual(len(large), 21)

    def test_the_other_case_of_the_same_organization_is_visible_to_its_own_team(self):
        self.login(self.bob)
        self.assertContains(self.client.get(self.url(self.other_team_case)), "HAR-2026-0002")
        self.assertEqual(self.client.get(self.url(make_case(self.harbor))).status_code, 404)

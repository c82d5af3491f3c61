"""Recording who knows whom through the pages, and removing a tie: refusals shown on the pods page, nothing
written; a tie removed twice changes nothing the second time."""

from django.urls import reverse

from circlekeeper.lib.audit import Outcome
from circlekeeper.support import services
from circlekeeper.support.models import PodMeasure, PodTie
from circlekeeper.support.tests.helpers import add
from circlekeeper.testing import PersonaTestCase, audit_log


class TiePageTests(PersonaTestCase):
    def setUp(self):
        self.aunt = add(self.case, self.alice, label="Aunt R")
        self.uncle = add(self.case, self.alice, label="Uncle S")
        self.add_url = reverse("support:tie_add", args=[self.case.pk])
        self.pods = reverse("support:pods", args=[self.case.pk])
        self.login(self.alice)

    def test_recording_a_tie_returns_to_the_pods_where_it_is_listed_with_the_new_density(self):
        page = self.client.post(self.add_url, {"a": self.uncle.pk, "b": self.aunt.pk}, follow=True)
        self.assertRedirects(page, self.pods)
        self.assertContains(page, "Recorded: Uncle S and Aunt R know each other.")
        self.assertContains(page, "Remove: Aunt R and Uncle S")
        self.assertContains(page, "100 %")
        tie = PodTie.objects.get()
        self.assertEqual((tie.a, tie.b, tie.added_by), (self.aunt, self.uncle, self.alice))
        self.assertTrue(audit_log().filter(action="pod.edit", object_id=str(self.uncle.pk)).exists())

    def test_a_tie_to_oneself_is_refused_on_the_pods_page(self):
        page = self.client.post(self.add_url, {"a": self.aunt.pk, "b": self.aunt.pk})
        self.assertContains(page, "Choose two different people.", status_code=400)
        self.assertContains(page, "Support networks for case", status_code=400)
        self.assertFalse(PodTie.objects.exists())
        self.assertTrue(audit_log().filter(action="pod.edit", outcome=Outcome.REFUSED).exists())

    def test_a_member_of_another_case_cannot_be_tied(self):
        elsewhere = add(self.other_team_case, self.bob, label="Elsewhere")
        page = self.client.post(self.add_url, {"a": self.aunt.pk, "b": elsewhere.pk})
        self.assertContains(page, "Select a valid choice", status_code=400)
        self.assertFalse(PodTie.objects.exists())

    def test_adding_a_tie_only_answers_a_post(self):
        self.assertEqual(self.client.get(self.add_url).status_code, 405)

    def test_removing_a_tie_stamps_it_and_a_second_removal_changes_nothing(self):
        tie = services.add_tie(case=self.case, a=self.aunt, b=self.uncle, by=self.alice)
        url = reverse("support:tie_remove", args=[self.case.pk, tie.pk])
        rows = PodMeasure.objects.count()
        page = self.client.post(url, follow=True)
        self.assertContains(page, "The tie is removed.")
        self.assertContains(page, "No ties recorded yet.")
        tie.refresh_from_db()
        self.assertEqual(tie.removed_by, self.alice)
        self.assertEqual(PodMeasure.objects.count(), rows + 1)
        page = self.client.post(url, follow=True)
        self.assertContains(page, "already removed: nothing changed")
        self.assertEqual(PodMeasure.objects.count(), rows + 1)
        self.assertEqual(self.client.get(url).status_code, 405)

    def test_a_tie_of_another_case_is_not_found_through_this_case(self):
        a = add(self.other_team_case, self.bob, label="A")
        b = add(self.other_team_case, self.bob, label="B")
        tie = services.add_tie(case=self.other_team_case, a=a, b=b, by=self.bob)
        page = self.client.post(reverse("support:tie_remove", args=[self.case.pk, tie.pk]))
        self.assertEqual(page.status_code, 404)
        tie.refresh_from_db()
        self.assertIsNone(tie.removed_at)

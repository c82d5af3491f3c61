"""The supervisor's approval of a joint dialogue: only a supervisor on the team (others on the team: 403 with a
clear page; off the team: 404), only once every other condition holds, and a refusal lists what is missing."""

from django.urls import reverse

from circlekeeper.lib.audit import Outcome
from circlekeeper.protocol.models import Approval
from circlekeeper.protocol.tests.walk import Walk
from circlekeeper.testing import PersonaTestCase, audit_log


class ApprovePageTests(PersonaTestCase):
    def setUp(self):
        self.walk = Walk(self.case, self.alice, self.sam)
        self.url = reverse("protocol:approve", args=[self.case.pk])

    def test_a_keeper_or_an_advocate_on_the_team_is_told_only_a_supervisor_approves(self):
        self.walk.to_dialogue()
        for person in (self.alice, self.ada):
            self.login(person)
            page = self.client.get(self.url)
            self.assertContains(page, "Only a supervisor approves a joint dialogue", status_code=403)
            page = self.client.post(self.url)
            self.assertContains(page, "Nothing was changed.", status_code=403)
        self.assertFalse(Approval.objects.exists())
        refused = audit_log().filter(action="protocol.approve", outcome=Outcome.REFUSED)
        self.assertEqual(refused.count(), 2)

    def test_anyone_off_the_team_gets_404(self):
        self.walk.to_dialogue()
        for person in (self.bob, self.charlie, self.pat, self.eve):
            self.login(person)
            self.assertEqual(self.client.get(self.url).status_code, 404)
            self.assertEqual(self.client.post(self.url).status_code, 404)
        self.assertFalse(Approval.objects.exists())

    def test_before_every_condition_holds_the_supervisor_sees_what_is_missing_and_is_refused(self):
        self.walk.to_preparation()
        self.login(self.sam)
        page = self.client.get(self.url)
        self.assertContains(page, "Still needed:")
        self.assertContains(page, "The person who caused harm acknowledged responsibility")
        self.assertContains(page, "the joint dialogue cannot be approved")
        self.assertNotContains(page, 'type="submit" class="button">Approve')
        page = self.client.post(self.url)
        self.assertContains(page, "can be approved only once every condition holds", status_code=409)
        self.assertContains(page, "At least one preparation meeting held with the survivor", status_code=409)
        self.assertContains(page, "Nothing was approved.", status_code=409)
        self.assertFalse(Approval.objects.exists())

    def test_once_every_condition_holds_the_supervisor_approves_once_even_on_a_double_click(self):
        self.walk.to_dialogue()
        self.login(self.sam)
        page = self.client.get(self.url)
        self.assertContains(page, "Approve the joint dialogue</button>")
        page = self.client.post(self.url, {"approved_by": self.alice.pk, "case": self.other_team_case.pk})
        self.assertRedirects(
            page, reverse("protocol:case", args=[self.case.pk]), fetch_redirect_response=False
        )
        self.client.post(self.url)
        approval = Approval.objects.get()
        self.assertEqual((approval.case, approval.approved_by), (self.case, self.sam))
        page = self.client.get(self.url)
        self.assertContains(page, "and it still holds")
        self.assertTrue(audit_log().filter(action="protocol.approve", object_type="approval").exists())

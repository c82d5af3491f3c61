"""The dashboard leads each role to the evaluation and community pages it may open, and only to those."""

from django.urls import reverse

from circlekeeper.testing import PersonaTestCase


class DashboardLinkTests(PersonaTestCase):
    def links(self, user):
        self.login(user)
        response = self.client.get(reverse("dashboard"))
        self.assertEqual(response.status_code, 200)
        return response.content.decode()

    def test_each_role_sees_the_links_it_may_follow(self):
        hub = reverse("community:hub", args=[self.network.slug])
        approvals = reverse("community:directory_review_list", args=[self.network.slug])
        expected = {
            self.alice: (
                {reverse("evaluation:due"), reverse("community:event_list")},
                {reverse("evaluation:dashboard"), hub},
            ),
            self.eve: (
                {
                    reverse("evaluation:dashboard"),
                    reverse("evaluation:deidentified_data"),
                    reverse("evaluation:exports"),
                    reverse("community:funder_report"),
                    hub,
                    reverse("evaluation:network_dashboard", args=[self.network.slug]),
                },
                {
                    reverse("evaluation:due"),
                    reverse("evaluation:plan"),
                    approvals,
                    reverse("community:event_list"),
                },
            ),
            self.pat: (
                {
                    reverse("evaluation:plan"),
                    reverse("community:directory_edit"),
                    reverse("community:sharing"),
                },
                {reverse("evaluation:deidentified_data"), hub},
            ),
            self.nora: ({hub, approvals}, {reverse("evaluation:dashboard")}),
        }
        for user, (shown, hidden) in expected.items():
            page = self.links(user)
            for url in shown:
                self.assertIn(f'href="{url}"', page, (user, url))
            for url in hidden:
                self.assertNotIn(f'href="{url}"', page, (user, url))
            # Every link shown here opens for this person.
            for url in shown:
                self.assertEqual(self.client.get(url).status_code in (200, 302), True, (user, url))

"""A network admin sets the network's suppression threshold; it then applies to every pooled and shared result."""

from django.urls import reverse

from circlekeeper.accounts.models import Membership, Role
from circlekeeper.evaluation.dataset import Scope
from circlekeeper.testing import PersonaTestCase, audit_log, make_network, make_user


class ThresholdTests(PersonaTestCase):
    def url(self, slug=None):
        return reverse("community:network_threshold", args=[slug or self.network.slug])

    def test_the_network_admin_raises_it_and_pooled_results_use_it(self):
        self.login(self.nora)
        self.assertContains(
            self.client.get(reverse("community:hub", args=[self.network.slug])),
            'name="suppression_threshold"',
        )
        response = self.client.post(self.url(), {"suppression_threshold": "20"})
        self.assertRedirects(response, reverse("community:hub", args=[self.network.slug]))
        self.network.refresh_from_db()
        self.assertEqual(self.network.suppression_threshold, 20)
        self.assertEqual(Scope.for_network(self.network).threshold, 20)
        self.assertEqual(Scope.for_organization(self.harbor).threshold, 20)
        self.assertTrue(
            audit_log().filter(action="community.network.settings", object_id=str(self.network.pk)).exists()
        )

    def test_a_value_below_five_or_not_a_number_is_refused_and_nothing_changes(self):
        self.login(self.nora)
        for value in ("3", "", "eleven", "1000"):
            response = self.client.post(self.url(), {"suppression_threshold": value})
            self.assertEqual(response.status_code, 400, value)
            self.assertContains(response, "The smallest count shown was not changed", status_code=400)
        self.network.refresh_from_db()
        self.assertEqual(self.network.suppression_threshold, 11)

    def test_only_this_networks_admins_may_change_it(self):
        for user, status in ((self.eve, 403), (self.pat, 403), (self.alice, 403)):
            self.login(user)
            self.assertEqual(
                self.client.post(self.url(), {"suppression_threshold": "20"}).status_code, status
            )
        elsewhere = make_network(name="Elsewhere", slug="elsewhere")
        other_admin = make_user("admin@elsewhere.example")
        Membership.objects.create(user=other_admin, network=elsewhere, role=Role.NETWORK_ADMIN)
        self.login(other_admin)
        self.assertEqual(self.client.post(self.url(), {"suppression_threshold": "20"}).status_code, 404)
        self.network.refresh_from_db()
        self.assertEqual(self.network.suppression_threshold, 11)
        # The hub shows the form to admins only.
        self.login(self.eve)
        self.assertNotContains(
            self.client.get(reverse("community:hub", args=[self.network.slug])),
            'name="suppression_threshold"',
        )


class RoundingSettingTests(PersonaTestCase):
    """Issue 21: a network may round every count shown to a base (off by default); a base outside 0–10 is refused."""

    def url(self):
        return reverse("community:network_threshold", args=[self.network.slug])

    def test_it_is_off_by_default_and_the_admin_sets_it(self):
        self.assertEqual(self.network.rounding_base, 0)
        self.login(self.nora)
        self.assertContains(
            self.client.get(reverse("community:hub", args=[self.network.slug])), 'name="rounding_base"'
        )

        response = self.client.post(self.url(), {"suppression_threshold": "11", "rounding_base": "5"})

        self.assertRedirects(response, reverse("community:hub", args=[self.network.slug]))
        self.network.refresh_from_db()
        self.assertEqual(self.network.rounding_base, 5)
        # Left out of the form: unchanged.
        self.client.post(self.url(), {"suppression_threshold": "12"})
        self.network.refresh_from_db()
        self.assertEqual((self.network.suppression_threshold, self.network.rounding_base), (12, 5))

    def test_a_base_outside_zero_to_ten_is_refused_and_nothing_changes(self):
        self.login(self.nora)
        for value in ("-1", "11", "five"):
            response = self.client.post(self.url(), {"suppression_threshold": "20", "rounding_base": value})
            self.assertEqual(response.status_code, 400, value)
        self.network.refresh_from_db()
        self.assertEqual((self.network.suppression_threshold, self.network.rounding_base), (11, 0))

from __future__ import annotations

from django.urls import reverse

from circlekeeper.accounts.models import Membership, User
from circlekeeper.testing import PASSWORD, PersonaTestCase

LIST = reverse("accounts:member_list")
ADD = reverse("accounts:member_add")


class MemberListTests(PersonaTestCase):
    def test_it_lists_the_people_of_the_admins_organization_only(self):
        self.login(self.pat)
        response = self.client.get(LIST)
        self.assertContains(response, "alice@harbor.example")
        self.assertContains(response, "Safety advocate")
        self.assertNotContains(response, "charlie@valley.example")

    def test_it_requires_the_program_admin_role(self):
        for person in (self.alice, self.sam, self.eve, self.charlie, self.nora):
            self.login(person)
            self.assertEqual(self.client.get(LIST).status_code, 403, person)
            self.assertEqual(self.client.get(ADD).status_code, 403, person)

    def test_it_sends_anonymous_visitors_to_sign_in(self):
        self.assertRedirects(self.client.get(LIST), f"{reverse('accounts:login')}?next={LIST}")

    def test_its_query_count_does_not_grow_with_people(self):
        self.login(self.pat)
        self.client.get(LIST)
        with self.assertNumQueries(6):  # the people, and the invitations not yet accepted
            self.client.get(LIST)
        for n in range(30):
            User.objects.create_user(f"extra{n}@harbor.example", PASSWORD, display_name=f"Extra {n}")
            Membership.objects.create(
                user_id=User.objects.get(email=f"extra{n}@harbor.example").pk,
                organization=self.harbor,
                network=self.network,
                role="keeper",
            )
        with self.assertNumQueries(6):  # the people, and the invitations not yet accepted
            self.client.get(LIST)


class ChangeMemberTests(PersonaTestCase):
    def test_an_admin_changes_roles_but_never_the_name(self):
        self.login(self.pat)
        url = reverse("accounts:member_change", args=[self.alice.pk])
        self.assertContains(self.client.get(url), "alice@harbor.example")
        self.client.post(url, {"display_name": "Renamed by Harbor", "roles": ["supervisor"]})
        self.alice.refresh_from_db()
        self.assertEqual(self.alice.display_name, "Alice")
        self.assertEqual(list(self.alice.memberships.values_list("role", flat=True)), ["supervisor"])

    def test_changing_roles_here_leaves_the_roles_elsewhere(self):
        Membership.objects.create(
            user=self.alice, organization=self.valley, network=self.network, role="keeper"
        )
        self.login(self.pat)
        self.client.post(reverse("accounts:member_change", args=[self.alice.pk]), {"roles": ["evaluator"]})
        self.assertEqual(
            set(self.alice.memberships.values_list("organization_id", "role")),
            {(self.harbor.pk, "evaluator"), (self.valley.pk, "keeper")},
        )

    def test_people_of_other_organizations_are_not_found(self):
        self.login(self.pat)
        self.assertEqual(
            self.client.get(reverse("accounts:member_change", args=[self.charlie.pk])).status_code, 404
        )
        response = self.client.post(
            reverse("accounts:member_set_active", args=[self.charlie.pk]), {"active": "0"}
        )
        self.assertEqual(response.status_code, 404)
        self.charlie.refresh_from_db()
        self.assertTrue(self.charlie.is_active)

    def test_non_admins_cannot_change_or_deactivate(self):
        self.login(self.alice)
        self.assertEqual(
            self.client.get(reverse("accounts:member_change", args=[self.bob.pk])).status_code, 403
        )
        self.assertEqual(
            self.client.post(
                reverse("accounts:member_set_active", args=[self.bob.pk]), {"active": "0"}
            ).status_code,
            403,
        )
        self.bob.refresh_from_db()
        self.assertTrue(self.bob.is_active)

    def test_a_network_admin_has_no_say_over_an_organizations_people(self):
        self.login(self.nora)
        self.assertEqual(self.client.get(LIST).status_code, 403)
        self.assertEqual(
            self.client.post(
                reverse("accounts:member_set_active", args=[self.bob.pk]), {"active": "0"}
            ).status_code,
            403,
        )

    def test_an_admin_deactivates_and_reactivates_a_person(self):
        self.login(self.pat)
        url = reverse("accounts:member_set_active", args=[self.bob.pk])
        response = self.client.post(url, {"active": "0"}, follow=True)
        self.assertContains(response, "can no longer open anything at Harbor")
        self.assertFalse(self.bob.memberships.filter(is_active=True).exists())
        self.client.post(url, {"active": "1"})
        self.bob.refresh_from_db()
        self.assertTrue(self.bob.is_active)
        self.assertTrue(self.bob.memberships.filter(is_active=True).exists())

    def test_an_admin_cannot_deactivate_themselves(self):
        self.login(self.pat)
        response = self.client.post(
            reverse("accounts:member_set_active", args=[self.pat.pk]), {"active": "0"}, follow=True
        )
        self.assertContains(response, "You cannot deactivate yourself")
        self.pat.refresh_from_db()
        self.assertTrue(self.pat.is_active)


class SwitchOrganizationTests(PersonaTestCase):
    def test_a_person_in_two_organizations_chooses_the_active_one(self):
        Membership.objects.create(
            user=self.alice, organization=self.valley, network=self.network, role="keeper"
        )
        self.login(self.alice)
        self.assertContains(self.client.get(reverse("cases:list")), "HAR-2026-0001")
        self.client.post(reverse("accounts:switch_organization"), {"organization": self.valley.pk})
        response = self.client.get(reverse("cases:list"))
        self.assertNotContains(response, "HAR-2026-0001")
        self.assertEqual(self.client.get(reverse("cases:detail", args=[self.case.pk])).status_code, 404)

    def test_nobody_can_switch_into_an_organization_they_do_not_belong_to(self):
        self.login(self.alice)
        response = self.client.post(reverse("accounts:switch_organization"), {"organization": self.valley.pk})
        self.assertEqual(response.status_code, 404)
        self.assertEqual(
            self.client.get(reverse("cases:detail", args=[self.valley_case.pk])).status_code, 404
        )

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
        with self.assertNumQueries(5):
            self.client.get(LIST)
        for n in range(30):
            User.objects.create_user(f"extra{n}@harbor.example", PASSWORD, display_name=f"Extra {n}")
            Membership.objects.create(
                user_id=User.objects.get(email=f"extra{n}@harbor.example").pk,
                organization=self.harbor,
                network=self.network,
                role="keeper",
            )
        with self.assertNumQueries(5):
            self.client.get(LIST)


class AddMemberTests(PersonaTestCase):
    def test_an_admin_adds_a_person_with_several_roles(self):
        self.login(self.pat)
        response = self.client.post(
            ADD,
            {
                "email": "New.Keeper@Harbor.example",
                "display_name": "Nia",
                "roles": ["keeper", "safety_advocate"],
                "password": "a long enough password 42",
            },
        )
        self.assertRedirects(response, LIST)
        user = User.objects.get(email="new.keeper@harbor.example")
        self.assertTrue(user.check_password("a long enough password 42"))
        self.assertEqual(set(user.memberships.values_list("role", flat=True)), {"keeper", "safety_advocate"})
        self.assertEqual({m.organization_id for m in user.memberships.all()}, {self.harbor.pk})

    def test_extra_fields_such_as_organization_are_ignored(self):
        self.login(self.pat)
        self.client.post(
            ADD,
            {
                "email": "x@harbor.example",
                "display_name": "X",
                "roles": ["keeper"],
                "password": "a long enough password 42",
                "organization": self.valley.pk,
                "role": "network_admin",
                "is_superuser": "1",
            },
        )
        user = User.objects.get(email="x@harbor.example")
        self.assertEqual(
            list(user.memberships.values_list("organization_id", "role")), [(self.harbor.pk, "keeper")]
        )
        self.assertFalse(user.is_superuser)

    def test_network_admin_is_not_a_role_an_organization_can_give(self):
        self.login(self.pat)
        response = self.client.post(
            ADD,
            {
                "email": "y@harbor.example",
                "display_name": "Y",
                "roles": ["network_admin"],
                "password": "a long enough password 42",
            },
        )
        self.assertContains(response, "Select a valid choice")
        self.assertFalse(User.objects.filter(email="y@harbor.example").exists())

    def test_a_weak_first_password_is_refused_with_the_reason(self):
        self.login(self.pat)
        response = self.client.post(
            ADD, {"email": "z@harbor.example", "display_name": "Z", "roles": ["keeper"], "password": "short"}
        )
        self.assertContains(response, "This password is too short")
        self.assertFalse(User.objects.filter(email="z@harbor.example").exists())

    def test_adding_someone_known_elsewhere_keeps_their_password(self):
        self.login(self.pat)
        response = self.client.post(
            ADD,
            {
                "email": "charlie@valley.example",
                "display_name": "C",
                "roles": ["evaluator"],
                "password": "a different password 77",
            },
            follow=True,
        )
        self.assertContains(response, "already had an account")
        self.charlie.refresh_from_db()
        self.assertTrue(self.charlie.check_password(PASSWORD))
        self.assertTrue(self.charlie.memberships.filter(organization=self.harbor, role="evaluator").exists())


class ChangeMemberTests(PersonaTestCase):
    def test_an_admin_changes_roles(self):
        self.login(self.pat)
        url = reverse("accounts:member_change", args=[self.alice.pk])
        self.assertContains(self.client.get(url), "alice@harbor.example")
        self.client.post(url, {"display_name": "Alice K.", "roles": ["supervisor"]})
        self.alice.refresh_from_db()
        self.assertEqual(self.alice.display_name, "Alice K.")
        self.assertEqual(list(self.alice.memberships.values_list("role", flat=True)), ["supervisor"])

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

    def test_an_admin_deactivates_and_reactivates_a_person(self):
        self.login(self.pat)
        url = reverse("accounts:member_set_active", args=[self.bob.pk])
        response = self.client.post(url, {"active": "0"}, follow=True)
        self.assertContains(response, "was deactivated and signed out everywhere")
        self.bob.refresh_from_db()
        self.assertFalse(self.bob.is_active)
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

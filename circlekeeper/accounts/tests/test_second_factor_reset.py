"""A lost second factor (recovery codes lost too): a program admin starts a re-enrolment; where the organization
has two program admins the second confirms; never for someone who also works in another organization."""

from __future__ import annotations

from django.test import Client, override_settings
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from circlekeeper.accounts.models import Membership, Role, UserSession
from circlekeeper.testing import PASSWORD, PersonaTestCase, make_user, sign_in


def url(user) -> str:
    return reverse("accounts:member_second_factor", args=[user.pk])


class SecondFactorResetTests(PersonaTestCase):
    def setUp(self):
        self.phone = Client()
        sign_in(self.phone, self.alice)
        StaticDevice.objects.create(user=self.alice, name="Recovery codes", confirmed=True)

    def devices(self) -> int:
        return (
            TOTPDevice.objects.filter(user=self.alice).count()
            + StaticDevice.objects.filter(user=self.alice).count()
        )

    def test_with_one_program_admin_it_is_done_at_once_and_keeps_the_password(self):
        self.login(self.pat)
        self.client.post(url(self.alice), {"step": "request"})
        self.assertEqual(self.devices(), 0)
        self.assertFalse(UserSession.objects.filter(user_id=self.alice.pk).exists())
        self.alice.refresh_from_db()
        self.assertTrue(self.alice.check_password(PASSWORD))

    @override_settings(REQUIRE_MFA=True)
    def test_after_it_the_person_enrols_a_new_factor_at_sign_in(self):
        self.login(self.pat)
        self.client.post(url(self.alice), {"step": "request"})
        fresh = Client()
        fresh.post(reverse("accounts:login"), {"username": "alice@harbor.example", "password": PASSWORD})
        self.assertRedirects(
            fresh.get(reverse("cases:list")), reverse("accounts:mfa_setup"), fetch_redirect_response=False
        )

    def test_with_two_program_admins_a_second_one_confirms(self):
        second = make_user("quinn@harbor.example", organization=self.harbor, roles=(Role.PROGRAM_ADMIN,))
        self.login(self.pat)
        self.client.post(url(self.alice), {"step": "request"})
        self.assertEqual(self.devices(), 2)
        response = self.client.post(url(self.alice), {"step": "confirm"}, follow=True)
        self.assertContains(response, "Another program admin must confirm")
        self.assertEqual(self.devices(), 2)
        self.login(second)
        self.client.post(url(self.alice), {"step": "confirm"})
        self.assertEqual(self.devices(), 0)
        self.assertFalse(UserSession.objects.filter(user_id=self.alice.pk).exists())

    def test_never_for_someone_who_also_works_elsewhere(self):
        Membership.objects.create(
            user=self.alice, organization=self.valley, network=self.network, role="keeper"
        )
        self.login(self.pat)
        response = self.client.post(url(self.alice), {"step": "request"}, follow=True)
        self.assertContains(response, "not this organization")
        self.assertEqual(self.devices(), 2)
        self.assertEqual(self.phone.get(reverse("cases:list")).status_code, 200)

    def test_not_for_oneself_nor_for_another_organizations_people(self):
        self.login(self.pat)
        self.client.post(url(self.pat), {"step": "request"})
        self.assertTrue(TOTPDevice.objects.filter(user=self.pat).exists())
        self.assertEqual(self.client.post(url(self.charlie), {"step": "request"}).status_code, 404)

    def test_only_program_admins(self):
        for person in (self.sam, self.bob, self.nora):
            self.login(person)
            self.assertEqual(self.client.post(url(self.alice), {"step": "request"}).status_code, 403)
        self.assertEqual(self.devices(), 2)

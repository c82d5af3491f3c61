from __future__ import annotations

import datetime

import time_machine
from django.test import override_settings
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from circlekeeper.testing import PASSWORD, PersonaTestCase

LOGIN = reverse("accounts:login")


def current_code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift):06d}"


def later(*, seconds: int) -> time_machine.travel:
    return time_machine.travel(
        datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(seconds=seconds), tick=True
    )


class LoginTests(PersonaTestCase):
    def post_login(self, email: str, password: str, **extra: str):
        return self.client.post(LOGIN, {"username": email, "password": password, **extra})

    @override_settings(REQUIRE_MFA=False)
    def test_it_signs_in_with_email_and_password_when_mfa_is_off(self):
        response = self.post_login("Alice@Harbor.example ", PASSWORD)
        self.assertRedirects(response, reverse("dashboard"))
        self.assertEqual(self.client.get(reverse("dashboard")).status_code, 200)

    def test_unknown_email_and_wrong_password_get_the_same_answer(self):
        wrong_password = self.post_login("alice@harbor.example", "not the password")
        unknown = self.post_login("nobody@harbor.example", "not the password")
        self.assertEqual(wrong_password.status_code, 200)
        self.assertEqual(unknown.status_code, 200)
        self.assertContains(wrong_password, "The email or password is not right.")
        self.assertContains(unknown, "The email or password is not right.")
        self.assertNotIn("_auth_user_id", self.client.session)

    def test_it_gives_a_new_session_key_at_sign_in(self):
        self.client.get(LOGIN)
        self.client.session.save()
        before = self.client.session.session_key
        self.post_login("alice@harbor.example", PASSWORD)
        self.assertNotEqual(self.client.session.session_key, before)

    def test_a_deactivated_user_cannot_sign_in(self):
        self.alice.is_active = False
        self.alice.save()
        response = self.post_login("alice@harbor.example", PASSWORD)
        self.assertContains(response, "The email or password is not right.")

    def test_it_does_not_redirect_to_another_site_after_sign_in(self):
        with self.settings(REQUIRE_MFA=False):
            response = self.post_login("alice@harbor.example", PASSWORD, next="https://evil.example/")
        self.assertRedirects(response, reverse("dashboard"), fetch_redirect_response=False)

    @override_settings(REQUIRE_MFA=False)
    def test_it_follows_a_local_next_address(self):
        response = self.post_login("alice@harbor.example", PASSWORD, next=reverse("cases:list"))
        self.assertRedirects(response, reverse("cases:list"))

    def test_login_page_says_when_two_factor_is_off(self):
        with self.settings(REQUIRE_MFA=False):
            self.assertContains(self.client.get(LOGIN), "Two-factor sign-in is turned off")
        self.assertNotContains(self.client.get(LOGIN), "Two-factor sign-in is turned off")


class SecondFactorTests(PersonaTestCase):
    def sign_in_with_password(self) -> None:
        response = self.client.post(LOGIN, {"username": "alice@harbor.example", "password": PASSWORD})
        self.assertEqual(response.status_code, 302)

    def test_without_a_device_every_page_leads_to_setup(self):
        self.sign_in_with_password()
        for url in (
            reverse("dashboard"),
            reverse("cases:list"),
            reverse("cases:detail", args=[self.case.pk]),
        ):
            self.assertRedirects(
                self.client.get(url), reverse("accounts:mfa_setup"), fetch_redirect_response=False
            )

    def test_setup_shows_a_qr_code_and_confirming_it_gives_recovery_codes(self):
        self.sign_in_with_password()
        page = self.client.get(reverse("accounts:mfa_setup"))
        self.assertContains(page, "<svg")
        device = TOTPDevice.objects.get(user=self.alice, confirmed=False)
        bad = self.client.post(
            reverse("accounts:mfa_setup"),
            {"token": "000000" if current_code(device) != "000000" else "111111"},
        )
        self.assertContains(bad, "That code did not match")
        self.assertContains(
            self.client.post(reverse("accounts:mfa_setup"), {"token": current_code(device)}),
            "Wait a few seconds",
        )
        with later(seconds=10):
            response = self.client.post(reverse("accounts:mfa_setup"), {"token": current_code(device)})
        self.assertContains(response, "recovery codes")
        device.refresh_from_db()
        self.assertTrue(device.confirmed)
        self.assertEqual(StaticToken.objects.filter(device__user=self.alice).count(), 10)
        self.assertEqual(self.client.get(reverse("cases:list")).status_code, 200)

    def test_with_a_device_pages_wait_for_the_code(self):
        device = TOTPDevice.objects.create(user=self.alice, name="phone", confirmed=True)
        self.sign_in_with_password()
        self.assertRedirects(
            self.client.get(reverse("cases:list")),
            reverse("accounts:mfa_verify"),
            fetch_redirect_response=False,
        )
        wrong_code = f"{(int(current_code(device)) + 1) % 1000000:06d}"
        wrong = self.client.post(reverse("accounts:mfa_verify"), {"token": wrong_code})
        self.assertContains(wrong, "That code did not work")
        self.assertRedirects(
            self.client.get(reverse("cases:list")),
            reverse("accounts:mfa_verify"),
            fetch_redirect_response=False,
        )
        # Guessing is slowed down: right after a wrong code even the right one waits.
        self.assertContains(
            self.client.post(reverse("accounts:mfa_verify"), {"token": current_code(device)}),
            "Wait a few seconds",
        )
        with later(seconds=10):
            response = self.client.post(reverse("accounts:mfa_verify"), {"token": current_code(device)})
        self.assertRedirects(response, reverse("dashboard"), fetch_redirect_response=False)
        self.assertEqual(self.client.get(reverse("cases:list")).status_code, 200)

    def test_a_recovery_code_works_once(self):
        TOTPDevice.objects.create(user=self.alice, name="phone", confirmed=True)
        static = StaticDevice.objects.create(user=self.alice, name="Recovery codes", confirmed=True)
        StaticToken.objects.create(device=static, token="abcd1234")
        self.sign_in_with_password()
        self.assertRedirects(
            self.client.post(reverse("accounts:mfa_verify"), {"token": "abcd 1234"}), reverse("dashboard")
        )
        self.client.post(reverse("accounts:logout"))
        self.sign_in_with_password()
        self.assertContains(
            self.client.post(reverse("accounts:mfa_verify"), {"token": "abcd1234"}), "That code did not work"
        )

    def test_replacing_the_second_factor_needs_the_code_first_and_the_password(self):
        old = TOTPDevice.objects.create(user=self.alice, name="phone", confirmed=True)
        self.sign_in_with_password()
        # Knowing the password alone is not enough to swap the authenticator.
        self.assertRedirects(
            self.client.get(reverse("accounts:mfa_setup")),
            reverse("accounts:mfa_verify"),
            fetch_redirect_response=False,
        )
        self.client.post(reverse("accounts:mfa_verify"), {"token": current_code(old)})
        page = self.client.get(reverse("accounts:mfa_setup"))
        self.assertContains(page, "Your password")
        new = TOTPDevice.objects.get(user=self.alice, confirmed=False)
        refused = self.client.post(
            reverse("accounts:mfa_setup"), {"token": current_code(new), "password": "wrong"}
        )
        self.assertContains(refused, "That password is not right.")
        self.assertTrue(TOTPDevice.objects.filter(pk=old.pk).exists())
        self.client.post(reverse("accounts:mfa_setup"), {"token": current_code(new), "password": PASSWORD})
        self.assertFalse(TOTPDevice.objects.filter(pk=old.pk).exists())
        self.assertTrue(TOTPDevice.objects.get(pk=new.pk).confirmed)


class LogoutTests(PersonaTestCase):
    def test_sign_out_needs_a_post_and_ends_the_session(self):
        self.login(self.alice)
        self.assertEqual(self.client.get(reverse("accounts:logout")).status_code, 405)
        self.client.post(reverse("accounts:logout"))
        self.assertRedirects(self.client.get(reverse("cases:list")), f"{LOGIN}?next=/cases/")

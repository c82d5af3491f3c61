from __future__ import annotations

from django.test import override_settings
from django.urls import reverse

from circlekeeper.testing import PASSWORD, PersonaTestCase, without_form_tokens

LOGIN = reverse("accounts:login")


@override_settings(REQUIRE_MFA=False, AXES_FAILURE_LIMIT=3)
class ThrottlingTests(PersonaTestCase):
    def attempt(self, email: str, password: str, address: str):
        return self.client.post(LOGIN, {"username": email, "password": password}, REMOTE_ADDR=address)

    def fail_three_times(self, email: str, address: str) -> None:
        for _ in range(3):
            self.attempt(email, "wrong password", address)

    def test_it_locks_a_username_from_one_address_after_the_limit(self):
        self.fail_three_times("alice@harbor.example", "203.0.113.5")
        response = self.attempt("alice@harbor.example", PASSWORD, "203.0.113.5")
        self.assertEqual(response.status_code, 429)
        self.assertContains(response, "Too many attempts", status_code=429)
        self.assertNotIn("_auth_user_id", self.client.session)

    def test_an_attacker_elsewhere_cannot_lock_the_real_user_out(self):
        self.fail_three_times("alice@harbor.example", "198.51.100.66")
        response = self.attempt("alice@harbor.example", PASSWORD, "203.0.113.5")
        self.assertRedirects(response, reverse("dashboard"), fetch_redirect_response=False)

    def test_failures_for_one_person_do_not_lock_another_from_the_same_address(self):
        self.fail_three_times("alice@harbor.example", "203.0.113.5")
        response = self.attempt("bob@harbor.example", PASSWORD, "203.0.113.5")
        self.assertRedirects(response, reverse("dashboard"), fetch_redirect_response=False)

    def test_unknown_emails_are_locked_the_same_way_so_lockout_reveals_nothing(self):
        self.fail_three_times("nobody@harbor.example", "203.0.113.5")
        unknown = self.attempt("nobody@harbor.example", "anything", "203.0.113.5")
        self.fail_three_times("alice@harbor.example", "203.0.113.6")
        known = self.attempt("alice@harbor.example", "anything", "203.0.113.6")
        self.assertEqual(unknown.status_code, known.status_code)
        self.assertEqual(without_form_tokens(unknown), without_form_tokens(known))

    def test_email_case_does_not_dodge_the_lock(self):
        self.fail_three_times("ALICE@harbor.example", "203.0.113.5")
        self.assertEqual(self.attempt("alice@HARBOR.example", PASSWORD, "203.0.113.5").status_code, 429)

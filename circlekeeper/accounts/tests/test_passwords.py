"""A password is its owner's: changed with the current password and second factor, reset by a single-use 15-minute
emailed link that ends every session and keeps the second factor; asking says the same whether or not the address
has an account, and is throttled per typed address and per network address."""

from __future__ import annotations

import datetime
import re

import time_machine
from django.core import mail
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from circlekeeper.accounts.models import UserSession
from circlekeeper.testing import PASSWORD, PersonaTestCase, sign_in, without_form_tokens

CHANGE = reverse("accounts:password_change")
RESET = reverse("accounts:password_reset")
SET = reverse("accounts:password_reset_set")
NEW = "a brand new passphrase 7"
PUBLIC = "https://circles.example.org"
LINK = re.compile(r"https://circles\.example\.org(/accounts/password-reset/[^/\s]+/[^/\s]+/)")


def current_code(user) -> str:
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift):06d}"


class PasswordChangeTests(PersonaTestCase):
    def test_it_needs_the_current_password_and_the_second_factor(self):
        self.login(self.alice)
        for current, code in (
            (PASSWORD, "000000"),
            ("wrong password", current_code(self.alice)),
            (PASSWORD, ""),
        ):
            response = self.client.post(
                CHANGE,
                {"current_password": current, "token": code, "new_password1": NEW, "new_password2": NEW},
            )
            self.assertEqual(response.status_code, 400)
            self.alice.refresh_from_db()
            self.assertTrue(self.alice.check_password(PASSWORD))

    def test_a_change_keeps_this_session_and_ends_the_others(self):
        other = Client()
        sign_in(other, self.alice)
        self.login(self.alice)
        response = self.client.post(
            CHANGE,
            {
                "current_password": PASSWORD,
                "token": current_code(self.alice),
                "new_password1": NEW,
                "new_password2": NEW,
            },
        )
        self.assertRedirects(response, reverse("accounts:account"))
        self.alice.refresh_from_db()
        self.assertTrue(self.alice.check_password(NEW))
        self.assertEqual(UserSession.objects.filter(user_id=self.alice.pk).count(), 1)
        self.assertEqual(self.client.get(reverse("cases:list")).status_code, 200)
        self.assertNotEqual(other.get(reverse("cases:list")).status_code, 200)

    def test_common_passwords_are_refused(self):
        self.login(self.alice)
        response = self.client.post(
            CHANGE,
            {
                "current_password": PASSWORD,
                "token": current_code(self.alice),
                "new_password1": "123456qwerty",
                "new_password2": "123456qwerty",
            },
        )
        self.assertContains(response, "This password is too common", status_code=400)

    def test_an_admin_has_no_page_that_sets_someone_elses_password_or_name(self):
        self.login(self.pat)
        self.client.post(
            reverse("accounts:member_change", args=[self.alice.pk]),
            {"roles": ["keeper"], "password": NEW, "display_name": "X", "email": "x@x.example"},
        )
        self.alice.refresh_from_db()
        self.assertTrue(self.alice.check_password(PASSWORD))
        self.assertEqual((self.alice.display_name, self.alice.email), ("Alice", "alice@harbor.example"))

    def test_a_person_changes_their_own_name(self):
        self.login(self.alice)
        self.client.post(reverse("accounts:account"), {"display_name": "Alice K."})
        self.alice.refresh_from_db()
        self.assertEqual(self.alice.display_name, "Alice K.")


# The reset email is sent by a background task queued after the request commits (test_reset_same_work has the
# queue itself); here the task runs as soon as it is queued.
IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@override_settings(PUBLIC_URL=PUBLIC, TASKS=IMMEDIATE)
class PasswordResetTests(PersonaTestCase):
    def ask(self, email: str, client: Client | None = None, address: str = "203.0.113.9"):
        with self.captureOnCommitCallbacks(execute=True):
            return (client or self.client).post(RESET, {"email": email}, REMOTE_ADDR=address)

    def link(self) -> str:
        found = LINK.search(str(mail.outbox[-1].body))
        assert found is not None, mail.outbox[-1].body
        return found.group(1)

    def test_the_page_says_the_same_whether_or_not_the_address_has_an_account(self):
        known = self.ask("alice@harbor.example")
        unknown = self.ask("nobody@harbor.example")
        self.assertEqual(known.status_code, unknown.status_code)
        self.assertEqual(without_form_tokens(known), without_form_tokens(unknown))
        self.assertContains(known, "If an account uses that address")
        self.assertEqual([m.to for m in mail.outbox], [["alice@harbor.example"]])

    def test_a_reset_ends_every_session_and_keeps_the_second_factor(self):
        logged_in = Client()
        sign_in(logged_in, self.alice)
        device_ids = set(TOTPDevice.objects.filter(user=self.alice).values_list("pk", flat=True))
        self.ask("alice@harbor.example")
        path = self.link()
        self.assertRedirects(self.client.get(path), SET)
        response = self.client.post(SET, {"new_password1": NEW, "new_password2": NEW})
        self.assertRedirects(response, reverse("accounts:login"))
        self.alice.refresh_from_db()
        self.assertTrue(self.alice.check_password(NEW))
        self.assertFalse(UserSession.objects.filter(user_id=self.alice.pk).exists())
        self.assertNotEqual(logged_in.get(reverse("cases:list")).status_code, 200)
        self.assertEqual(
            set(TOTPDevice.objects.filter(user=self.alice).values_list("pk", flat=True)), device_ids
        )

    def test_a_link_works_once(self):
        self.ask("alice@harbor.example")
        path = self.link()
        self.client.get(path)
        self.client.post(SET, {"new_password1": NEW, "new_password2": NEW})
        self.assertContains(Client().get(path), "does not work", status_code=404)

    def test_a_link_expires_after_fifteen_minutes(self):
        start = timezone.now()
        with time_machine.travel(start, tick=False):  # every clock below is the travelling one
            self.ask("alice@harbor.example")
        path = self.link()
        with time_machine.travel(start + datetime.timedelta(minutes=14), tick=False):
            self.assertRedirects(self.client.get(path), SET)
        with time_machine.travel(start + datetime.timedelta(minutes=16), tick=False):
            self.assertContains(self.client.get(path), "does not work", status_code=404)
            self.assertContains(self.client.get(SET), "does not work", status_code=404)

    def test_a_forged_token_does_not_work(self):
        self.ask("alice@harbor.example")
        path = self.link()
        forged = path[:-3] + ("a" if path[-3] != "a" else "b") + path[-2:]
        self.assertEqual(self.client.get(forged).status_code, 404)
        self.assertEqual(self.client.get(SET).status_code, 404)

    @override_settings(PASSWORD_RESET_PER_EMAIL_PER_HOUR=3, PASSWORD_RESET_PER_ADDRESS_PER_HOUR=100)
    def test_asking_is_throttled_per_typed_address(self):
        for n in range(3):
            self.assertEqual(self.ask("alice@harbor.example", address=f"198.51.100.{n}").status_code, 200)
        self.assertEqual(self.ask("Alice@Harbor.example", address="198.51.100.77").status_code, 429)
        self.assertEqual(len(mail.outbox), 3)
        self.assertEqual(self.ask("bob@harbor.example").status_code, 200)

    @override_settings(PASSWORD_RESET_PER_EMAIL_PER_HOUR=100, PASSWORD_RESET_PER_ADDRESS_PER_HOUR=5)
    def test_asking_is_throttled_per_network_address(self):
        for n in range(5):
            self.assertEqual(self.ask(f"someone{n}@harbor.example").status_code, 200)
        self.assertEqual(self.ask("alice@harbor.example").status_code, 429)
        self.assertEqual(mail.outbox, [])
        self.assertEqual(self.ask("alice@harbor.example", address="192.0.2.1").status_code, 200)

    def test_the_throttle_forgets_after_an_hour(self):
        for _ in range(3):
            self.ask("alice@harbor.example")
        self.assertEqual(self.ask("alice@harbor.example").status_code, 429)
        with time_machine.travel(timezone.now() + datetime.timedelta(minutes=61)):
            self.assertEqual(self.ask("alice@harbor.example").status_code, 200)


@override_settings(PUBLIC_URL=PUBLIC)
class EmailChangeTests(PersonaTestCase):
    LINK = re.compile(r"https://circles\.example\.org(/accounts/account/email/[^/\s]+/)")

    def ask(self, email: str, password: str = PASSWORD):
        self.login(self.alice)
        return self.client.post(reverse("accounts:email_change"), {"email": email, "password": password})

    def link(self) -> str:
        found = self.LINK.search(str(mail.outbox[-1].body))
        assert found is not None, mail.outbox[-1].body
        return found.group(1)

    def test_the_new_address_confirms_and_the_link_works_once(self):
        self.ask("Alice.New@Harbor.example")
        self.assertEqual(mail.outbox[-1].to, ["alice.new@harbor.example"])
        self.alice.refresh_from_db()
        self.assertEqual(
            self.alice.email, "alice@harbor.example"
        )  # nothing changes before the link is opened
        path = self.link()
        Client().get(path)
        self.alice.refresh_from_db()
        self.assertEqual(self.alice.email, "alice.new@harbor.example")
        self.assertEqual(Client().get(path).status_code, 404)

    def test_it_needs_the_password(self):
        response = self.ask("x@harbor.example", password="wrong password")
        self.assertContains(response, "That password is not right")
        self.assertEqual(mail.outbox, [])

    def test_an_address_taken_meanwhile_is_not_taken_over(self):
        self.ask("bob@harbor.example")  # the page does not say the address is taken
        self.assertEqual(Client().get(self.link()).status_code, 404)
        self.alice.refresh_from_db()
        self.assertEqual(self.alice.email, "alice@harbor.example")

    def test_a_link_expires_after_a_day(self):
        start = timezone.now()
        with time_machine.travel(start, tick=False):
            self.ask("late@harbor.example")
        with time_machine.travel(start + datetime.timedelta(hours=25), tick=False):
            self.assertEqual(Client().get(self.link()).status_code, 404)

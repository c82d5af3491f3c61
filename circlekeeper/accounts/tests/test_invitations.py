"""SECURITY.md 15a: people join by invitation; the admin never learns whether an account exists, never attaches
anyone without their acceptance, never sets a password; the invitee makes their own account and second factor."""

from __future__ import annotations

import datetime
import re

import time_machine
from django.core import mail
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from circlekeeper.accounts.models import Invitation, Membership, User
from circlekeeper.testing import PASSWORD, PersonaTestCase, sign_in, without_form_tokens

ADD = reverse("accounts:member_add")
LIST = reverse("accounts:member_list")
PUBLIC = "https://circles.example.org"
STRONG = "a long enough password 42"
LINK = re.compile(r"https://circles\.example\.org(/accounts/invitation/[^/\s]+/)")


def normalize(response, email: str) -> str:
    """The page as text, with the address typed and the form's CSRF and form tokens taken out."""
    text = without_form_tokens(response)
    return text.replace(email, "EMAIL")


@override_settings(PUBLIC_URL=PUBLIC)
class InvitationTests(PersonaTestCase):
    def invite(self, email: str, roles=("keeper",), admin=None):
        self.login(admin or self.pat)
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(ADD, {"email": email, "roles": list(roles)}, follow=True)
        self.client.logout()
        return response

    def link_in(self, message) -> str:
        found = LINK.search(str(message.body))
        assert found is not None, message.body
        return found.group(1)

    def test_the_admin_page_says_the_same_whether_or_not_an_account_exists(self):
        known = self.invite("charlie@valley.example")
        unknown = self.invite("nobody.yet@elsewhere.example")
        known_text = normalize(known, "charlie@valley.example").split("<h1>")[0]
        unknown_text = normalize(unknown, "nobody.yet@elsewhere.example").split("<h1>")[0]
        self.assertIn("An invitation was sent to EMAIL", known_text)
        self.assertEqual(known_text, unknown_text)
        self.assertNotContains(known, "already had an account")
        # Nobody was attached, renamed or given a password by it.
        self.assertFalse(self.charlie.memberships.filter(organization=self.harbor).exists())
        self.charlie.refresh_from_db()
        self.assertEqual(self.charlie.display_name, "Charlie")
        self.assertTrue(self.charlie.check_password(PASSWORD))
        self.assertFalse(User.objects.filter(email="nobody.yet@elsewhere.example").exists())

    def test_the_link_goes_to_the_address_starts_with_public_url_and_is_stored_only_as_a_hash(self):
        self.invite("new.keeper@harbor.example")
        self.assertEqual(len(mail.outbox), 1)
        self.assertEqual(mail.outbox[0].to, ["new.keeper@harbor.example"])
        path = self.link_in(mail.outbox[0])
        token = path.rstrip("/").rsplit("/", 1)[1]
        invitation = Invitation.objects.get()
        self.assertNotIn(token, invitation.token_hash)
        self.assertEqual(invitation.organization, self.harbor)

    def test_an_invitee_makes_their_own_account_and_goes_on_to_their_second_factor(self):
        self.invite("New.Keeper@Harbor.example", roles=("keeper", "safety_advocate"))
        path = self.link_in(mail.outbox[0])
        opened = self.client.get(path)
        self.assertRedirects(opened, reverse("accounts:invitation"))
        page = self.client.get(reverse("accounts:invitation"))
        self.assertContains(page, "Make your account")
        self.assertNotIn(path.split("/")[-2], page.content.decode())
        # Django's validators, the common-password list included.
        weak = self.client.post(
            reverse("accounts:invitation"),
            {"display_name": "Nia", "new_password1": "123456qwerty", "new_password2": "123456qwerty"},
        )
        self.assertContains(weak, "This password is too common")
        self.assertFalse(User.objects.filter(email="new.keeper@harbor.example").exists())
        made = self.client.post(
            reverse("accounts:invitation"),
            {"display_name": "Nia", "new_password1": STRONG, "new_password2": STRONG},
        )
        self.assertRedirects(made, reverse("accounts:mfa_setup"))
        user = User.objects.get(email="new.keeper@harbor.example")
        self.assertEqual(user.display_name, "Nia")
        self.assertTrue(user.check_password(STRONG))
        self.assertEqual(
            set(user.memberships.values_list("organization_id", "role")),
            {(self.harbor.pk, "keeper"), (self.harbor.pk, "safety_advocate")},
        )
        # Nothing opens before the second factor is set up.
        self.assertRedirects(
            self.client.get(reverse("cases:list")),
            reverse("accounts:mfa_setup"),
            fetch_redirect_response=False,
        )

    def test_a_link_works_once(self):
        self.invite("once@harbor.example")
        path = self.link_in(mail.outbox[0])
        self.client.get(path)
        self.client.post(
            reverse("accounts:invitation"),
            {"display_name": "O", "new_password1": STRONG, "new_password2": STRONG},
        )
        again = Client()
        self.assertEqual(again.get(path).status_code, 404)
        self.assertContains(again.get(reverse("accounts:invitation")), "does not work", status_code=404)

    def test_a_link_expires(self):
        self.invite("late@harbor.example")
        path = self.link_in(mail.outbox[0])
        with time_machine.travel(timezone.now() + datetime.timedelta(days=8)):
            self.assertContains(self.client.get(path), "does not work", status_code=404)

    def test_someone_with_an_account_signs_in_and_accepts(self):
        self.invite("charlie@valley.example", roles=("evaluator",))
        path = self.link_in(mail.outbox[0])
        page = self.client.get(path, follow=True)
        self.assertContains(page, "Sign in to accept")
        self.assertNotContains(page, "Make your account")
        sign_in(self.client, self.charlie)
        self.client.get(path)  # the token moves into the signed-in session
        self.assertFalse(self.charlie.memberships.filter(organization=self.harbor).exists())
        self.assertContains(self.client.get(reverse("accounts:invitation")), "Accept the invitation")
        self.client.post(reverse("accounts:invitation"))
        self.assertTrue(self.charlie.memberships.filter(organization=self.harbor, role="evaluator").exists())
        self.charlie.refresh_from_db()
        self.assertTrue(self.charlie.check_password(PASSWORD))

    def test_another_account_cannot_accept_someone_elses_invitation(self):
        self.invite("charlie@valley.example", roles=("keeper",))
        path = self.link_in(mail.outbox[0])
        sign_in(self.client, self.bob)
        self.client.get(path)
        self.assertContains(self.client.get(reverse("accounts:invitation")), "sent to another email address")
        self.client.post(reverse("accounts:invitation"))
        self.assertFalse(Membership.objects.filter(organization=self.harbor, user=self.charlie).exists())
        self.assertIsNone(Invitation.objects.get().accepted_at)

    def test_an_invitation_is_withdrawn_by_its_own_organization_only(self):
        self.invite("w@harbor.example")
        invitation = Invitation.objects.get()
        valley_admin = User.objects.create_user("vadmin@valley.example", PASSWORD, display_name="V")
        Membership.objects.create(
            user=valley_admin, organization=self.valley, network=self.network, role="program_admin"
        )
        self.login(valley_admin)
        url = reverse("accounts:invitation_withdraw", args=[invitation.pk])
        self.assertEqual(self.client.post(url).status_code, 404)
        self.login(self.pat)
        self.assertContains(self.client.get(LIST), "w@harbor.example")
        self.assertRedirects(self.client.post(url), LIST)
        self.client.logout()
        self.assertEqual(self.client.get(self.link_in(mail.outbox[0])).status_code, 404)

    def test_only_program_admins_invite(self):
        for person in (self.alice, self.sam, self.eve, self.charlie, self.nora):
            self.login(person)
            self.assertEqual(
                self.client.post(ADD, {"email": "x@y.example", "roles": ["keeper"]}).status_code, 403
            )
        self.assertFalse(Invitation.objects.exists())

    def test_extra_fields_such_as_organization_and_password_are_ignored(self):
        self.invite("x@harbor.example")
        self.login(self.pat)
        with self.captureOnCommitCallbacks(execute=True):
            self.client.post(
                ADD,
                {
                    "email": "x2@harbor.example",
                    "roles": ["keeper"],
                    "organization": self.valley.pk,
                    "password": STRONG,
                    "display_name": "Set by admin",
                },
            )
        self.assertEqual(set(Invitation.objects.values_list("organization_id", flat=True)), {self.harbor.pk})
        self.assertFalse(User.objects.filter(email__startswith="x").exists())

    def test_network_admin_is_not_a_role_an_organization_can_give(self):
        self.login(self.pat)
        response = self.client.post(ADD, {"email": "y@harbor.example", "roles": ["network_admin"]})
        self.assertContains(response, "Select a valid choice")
        self.assertFalse(Invitation.objects.exists())

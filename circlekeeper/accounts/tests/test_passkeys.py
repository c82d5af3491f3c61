"""Issue 19: passkeys (WebAuthn) as a second factor beside TOTP.

Added from the person's own account page after re-authentication; named and removed by them only, never the last
second factor; used after the password, never instead of it; the relying party is PUBLIC_URL's; audited; removed
by an admin's re-enrolment; recovery codes still work.
"""

from __future__ import annotations

import json

from django.test import Client, override_settings
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from circlekeeper.accounts import reauth, second_factor_reset
from circlekeeper.accounts.tests.soft_authenticator import SoftPasskey
from circlekeeper.testing import PASSWORD, PersonaTestCase, audit_log, sign_in

PUBLIC = "https://circles.example.org"
REGISTER_BEGIN = reverse("otp_webauthn:credential-registration-begin")
REGISTER_COMPLETE = reverse("otp_webauthn:credential-registration-complete")
AUTH_BEGIN = reverse("otp_webauthn:credential-authentication-begin")
AUTH_COMPLETE = reverse("otp_webauthn:credential-authentication-complete")
PASSKEYS = reverse("accounts:passkeys")


def post_json(client: Client, url: str, data: dict | None = None):
    return client.post(
        url, json.dumps(data or {}), content_type="application/json", HTTP_HOST="circles.example.org"
    )


def reauthenticated(client: Client) -> None:
    session = client.session
    reauth.mark_reauthenticated(type("R", (), {"session": session})())
    session.save()


def password_only(user) -> Client:
    """Signed in with the password, the second factor not passed yet (as after the sign-in page)."""
    client = Client()
    response = client.post(reverse("accounts:login"), {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302, response
    return client


@override_settings(PUBLIC_URL=PUBLIC, REQUIRE_MFA=True, ALLOWED_HOSTS=["circles.example.org", "testserver"])
class PasskeyTests(PersonaTestCase):
    def add_passkey(self, user, client: Client | None = None) -> tuple[SoftPasskey, WebAuthnCredential]:
        client = client or Client()
        sign_in(client, user)
        reauthenticated(client)
        passkey = SoftPasskey(origin=PUBLIC, rp_id="circles.example.org")
        options = post_json(client, REGISTER_BEGIN).json()
        response = post_json(client, REGISTER_COMPLETE, passkey.register(options))
        assert response.status_code == 200, response.content
        return passkey, WebAuthnCredential.objects.get(pk=response.json()["id"])

    def events(self, action: str) -> list[tuple[str, str]]:
        return list(audit_log().filter(action=action).values_list("outcome", "object_type"))

    # Adding

    def test_adding_a_passkey_needs_a_recent_re_authentication(self):
        sign_in(self.client, self.alice)
        self.assertRedirects(
            self.client.get(PASSKEYS),
            f"{reverse('accounts:reauthenticate')}?next={PASSKEYS.replace('/', '%2F')}",
        )
        response = post_json(self.client, REGISTER_BEGIN)
        self.assertEqual(response.status_code, 403)
        self.assertEqual(response.json()["code"], "reauthentication_needed")
        reauthenticated(self.client)
        self.assertEqual(self.client.get(PASSKEYS).status_code, 200)
        self.assertEqual(post_json(self.client, REGISTER_BEGIN).status_code, 200)

    def test_the_relying_party_is_the_public_url(self):
        sign_in(self.client, self.alice)
        reauthenticated(self.client)
        options = post_json(self.client, REGISTER_BEGIN).json()
        self.assertEqual(options["rp"]["id"], "circles.example.org")
        # A passkey made for another site (the origin a phishing page would have) is refused.
        wrong = SoftPasskey(origin="https://circles.example.org.evil.example", rp_id="circles.example.org")
        response = post_json(self.client, REGISTER_COMPLETE, wrong.register(options))
        self.assertEqual(response.status_code, 422)
        self.assertFalse(WebAuthnCredential.objects.filter(user=self.alice).exists())
        self.assertIn(("failed", ""), self.events("passkey.add"))

    def test_a_passkey_is_added_named_by_default_and_audited(self):
        _passkey, credential = self.add_passkey(self.alice)
        self.assertEqual(credential.user, self.alice)
        self.assertTrue(credential.confirmed)
        self.assertEqual(credential.name, "Passkey 1")
        self.assertEqual(self.events("passkey.add"), [("ok", "passkey")])

    # Signing in

    def test_a_passkey_is_a_second_factor_after_the_password(self):
        passkey, credential = self.add_passkey(self.alice)
        client = password_only(self.alice)
        self.assertRedirects(
            client.get(reverse("cases:list")), reverse("accounts:mfa_verify"), fetch_redirect_response=False
        )
        self.assertContains(client.get(reverse("accounts:mfa_verify")), "Use a passkey")
        options = post_json(client, AUTH_BEGIN).json()
        self.assertEqual([c["id"] for c in options["allowCredentials"]], [passkey.sign_in(options)["id"]])
        response = post_json(client, AUTH_COMPLETE, passkey.sign_in(options))
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(response.json()["redirect_url"], reverse("dashboard"))
        self.assertEqual(client.get(reverse("cases:list")).status_code, 200)
        self.assertIn(("ok", "passkey"), self.events("mfa.verify"))
        credential.refresh_from_db()
        self.assertIsNotNone(credential.last_used_at)

    def test_a_passkey_never_signs_in_without_the_password(self):
        passkey, _credential = self.add_passkey(self.alice)
        anonymous = Client()
        response = post_json(anonymous, AUTH_BEGIN)
        self.assertEqual(response.status_code, 403)
        self.assertEqual(response.json()["code"], "password_first")
        self.assertEqual(post_json(anonymous, AUTH_COMPLETE, {}).status_code, 403)
        self.assertNotIn("_auth_user_id", anonymous.session)

    def test_someone_elses_passkey_does_not_pass_the_second_factor(self):
        passkey, _credential = self.add_passkey(self.ada)
        client = password_only(self.alice)
        options = post_json(client, AUTH_BEGIN).json()
        response = post_json(client, AUTH_COMPLETE, passkey.sign_in(options))
        self.assertEqual(response.status_code, 403)
        self.assertEqual(response.json()["code"], "credential_user_mismatch")
        self.assertNotEqual(client.get(reverse("cases:list")).status_code, 200)
        self.assertIn(("failed", "passkey"), self.events("mfa.verify"))

    def test_a_signed_answer_is_used_once(self):
        passkey, _credential = self.add_passkey(self.alice)
        client = password_only(self.alice)
        options = post_json(client, AUTH_BEGIN).json()
        answer = passkey.sign_in(options)
        self.assertEqual(post_json(client, AUTH_COMPLETE, answer).status_code, 200)
        again = password_only(self.alice)
        self.assertEqual(post_json(again, AUTH_COMPLETE, answer).status_code, 400)  # no challenge of its own

    def test_recovery_codes_still_work_beside_a_passkey(self):
        self.add_passkey(self.alice)
        static = StaticDevice.objects.create(user=self.alice, name="Recovery codes", confirmed=True)
        StaticToken.objects.create(device=static, token="recover01")
        client = password_only(self.alice)
        client.post(reverse("accounts:mfa_verify"), {"token": "recover01"})
        self.assertEqual(client.get(reverse("cases:list")).status_code, 200)

    # Naming and removing

    def test_a_person_renames_their_own_passkey_only(self):
        _passkey, credential = self.add_passkey(self.alice, self.client)
        _other, adas = self.add_passkey(self.ada)
        self.client.post(
            reverse("accounts:passkey_rename", args=[credential.pk]), {"name": "  Work   laptop "}
        )
        credential.refresh_from_db()
        self.assertEqual(credential.name, "Work laptop")
        self.assertEqual(
            self.client.post(
                reverse("accounts:passkey_rename", args=[adas.pk]), {"name": "Mine"}
            ).status_code,
            404,
        )
        response = self.client.post(
            reverse("accounts:passkey_rename", args=[credential.pk]), {"name": " "}, follow=True
        )
        self.assertContains(response, "Give the passkey a name")
        credential.refresh_from_db()
        self.assertEqual(credential.name, "Work laptop")
        self.assertEqual(self.events("passkey.rename"), [("ok", "passkey")])

    def test_removing_needs_a_recent_re_authentication_and_only_ones_own(self):
        _passkey, credential = self.add_passkey(self.alice, self.client)
        _other, adas = self.add_passkey(self.ada)
        self.assertEqual(
            self.client.post(reverse("accounts:passkey_remove", args=[adas.pk])).status_code, 404
        )
        session = self.client.session
        session.pop(reauth.REAUTHENTICATED_AT_KEY)
        session.save()
        response = self.client.post(reverse("accounts:passkey_remove", args=[credential.pk]))
        self.assertTrue(response["Location"].startswith(reverse("accounts:reauthenticate")))
        self.assertTrue(WebAuthnCredential.objects.filter(pk=credential.pk).exists())
        reauthenticated(self.client)
        self.client.post(reverse("accounts:passkey_remove", args=[credential.pk]))
        self.assertFalse(WebAuthnCredential.objects.filter(pk=credential.pk).exists())
        self.assertTrue(WebAuthnCredential.objects.filter(pk=adas.pk).exists())
        self.assertEqual(self.events("passkey.remove"), [("ok", "passkey")])

    def test_the_last_second_factor_cannot_be_removed(self):
        passkey, credential = self.add_passkey(self.alice)
        TOTPDevice.objects.filter(user=self.alice).delete()  # a passkey is now the only second factor
        client = password_only(self.alice)
        self.assertRedirects(
            client.get(reverse("cases:list")), reverse("accounts:mfa_verify"), fetch_redirect_response=False
        )
        options = post_json(client, AUTH_BEGIN).json()
        self.assertEqual(post_json(client, AUTH_COMPLETE, passkey.sign_in(options)).status_code, 200)
        reauthenticated(client)
        response = client.post(reverse("accounts:passkey_remove", args=[credential.pk]), follow=True)
        self.assertContains(response, "This is your only second factor")
        self.assertTrue(WebAuthnCredential.objects.filter(pk=credential.pk).exists())
        self.assertEqual(self.events("passkey.remove"), [("refused", "passkey")])

    def test_an_admins_re_enrolment_removes_passkeys_too(self):
        self.add_passkey(self.alice)
        second_factor_reset.request_reset(organization=self.harbor, user=self.alice, by=self.pat)
        self.assertFalse(WebAuthnCredential.objects.filter(user=self.alice).exists())
        self.assertFalse(TOTPDevice.objects.filter(user=self.alice).exists())

"""Re-authentication before exports (SECURITY.md 14): password and a current code, kept for 10 minutes."""

from __future__ import annotations

import datetime
import time

import time_machine
from django.http import HttpRequest
from django.test import RequestFactory, override_settings
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from circlekeeper.accounts import reauth
from circlekeeper.accounts.audit import Action
from circlekeeper.accounts.middleware import LOGIN_AT_KEY
from circlekeeper.lib.audit import Outcome
from circlekeeper.testing import PASSWORD, PersonaTestCase, audit_log

PAGE = reverse("accounts:reauthenticate")
TARGET = "/evaluation/exports/"


def current_code(user) -> str:
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift):06d}"


class ReauthenticationPageTests(PersonaTestCase):
    def setUp(self):
        self.login(self.eve)

    def post(self, password=PASSWORD, token=None, next_url=TARGET):
        data = {"password": password, "next": next_url}
        data["token"] = current_code(self.eve) if token is None else token
        return self.client.post(PAGE, data)

    def events(self, action):
        return audit_log().filter(action=action, actor_id=self.eve.pk)

    def test_it_asks_for_the_password_and_a_code_when_there_is_a_second_factor(self):
        page = self.client.get(PAGE, {"next": TARGET})
        self.assertContains(page, 'name="password"')
        self.assertContains(page, 'name="token"')
        self.assertContains(page, f'name="next" value="{TARGET}"')

    def test_password_and_code_confirm_and_go_back_to_the_page(self):
        response = self.post()
        self.assertRedirects(response, TARGET, fetch_redirect_response=False)
        self.assertAlmostEqual(self.client.session[reauth.REAUTHENTICATED_AT_KEY], time.time(), delta=5)
        self.assertEqual(self.events(Action.REAUTHENTICATED).count(), 1)

    def test_a_wrong_password_with_a_right_code_is_refused_and_audited(self):
        response = self.post(password="not it")
        self.assertEqual(response.status_code, 400)
        self.assertContains(response, "The password or the code is not right", status_code=400)
        self.assertNotIn(reauth.REAUTHENTICATED_AT_KEY, self.client.session)
        (event,) = self.events(Action.REAUTHENTICATION_FAILURE)
        self.assertEqual(event.outcome, Outcome.FAILED)
        self.assertFalse(self.events(Action.REAUTHENTICATED).exists())

    def test_a_right_password_with_a_wrong_code_is_refused(self):
        response = self.post(token="000000" if current_code(self.eve) != "000000" else "111111")
        self.assertEqual(response.status_code, 400)
        self.assertNotIn(reauth.REAUTHENTICATED_AT_KEY, self.client.session)

    def test_a_missing_code_is_refused(self):
        response = self.post(token="")
        self.assertEqual(response.status_code, 400)
        self.assertNotIn(reauth.REAUTHENTICATED_AT_KEY, self.client.session)

    def test_a_next_on_another_site_is_not_followed(self):
        response = self.post(next_url="https://evil.example/steal")
        self.assertRedirects(response, reverse("dashboard"), fetch_redirect_response=False)

    def test_five_failures_in_a_row_end_the_session(self):
        for _ in range(reauth.MAX_FAILURES - 1):
            self.assertEqual(self.post(password="wrong").status_code, 400)
        response = self.post(password="wrong")
        self.assertRedirects(response, reverse("accounts:login"), fetch_redirect_response=False)
        self.assertNotIn("_auth_user_id", self.client.session)
        self.assertEqual(
            self.events(Action.REAUTHENTICATION_FAILURE).filter(outcome=Outcome.REFUSED).count(), 1
        )
        # Signed out: the page now asks to sign in.
        self.assertRedirects(self.client.get(PAGE), f"{reverse('accounts:login')}?next={PAGE}")

    def test_anonymous_visitors_are_sent_to_sign_in(self):
        self.client.logout()
        self.assertRedirects(self.client.get(PAGE), f"{reverse('accounts:login')}?next={PAGE}")


@override_settings(REQUIRE_MFA=False)
class WithoutSecondFactorTests(PersonaTestCase):
    def setUp(self):
        self.client.force_login(self.eve)
        session = self.client.session
        session[LOGIN_AT_KEY] = time.time()
        session.save()

    def test_a_success_resets_the_count_of_failures(self):
        for _ in range(reauth.MAX_FAILURES - 1):
            self.assertEqual(self.client.post(PAGE, {"password": "wrong"}).status_code, 400)
        self.assertEqual(self.client.post(PAGE, {"password": PASSWORD}).status_code, 302)
        for _ in range(reauth.MAX_FAILURES - 1):
            self.assertEqual(self.client.post(PAGE, {"password": "wrong"}).status_code, 400)
        self.assertIn("_auth_user_id", self.client.session)

    def test_only_the_password_is_asked_of_someone_without_a_device(self):
        page = self.client.get(PAGE)
        self.assertNotContains(page, 'name="token"')
        self.assertEqual(self.client.post(PAGE, {"password": "wrong"}).status_code, 400)
        response = self.client.post(PAGE, {"password": PASSWORD, "next": TARGET})
        self.assertRedirects(response, TARGET, fetch_redirect_response=False)


class RequireRecentAuthenticationTests(PersonaTestCase):
    def request(self, **session):
        request = RequestFactory().get("/evaluation/exports/?x=1")
        request.user = self.eve
        request.session = dict(session)  # type: ignore[assignment]
        return request

    def test_without_confirmation_it_redirects_with_next_this_page(self):
        response = reauth.require_recent_authentication(self.request())
        assert response is not None
        self.assertEqual(response.status_code, 302)
        self.assertEqual(response["Location"], f"{PAGE}?next=%2Fevaluation%2Fexports%2F%3Fx%3D1")

    def test_a_given_next_is_used(self):
        response = reauth.require_recent_authentication(self.request(), next_url="/elsewhere/")
        assert response is not None
        self.assertEqual(response["Location"], f"{PAGE}?next=%2Felsewhere%2F")

    def test_a_confirmation_lasts_ten_minutes(self):
        request: HttpRequest = self.request()
        reauth.mark_reauthenticated(request)
        self.assertIsNone(reauth.require_recent_authentication(request))
        with time_machine.travel(datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(minutes=9)):
            self.assertIsNone(reauth.require_recent_authentication(request))
        with time_machine.travel(datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(minutes=11)):
            response = reauth.require_recent_authentication(request)
            assert response is not None
            self.assertEqual(response.status_code, 302)

    def test_a_time_in_the_future_or_not_a_number_does_not_count(self):
        self.assertFalse(
            reauth.recently_authenticated(self.request(**{reauth.REAUTHENTICATED_AT_KEY: time.time() + 600}))
        )
        self.assertFalse(
            reauth.recently_authenticated(self.request(**{reauth.REAUTHENTICATED_AT_KEY: "soon"}))
        )

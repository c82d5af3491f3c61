from __future__ import annotations

import datetime

import time_machine
from django.contrib.sessions.backends.base import SessionBase
from django.test import Client, override_settings
from django.urls import reverse

from circlekeeper.accounts import services
from circlekeeper.accounts.models import Membership, UserSession
from circlekeeper.testing import PASSWORD, PersonaTestCase

LOGIN = reverse("accounts:login")
START = datetime.datetime(2026, 5, 4, 9, 0, tzinfo=datetime.UTC)


@override_settings(REQUIRE_MFA=False)
class SessionExpiryTests(PersonaTestCase):
    def sign_in(self) -> None:
        response = self.client.post(LOGIN, {"username": "alice@harbor.example", "password": PASSWORD})
        self.assertEqual(response.status_code, 302)

    def test_a_session_ends_after_thirty_minutes_without_activity(self):
        with time_machine.travel(START, tick=False) as clock:
            self.sign_in()
            clock.shift(datetime.timedelta(minutes=29))
            self.assertEqual(self.client.get(reverse("cases:list")).status_code, 200)
            clock.shift(datetime.timedelta(minutes=29))
            self.assertEqual(self.client.get(reverse("cases:list")).status_code, 200)
            clock.shift(datetime.timedelta(minutes=31))
            response = self.client.get(reverse("cases:list"))
        self.assertRedirects(response, f"{LOGIN}?next=/cases/", fetch_redirect_response=False)

    def test_a_session_ends_after_twelve_hours_even_when_busy(self):
        with time_machine.travel(START, tick=False) as clock:
            self.sign_in()
            for _ in range(47):
                clock.shift(datetime.timedelta(minutes=15))
                self.assertEqual(self.client.get(reverse("cases:list")).status_code, 200)
            clock.shift(datetime.timedelta(minutes=20))
            response = self.client.get(reverse("cases:list"))
        self.assertRedirects(response, LOGIN, fetch_redirect_response=False)
        self.assertNotIn("_auth_user_id", self.client.session)

    def test_each_session_remembers_its_user(self):
        self.sign_in()
        self.assertEqual(
            UserSession.objects.get(session_key=self.client.session.session_key).user_id, self.alice.pk
        )


@override_settings(REQUIRE_MFA=False)
class DeactivationEndsSessionsTests(PersonaTestCase):
    def test_deactivation_ends_every_session_of_that_person_at_once(self):
        phone, laptop, colleague = Client(), Client(), Client()
        for client, email in (
            (phone, "alice@harbor.example"),
            (laptop, "alice@harbor.example"),
            (colleague, "bob@harbor.example"),
        ):
            client.post(LOGIN, {"username": email, "password": PASSWORD})
            self.assertEqual(client.get(reverse("cases:list")).status_code, 200)
        services.set_member_active(organization=self.harbor, user=self.alice, active=False, by=self.pat)
        for client in (phone, laptop):
            self.assertRedirects(
                client.get(reverse("cases:list")), f"{LOGIN}?next=/cases/", fetch_redirect_response=False
            )
        self.assertFalse(UserSession.objects.filter(user_id=self.alice.pk).exists())
        self.assertEqual(colleague.get(reverse("cases:list")).status_code, 200)

    def test_a_person_with_another_organization_keeps_the_account_but_not_the_roles(self):
        Membership.objects.create(
            user=self.alice, organization=self.valley, network=self.network, role="keeper"
        )
        services.set_member_active(organization=self.harbor, user=self.alice, active=False, by=self.pat)
        self.alice.refresh_from_db()
        self.assertTrue(self.alice.is_active)
        self.assertFalse(self.alice.memberships.filter(organization=self.harbor, is_active=True).exists())

    def test_deactivation_in_one_organization_ends_nothing_in_another(self):
        """SECURITY.md 15a: Harbor can take its own roles away at once, never Valley's session or account."""
        Membership.objects.create(
            user=self.alice, organization=self.valley, network=self.network, role="keeper"
        )
        phone = Client()
        phone.post(LOGIN, {"username": "alice@harbor.example", "password": PASSWORD})
        self.assertContains(phone.get(reverse("cases:list")), "HAR-2026-0001")  # Harbor is her active one
        for _ in range(3):  # as often as wanted
            services.set_member_active(organization=self.harbor, user=self.alice, active=False, by=self.pat)
        self.assertTrue(UserSession.objects.filter(user_id=self.alice.pk).exists())
        # The same session, at once: nothing of Harbor opens; Valley's work goes on.
        self.assertEqual(phone.get(reverse("cases:detail", args=[self.case.pk])).status_code, 404)
        response = phone.get(reverse("cases:list"))
        self.assertEqual(response.status_code, 200)
        self.assertNotContains(response, "HAR-2026-0001")
        self.alice.refresh_from_db()
        self.assertTrue(self.alice.is_active)

    def test_session_store_ignores_sessions_without_a_user(self):
        store: SessionBase = UserSession.get_session_store_class()()
        store["anything"] = 1
        store.save()
        self.assertIsNone(UserSession.objects.get(session_key=store.session_key).user_id)

"""The idle limit (SECURITY.md: sessions end after inactivity): renewed by activity, at most once a minute."""

from __future__ import annotations

import datetime

import time_machine
from django.conf import settings
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from circlekeeper.accounts.models import Role
from circlekeeper.testing import make_organization, make_user, sign_in

START = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
IDLE = datetime.timedelta(minutes=settings.SESSION_IDLE_MINUTES)
RENEW = datetime.timedelta(seconds=settings.SESSION_RENEW_SECONDS)


def session_writes(queries: list[dict[str, str]]) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if "accounts_usersession" in q["sql"] and q["sql"].startswith(("UPDATE", "INSERT"))
    ]


class IdleLimitTests(TestCase):
    def setUp(self) -> None:
        harbor = make_organization(name="Harbor", case_prefix="HAR")
        self.keeper = make_user("keeper@harbor.example", organization=harbor, roles=(Role.KEEPER,))
        self.url = reverse("dashboard")

    def signed_in(self) -> bool:
        response = self.client.get(self.url)
        if response.status_code == 200:
            return True
        self.assertEqual(response.status_code, 302)
        self.assertIn(reverse("accounts:login"), response["Location"])
        return False

    def test_activity_keeps_a_session_open_and_inactivity_ends_it(self):
        with time_machine.travel(START, tick=False) as clock:
            sign_in(self.client, self.keeper)
            self.assertTrue(self.signed_in())
            for _ in range(3):  # an hour and more of use, a request every 20 minutes
                clock.shift(datetime.timedelta(minutes=20))
                self.assertTrue(self.signed_in())
            clock.shift(IDLE + datetime.timedelta(seconds=1))
            self.assertFalse(self.signed_in())

    def test_a_session_is_saved_at_most_once_a_minute_while_in_use(self):
        with time_machine.travel(START, tick=False) as clock:
            sign_in(self.client, self.keeper)
            with CaptureQueriesContext(connection) as first:
                self.assertTrue(self.signed_in())
            self.assertEqual(session_writes(first.captured_queries), [], "signing in was the first renewal")
            clock.shift(RENEW - datetime.timedelta(seconds=1))
            with CaptureQueriesContext(connection) as soon:
                self.assertTrue(self.signed_in())
            self.assertEqual(session_writes(soon.captured_queries), [], "no write within the minute")
            clock.shift(datetime.timedelta(seconds=1))
            with CaptureQueriesContext(connection) as later:
                self.assertTrue(self.signed_in())
            self.assertEqual(len(session_writes(later.captured_queries)), 1, "renewed once the minute is up")

    def test_it_ends_early_rather_than_late(self):
        """A request within the minute after a renewal does not move the expiry: the session ends IDLE after the
        renewal, less than IDLE after that request, never more."""
        with time_machine.travel(START, tick=False) as clock:
            sign_in(self.client, self.keeper)
            clock.shift(RENEW)
            self.assertTrue(self.signed_in())  # renewed here
            clock.shift(RENEW - datetime.timedelta(seconds=1))
            self.assertTrue(self.signed_in())  # not renewed
            clock.shift(IDLE - RENEW + datetime.timedelta(seconds=2))
            self.assertFalse(self.signed_in())

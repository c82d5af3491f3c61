"""A staff member's private calendar feed: made or replaced on its page, its address shown once, only the
SHA-256 of its token kept; people without a case role are refused."""

import hashlib
import re

from django.urls import reverse

from circlekeeper.protocol.models import CalendarToken
from circlekeeper.testing import PersonaTestCase, audit_log

URL = reverse("protocol:calendar")
FEED = re.compile(r"http://127.0.0.1:8000/protocol/calendar/([A-Za-z0-9_-]{43})\.ics")


class CalendarPageTests(PersonaTestCase):
    def make(self) -> str:
        page = self.client.post(URL)
        self.assertEqual(page.status_code, 200)
        found = FEED.search(page.content.decode())
        assert found is not None, page.content.decode()
        return found.group(1)

    def test_the_address_is_shown_once_and_only_the_hash_of_its_token_is_kept(self):
        self.login(self.alice)
        self.assertContains(self.client.get(URL), "You have no calendar feed.")
        token = self.make()
        feed = CalendarToken.objects.get(user=self.alice)
        self.assertEqual(feed.token_hash, hashlib.sha256(token.encode()).hexdigest())
        self.assertNotIn(token, str(CalendarToken.objects.values_list()))
        again = self.client.get(URL)
        self.assertContains(again, "Its address was shown once")
        self.assertNotContains(again, token)
        self.assertFalse(audit_log().filter(path__contains=token).exists())
        self.assertTrue(audit_log().filter(action="calendar.token", actor_id=self.alice.pk).exists())

    def test_a_new_address_replaces_the_old_one_which_stops_working(self):
        self.login(self.alice)
        old = self.make()
        new = self.make()
        self.assertNotEqual(old, new)
        self.assertEqual(CalendarToken.objects.filter(user=self.alice).count(), 1)
        self.assertEqual(self.client.get(reverse("protocol:calendar_feed", args=[old])).status_code, 404)
        self.assertEqual(self.client.get(reverse("protocol:calendar_feed", args=[new])).status_code, 200)

    def test_stopping_the_feed(self):
        self.login(self.ada)
        token = self.make()
        page = self.client.post(URL, {"action": "stop"}, follow=True)
        self.assertContains(page, "Your calendar feed is stopped")
        self.assertFalse(CalendarToken.objects.exists())
        self.assertEqual(self.client.get(reverse("protocol:calendar_feed", args=[token])).status_code, 404)

    def test_extra_fields_cannot_make_a_feed_for_someone_else(self):
        self.login(self.alice)
        self.client.post(URL, {"user": self.sam.pk, "token_hash": "0" * 64})
        self.assertEqual(list(CalendarToken.objects.values_list("user", flat=True)), [self.alice.pk])
        self.assertNotEqual(CalendarToken.objects.get().token_hash, "0" * 64)

    def test_people_without_a_case_role_are_refused_and_visitors_sent_to_sign_in(self):
        for person in (self.pat, self.eve, self.nora):
            self.login(person)
            self.assertEqual(self.client.get(URL).status_code, 403)
            self.assertEqual(self.client.post(URL).status_code, 403)
        self.client.logout()
        self.assertRedirects(self.client.get(URL), f"{reverse('accounts:login')}?next={URL}")
        self.assertFalse(CalendarToken.objects.exists())

"""Recording safe-contact rules through the page: checked per field, encrypted, and never overwritten blindly."""

from __future__ import annotations

import datetime

from django.db import connection
from django.urls import reverse
from django.utils import timezone

from circlekeeper.cases.contact import contact_allowed
from circlekeeper.cases.models import CaseEvent, ContactRules, EventKind
from circlekeeper.cases.participants import record_consent
from circlekeeper.testing import PersonaTestCase, audit_log, make_participant

# Monday 4 May 2026 in the organization's time zone, where the rules' times are.
MONDAY_MORNING = timezone.make_aware(datetime.datetime(2026, 5, 4, 10, 0))
MONDAY_EVENING = timezone.make_aware(datetime.datetime(2026, 5, 4, 19, 0))


class ContactRulesPageTests(PersonaTestCase):
    def setUp(self) -> None:
        self.survivor = make_participant(self.case, reachable=False, label="Survivor A")
        self.url = reverse("cases:contact_rules", args=[self.case.pk, self.survivor.pk])

    def form(self, **overrides: object) -> dict[str, object]:
        return {
            "version": "",
            "channels": ["phone_call", "text"],
            "days": ["0", "1", "2"],
            "from_time": "09:00",
            "until_time": "17:00",
            "code_word": "blue umbrella",
            "never_leave_messages": "on",
            "named_person": "",
            "notes": "Call from a blocked number.",
            **overrides,
        }

    def test_the_team_records_rules_that_the_contact_check_then_applies(self):
        record_consent(
            participant=self.survivor,
            kind="contact",
            how_given="oral",
            given_on=MONDAY_MORNING.date(),
            by=self.alice,
        )
        self.login(self.ada)
        page = self.client.get(self.url)
        self.assertContains(page, 'type="hidden" name="version"', html=False)
        self.assertContains(page, 'type="time" name="from_time"', html=False)
        self.assertContains(page, "Through a named person")
        self.assertContains(page, "Sunday")

        response = self.client.post(self.url, self.form(), follow=True)

        self.assertRedirects(
            response,
            reverse("cases:participant_detail", args=[self.case.pk, self.survivor.pk]) + "#contact-rules",
        )
        self.assertContains(response, "Safe-contact rules saved.")
        self.assertContains(response, "Phone call, Text message")
        self.assertContains(response, "Monday, Tuesday, Wednesday")
        rules = ContactRules.objects.get(participant=self.survivor)
        self.assertEqual(
            (rules.channels, rules.days, rules.from_time),
            (["phone_call", "text"], [0, 1, 2], datetime.time(9)),
        )
        self.assertTrue(rules.never_leave_messages)
        self.assertEqual(rules.updated_by, self.ada)
        self.assertTrue(contact_allowed(self.survivor, "phone_call", MONDAY_MORNING).allowed)
        self.assertIn("never leave messages", contact_allowed(self.survivor, "text", MONDAY_MORNING).reason)
        self.assertIn(
            "only at the allowed times", contact_allowed(self.survivor, "phone_call", MONDAY_EVENING).reason
        )
        self.assertTrue(
            audit_log()
            .filter(action="contact.rules", object_type="contact_rules", object_id=str(rules.pk))
            .exists()
        )
        self.assertEqual(CaseEvent.objects.filter(kind=EventKind.CONTACT_RULES).count(), 1)

    def test_the_code_word_named_person_and_notes_are_stored_encrypted(self):
        self.login(self.alice)
        self.client.post(
            self.url,
            self.form(
                channels=["named_person"],
                named_person="Aunt Marker-5521",
                code_word="Word-5521",
                notes="Note-5521",
            ),
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT code_word, named_person, notes FROM cases_contactrules")
            stored = b"".join(bytes(value) for value in cursor.fetchone())
        self.assertNotIn(b"5521", stored)
        self.assertEqual(ContactRules.objects.get().named_person, "Aunt Marker-5521")

    def test_mistakes_are_shown_by_field_and_nothing_is_saved(self):
        self.login(self.alice)
        response = self.client.post(
            self.url, self.form(channels=["named_person"], from_time="17:00", until_time="09:00")
        )
        self.assertContains(response, "The end of the allowed time must come after its start.")
        self.assertContains(response, "Name the person the program may contact them through.")
        self.assertContains(response, 'href="#id_until_time"')
        self.assertContains(response, 'href="#id_named_person"')
        response = self.client.post(self.url, self.form(from_time="09:00", until_time=""))
        self.assertContains(response, "Give both times, or neither")
        response = self.client.post(self.url, self.form(channels=["carrier pigeon"]))
        self.assertContains(response, "Select a valid choice.")
        self.assertFalse(ContactRules.objects.exists())

    def test_changing_rules_needs_the_version_the_page_was_drawn_from(self):
        self.login(self.alice)
        self.client.post(self.url, self.form())
        page = self.client.get(self.url)
        self.assertContains(page, 'type="hidden" name="version" value="1"', html=False)
        self.assertContains(page, 'value="blue umbrella"', html=False)

        self.client.post(self.url, self.form(version="1", days=["3"]))
        self.assertEqual(ContactRules.objects.get().days, [3])
        self.assertEqual(ContactRules.objects.get().version, 2)

    def test_the_second_of_two_editors_is_refused_with_a_clear_message_and_nothing_is_written(self):
        self.login(self.alice)
        self.client.post(self.url, self.form())
        # Alice and Ada both opened the page at version 1; Ada saves first.
        self.login(self.ada)
        self.client.post(self.url, self.form(version="1", channels=["in_person"]))
        self.login(self.alice)
        response = self.client.post(
            self.url, self.form(version="1", channels=["email"], never_leave_messages="")
        )
        self.assertContains(response, "Someone else changed this while you were editing. Nothing was saved")
        rules = ContactRules.objects.get()
        self.assertEqual((rules.channels, rules.version, rules.updated_by), (["in_person"], 2, self.ada))

    def test_two_people_recording_the_first_rules_at_once_do_not_overwrite_each_other(self):
        self.login(self.alice)
        self.client.post(self.url, self.form(channels=["in_person"]))
        self.login(self.ada)
        response = self.client.post(self.url, self.form(channels=["email"]))
        self.assertContains(response, "Someone else changed this while you were editing.")
        self.assertEqual(ContactRules.objects.get().channels, ["in_person"])

    def test_extra_fields_like_organization_or_participant_are_ignored(self):
        other = make_participant(self.case, reachable=False, label="Supporter C")
        self.login(self.alice)
        self.client.post(
            self.url, self.form(organization=self.valley.pk, participant=other.pk, updated_by=self.bob.pk)
        )
        rules = ContactRules.objects.get()
        self.assertEqual(
            (rules.organization_id, rules.participant_id, rules.updated_by_id),
            (self.harbor.pk, self.survivor.pk, self.alice.pk),
        )

    def test_staff_off_the_team_and_of_another_organization_get_404_and_write_nothing(self):
        for person in (self.bob, self.charlie, self.eve, self.pat):
            self.login(person)
            self.assertEqual(self.client.get(self.url).status_code, 404, person)
            self.assertEqual(self.client.post(self.url, self.form()).status_code, 404, person)
        self.assertFalse(ContactRules.objects.exists())

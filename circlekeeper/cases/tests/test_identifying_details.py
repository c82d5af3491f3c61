"""Editing a participant's identifying details: encrypted at rest, audited, and a stale page never overwrites."""

from __future__ import annotations

import datetime

from django.db import connection
from django.urls import reverse

from circlekeeper.cases.models import CaseEvent, EventKind, Participant, ParticipantRole
from circlekeeper.testing import PersonaTestCase, audit_log, make_participant


class IdentifyingDetailsPageTests(PersonaTestCase):
    def setUp(self) -> None:
        self.survivor = make_participant(self.case, reachable=False, label="Survivor A")
        self.url = reverse("cases:participant_details", args=[self.case.pk, self.survivor.pk])

    def form(self, **overrides: object) -> dict[str, object]:
        return {
            "version": 1,
            "name": "Rosa Marquez",
            "pronouns": "she/her",
            "date_of_birth": "1990-04-02",
            "phone": "(555) 010-2000",
            "email": "rosa@example.net",
            "address": "12 Quay Street",
            "languages": "Spanish, English",
            **overrides,
        }

    def test_the_team_saves_details_and_the_change_is_audited_and_in_the_history(self):
        self.login(self.ada)
        response = self.client.post(self.url, self.form(), follow=True)

        self.assertRedirects(
            response, reverse("cases:participant_detail", args=[self.case.pk, self.survivor.pk]) + "#details"
        )
        self.assertContains(response, "Identifying details saved.")
        self.assertContains(response, "Rosa Marquez")
        saved = Participant.objects.get(pk=self.survivor.pk)
        self.assertEqual(saved.date_of_birth, datetime.date(1990, 4, 2))
        self.assertEqual(saved.details_version, 2)
        self.assertTrue(
            audit_log()
            .filter(action="participant.details", actor_id=self.ada.pk, object_id=str(self.survivor.pk))
            .exists()
        )
        event = CaseEvent.objects.get(case=self.case, kind=EventKind.DETAILS_CHANGED)
        self.assertEqual(event.facts, {"participant": "Survivor A"})

    def test_what_is_saved_through_the_page_is_not_in_the_database_in_plain_text(self):
        self.login(self.alice)
        self.client.post(self.url, self.form(name="Marker Zyxwv", address="Marker Street 77"))
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT name, phone, email, address, date_of_birth, languages, pronouns "
                "FROM cases_participant WHERE id = %s",
                [self.survivor.pk],
            )
            stored = b"".join(bytes(value) for value in cursor.fetchone())
        for plain in (b"Zyxwv", b"Marker Street", b"010-2000", b"rosa@example", b"1990-04-02", b"Spanish"):
            self.assertNotIn(plain, stored)
        self.assertEqual(Participant.objects.get(pk=self.survivor.pk).name, "Marker Zyxwv")

    def test_the_form_shows_the_current_details_with_a_date_input_and_the_version(self):
        self.login(self.alice)
        self.client.post(self.url, self.form())
        page = self.client.get(self.url)
        self.assertContains(page, 'type="date" name="date_of_birth" value="1990-04-02"', html=False)
        self.assertContains(page, 'type="hidden" name="version" value="2"', html=False)
        self.assertContains(page, 'value="Rosa Marquez"', html=False)
        # Showing decrypted details is a read of them.
        self.assertTrue(audit_log().filter(action="participant.view", actor_id=self.alice.pk).exists())

    def test_the_second_of_two_editors_is_refused_with_a_clear_message_and_nothing_is_written(self):
        # Alice and Ada both open the form at version 1; Alice saves first.
        self.login(self.alice)
        self.client.post(self.url, self.form(name="Rosa Marquez"))
        self.login(self.ada)
        response = self.client.post(self.url, self.form(name="Rosa M. Lopez", phone="555 999 0000"))

        self.assertContains(response, "Someone else changed this while you were editing. Nothing was saved")
        saved = Participant.objects.get(pk=self.survivor.pk)
        self.assertEqual(
            (saved.name, saved.phone, saved.details_version), ("Rosa Marquez", "(555) 010-2000", 2)
        )
        self.assertEqual(CaseEvent.objects.filter(kind=EventKind.DETAILS_CHANGED).count(), 1)
        self.assertFalse(audit_log().filter(action="participant.details", actor_id=self.ada.pk).exists())

    def test_the_same_form_sent_twice_is_saved_once_without_a_stale_error(self):
        self.login(self.alice)
        first = self.client.post(self.url, self.form())
        again = self.client.post(self.url, self.form())  # a double click: both carry version 1
        self.assertEqual((first.status_code, again.status_code), (302, 302))
        self.assertEqual(Participant.objects.get(pk=self.survivor.pk).details_version, 2)
        self.assertEqual(CaseEvent.objects.filter(kind=EventKind.DETAILS_CHANGED).count(), 1)

    def test_a_bad_email_or_date_is_refused_by_field(self):
        self.login(self.alice)
        response = self.client.post(self.url, self.form(email="not an email", date_of_birth="2/30/1990"))
        self.assertContains(response, "Enter a valid email address.")
        self.assertContains(response, "Enter a valid date.")
        self.assertIsNone(Participant.objects.get(pk=self.survivor.pk).name)

    def test_extra_fields_like_organization_role_or_label_are_ignored(self):
        self.login(self.alice)
        self.client.post(
            self.url,
            self.form(
                organization=self.valley.pk, role=ParticipantRole.CHILD, label="X", case=self.valley_case.pk
            ),
        )
        saved = Participant.objects.get(pk=self.survivor.pk)
        self.assertEqual(
            (saved.organization_id, saved.role, saved.label, saved.case_id),
            (self.harbor.pk, ParticipantRole.SURVIVOR, "Survivor A", self.case.pk),
        )
        self.assertEqual(saved.name, "Rosa Marquez")

    def test_staff_off_the_team_and_of_another_organization_get_404_and_write_nothing(self):
        for person in (self.bob, self.charlie, self.eve, self.pat):
            self.login(person)
            self.assertEqual(self.client.get(self.url).status_code, 404, person)
            self.assertEqual(self.client.post(self.url, self.form()).status_code, 404, person)
        self.assertIsNone(Participant.objects.get(pk=self.survivor.pk).name)

    def test_a_participant_of_another_organization_is_not_found_through_my_case(self):
        stranger = make_participant(self.valley_case, label="Survivor V")
        self.login(self.alice)
        url = reverse("cases:participant_details", args=[self.case.pk, stranger.pk])
        self.assertEqual(self.client.post(url, self.form()).status_code, 404)
        self.assertIsNone(Participant.objects.get(pk=stranger.pk).name)

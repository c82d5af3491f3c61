"""Recording and withdrawing consent through the pages; withdrawal takes effect at once."""

from __future__ import annotations

import datetime

from django.db import connection
from django.urls import reverse
from django.utils import timezone

from circlekeeper.cases.choice import choose_track
from circlekeeper.cases.contact import contact_allowed
from circlekeeper.cases.models import (
    CaseEvent,
    Consent,
    ConsentKind,
    EventKind,
    Participant,
    ParticipantRole,
    Track,
)
from circlekeeper.testing import PersonaTestCase, audit_log, make_participant, ready_for_contact


class ConsentAddPageTests(PersonaTestCase):
    def setUp(self) -> None:
        self.survivor = make_participant(self.case, reachable=False, label="Survivor A")
        self.url = reverse("cases:consent_add", args=[self.case.pk, self.survivor.pk])

    def form(self, **overrides: object) -> dict[str, object]:
        return {
            "kind": "take_part",
            "how_given": "oral",
            "given_on": timezone.localdate().isoformat(),
            **overrides,
        }

    def test_the_team_records_a_consent_and_sees_it_on_the_participant_page(self):
        self.login(self.ada)
        page = self.client.get(self.url)
        self.assertContains(page, "To share information with named others")
        self.assertContains(page, f'value="{timezone.localdate().isoformat()}"')

        response = self.client.post(self.url, self.form(), follow=True)

        self.assertRedirects(
            response, reverse("cases:participant_detail", args=[self.case.pk, self.survivor.pk]) + "#consents"
        )
        self.assertContains(response, "Consent recorded.")
        consent = Consent.objects.get(participant=self.survivor)
        self.assertEqual(
            (consent.kind, consent.how_given, consent.recorded_by), ("take_part", "oral", self.ada)
        )
        self.assertTrue(self.survivor.has_consent(ConsentKind.TAKE_PART))
        self.assertTrue(
            audit_log()
            .filter(action="consent.add", object_type="consent", object_id=str(consent.pk))
            .exists()
        )

    def test_consent_to_share_needs_who_with_and_keeps_it_encrypted(self):
        self.login(self.alice)
        response = self.client.post(self.url, self.form(kind="share"))
        self.assertContains(response, "Name who the information may be shared with")
        self.assertFalse(Consent.objects.exists())

        self.client.post(self.url, self.form(kind="share", share_with="Sister Marker-4471, the plan only"))
        consent = Consent.objects.get()
        self.assertEqual(consent.share_with, "Sister Marker-4471, the plan only")
        with connection.cursor() as cursor:
            cursor.execute("SELECT share_with FROM cases_consent WHERE id = %s", [consent.pk])
            self.assertNotIn(b"Marker-4471", bytes(cursor.fetchone()[0]))

    def test_a_consent_in_the_future_is_refused_by_field(self):
        self.login(self.alice)
        tomorrow = timezone.localdate() + datetime.timedelta(days=1)
        response = self.client.post(self.url, self.form(given_on=tomorrow.isoformat()))
        self.assertContains(response, "Consent cannot be given in the future.")
        self.assertFalse(Consent.objects.exists())

    def test_submitting_the_same_form_twice_records_one_consent(self):
        self.login(self.alice)
        self.client.post(self.url, self.form())
        self.client.post(self.url, self.form())
        self.assertEqual(Consent.objects.filter(participant=self.survivor).count(), 1)
        self.assertEqual(CaseEvent.objects.filter(kind=EventKind.CONSENT_GIVEN).count(), 1)
        # A different consent is still a new record.
        self.client.post(self.url, self.form(how_given="written"))
        self.assertEqual(Consent.objects.filter(participant=self.survivor).count(), 2)

    def test_extra_fields_like_organization_participant_or_recorded_by_are_ignored(self):
        other = make_participant(
            self.case, reachable=False, label="Person B", role=ParticipantRole.PERSON_WHO_CAUSED_HARM
        )
        self.login(self.alice)
        self.client.post(
            self.url,
            self.form(
                organization=self.valley.pk,
                participant=other.pk,
                recorded_by=self.bob.pk,
                revoked_at="2026-01-01",
            ),
        )
        consent = Consent.objects.get()
        self.assertEqual(
            (consent.organization_id, consent.participant_id, consent.recorded_by_id, consent.revoked_at),
            (self.harbor.pk, self.survivor.pk, self.alice.pk, None),
        )

    def test_staff_off_the_team_and_of_another_organization_get_404_and_record_nothing(self):
        for person in (self.bob, self.charlie, self.eve, self.pat):
            self.login(person)
            self.assertEqual(self.client.get(self.url).status_code, 404, person)
            self.assertEqual(self.client.post(self.url, self.form()).status_code, 404, person)
        self.assertFalse(Consent.objects.exists())


class ConsentWithdrawPageTests(PersonaTestCase):
    survivor: Participant
    harm: Participant

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.survivor = make_participant(cls.case, label="Survivor A")
        cls.harm = make_participant(cls.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Person B")
        choose_track(
            case=cls.case,
            survivor=cls.survivor,
            track=Track.INDIRECT_DIALOGUE,
            explained_by=cls.alice,
            explained_on=datetime.date(2026, 3, 2),
            by=cls.alice,
        )
        ready_for_contact(cls.case, cls.alice)

    def setUp(self) -> None:
        self.consent = Consent.objects.get(participant=self.survivor, kind=ConsentKind.TAKE_PART)
        self.url = reverse("cases:consent_withdraw", args=[self.case.pk, self.consent.pk])

    def test_withdrawing_the_survivors_consent_to_take_part_stops_contact_with_the_other_side_at_once(self):
        now = timezone.now()
        self.assertTrue(contact_allowed(self.harm, "phone_call", now).allowed)
        self.login(self.alice)

        response = self.client.post(self.url, {"how": "oral"}, follow=True)

        self.assertContains(
            response, "nothing involving the person who caused harm or their supporters may go ahead"
        )
        decision = contact_allowed(self.harm, "phone_call", timezone.now())
        self.assertFalse(decision.allowed)
        self.assertIn("no current consent to take part", decision.reason)
        # The survivor's own support goes on.
        self.assertTrue(contact_allowed(self.survivor, "phone_call", timezone.now()).allowed)
        self.consent.refresh_from_db()
        self.assertEqual((self.consent.revoked_how, self.consent.revoked_by), ("oral", self.alice))
        self.assertTrue(
            audit_log().filter(action="consent.withdraw", object_id=str(self.consent.pk)).exists()
        )
        page = self.client.get(reverse("cases:participant_detail", args=[self.case.pk, self.harm.pk]))
        self.assertContains(page, "Nothing involving Person B may start now")

    def test_a_withdrawn_consent_stays_withdrawn_with_the_first_time(self):
        self.login(self.alice)
        self.client.post(self.url, {"how": "oral"})
        self.consent.refresh_from_db()
        first = self.consent.revoked_at
        self.login(self.sam)
        response = self.client.post(self.url, {"how": "written"}, follow=True)
        self.assertContains(response, "This consent was already withdrawn.")
        self.consent.refresh_from_db()
        self.assertEqual(
            (self.consent.revoked_at, self.consent.revoked_how, self.consent.revoked_by),
            (first, "oral", self.alice),
        )
        self.assertEqual(CaseEvent.objects.filter(kind=EventKind.CONSENT_WITHDRAWN).count(), 1)
        self.assertEqual(audit_log().filter(action="consent.withdraw").count(), 1)

    def test_how_it_was_withdrawn_must_be_said(self):
        self.login(self.alice)
        response = self.client.post(self.url, {"how": "by pigeon"}, follow=True)
        self.assertContains(response, "Say how they withdrew their consent")
        self.consent.refresh_from_db()
        self.assertIsNone(self.consent.revoked_at)

    def test_it_refuses_get(self):
        self.login(self.alice)
        self.assertEqual(self.client.get(self.url).status_code, 405)
        self.consent.refresh_from_db()
        self.assertIsNone(self.consent.revoked_at)

    def test_staff_off_the_team_and_of_another_organization_get_404_and_change_nothing(self):
        for person in (self.bob, self.charlie, self.eve, self.pat):
            self.login(person)
            self.assertEqual(self.client.post(self.url, {"how": "oral"}).status_code, 404, person)
        self.consent.refresh_from_db()
        self.assertIsNone(self.consent.revoked_at)
        self.assertTrue(contact_allowed(self.harm, "phone_call", timezone.now()).allowed)

    def test_a_consent_of_another_case_is_not_found_through_mine(self):
        stranger = make_participant(self.other_team_case, label="Survivor Z")
        consent = Consent.objects.get(participant=stranger, kind=ConsentKind.TAKE_PART)
        self.login(self.alice)
        url = reverse("cases:consent_withdraw", args=[self.case.pk, consent.pk])
        self.assertEqual(self.client.post(url, {"how": "oral"}).status_code, 404)
        consent.refresh_from_db()
        self.assertIsNone(consent.revoked_at)

from __future__ import annotations

import datetime

import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from circlekeeper.cases.disclosure import (
    DisclosureRefused,
    add_participant,
    record_compelled_disclosure,
    record_release,
    require_release,
    revoke_release,
)
from circlekeeper.cases.models import CaseTask, ReleaseOfInformation, TaskKind
from circlekeeper.testing import PersonaTestCase, audit_log

TODAY = datetime.date(2026, 6, 1)


@time_machine.travel(datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.UTC), tick=False)
class RequireReleaseTests(PersonaTestCase):
    def setUp(self) -> None:
        self.survivor = add_participant(case=self.case, role="survivor", label="Survivor A")

    def release(self, **kwargs) -> ReleaseOfInformation:
        values = {
            "participant": self.survivor,
            "recipient": "Harbor County Court",
            "fields": ["name", "contact"],
            "purpose": "Protective order hearing",
            "how_given": "signed",
            "affirmed_on": datetime.date(2026, 5, 1),
            "expires_on": datetime.date(2026, 8, 1),
            "by": self.alice,
            **kwargs,
        }
        return record_release(**values)

    def test_without_any_release_sharing_is_refused(self):
        with self.assertRaisesMessage(DisclosureRefused, "no release of information"):
            require_release(participant=self.survivor, recipient="Harbor County Court", fields=["name"])

    def test_a_current_release_covering_every_field_allows_it(self):
        release = self.release()
        found = require_release(
            participant=self.survivor, recipient="harbor  county court", fields=["name", "contact"]
        )
        self.assertEqual(found, release)

    def test_a_field_the_release_does_not_list_is_refused_by_name(self):
        self.release(fields=["name"])
        with self.assertRaisesMessage(DisclosureRefused, "does not cover: Address"):
            require_release(
                participant=self.survivor, recipient="Harbor County Court", fields=["name", "address"]
            )

    def test_another_recipient_is_refused(self):
        self.release()
        with self.assertRaises(DisclosureRefused):
            require_release(participant=self.survivor, recipient="Harbor Police Department", fields=["name"])

    def test_an_expired_release_is_refused(self):
        self.release()
        with self.assertRaisesMessage(DisclosureRefused, "expired"):
            require_release(
                participant=self.survivor,
                recipient="Harbor County Court",
                fields=["name"],
                on=datetime.date(2026, 8, 2),
            )

    def test_revocation_takes_effect_at_once(self):
        release = self.release()
        require_release(participant=self.survivor, recipient="Harbor County Court", fields=["name"])
        self.assertTrue(revoke_release(release=release, by=self.ada))
        with self.assertRaisesMessage(DisclosureRefused, "revoked"):
            require_release(participant=self.survivor, recipient="Harbor County Court", fields=["name"])
        first_revocation = ReleaseOfInformation.objects.get(pk=release.pk).revoked_at
        self.assertFalse(revoke_release(release=release, by=self.sam))
        self.assertEqual(ReleaseOfInformation.objects.get(pk=release.pk).revoked_at, first_revocation)

    def test_another_participants_release_does_not_count(self):
        other = add_participant(case=self.case, role="survivor_supporter", label="Supporter B")
        self.release(participant=other)
        with self.assertRaises(DisclosureRefused):
            require_release(participant=self.survivor, recipient="Harbor County Court", fields=["name"])

    def test_a_release_must_be_in_force_and_list_information(self):
        with self.assertRaises(ValidationError) as caught:
            self.release(expires_on=datetime.date(2026, 5, 31))
        self.assertIn("expires_on", caught.exception.error_dict)
        with self.assertRaises(ValidationError):
            self.release(affirmed_on=datetime.date(2026, 9, 1), expires_on=datetime.date(2026, 8, 1))
        with self.assertRaisesMessage(ValidationError, "Choose the information"):
            self.release(fields=[])
        self.assertFalse(ReleaseOfInformation.objects.exists())

    def test_recipient_and_purpose_are_stored_encrypted(self):
        self.release(recipient="Recipient-marker-7731", purpose="Purpose-marker-7731")
        raw = ReleaseOfInformation.objects.values_list("recipient", "purpose").get()
        self.assertNotIn(b"marker-7731", bytes(raw[0]) + bytes(raw[1]))

    def test_a_compelled_disclosure_records_its_basis_and_a_task_to_tell_the_participant(self):
        record_compelled_disclosure(
            participant=self.survivor,
            recipient="District Attorney",
            legal_basis="Subpoena 26-1234",
            fields=["name", "attendance"],
            disclosed_on=TODAY,
            by=self.sam,
        )
        task = CaseTask.objects.get(case=self.case)
        self.assertEqual(task.kind, TaskKind.NOTIFY_COMPELLED_DISCLOSURE)
        self.assertEqual(task.participant, self.survivor)
        self.assertEqual(task.due_on, datetime.date(2026, 6, 3))
        self.assertEqual(self.survivor.compelled_disclosures.get().legal_basis, "Subpoena 26-1234")


class ReleasePageTests(PersonaTestCase):
    def setUp(self) -> None:
        self.survivor = add_participant(case=self.case, role="survivor", label="Survivor A")
        self.add_url = reverse("cases:release_add", args=[self.case.pk, self.survivor.pk])

    def form(self, **overrides: object) -> dict[str, object]:
        today = datetime.date.today()
        return {
            "recipient": "Legal Aid Society",
            "information": ["name", "contact"],
            "purpose": "Help with a custody filing",
            "how_given": "affirmed",
            "affirmed_on": today.isoformat(),
            "expires_on": (today + datetime.timedelta(days=90)).isoformat(),
            **overrides,
        }

    def test_the_team_records_a_release_and_sees_it_on_the_case(self):
        self.login(self.ada)
        self.assertContains(self.client.get(self.add_url), "Record a release of information")
        response = self.client.post(self.add_url, self.form(), follow=True)
        self.assertContains(response, "Release of information recorded.")
        self.assertContains(response, "Legal Aid Society")
        self.assertContains(response, "Contact details")
        self.assertTrue(audit_log().filter(action="release.add", actor_id=self.ada.pk).exists())

    def test_bad_dates_are_explained_and_nothing_is_saved(self):
        self.login(self.alice)
        past = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()
        response = self.client.post(self.add_url, self.form(expires_on=past))
        self.assertContains(response, "This date has passed")
        response = self.client.post(self.add_url, self.form(information=[]))
        self.assertContains(response, "This field is required")
        self.assertFalse(ReleaseOfInformation.objects.exists())

    def test_revoking_from_the_case_page(self):
        self.login(self.alice)
        self.client.post(self.add_url, self.form())
        release = ReleaseOfInformation.objects.get()
        response = self.client.post(
            reverse("cases:release_revoke", args=[self.case.pk, release.pk]), follow=True
        )
        self.assertContains(response, "The release is revoked")
        self.assertContains(response, "Revoked")
        release.refresh_from_db()
        self.assertEqual(release.revoked_by, self.alice)
        self.assertTrue(audit_log().filter(action="release.revoke", object_id=str(release.pk)).exists())

    def test_a_participant_of_another_case_is_not_found_through_my_case(self):
        stranger = add_participant(case=self.valley_case, role="survivor", label="Survivor V")
        self.login(self.alice)
        url = reverse("cases:release_add", args=[self.case.pk, stranger.pk])
        self.assertEqual(self.client.get(url).status_code, 404)
        self.assertEqual(self.client.post(url, self.form()).status_code, 404)
        self.assertFalse(ReleaseOfInformation.objects.exists())

    def test_staff_off_the_team_cannot_record_or_revoke(self):
        self.login(self.bob)
        self.assertEqual(self.client.post(self.add_url, self.form()).status_code, 404)
        self.login(self.alice)
        self.client.post(self.add_url, self.form())
        release = ReleaseOfInformation.objects.get()
        self.login(self.bob)
        self.assertEqual(
            self.client.post(reverse("cases:release_revoke", args=[self.case.pk, release.pk])).status_code,
            404,
        )
        release.refresh_from_db()
        self.assertIsNone(release.revoked_at)

    def test_a_compelled_disclosure_puts_a_task_on_the_case_until_done(self):
        self.login(self.sam)
        url = reverse("cases:compelled_add", args=[self.case.pk, self.survivor.pk])
        response = self.client.post(
            url,
            {
                "recipient": "Sheriff",
                "information": ["name"],
                "legal_basis": "Court order",
                "disclosed_on": "2026-06-01",
            },
            follow=True,
        )
        self.assertContains(response, "Tell the participant about a compelled disclosure")
        task = CaseTask.objects.get()
        self.client.post(reverse("cases:task_done", args=[self.case.pk, task.pk]))
        task.refresh_from_db()
        self.assertIsNotNone(task.done_at)
        self.assertNotContains(self.client.get(reverse("cases:detail", args=[self.case.pk])), "Mark done")


class IntakeNeedsNoReleaseTests(PersonaTestCase):
    def test_participants_and_notes_are_recorded_without_any_release(self):
        self.login(self.alice)
        response = self.client.post(
            reverse("cases:participant_add", args=[self.case.pk]), {"role": "survivor", "label": "Survivor A"}
        )
        self.assertEqual(response.status_code, 302)
        response = self.client.post(
            reverse("cases:note_add", args=[self.case.pk]), {"text": "First call went well."}
        )
        self.assertEqual(response.status_code, 302)
        page = self.client.get(reverse("cases:detail", args=[self.case.pk]))
        self.assertContains(page, "Survivor A")
        self.assertContains(page, "First call went well.")
        self.assertContains(page, "nothing identifying may be shared")

    def test_a_duplicate_label_in_one_case_is_refused_with_a_reason(self):
        add_participant(case=self.case, role="survivor", label="Survivor A")
        self.login(self.alice)
        response = self.client.post(
            reverse("cases:participant_add", args=[self.case.pk]), {"role": "child", "label": "Survivor A"}
        )
        self.assertContains(response, "already exists")


class NoteValidationTests(PersonaTestCase):
    def test_an_empty_note_is_refused_and_the_case_page_it_shows_is_audited(self):
        self.login(self.alice)
        response = self.client.post(reverse("cases:note_add", args=[self.case.pk]), {"text": "  "})
        self.assertContains(response, "This field is required", status_code=400)
        self.assertFalse(self.case.notes.exists())
        self.assertTrue(
            audit_log()
            .filter(action="case.view", object_id=str(self.case.pk), actor_id=self.alice.pk)
            .exists()
        )

"""Drafting through the pages: starting a draft, adding, changing and taking out commitments (a second editor is
refused with a clear message), the parties' affirmations; refusals say why and write nothing; fields a person may
not set are ignored."""

from django.urls import reverse
from django.utils import timezone

from circlekeeper.accountability.models import Affirmation, AgreementVersion, Commitment
from circlekeeper.accountability.tests.helpers import walked
from circlekeeper.cases.models import ParticipantRole
from circlekeeper.lib.audit import Outcome
from circlekeeper.testing import PersonaTestCase, audit_log, make_participant


class DraftingPageTests(PersonaTestCase):
    def setUp(self):
        self.walk = walked(self.case, self.alice, self.sam)
        self.login(self.alice)

    def url(self, name, *args):
        return reverse(f"accountability:{name}", args=[self.case.pk, *args])

    def commitment_form(self, draft, **extra):
        return {
            "lock_version": draft.lock_version,
            "kind": "stop_behavior",
            "description": "No calls or messages to her",
            "supporter": self.walk.uncle.pk,
            "cadence": "weekly",
            "evidence": "The uncle checks the phone log with him on Sundays",
            "concerns": ["contact", "threats"],
            "survivor_wants_updates": "on",
            **extra,
        }

    def test_the_draft_page_offers_the_held_circle_and_starts_the_draft(self):
        circle = self.walk.circle()
        page = self.client.get(self.url("draft"))
        self.assertContains(page, "Circle (both parties)")
        self.assertContains(page, "none raises the risk to them or the children")
        response = self.client.post(self.url("draft"), {"reached_in": circle.pk, "risk_reviewed": "on"})
        self.assertRedirects(response, self.url("agreement") + "#draft", fetch_redirect_response=False)
        version = AgreementVersion.objects.get()
        self.assertEqual((version.number, version.reached_in, version.drafted_by), (1, circle, self.alice))
        self.assertTrue(audit_log().filter(action="agreement.draft", outcome=Outcome.OK).exists())

    def test_drafting_without_the_risk_review_is_refused_with_the_reason(self):
        page = self.client.post(self.url("draft"), {"reached_in": self.walk.circle().pk})
        self.assertContains(page, "it must not raise the risk to them or the children", status_code=400)
        self.assertFalse(AgreementVersion.objects.exists())
        self.assertTrue(audit_log().filter(action="agreement.draft", outcome=Outcome.REFUSED).exists())

    def test_a_meeting_of_another_case_is_not_a_choice(self):
        page = self.client.post(self.url("draft"), {"reached_in": 999999, "risk_reviewed": "on"})
        self.assertContains(page, "Select a valid choice", status_code=400)
        self.assertFalse(AgreementVersion.objects.exists())

    def test_adding_a_commitment_records_every_field_and_ignores_fields_a_person_may_not_set(self):
        version = self.walk.draft()
        form = self.commitment_form(version, number=99, version=12, organization=self.valley.pk)
        response = self.client.post(self.url("commitment_add"), form)
        self.assertRedirects(response, self.url("agreement") + "#draft", fetch_redirect_response=False)
        commitment = Commitment.objects.get()
        self.assertEqual(
            (
                commitment.version,
                commitment.number,
                commitment.organization_id,
                commitment.kind,
                commitment.supporter,
                commitment.cadence,
                commitment.concerns,
                commitment.survivor_wants_updates,
            ),
            (
                version,
                1,
                self.harbor.pk,
                "stop_behavior",
                self.walk.uncle,
                "weekly",
                ["threats", "contact"],
                True,
            ),
        )
        self.assertEqual(commitment.evidence, "The uncle checks the phone log with him on Sundays")

    def test_a_commitment_needs_a_date_or_how_often_and_a_way_to_know_it_was_kept(self):
        version = self.walk.draft()
        page = self.client.post(
            self.url("commitment_add"), self.commitment_form(version, cadence="", evidence="")
        )
        self.assertContains(page, "This field is required", status_code=400)
        page = self.client.post(self.url("commitment_add"), self.commitment_form(version, cadence=""))
        self.assertContains(page, "Give a due date, how often, or both.", status_code=400)
        self.assertFalse(Commitment.objects.exists())

    def test_a_barrier_a_child_or_a_party_is_never_offered_as_a_supporter(self):
        self.walk.draft()
        make_participant(self.case, role=ParticipantRole.CHILD, label="Child C", reachable=False)
        barrier = make_participant(self.case, role=ParticipantRole.COMMUNITY_MEMBER, label="Cousin D")
        barrier.barrier = True
        barrier.save(update_fields=["barrier"])
        page = self.client.get(self.url("commitment_add"))
        self.assertContains(page, "Uncle (Support person for the person who caused harm)")
        for label in ("Child C", "Cousin D", "Survivor A (", "Person B ("):
            self.assertNotContains(page, label)

    def test_a_second_editor_is_refused_with_a_clear_message_and_nothing_is_written(self):
        version = self.walk.draft()
        commitment = self.walk.add(version, description="First words")
        stale = self.commitment_form(version)
        self.client.post(
            self.url("commitment_edit", commitment.pk),
            self.commitment_form(version, description="Ada's words"),
        )
        page = self.client.post(
            self.url("commitment_edit", commitment.pk), {**stale, "description": "Alice's words"}
        )
        self.assertContains(page, "Someone else changed this while you were editing", status_code=409)
        commitment.refresh_from_db()
        self.assertEqual(commitment.description, "Ada's words")

    def test_taking_a_commitment_out_of_the_draft(self):
        version = self.walk.draft()
        commitment = self.walk.add(version)
        page = self.client.get(self.url("commitment_edit", commitment.pk))
        self.assertContains(page, "Take it out of the draft")
        self.assertContains(page, f'name="lock_version" value="{version.lock_version}"', count=2)
        response = self.client.post(
            self.url("commitment_remove", commitment.pk), {"lock_version": version.lock_version}
        )
        self.assertRedirects(response, self.url("agreement") + "#draft", fetch_redirect_response=False)
        self.assertFalse(Commitment.objects.exists())

    def test_an_affirmed_version_is_not_edited_through_its_page(self):
        version, (commitment,) = self.walk.in_force({})
        response = self.client.get(self.url("commitment_edit", commitment.pk))
        self.assertRedirects(response, self.url("version", version.number), fetch_redirect_response=False)
        page = self.client.post(self.url("commitment_edit", commitment.pk), self.commitment_form(version))
        self.assertEqual(page.status_code, 302)
        commitment.refresh_from_db()
        self.assertNotEqual(commitment.description, "No calls or messages to her")

    def test_the_parties_affirm_through_the_page_and_the_version_is_in_force(self):
        version = self.walk.draft()
        self.walk.add(version)
        today = timezone.localdate().isoformat()
        for party in (self.walk.survivor, self.walk.harm):
            response = self.client.post(
                self.url("affirm"), {"participant": party.pk, "affirmed_on": today, "how": "in_meeting"}
            )
            self.assertRedirects(response, self.url("agreement") + "#draft", fetch_redirect_response=False)
            if party == self.walk.survivor:
                page = self.client.get(self.url("agreement"))
                self.assertContains(page, "Being affirmed")
                self.assertContains(page, "Still to affirm: Person B")
                self.assertNotContains(page, self.url("commitment_add"))
        version.refresh_from_db()
        self.assertIsNotNone(version.affirmed_at)
        self.assertEqual(Affirmation.objects.count(), 2)
        self.assertEqual(audit_log().filter(action="agreement.affirm", outcome=Outcome.OK).count(), 2)
        page = self.client.get(self.url("agreement"))
        self.assertContains(page, "The agreement in force")
        self.assertContains(page, "Person B affirmed it (In a meeting)")

    def test_a_refused_affirmation_shows_why_with_409_and_writes_nothing(self):
        version = self.walk.draft()
        self.walk.add(version)
        from circlekeeper.safety.services import report_new_violence

        report_new_violence(case=self.case, by=self.ada, details="He followed her home")
        page = self.client.post(
            self.url("affirm"),
            {
                "participant": self.walk.harm.pk,
                "affirmed_on": timezone.localdate().isoformat(),
                "how": "oral",
            },
        )
        self.assertContains(page, "The case is on a safety hold", status_code=409)
        self.assertFalse(Affirmation.objects.exists())
        self.assertTrue(audit_log().filter(action="agreement.affirm", outcome=Outcome.REFUSED).exists())

    def test_a_supporter_is_not_a_party_who_can_affirm(self):
        version = self.walk.draft()
        self.walk.add(version)
        page = self.client.post(
            self.url("affirm"),
            {
                "participant": self.walk.uncle.pk,
                "affirmed_on": timezone.localdate().isoformat(),
                "how": "oral",
            },
        )
        self.assertContains(page, "Select a valid choice", status_code=400)
        self.assertFalse(Affirmation.objects.exists())

"""A new referral (PROTOCOL.md, stage 1): who reached out, the first participant, the team, "already known?"
on what was typed before anything is created, one case for a page sent twice, and no one else may open one."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from circlekeeper.accounts.models import Role
from circlekeeper.cases import participants as participant_services
from circlekeeper.cases import referral
from circlekeeper.cases.models import (
    Case,
    CaseEvent,
    Participant,
    ParticipantRole,
    ReachedOutBy,
    Referral,
    TeamRole,
)
from circlekeeper.instruments.builtins import load_builtins
from circlekeeper.testing import PersonaTestCase, audit_log, make_participant, make_user

URL = reverse("cases:referral_new")


class ReferralPageTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        load_builtins()  # the immediate-danger screen offered on the new case's safety page
        known = make_participant(cls.case, label="Survivor A")
        participant_services.update_details(
            participant=known, version=known.details_version, by=cls.alice, name="Rosa Marquez"
        )
        elsewhere = make_participant(cls.other_team_case, label="Secret Label Q")
        participant_services.update_details(
            participant=elsewhere, version=elsewhere.details_version, by=cls.bob, phone="555 010 2000"
        )

    def form(self, **overrides: str) -> dict[str, str]:
        data = {
            "referral_token": str(uuid.uuid4()),
            "reached_out_by": ReachedOutBy.SHELTER,
            "safe_contact": "Text only, after 6 pm",
            "first_role": ParticipantRole.SURVIVOR,
            "first_label": "Survivor A",
            "supervisor": str(self.sam.pk),
        }
        data.update(overrides)
        return data

    def expected_reference(self) -> str:
        # Numbered as every case: the organization's prefix, the year, then one more than the last that year.
        year = timezone.localdate().year
        taken = Case.objects.filter(organization=self.harbor, reference__startswith=f"HAR-{year}-").count()
        return f"HAR-{year}-{taken + 1:04d}"

    def test_a_keeper_opens_a_referral_with_its_team_and_first_participant(self):
        self.login(self.alice)
        self.assertEqual(self.client.get(URL).status_code, 200)
        reference = self.expected_reference()
        response = self.client.post(URL, self.form())
        case = Case.objects.get(reference=reference)
        # Straight to the case's safety page, where the immediate-danger screen is offered.
        self.assertRedirects(response, reverse("safety:case", args=[case.pk]), fetch_redirect_response=False)
        page = self.client.get(response["Location"])
        self.assertContains(page, "Offer the survivor the immediate-danger screen now")
        self.assertContains(page, "Immediate-danger screen with Survivor A")
        team = set(case.assignments.values_list("user__email", "role"))
        self.assertEqual(
            team, {("alice@harbor.example", TeamRole.KEEPER), ("sam@harbor.example", TeamRole.SUPERVISOR)}
        )
        self.assertEqual(case.stage, "referral")
        made = case.referral
        self.assertEqual((made.reached_out_by, made.safe_contact), ("shelter", "Text only, after 6 pm"))
        self.assertEqual(
            list(case.participants.values_list("role", "label")), [(ParticipantRole.SURVIVOR, "Survivor A")]
        )
        self.assertTrue(CaseEvent.objects.filter(case=case, kind="case.referral").exists())
        self.assertTrue(audit_log().filter(action="case.open", object_id=str(case.pk)).exists())

    def test_how_to_reach_the_survivor_is_stored_encrypted(self):
        self.login(self.ada)
        self.client.post(URL, self.form(safe_contact="plaintextmarker42"))
        made = Referral.objects.get()
        with connection.cursor() as cursor:
            cursor.execute("SELECT safe_contact FROM cases_referral WHERE id = %s", [made.pk])
            raw = cursor.fetchone()[0]
        self.assertNotIn("plaintextmarker42", str(raw))

    def test_a_first_participant_other_than_the_survivor_leads_to_adding_the_survivor(self):
        self.login(self.sam)
        response = self.client.post(
            URL,
            self.form(
                reached_out_by=ReachedOutBy.PERSON_WHO_CAUSED_HARM,
                first_role=ParticipantRole.PERSON_WHO_CAUSED_HARM,
                first_label="Person B",
            ),
        )
        case = Case.objects.get(referral__isnull=False)
        self.assertRedirects(
            response, reverse("cases:participant_add", args=[case.pk]), fetch_redirect_response=False
        )
        # A supervisor who chooses themselves is on the team once.
        self.assertEqual(list(case.assignments.values_list("user", "role")), [(self.sam.pk, "supervisor")])

    def test_what_was_typed_is_looked_up_before_anything_is_created(self):
        self.login(self.alice)
        before = Case.objects.count()
        page = self.client.post(URL, self.form(name="rosa  MARQUEZ"))
        self.assertEqual(page.status_code, 200)
        self.assertEqual(Case.objects.count(), before)
        # A match on Alice's own case is shown; she may open it.
        self.assertContains(page, "HAR-2026-0001")
        self.assertContains(page, "Create the referral")
        checked = page.context["form"]["checked"].value()
        self.assertTrue(checked)
        response = self.client.post(URL, self.form(name="rosa  MARQUEZ", checked=checked))
        self.assertEqual(response.status_code, 302)
        self.assertEqual(Case.objects.count(), before + 1)
        # Never what was typed in the audit log: only that a lookup happened.
        self.assertTrue(audit_log().filter(action="participant.lookup").exists())

    def test_a_match_on_another_teams_case_is_counted_not_shown(self):
        self.login(self.alice)
        page = self.client.post(URL, self.form(phone="(555) 010-2000"))
        self.assertContains(page, "1 match on a case you are not on")
        self.assertNotContains(page, "Secret Label Q")
        self.assertNotContains(page, "HAR-2026-0002")

    def test_changing_what_was_typed_after_the_lookup_looks_again(self):
        self.login(self.alice)
        before = Case.objects.count()
        checked = self.client.post(URL, self.form(name="Someone New")).context["form"]["checked"].value()
        page = self.client.post(URL, self.form(name="Rosa Marquez", checked=checked))
        self.assertEqual(page.status_code, 200)
        self.assertEqual(Case.objects.count(), before)
        self.assertContains(page, "HAR-2026-0001")

    def test_a_double_submit_opens_one_case(self):
        self.login(self.alice)
        data = self.form()
        before = Case.objects.count()
        first = self.client.post(URL, data)
        second = self.client.post(URL, data)
        self.assertEqual(Case.objects.count(), before + 1)
        case = Case.objects.get(referral__isnull=False)
        self.assertEqual(first["Location"], reverse("safety:case", args=[case.pk]))
        # The page's token is the request's form token too (lib/idempotency.py, issue 20): the second submit is
        # sent where the first went, the first result shown again; open_referral's own check stays beneath it.
        self.assertEqual(second["Location"], first["Location"])
        self.assertEqual(Participant.objects.filter(case=case).count(), 1)

    def test_the_supervisor_is_one_of_the_organizations_supervisors(self):
        self.login(self.alice)
        before = Case.objects.count()
        for someone in (self.bob, self.charlie):
            response = self.client.post(URL, self.form(supervisor=str(someone.pk)))
            self.assertEqual(response.status_code, 400)
        self.assertEqual(Case.objects.count(), before)

    def test_someone_else_must_be_named(self):
        self.login(self.alice)
        response = self.client.post(URL, self.form(reached_out_by=ReachedOutBy.OTHER))
        self.assertEqual(response.status_code, 400)
        self.assertFalse(Referral.objects.exists())

    def test_only_keepers_advocates_and_supervisors_open_referrals(self):
        for person in (self.pat, self.eve, self.nora):
            self.login(person)
            self.assertEqual(self.client.get(URL).status_code, 403, person)
            self.assertEqual(self.client.post(URL, self.form()).status_code, 403, person)
        self.client.logout()
        self.assertEqual(self.client.get(URL).status_code, 302)
        self.assertFalse(Referral.objects.exists())

    def test_the_page_reads_the_same_number_of_queries_however_many_supervisors(self):
        self.login(self.alice)
        self.client.get(URL)
        with CaptureQueriesContext(connection) as few:
            self.client.get(URL)
        for n in range(6):
            make_user(
                f"sup{n}@harbor.example",
                organization=self.harbor,
                roles=(Role.SUPERVISOR,),
                display_name=f"Sup {n}",
            )
        with CaptureQueriesContext(connection) as many:
            page = self.client.get(URL)
        self.assertContains(page, "Sup 5")
        self.assertEqual(len(few), len(many))

    def test_the_case_list_and_the_dashboard_link_to_it(self):
        self.login(self.ada)
        for page in (reverse("cases:list"), reverse("dashboard")):
            self.assertContains(self.client.get(page), URL)


class OpenReferralServiceTests(PersonaTestCase):
    def open(self, **overrides: Any) -> tuple[Case, bool]:
        values: dict[str, Any] = {
            "organization": self.harbor,
            "by": self.alice,
            "supervisor": self.sam,
            "reached_out_by": ReachedOutBy.SURVIVOR,
            "first": referral.FirstPerson(
                role=ParticipantRole.SURVIVOR, label="Survivor A", name="Lena Ruiz"
            ),
            "form_token": uuid.uuid4(),
        }
        values.update(overrides)
        return referral.open_referral(**values)

    def test_the_first_participants_details_are_indexed_for_later_lookups(self):
        case, created = self.open()
        self.assertTrue(created)
        matches = participant_services.already_known(
            organization=self.harbor, team_case_ids=[case.pk], name="lena ruiz"
        )
        self.assertEqual([m.participant.case_id for m in matches], [case.pk])

    def test_the_same_token_returns_the_case_it_opened(self):
        token = uuid.uuid4()
        first, created = self.open(form_token=token)
        again, created_again = self.open(form_token=token)
        self.assertEqual((again.pk, created, created_again), (first.pk, True, False))

    def test_a_court_is_not_a_participant(self):
        with self.assertRaises(ValidationError):
            self.open(first=referral.FirstPerson(role=ParticipantRole.CHILD, label="Child"))
        self.assertFalse(Case.objects.filter(referral__isnull=False).exists())

    def test_someone_without_a_case_role_cannot_open_one(self):
        with self.assertRaises(ValidationError):
            self.open(by=self.pat)

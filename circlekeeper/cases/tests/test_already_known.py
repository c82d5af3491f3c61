""" "Is this person already known?": matches on blind indexes; details only of the asker's own cases."""

from __future__ import annotations

import datetime

from django.urls import reverse

from circlekeeper.cases import participants as services
from circlekeeper.cases.models import Participant, ParticipantRole
from circlekeeper.lib.audit import AuditEvent
from circlekeeper.testing import PersonaTestCase, audit_log, make_participant

URL = reverse("cases:known")


def with_details(participant: Participant, by, **details) -> Participant:
    return services.update_details(
        participant=participant, version=participant.details_version, by=by, **details
    )


class AlreadyKnownTests(PersonaTestCase):
    rosa: Participant
    rosa_elsewhere: Participant
    valley_rosa: Participant

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.rosa = with_details(
            make_participant(cls.case, label="Survivor A"),
            cls.alice,
            name="Rosa Marquez",
            date_of_birth=datetime.date(1990, 4, 2),
            phone="(555) 010-2000",
            email="Rosa.Marquez@Example.net",
        )
        # The same person on a case Alice is not on, and someone with her name at another organization.
        cls.rosa_elsewhere = with_details(
            make_participant(cls.other_team_case, label="Secret Label Q"),
            cls.bob,
            name="Rosa Marquez",
            phone="555 010 2000",
        )
        cls.valley_rosa = with_details(
            make_participant(cls.valley_case, label="Valley Label"),
            cls.charlie,
            name="Rosa Marquez",
            date_of_birth=datetime.date(1990, 4, 2),
            phone="555 010 2000",
            email="rosa.marquez@example.net",
        )

    def look(self, **typed: str):
        return self.client.post(URL, typed)

    def test_it_finds_my_teams_participant_by_name_and_date_of_birth(self):
        self.login(self.alice)
        page = self.look(name="rosa  MARQUEZ", date_of_birth="1990-04-02")
        self.assertContains(page, "HAR-2026-0001")
        self.assertContains(page, reverse("cases:participant_detail", args=[self.case.pk, self.rosa.pk]))
        self.assertContains(page, "name and date of birth")
        self.assertContains(page, "Survivor")
        self.assertNotContains(page, "match on a case you are not on")

    def test_a_phone_number_written_differently_still_matches(self):
        self.login(self.alice)
        page = self.look(phone="555 010 2000")
        self.assertContains(page, reverse("cases:participant_detail", args=[self.case.pk, self.rosa.pk]))
        self.assertContains(page, "phone")

    def test_email_matches_whatever_the_case_of_its_letters(self):
        self.login(self.alice)
        page = self.look(email="ROSA.marquez@example.NET")
        self.assertContains(page, reverse("cases:participant_detail", args=[self.case.pk, self.rosa.pk]))

    def test_a_match_on_another_teams_case_shows_only_a_count(self):
        self.login(self.alice)
        page = self.look(name="Rosa Marquez")
        self.assertContains(page, "1 match on a case you are not on: ask your supervisor.")
        self.assertNotContains(page, "Secret Label Q")
        self.assertNotContains(page, "HAR-2026-0002")
        self.assertNotContains(page, f"/participants/{self.rosa_elsewhere.pk}/")

    def test_the_other_team_sees_their_own_match_and_only_a_count_of_mine(self):
        self.login(self.bob)
        page = self.look(phone="(555) 010-2000")
        self.assertContains(page, "Secret Label Q")
        self.assertContains(page, "1 match on a case you are not on")
        self.assertNotContains(page, "Survivor A")
        self.assertNotContains(page, "HAR-2026-0001")

    def test_another_organizations_participant_never_matches(self):
        self.login(self.alice)
        page = self.look(name="Rosa Marquez", phone="555-010-2000", email="rosa.marquez@example.net")
        self.assertNotContains(page, "Valley Label")
        self.assertNotContains(page, "VAL-2026-0001")
        # Alice's own match and the other Harbor team's; Valley's is not even counted.
        self.assertContains(page, "1 match on a case you are not on")
        self.login(self.charlie)
        page = self.look(phone="555 010 2000", date_of_birth="", name="")
        self.assertContains(page, "Valley Label")
        self.assertNotContains(page, "match on a case you are not on")

    def test_nobody_found_is_said_plainly(self):
        self.login(self.alice)
        self.assertContains(self.look(name="Nobody Atall"), "No one with these details is recorded")

    def test_something_must_be_typed_and_a_date_of_birth_alone_is_not_looked_up(self):
        self.login(self.alice)
        self.assertContains(self.look(), "Type a name, a phone number or an email address")
        self.assertContains(self.look(date_of_birth="1990-04-02"), "Type the name too")
        self.assertFalse(audit_log().filter(action="participant.lookup").exists())

    def test_the_lookup_is_audited_without_what_was_typed(self):
        self.login(self.alice)
        self.look(name="Rosa Marquez", phone="555 010 2000", email="rosa.marquez@example.net")
        event = audit_log().get(action="participant.lookup")
        self.assertEqual(event.actor_id, self.alice.pk)
        # Every text column of the row that could carry what was typed; not the chain's hash columns, whose hex
        # digits may happen to contain a typed run of digits such as "010", nor the sequence number and time.
        text_columns = [
            field.attname
            for field in AuditEvent._meta.concrete_fields
            if field.get_internal_type() == "CharField" and field.attname not in ("prev_hash", "hash")
        ]
        self.assertIn("user_agent", text_columns)
        stored = " ".join(str(value) for value in audit_log().values_list(*text_columns).get(pk=event.pk))
        for typed in ("Rosa", "Marquez", "010", "example.net"):
            self.assertNotIn(typed, stored)

    def test_what_is_typed_never_goes_into_the_address(self):
        self.login(self.alice)
        page = self.client.get(URL)
        self.assertContains(page, '<form method="post"', html=False)
        # A lookup sent in the address is not run: the page only offers the form.
        page = self.client.get(URL, {"name": "Rosa Marquez"})
        self.assertNotContains(page, "HAR-2026-0001")
        self.assertFalse(audit_log().filter(action="participant.lookup").exists())

    def test_roles_that_do_not_work_cases_are_forbidden(self):
        for person in (self.eve, self.pat, self.nora):
            self.login(person)
            self.assertEqual(self.look(name="Rosa Marquez").status_code, 403, person)

    def test_anonymous_visitors_are_sent_to_sign_in(self):
        self.assertRedirects(self.client.get(URL), f"{reverse('accounts:login')}?next={URL}")

    def test_the_case_list_and_the_add_participant_page_link_to_it(self):
        self.login(self.alice)
        self.assertContains(self.client.get(reverse("cases:list")), f'href="{URL}"')
        self.assertContains(
            self.client.get(reverse("cases:participant_add", args=[self.case.pk])), f'href="{URL}"'
        )

    def test_a_child_is_found_like_anyone_else_on_my_case(self):
        child = with_details(
            make_participant(self.case, reachable=False, role=ParticipantRole.CHILD, label="Child C"),
            self.alice,
            name="Tomas Marquez",
        )
        self.login(self.alice)
        page = self.look(name="Tomas Marquez")
        self.assertContains(page, reverse("cases:participant_detail", args=[self.case.pk, child.pk]))

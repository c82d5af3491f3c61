"""The participant page: identifying details, consents and safe-contact rules, for the case team only."""

from __future__ import annotations

import datetime

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from circlekeeper.cases import participants as services
from circlekeeper.cases.models import Case, Consent, ConsentKind, Participant, ParticipantRole
from circlekeeper.testing import PersonaTestCase, audit_log, make_participant, make_reachable


class ParticipantPageTests(PersonaTestCase):
    def setUp(self) -> None:
        self.survivor = make_participant(self.case, reachable=False, label="Survivor A")
        # The organization's keys are made on first use; running the on-commit hooks lets requests cache
        # them as they would once committed in production (the query budget below depends on it).
        with self.captureOnCommitCallbacks(execute=True):
            services.update_details(
                participant=self.survivor,
                version=1,
                by=self.alice,
                name="Rosa Marquez",
                phone="555 010 2000",
                date_of_birth=datetime.date(1990, 4, 2),
                pronouns="she/her",
            )

    def url(self, participant: Participant | None = None) -> str:
        participant = participant or self.survivor
        return reverse("cases:participant_detail", args=[participant.case_id, participant.pk])

    def test_the_team_sees_the_decrypted_details_and_the_read_is_audited(self):
        for person in (self.alice, self.ada, self.sam):
            self.login(person)
            page = self.client.get(self.url())
            self.assertContains(page, "Survivor A")
            self.assertContains(page, "Rosa Marquez")
            self.assertContains(page, "555 010 2000")
            self.assertContains(page, "she/her")
            self.assertTrue(
                audit_log()
                .filter(action="participant.view", actor_id=person.pk, object_id=str(self.survivor.pk))
                .exists()
            )
        # The log names the participant, never their details.
        self.assertFalse(audit_log().filter(path__contains="Rosa").exists())

    def test_at_first_contact_the_survivors_page_offers_the_immediate_danger_screen_until_a_check_exists(
        self,
    ):
        self.login(self.ada)
        page = self.client.get(self.url())
        self.assertContains(page, "First: is the survivor safe right now?")
        self.assertContains(
            page, f'action="{reverse("safety:check_start", args=[self.case.pk, self.survivor.pk])}"'
        )
        self.assertContains(page, 'name="kind" value="screen"')
        Case.objects.filter(pk=self.case.pk).update(
            risk_level="low"
        )  # set by the safety app once a check exists
        self.assertNotContains(self.client.get(self.url()), "First: is the survivor safe right now?")

    def test_staff_off_the_team_and_of_another_organization_get_404(self):
        for person in (self.bob, self.charlie):
            self.login(person)
            self.assertEqual(self.client.get(self.url()).status_code, 404, person)

    def test_evaluators_and_program_admins_get_404(self):
        for person in (self.eve, self.pat):
            self.login(person)
            self.assertEqual(self.client.get(self.url()).status_code, 404, person)

    def test_a_participant_of_another_case_is_not_found_through_my_case(self):
        stranger = make_participant(self.other_team_case, label="Stranger")
        self.login(self.alice)
        url = reverse("cases:participant_detail", args=[self.case.pk, stranger.pk])
        self.assertEqual(self.client.get(url).status_code, 404)

    def test_anonymous_visitors_are_sent_to_sign_in(self):
        self.assertRedirects(self.client.get(self.url()), f"{reverse('accounts:login')}?next={self.url()}")

    def test_it_lists_current_and_withdrawn_consents_with_a_withdraw_button_for_current_ones(self):
        make_reachable(self.survivor, code_word="blue umbrella", never_leave_messages=True)
        contact = Consent.objects.get(participant=self.survivor, kind=ConsentKind.CONTACT)
        services.withdraw_consent(consent=contact, how="written", by=self.sam)
        take_part = Consent.objects.get(participant=self.survivor, kind=ConsentKind.TAKE_PART)
        self.login(self.alice)

        page = self.client.get(self.url())

        self.assertContains(page, "To take part")
        self.assertContains(page, "To be contacted")
        self.assertContains(page, "Withdrawn")
        self.assertContains(page, reverse("cases:consent_withdraw", args=[self.case.pk, take_part.pk]))
        self.assertNotContains(page, reverse("cases:consent_withdraw", args=[self.case.pk, contact.pk]))
        self.assertContains(page, "blue umbrella")
        self.assertContains(page, "Never leave messages")

    def test_for_the_survivor_it_says_withdrawing_consent_to_take_part_stops_everything_at_once(self):
        self.login(self.alice)
        self.assertContains(
            self.client.get(self.url()),
            "If the survivor withdraws consent to take part, everything involving the person who caused harm "
            "stops at once.",
        )

    def test_for_a_child_it_says_they_are_never_asked_to_take_part(self):
        child = make_participant(self.case, reachable=False, role=ParticipantRole.CHILD, label="Child C")
        self.login(self.alice)
        page = self.client.get(self.url(child))
        self.assertContains(page, "Children are recorded for their well-being only.")
        self.assertContains(page, "never asked to take part")
        self.assertNotContains(page, reverse("cases:consent_add", args=[self.case.pk, child.pk]))

    def test_for_the_person_who_caused_harm_it_says_why_nothing_may_start(self):
        harm = make_participant(self.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Person B")
        self.login(self.alice)
        page = self.client.get(self.url(harm))
        self.assertContains(page, "Nothing involving Person B may start now")
        self.assertContains(page, "Survivor A has no current consent to take part")

    def test_without_rules_it_says_the_participant_may_not_be_contacted(self):
        self.login(self.alice)
        page = self.client.get(self.url())
        self.assertContains(page, "No safe-contact rules recorded")
        self.assertContains(page, reverse("cases:contact_rules", args=[self.case.pk, self.survivor.pk]))
        self.assertContains(page, reverse("cases:participant_details", args=[self.case.pk, self.survivor.pk]))

    def test_query_count_does_not_grow_with_the_number_of_consents(self):
        def share(start: int, stop: int) -> None:
            for n in range(start, stop):
                consent = services.record_consent(
                    participant=self.survivor,
                    kind=ConsentKind.SHARE,
                    how_given="written",
                    given_on=datetime.date.today(),
                    by=self.ada,
                    share_with=f"Legal aid {n}",
                )
                if n % 2:
                    services.withdraw_consent(consent=consent, how="oral", by=self.sam)

        make_reachable(self.survivor, code_word="blue umbrella")
        self.login(self.alice)
        share(0, 2)
        self.client.get(self.url())
        with CaptureQueriesContext(connection) as few:
            self.client.get(self.url())
        share(2, 20)
        with CaptureQueriesContext(connection) as many:
            page = self.client.get(self.url())
        self.assertContains(page, "Legal aid 19")
        self.assertEqual(len(few), len(many))
        # Session, person, device, roles, case, participant, consents with who recorded and withdrew them,
        # rules, keys, savepoints; 3 to append the audit event of reading it.
        self.assertLessEqual(len(many), 17)


class AddingAParticipantTests(PersonaTestCase):
    def test_after_adding_the_keeper_lands_on_the_new_participants_page(self):
        self.login(self.alice)
        response = self.client.post(
            reverse("cases:participant_add", args=[self.case.pk]),
            {"role": "survivor", "label": "Survivor A", "organization": self.valley.pk},
            follow=True,
        )
        participant = Participant.objects.get(case=self.case)
        self.assertEqual(participant.organization, self.harbor)
        self.assertRedirects(
            response, reverse("cases:participant_detail", args=[self.case.pk, participant.pk])
        )
        self.assertContains(response, "Record their details, consent and safe-contact rules here.")

    def test_the_form_asks_only_for_role_and_label_and_points_to_the_lookup(self):
        self.login(self.alice)
        page = self.client.get(reverse("cases:participant_add", args=[self.case.pk]))
        self.assertContains(page, 'name="role"')
        self.assertContains(page, 'name="label"')
        self.assertNotContains(page, 'name="name"')
        self.assertContains(page, reverse("cases:known"))

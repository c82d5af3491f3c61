"""The facilitator roster: adding and changing a facilitator (account checks, stale edits, a form sent twice),
their training history, hours and competencies, the cases they serve on, and supervision notes, which only
supervisors and program admins read, every reading audited."""

import datetime
import uuid
from decimal import Decimal

import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from circlekeeper.accounts.models import Role
from circlekeeper.community import activities
from circlekeeper.community.models import Competency, Facilitator, SupervisionNote
from circlekeeper.community.tests.test_facilitators_factory import (
    make_facilitator,
    make_facilitator_account,
    train,
)
from circlekeeper.lib.audit import Outcome
from circlekeeper.testing import PersonaTestCase, audit_log, make_user

NOW = datetime.datetime(2026, 5, 4, 10, 0, tzinfo=datetime.UTC)
NOTE = "Supervision: planted-note-marker, doing well with circles"


@time_machine.travel(NOW, tick=False)
class RosterTests(PersonaTestCase):
    def test_a_program_admin_adds_a_facilitator_with_an_account_once(self):
        keeper = make_user(
            "vol@harbor.example", organization=self.harbor, roles=(Role.KEEPER,), display_name="Vol"
        )
        self.login(self.pat)
        data = {
            "uid": str(uuid.uuid4()),
            "name": "Rosa Volunteer",
            "role": "volunteer_keeper",
            "languages": "Spanish, English",
            "availability": "Evenings",
            "competencies": [Competency.BYSTANDER],
            "active": "on",
            "user": keeper.pk,
        }
        first = self.client.post(reverse("community:facilitator_add"), data)
        second = self.client.post(reverse("community:facilitator_add"), data)
        facilitator = Facilitator.objects.get()
        self.assertEqual(first["Location"], reverse("community:facilitator_detail", args=[facilitator.pk]))
        self.assertEqual(second["Location"], first["Location"])
        self.assertEqual(
            (facilitator.name, facilitator.user, facilitator.availability, facilitator.competencies),
            ("Rosa Volunteer", keeper, "Evenings", ["bystander"]),
        )

    def test_an_account_must_be_a_keeper_here_and_nobody_elses(self):
        self.login(self.pat)
        for user, message in (
            (self.eve, "Select a valid choice."),  # not offered: only keepers are
            (self.charlie, "Select a valid choice."),
        ):
            data = {"uid": str(uuid.uuid4()), "name": "X", "role": "support_person", "user": user.pk}
            self.assertContains(
                self.client.post(reverse("community:facilitator_add"), data), message, status_code=400
            )
        make_facilitator(self.harbor, self.pat, user=self.bob)
        with self.assertRaises(ValidationError) as refused:
            make_facilitator(self.harbor, self.pat, user=self.bob, name="Second")
        self.assertEqual(
            refused.exception.message_dict["user"], ["This account already belongs to another facilitator."]
        )
        with self.assertRaises(ValidationError):
            make_facilitator(self.harbor, self.pat, user=self.eve)
        self.assertEqual(Facilitator.objects.count(), 1)

    def test_a_stale_edit_is_refused(self):
        rosa = make_facilitator(self.harbor, self.pat, name="Rosa")
        self.login(self.pat)
        url = reverse("community:facilitator_edit", args=[rosa.pk])
        data = {"lock_version": "1", "name": "Rosa B", "role": "support_person", "active": "on"}
        self.assertEqual(self.client.post(url, data).status_code, 302)
        stale = self.client.post(url, {**data, "name": "Rosa C"})
        self.assertContains(stale, "Someone else changed this while you were editing", status_code=409)
        rosa.refresh_from_db()
        self.assertEqual((rosa.name, rosa.role, rosa.lock_version), ("Rosa B", "support_person", 2))

    def test_the_account_of_a_facilitator_on_case_teams_does_not_change_under_them(self):
        rosa = make_facilitator_account(self.harbor, self.pat, "rosa@harbor.example")
        activities.add_to_team(case=self.case, facilitator=rosa, by=self.sam)
        with self.assertRaises(ValidationError) as refused:
            activities.change_facilitator(
                facilitator=rosa, by=self.pat, lock_version=1, name="Rosa", role=rosa.role, user=None
            )
        self.assertIn("Take the facilitator off their case teams", refused.exception.messages[0])

    def test_the_roster_and_page_show_training_hours_competencies_readiness_and_cases(self):
        activities.set_requirement(
            organization=self.harbor,
            competency=Competency.CIRCLE_KEEPING,
            minimum_hours=Decimal(8),
            by=self.pat,
        )
        rosa = make_facilitator_account(self.harbor, self.pat, "rosa@harbor.example", name="Rosa Roster")
        train(rosa, self.pat, competencies=[Competency.CIRCLE_KEEPING], hours="6")
        train(
            rosa,
            self.pat,
            competencies=[Competency.CHILDREN],
            hours="3",
            completed=False,
            date=datetime.date(2026, 2, 1),
        )
        activities.add_to_team(case=self.case, facilitator=rosa, by=self.sam)
        self.login(self.sam)
        roster = self.client.get(reverse("community:facilitator_list"))
        self.assertContains(roster, "Rosa Roster")
        self.assertContains(roster, "9.0 (6.0)")
        self.assertContains(roster, "missing Keeping a circle (6 of 8 hours of completed training)")
        page = self.client.get(reverse("community:facilitator_detail", args=[rosa.pk]))
        self.assertContains(page, "9.0 in all, 6.0 in completed trainings")
        self.assertContains(page, "Keeping a circle")
        self.assertContains(page, self.case.reference)
        self.assertNotContains(page, self.other_team_case.reference)
        self.assertNotContains(page, "Change this record")  # supervisors read; program admins change
        # Pat keeps the roster but is on no case team: he sees that Rosa serves on a case, not which one.
        self.login(self.pat)
        page = self.client.get(reverse("community:facilitator_detail", args=[rosa.pk]))
        self.assertNotContains(page, self.case.reference)
        self.assertContains(page, "And 1 case whose team you are not on.")


@time_machine.travel(NOW, tick=False)
class SupervisionNoteTests(PersonaTestCase):
    def setUp(self):
        self.rosa = make_facilitator(self.harbor, self.pat, name="Rosa")
        activities.add_supervision_note(facilitator=self.rosa, by=self.sam, uid=uuid.uuid4(), text=NOTE)
        self.url = reverse("community:facilitator_detail", args=[self.rosa.pk])

    def test_supervisors_and_program_admins_read_them_and_every_reading_is_audited(self):
        for person in (self.sam, self.pat):
            self.login(person)
            self.assertContains(self.client.get(self.url), NOTE)
        reads = audit_log().filter(
            action="community.supervision.view", object_type="facilitator", object_id=str(self.rosa.pk)
        )
        self.assertEqual(sorted(reads.values_list("actor_id", flat=True)), sorted([self.sam.pk, self.pat.pk]))

    def test_nobody_else_reads_them(self):
        for person in (self.alice, self.ada, self.bob, self.eve, self.charlie, self.nora):
            self.login(person)
            response = self.client.get(self.url)
            self.assertEqual(response.status_code, 403, person)
            self.assertNotContains(response, "planted-note-marker", status_code=403)
        self.login(self.alice)
        self.assertNotContains(self.client.get(reverse("community:event_list")), "planted-note-marker")
        self.assertFalse(audit_log().filter(action="community.supervision.view").exists())

    def test_adding_a_note_is_audited_once_for_a_form_sent_twice_and_an_empty_one_refused(self):
        self.login(self.sam)
        add = reverse("community:supervision_note_add", args=[self.rosa.pk])
        data = {"uid": str(uuid.uuid4()), "text": "Second note"}
        self.client.post(add, data)
        self.client.post(add, data)
        self.assertEqual(SupervisionNote.objects.filter(facilitator=self.rosa).count(), 2)
        empty = self.client.post(add, {"uid": str(uuid.uuid4()), "text": "  "})
        self.assertContains(empty, "This field is required.", status_code=400)
        self.assertEqual(SupervisionNote.objects.filter(facilitator=self.rosa).count(), 2)
        self.assertTrue(
            audit_log().filter(action="community.supervision.add", outcome=Outcome.REFUSED).exists()
        )

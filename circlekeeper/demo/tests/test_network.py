"""The demo network's organizations, people and cases (cases.demo); the seed_demo command that runs it with the
rest of the demo lives in the protocol app (protocol/tests/test_demo.py)."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.test import TestCase

from circlekeeper.accounts.models import Membership, Organization, Role, User
from circlekeeper.cases.models import Case, CaseAssignment, CaseNote, CaseStatus
from circlekeeper.demo.cases import seed_network, seed_scale

TODAY = datetime.date(2026, 3, 1)


class SeedNetworkTests(TestCase):
    def seed(self) -> None:
        seed_network(settings.DEMO_PASSWORD, TODAY)

    def test_it_creates_the_demo_network_with_one_person_per_role(self):
        self.seed()
        self.assertEqual(
            sorted(Organization.objects.values_list("name", flat=True)),
            ["Bridge Family Collective", "Harbor Community Circle", "Valley Healing Alliance"],
        )
        self.assertEqual(Organization.objects.get(slug="harbor").network.name, "Bay Area Restorative Network")
        for slug in ("harbor", "valley", "bridge"):
            for word, role in (
                ("keeper", Role.KEEPER),
                ("advocate", Role.SAFETY_ADVOCATE),
                ("supervisor", Role.SUPERVISOR),
                ("admin", Role.PROGRAM_ADMIN),
                ("evaluator", Role.EVALUATOR),
            ):
                user = User.objects.get(email=f"{word}@{slug}.example")
                self.assertTrue(user.check_password("circle-demo-2026"))
                self.assertEqual(
                    list(user.memberships.values_list("organization__slug", "role")), [(slug, role)]
                )
            cases = Case.objects.filter(organization__slug=slug)
            self.assertEqual(cases.count(), 40)
            self.assertEqual(set(cases.values_list("status", flat=True)), set(CaseStatus.values))
        self.assertTrue(
            Membership.objects.filter(
                user__email="network@network.example", role=Role.NETWORK_ADMIN, organization=None
            ).exists()
        )

    def test_every_demo_case_has_a_survivor_and_a_person_who_caused_harm(self):
        from circlekeeper.cases.models import Participant, ReleaseOfInformation

        self.seed()
        self.assertEqual(Participant.objects.count(), 2 * Case.objects.count())
        self.assertFalse(Case.objects.exclude(participants__role="survivor").exists())
        releases = ReleaseOfInformation.objects.all()
        self.assertGreater(releases.count(), 10)
        self.assertEqual({r.participant.role for r in releases}, {"survivor"})
        self.assertEqual({r.recipient for r in releases}, {"Community Legal Aid"})

    def test_running_it_twice_changes_nothing(self):
        self.seed()
        counts = (
            User.objects.count(),
            Membership.objects.count(),
            Case.objects.count(),
            CaseAssignment.objects.count(),
        )
        self.seed()
        self.assertEqual(
            counts,
            (
                User.objects.count(),
                Membership.objects.count(),
                Case.objects.count(),
                CaseAssignment.objects.count(),
            ),
        )

    def test_the_demo_keeper_sees_some_cases_but_not_all(self):
        self.seed()
        keeper = User.objects.get(email="keeper@harbor.example")
        on_team = Case.objects.filter(assignments__user=keeper).count()
        self.assertGreater(on_team, 20)
        self.assertLess(on_team, 40)

    def test_scale_adds_synthetic_cases_with_teams_in_bulk(self):
        self.seed()
        seed_scale(1000, TODAY)
        self.assertEqual(Case.objects.count(), 1000)
        self.assertFalse(Case.objects.filter(assignments=None).exists())
        seed_scale(1000, TODAY)
        self.assertEqual(Case.objects.count(), 1000)
        self.assertEqual(Case.objects.values("organization", "reference").distinct().count(), 1000)

    def test_demo_cases_have_an_encrypted_summary_and_notes(self):
        self.seed()
        seed_scale(300, TODAY)
        self.assertFalse(Case.objects.filter(summary=None).exists())
        self.assertEqual(CaseNote.objects.count(), 2 * 300)
        case = Case.objects.order_by("?")[0]
        self.assertTrue(case.summary.startswith("Demo summary."))
        self.assertEqual(len(case.notes.all()), 2)
        self.assertTrue(all(note.text.startswith("Demo note:") for note in case.notes.all()))
        self.assertTrue(all(note.organization_id == case.organization_id for note in case.notes.all()))


class SeedNetworkChoicesTests(TestCase):
    def test_demo_participants_consented_and_have_safe_contact_rules_and_most_open_cases_a_track(self):
        from circlekeeper.cases.models import Consent, ContactRules, Participant, TrackChoice

        seed_network(settings.DEMO_PASSWORD, TODAY)
        participants = Participant.objects.count()
        self.assertEqual(Consent.objects.filter(revoked_at__isnull=True).count(), 2 * participants)
        self.assertEqual(ContactRules.objects.count(), participants)
        survivor_rules = ContactRules.objects.filter(participant__role="survivor")
        self.assertTrue(all(rules.never_leave_messages for rules in survivor_rules))
        open_cases = Case.objects.filter(status=CaseStatus.OPEN)
        self.assertGreater(open_cases.exclude(track="").count(), open_cases.count() // 2)
        self.assertEqual(TrackChoice.objects.count(), open_cases.exclude(track="").count())

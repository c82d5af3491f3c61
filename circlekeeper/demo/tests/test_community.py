"""The community demo: a year of events and trainings per demo organization, facilitators (some ready, some not)
with their training, readiness requirements, and one facilitator account on a demo case team who sees that case
and no other; fast and idempotent."""

from django.conf import settings
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from circlekeeper.accounts.models import Organization, User
from circlekeeper.cases.models import Case, CaseAssignment
from circlekeeper.community.models import CommunityEvent, Facilitator, ReadinessRequirement, TrainingRecord
from circlekeeper.community.readiness import readiness_for
from circlekeeper.demo import cases as demo
from circlekeeper.demo.community import seed_community
from circlekeeper.testing import sign_in


class CommunityDemoTests(TestCase):
    made: int
    queries: int

    @classmethod
    def setUpTestData(cls):
        demo.seed_network(settings.DEMO_PASSWORD, timezone.localdate())
        with CaptureQueriesContext(connection) as queries:
            cls.made = seed_community()
        cls.queries = len(queries)

    def test_each_organization_has_a_year_of_events_and_trainings_and_its_facilitators(self):
        today = timezone.localdate()
        for organization in Organization.objects.all():
            events = CommunityEvent.objects.for_organization(organization)
            self.assertEqual(events.count(), 26, organization.slug)
            self.assertEqual(events.filter(hours__isnull=False).count(), 9)
            self.assertTrue(all((today - e.date).days <= 366 and e.date <= today for e in events))
            facilitators = list(Facilitator.objects.for_organization(organization))
            self.assertTrue(6 <= len(facilitators) <= 10)
            self.assertEqual(ReadinessRequirement.objects.for_organization(organization).count(), 4)
            ready = [r.ready for r in readiness_for(organization, facilitators).values()]
            self.assertEqual((ready.count(True), ready.count(False)), (5, 3))
        self.assertEqual(self.made, 78)
        self.assertLess(self.queries, 6000)

    def test_seeding_again_changes_nothing(self):
        counts = (CommunityEvent.objects.count(), Facilitator.objects.count(), TrainingRecord.objects.count())
        self.assertEqual(seed_community(), 0)
        self.assertEqual(
            (CommunityEvent.objects.count(), Facilitator.objects.count(), TrainingRecord.objects.count()),
            counts,
        )

    def test_the_facilitator_account_signs_in_and_sees_only_their_case(self):
        user = User.objects.get(email="facilitator@harbor.example")
        self.assertTrue(user.check_password(settings.DEMO_PASSWORD))
        (case_id,) = CaseAssignment.objects.filter(user=user).values_list("case_id", flat=True)
        sign_in(self.client, user)
        self.assertEqual(self.client.get(reverse("cases:detail", args=[case_id])).status_code, 200)
        other = Case.objects.filter(organization__slug="harbor").exclude(pk=case_id).earliest("id")
        self.assertEqual(self.client.get(reverse("cases:detail", args=[other.pk])).status_code, 404)
        self.assertEqual(self.client.get(reverse("community:event_list")).status_code, 403)

import datetime

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from circlekeeper.cases.models import Case, CaseNote, CaseStatus, PurgeTombstone, RetentionPolicy
from circlekeeper.testing import PersonaTestCase, audit_log, make_case

RETENTION = reverse("cases:retention")
# Noon in UTC is early morning in the server's zone (and the same date), whatever CIRCLEKEEPER_TIME_ZONE says.
NOW = datetime.datetime(2026, 6, 15, 12, 0, tzinfo=datetime.UTC)


def closed_case(organization, *, closed_on, author, notes=1):
    case = make_case(
        organization,
        status=CaseStatus.CLOSED,
        opened_on=datetime.date(2015, 1, 1),
        closed_on=closed_on,
        summary="What happened, in her words.",
    )
    for n in range(notes):
        CaseNote.objects.create(organization=organization, case=case, author=author, text=f"note {n}")
    return case


@time_machine.travel(NOW, tick=False)
class RetentionPageTests(PersonaTestCase):
    def setUp(self):
        # Harbor: two cases past 6 months (three notes), one past 5 years; Valley: one old case of its own.
        closed_case(self.harbor, closed_on=datetime.date(2025, 12, 1), author=self.alice, notes=2)
        closed_case(self.harbor, closed_on=datetime.date(2025, 11, 1), author=self.alice)
        closed_case(self.harbor, closed_on=datetime.date(2019, 1, 1), author=self.alice)
        closed_case(self.valley, closed_on=datetime.date(2019, 1, 1), author=self.charlie)

    def test_a_program_admin_sees_the_rules_what_they_mean_and_what_they_would_erase(self):
        RetentionPolicy.objects.create(organization=self.harbor, narrative_months=6, case_years=5)
        self.login(self.pat)
        response = self.client.get(RETENTION)
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, 'name="narrative_months" value="6"')
        self.assertContains(response, 'name="case_years" value="5"')
        self.assertContains(response, "erased for good")
        self.assertContains(response, '<label for="id_narrative_months">', count=1)
        self.assertContains(response, 'aria-describedby="id_narrative_months_helptext"')
        self.assertContains(response, "What the saved rules would erase")
        self.assertContains(response, "<li>2 case summaries</li>", html=True)
        self.assertContains(response, "<li>3 notes</li>", html=True)
        self.assertContains(response, "<li>1 whole case</li>", html=True)
        self.assertContains(response, "Nothing has been erased yet.")

    def test_without_rules_it_says_nothing_is_erased(self):
        self.login(self.pat)
        response = self.client.get(RETENTION)
        self.assertContains(response, "No rules: nothing is ever erased.")
        self.assertContains(response, 'name="narrative_months"')

    def test_preview_shows_what_unsaved_rules_would_erase_and_changes_nothing(self):
        self.login(self.pat)
        events = audit_log().count()
        response = self.client.post(RETENTION, {"narrative_months": "6", "case_years": "5", "preview": "1"})
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "not saved yet")
        self.assertContains(response, "<li>2 case summaries</li>", html=True)
        self.assertContains(response, "<li>1 whole case</li>", html=True)
        self.assertFalse(RetentionPolicy.objects.exists())
        self.assertEqual(Case.objects.filter(summary__isnull=False).count(), 4)
        self.assertEqual(CaseNote.objects.count(), 5)
        self.assertFalse(PurgeTombstone.objects.exists())
        self.assertEqual(audit_log().count(), events)

    def test_preview_counts_only_the_admins_organization(self):
        self.login(self.pat)
        response = self.client.post(RETENTION, {"narrative_months": "", "case_years": "1", "preview": "1"})
        self.assertContains(response, "<li>1 whole case</li>", html=True)

    def test_saving_sets_the_rules_and_is_audited(self):
        self.login(self.pat)
        response = self.client.post(
            RETENTION, {"narrative_months": "18", "case_years": "7", "save": "1"}, follow=True
        )
        self.assertEqual(response.redirect_chain, [(RETENTION, 302)])
        self.assertContains(response, "The retention rules were saved.")
        policy = RetentionPolicy.objects.get()
        self.assertEqual(
            (policy.organization, policy.narrative_months, policy.case_years), (self.harbor, 18, 7)
        )
        event = audit_log().get(action="retention.change")
        self.assertEqual(
            (event.actor_id, event.organization_id, event.object_type, event.object_id),
            (self.pat.pk, self.harbor.pk, "retention_policy", "narratives:18 cases:7"),
        )

    def test_emptying_a_field_keeps_that_kind_of_record(self):
        RetentionPolicy.objects.create(organization=self.harbor, narrative_months=6, case_years=5)
        self.login(self.pat)
        self.client.post(RETENTION, {"narrative_months": "6", "case_years": "", "save": "1"})
        self.assertEqual(RetentionPolicy.objects.get().case_years, None)
        self.assertEqual(audit_log().get(action="retention.change").object_id, "narratives:6 cases:keep")

    def test_saving_erases_nothing_by_itself(self):
        self.login(self.pat)
        self.client.post(RETENTION, {"narrative_months": "1", "case_years": "1", "save": "1"})
        self.assertEqual(Case.objects.count(), 3 + 4)
        self.assertEqual(CaseNote.objects.count(), 5)

    def test_numbers_out_of_range_are_shown_as_errors_and_nothing_is_saved(self):
        self.login(self.pat)
        for data in ({"narrative_months": "0"}, {"case_years": "-3"}, {"case_years": "two"}):
            response = self.client.post(RETENTION, {**data, "save": "1"})
            self.assertEqual(response.status_code, 200, data)
            self.assertContains(response, "Please correct the following")
            self.assertContains(response, 'aria-invalid="true"')
        self.assertFalse(RetentionPolicy.objects.exists())
        self.assertFalse(audit_log().filter(action="retention.change").exists())

    def test_an_organization_field_smuggled_into_the_form_is_ignored(self):
        self.login(self.pat)
        self.client.post(
            RETENTION,
            {
                "narrative_months": "3",
                "save": "1",
                "organization": self.valley.pk,
                "organization_id": self.valley.pk,
            },
        )
        self.assertEqual(
            list(RetentionPolicy.objects.values_list("organization_id", flat=True)), [self.harbor.pk]
        )

    def test_past_purges_of_the_organization_are_listed_in_words_with_counts_only(self):
        PurgeTombstone.objects.create(
            organization=self.harbor,
            rule="cases_after_years=7",
            cases_purged=4,
            narratives_purged=3,
            notes_purged=9,
        )
        PurgeTombstone.objects.create(
            organization=self.valley, rule="narratives_after_months=2", narratives_purged=55
        )
        self.login(self.pat)
        response = self.client.get(RETENTION)
        self.assertContains(
            response, "<caption>What each purge erased at Harbor, newest first (counts only)</caption>"
        )
        self.assertContains(response, "<td>Whole cases, 7 years after closing</td>", html=True)
        self.assertContains(response, "<td>9</td>", html=True)
        self.assertNotContains(response, "2 months after closing")
        self.assertNotContains(response, "<td>55</td>", html=True)
        self.assertEqual(len(response.context["rows"]), 1)

    def test_every_other_persona_is_refused(self):
        for person in (self.alice, self.ada, self.sam, self.bob, self.eve, self.charlie, self.nora):
            self.login(person)
            self.assertEqual(self.client.get(RETENTION).status_code, 403, person)
            response = self.client.post(RETENTION, {"narrative_months": "1", "case_years": "1", "save": "1"})
            self.assertEqual(response.status_code, 403, person)
        self.assertFalse(RetentionPolicy.objects.exists())
        self.assertEqual(Case.objects.count(), 7)

    def test_it_sends_anonymous_visitors_to_sign_in(self):
        self.assertRedirects(self.client.get(RETENTION), f"{reverse('accounts:login')}?next={RETENTION}")
        self.client.post(RETENTION, {"narrative_months": "1", "save": "1"})
        self.assertFalse(RetentionPolicy.objects.exists())

    def test_program_admins_find_it_on_the_dashboard(self):
        self.login(self.pat)
        self.assertContains(self.client.get(reverse("dashboard")), f'href="{RETENTION}"')
        self.login(self.alice)
        self.assertNotContains(self.client.get(reverse("dashboard")), f'href="{RETENTION}"')


@time_machine.travel(NOW, tick=False)
class RetentionPageQueryBudgetTests(PersonaTestCase):
    # Sign-in checks (session, user, device, roles), the policy, 5 counts for the preview (3 for the case
    # rule, 2 for the narrative rule), the count and page of past purges, and the transaction and session
    # bookkeeping around them.
    BUDGET = 17

    def count_queries(self) -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = self.client.get(RETENTION)
        self.assertEqual(response.status_code, 200)
        return len(ctx.captured_queries)

    def add(self, count):
        for n in range(count):
            closed_case(self.harbor, closed_on=datetime.date(2019, 1, 1 + n % 28), author=self.alice)
            closed_case(self.harbor, closed_on=datetime.date(2025, 1, 1 + n % 28), author=self.alice)
            PurgeTombstone.objects.create(
                organization=self.harbor, rule="cases_after_years=5", cases_purged=n
            )

    def test_queries_stay_the_same_for_3_and_120_cases_and_purges(self):
        RetentionPolicy.objects.create(organization=self.harbor, narrative_months=6, case_years=5)
        self.login(self.pat)
        self.add(3)
        few = self.count_queries()
        self.add(117)
        many = self.count_queries()
        self.assertEqual(few, many)
        self.assertLessEqual(many, self.BUDGET)

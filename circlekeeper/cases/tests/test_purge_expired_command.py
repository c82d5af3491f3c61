import datetime
import io

import time_machine
from django.core.management import CommandError, call_command

from circlekeeper.cases.models import Case, CaseNote, CaseStatus, PurgeTombstone, RetentionPolicy
from circlekeeper.testing import PersonaTestCase, audit_log, make_case

NOW = datetime.datetime(2026, 6, 15, 12, 0, tzinfo=datetime.UTC)


@time_machine.travel(NOW, tick=False)
class PurgeExpiredCommandTests(PersonaTestCase):
    def setUp(self):
        RetentionPolicy.objects.create(organization=self.harbor, narrative_months=6, case_years=5)
        RetentionPolicy.objects.create(organization=self.valley, case_years=1)
        self.harbor_old = self.closed(self.harbor, datetime.date(2019, 1, 1))
        self.harbor_recent = self.closed(self.harbor, datetime.date(2025, 11, 1))
        self.valley_old = self.closed(self.valley, datetime.date(2024, 1, 1))

    def closed(self, organization, closed_on):
        case = make_case(
            organization,
            status=CaseStatus.CLOSED,
            opened_on=datetime.date(2015, 1, 1),
            closed_on=closed_on,
            summary="What happened.",
        )
        author = self.charlie if organization == self.valley else self.alice
        CaseNote.objects.create(organization=organization, case=case, author=author, text="a note")
        return case

    def run_command(self, *args):
        out = io.StringIO()
        call_command("purge_expired", *args, stdout=out)
        return out.getvalue()

    def test_a_dry_run_prints_what_would_be_erased_and_changes_nothing(self):
        output = self.run_command("--dry-run")
        self.assertIn(
            "harbor: Whole cases, 5 years after closing: would erase 1 case (with 1 summary and 1 note)",
            output,
        )
        self.assertIn(
            "harbor: Summaries and notes, 6 months after closing: would erase 1 summary and 1 note.", output
        )
        self.assertIn("valley: Whole cases, 1 year after closing: would erase 1 case", output)
        self.assertIn("dry run, nothing changed", output)
        self.assertEqual(Case.objects.filter(summary__isnull=False).count(), 3)
        self.assertEqual(CaseNote.objects.count(), 3)
        self.assertFalse(PurgeTombstone.objects.exists())
        self.assertFalse(audit_log().filter(action="retention.purge").exists())

    def test_it_purges_and_says_what_it_erased(self):
        output = self.run_command()
        self.assertIn("harbor: Whole cases, 5 years after closing: erased 1 case", output)
        self.assertIn(
            "Done as of 2026-06-15: 2 organizations with rules; 2 cases, 3 summaries and 3 notes erased.",
            output,
        )
        self.assertEqual(
            set(Case.objects.values_list("pk", flat=True)) & {self.harbor_old.pk, self.valley_old.pk}, set()
        )
        self.assertIsNone(Case.objects.get(pk=self.harbor_recent.pk).summary)
        self.assertEqual(audit_log().filter(action="retention.purge").count(), 2)
        self.assertIn("harbor: nothing to erase.", self.run_command())
        self.closed(self.harbor, datetime.date(2025, 12, 1))
        self.assertIn(
            "harbor: Whole cases, 5 years after closing: would erase 0 cases (with 0 summaries and 0 notes).",
            self.run_command("--dry-run"),
        )

    def test_organization_limits_it_to_one_organization(self):
        output = self.run_command("--organization", "valley")
        self.assertNotIn("harbor", output)
        self.assertFalse(Case.objects.filter(pk=self.valley_old.pk).exists())
        self.assertTrue(Case.objects.filter(pk=self.harbor_old.pk).exists())

    def test_an_organization_without_rules_is_said_so(self):
        RetentionPolicy.objects.filter(organization=self.valley).delete()
        self.assertIn("valley: no retention rules", self.run_command("--organization", "valley"))

    def test_today_applies_the_rules_as_of_an_earlier_date(self):
        # On 1 January 2025 the Valley case had been closed for one year exactly; the Harbor one for under 6 months.
        output = self.run_command("--today", "2025-01-01")
        self.assertFalse(Case.objects.filter(pk=self.valley_old.pk).exists())
        self.assertEqual(Case.objects.get(pk=self.harbor_recent.pk).summary, "What happened.")
        self.assertIn("Done as of 2025-01-01", output)

    def test_a_future_date_is_allowed_only_for_a_dry_run(self):
        with self.assertRaisesMessage(CommandError, "only with --dry-run"):
            self.run_command("--today", "2030-01-01")
        self.assertIn("would erase", self.run_command("--today", "2030-01-01", "--dry-run"))
        self.assertEqual(Case.objects.count(), 6)

    def test_bad_arguments_are_clear_errors(self):
        with self.assertRaisesMessage(
            CommandError, "--today must be a date like 2026-03-31, not '2026-02-30'"
        ):
            self.run_command("--today", "2026-02-30")
        with self.assertRaisesMessage(CommandError, "--today must be a date"):
            self.run_command("--today", "yesterday")
        with self.assertRaisesMessage(CommandError, "No organization with the short name 'nowhere'"):
            self.run_command("--organization", "nowhere")
        self.assertEqual(Case.objects.count(), 6)

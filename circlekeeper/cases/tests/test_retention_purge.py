import datetime
from unittest import mock

from django.db import connection
from django.test.utils import CaptureQueriesContext

from circlekeeper.cases import retention
from circlekeeper.cases.models import (
    Case,
    CaseAssignment,
    CaseNote,
    CaseStatus,
    Participant,
    PurgeTombstone,
    RetentionPolicy,
    TeamRole,
)
from circlekeeper.cases.retention import months_before, purge_expired
from circlekeeper.lib import keys
from circlekeeper.testing import PersonaTestCase, audit_log, make_case

TODAY = datetime.date(2026, 6, 15)


def counts(rule: retention.RuleCounts | None) -> tuple[int, int, int]:
    """(cases, summaries, notes) that one rule erased."""
    assert rule is not None, "the rule should have run"
    return rule.cases, rule.narratives, rule.notes


class MonthsBeforeTests(PersonaTestCase):
    def test_it_counts_calendar_months(self):
        self.assertEqual(months_before(datetime.date(2026, 6, 15), 6), datetime.date(2025, 12, 15))
        self.assertEqual(months_before(datetime.date(2026, 1, 15), 1), datetime.date(2025, 12, 15))
        self.assertEqual(months_before(datetime.date(2026, 6, 15), 0), datetime.date(2026, 6, 15))
        self.assertEqual(months_before(datetime.date(2026, 6, 15), 12 * 7), datetime.date(2019, 6, 15))

    def test_a_day_missing_in_the_earlier_month_becomes_its_last_day(self):
        self.assertEqual(months_before(datetime.date(2026, 3, 31), 1), datetime.date(2026, 2, 28))
        self.assertEqual(months_before(datetime.date(2028, 3, 31), 1), datetime.date(2028, 2, 29))
        self.assertEqual(months_before(datetime.date(2028, 2, 29), 12), datetime.date(2027, 2, 28))
        self.assertEqual(months_before(datetime.date(2026, 7, 31), 1), datetime.date(2026, 6, 30))


class RetentionTestCase(PersonaTestCase):
    def closed_case(self, organization=None, *, closed_on, status=CaseStatus.CLOSED, notes=2, **kwargs):
        organization = organization or self.harbor
        author = self.charlie if organization == self.valley else self.alice
        case = make_case(
            organization,
            opened_on=datetime.date(2015, 1, 1),
            closed_on=closed_on,
            status=status,
            summary=kwargs.pop("summary", "What happened, in her words."),
            team=((author, TeamRole.KEEPER),),
            **kwargs,
        )
        for n in range(notes):
            CaseNote.objects.create(organization=organization, case=case, author=author, text=f"note {n}")
        return case

    def policy(self, organization=None, *, months=None, years=None):
        return RetentionPolicy.objects.create(
            organization=organization or self.harbor, narrative_months=months, case_years=years
        )

    def summary_of(self, case):
        return Case.objects.get(pk=case.pk).summary

    def notes_of(self, case):
        return CaseNote.objects.filter(case_id=case.pk).count()


class NarrativeRuleTests(RetentionTestCase):
    def setUp(self):
        self.policy(months=6)

    def test_a_case_closed_exactly_n_months_ago_loses_its_summary_and_notes_but_nothing_else(self):
        case = self.closed_case(closed_on=datetime.date(2025, 12, 15), notes=3)
        participant = Participant.objects.create(
            organization=self.harbor, case=case, role="survivor", label="Survivor A"
        )
        [result] = purge_expired(today=TODAY, dry_run=False)
        self.assertIsNone(self.summary_of(case))
        self.assertEqual(self.notes_of(case), 0)
        self.assertTrue(Case.objects.filter(pk=case.pk, status=CaseStatus.CLOSED).exists())
        self.assertTrue(CaseAssignment.objects.filter(case_id=case.pk).exists())
        self.assertTrue(Participant.objects.filter(pk=participant.pk).exists())
        self.assertEqual(counts(result.narrative_rule), (0, 1, 3))
        self.assertIsNone(result.case_rule)

    def test_a_case_closed_one_day_less_than_n_months_ago_keeps_everything(self):
        case = self.closed_case(closed_on=datetime.date(2025, 12, 16))
        [result] = purge_expired(today=TODAY, dry_run=False)
        self.assertEqual(self.summary_of(case), "What happened, in her words.")
        self.assertEqual(self.notes_of(case), 2)
        self.assertFalse(result.anything)

    def test_withdrawn_and_referred_out_cases_are_purged_like_closed_ones(self):
        withdrawn = self.closed_case(closed_on=datetime.date(2024, 1, 1), status=CaseStatus.WITHDRAWN)
        referred = self.closed_case(closed_on=datetime.date(2024, 1, 1), status=CaseStatus.REFERRED_OUT)
        purge_expired(today=TODAY, dry_run=False)
        for case in (withdrawn, referred):
            self.assertIsNone(self.summary_of(case))
            self.assertEqual(self.notes_of(case), 0)

    def test_open_cases_are_never_purged_whatever_their_dates(self):
        # An open case with a stray closing date, and a closed one without any: neither is touched.
        open_case = self.closed_case(closed_on=datetime.date(2016, 1, 1), status=CaseStatus.OPEN)
        undated = self.closed_case(closed_on=None)
        RetentionPolicy.objects.filter(organization=self.harbor).update(case_years=1)
        [result] = purge_expired(today=TODAY, dry_run=False)
        self.assertFalse(result.anything)
        for case in (open_case, undated):
            self.assertEqual(self.summary_of(case), "What happened, in her words.")
            self.assertEqual(self.notes_of(case), 2)

    def test_other_organizations_are_untouched(self):
        harbor_case = self.closed_case(closed_on=datetime.date(2024, 1, 1))
        valley_case = self.closed_case(self.valley, closed_on=datetime.date(2024, 1, 1))
        results = purge_expired(today=TODAY, dry_run=False)
        self.assertEqual([r.organization for r in results], [self.harbor])
        self.assertIsNone(self.summary_of(harbor_case))
        self.assertEqual(self.summary_of(valley_case), "What happened, in her words.")
        self.assertEqual(self.notes_of(valley_case), 2)
        self.assertFalse(PurgeTombstone.objects.filter(organization=self.valley).exists())

    def test_organization_ids_limit_the_purge_to_those_organizations(self):
        self.policy(self.valley, months=6)
        harbor_case = self.closed_case(closed_on=datetime.date(2024, 1, 1))
        valley_case = self.closed_case(self.valley, closed_on=datetime.date(2024, 1, 1))
        results = purge_expired(today=TODAY, dry_run=False, organization_ids=[self.valley.pk])
        self.assertEqual([r.organization for r in results], [self.valley])
        self.assertIsNone(self.summary_of(valley_case))
        self.assertEqual(self.summary_of(harbor_case), "What happened, in her words.")


class CaseRuleTests(RetentionTestCase):
    def setUp(self):
        self.policy(years=2)

    def test_a_case_closed_exactly_m_years_ago_is_deleted_with_everything_that_hangs_off_it(self):
        case = self.closed_case(closed_on=datetime.date(2024, 6, 15), notes=3)
        participant = Participant.objects.create(
            organization=self.harbor, case=case, role="survivor", label="Survivor A"
        )
        [result] = purge_expired(today=TODAY, dry_run=False)
        self.assertFalse(Case.objects.filter(pk=case.pk).exists())
        self.assertFalse(CaseNote.objects.filter(case_id=case.pk).exists())
        self.assertFalse(CaseAssignment.objects.filter(case_id=case.pk).exists())
        self.assertFalse(Participant.objects.filter(pk=participant.pk).exists())
        self.assertEqual(counts(result.case_rule), (1, 1, 3))
        self.assertIsNone(result.narrative_rule)

    def test_a_case_closed_one_day_less_than_m_years_ago_is_kept_whole(self):
        case = self.closed_case(closed_on=datetime.date(2024, 6, 16))
        [result] = purge_expired(today=TODAY, dry_run=False)
        self.assertEqual(self.summary_of(case), "What happened, in her words.")
        self.assertEqual(self.notes_of(case), 2)
        self.assertFalse(result.anything)

    def test_the_case_rule_alone_never_erases_narratives_of_younger_cases(self):
        younger = self.closed_case(closed_on=datetime.date(2025, 1, 1))
        purge_expired(today=TODAY, dry_run=False)
        self.assertEqual(self.summary_of(younger), "What happened, in her words.")
        self.assertEqual(self.notes_of(younger), 2)

    def test_open_cases_and_other_organizations_are_never_deleted(self):
        open_case = self.closed_case(closed_on=datetime.date(2016, 1, 1), status=CaseStatus.OPEN)
        valley_case = self.closed_case(self.valley, closed_on=datetime.date(2016, 1, 1))
        purge_expired(today=TODAY, dry_run=False)
        self.assertTrue(Case.objects.filter(pk=open_case.pk).exists())
        self.assertTrue(Case.objects.filter(pk=valley_case.pk).exists())
        self.assertTrue(Case.objects.filter(pk=self.case.pk).exists())

    def test_a_case_past_both_rules_is_counted_once_as_a_whole_case(self):
        RetentionPolicy.objects.filter(organization=self.harbor).update(narrative_months=6)
        old = self.closed_case(closed_on=datetime.date(2020, 1, 1))
        middle = self.closed_case(closed_on=datetime.date(2025, 1, 1), notes=1)
        [result] = purge_expired(today=TODAY, dry_run=False)
        self.assertFalse(Case.objects.filter(pk=old.pk).exists())
        self.assertIsNone(self.summary_of(middle))
        self.assertEqual(counts(result.case_rule), (1, 1, 2))
        self.assertEqual(counts(result.narrative_rule), (0, 1, 1))


class PurgeRecordTests(RetentionTestCase):
    def setUp(self):
        self.policy(months=6, years=5)
        self.old = self.closed_case(closed_on=datetime.date(2020, 1, 1), reference="HAR-2019-0042", notes=1)
        self.recent = self.closed_case(
            closed_on=datetime.date(2025, 6, 1), reference="HAR-2025-0077", notes=3
        )
        self.untouched = self.closed_case(closed_on=datetime.date(2026, 6, 1), reference="HAR-2026-0099")

    def test_each_rule_that_erased_something_leaves_a_tombstone_with_counts_only(self):
        purge_expired(today=TODAY, dry_run=False)
        tombstones = PurgeTombstone.objects.filter(organization=self.harbor)
        self.assertEqual(
            sorted(tombstones.values_list("rule", "cases_purged", "narratives_purged", "notes_purged")),
            [("cases_after_years=5", 1, 1, 1), ("narratives_after_months=6", 0, 1, 3)],
        )
        # Nothing in a tombstone can name a case: no reference, no id, no date of the case.
        fields = {f.name for f in PurgeTombstone._meta.get_fields()}
        self.assertEqual(
            fields,
            {"id", "organization", "ran_at", "rule", "cases_purged", "narratives_purged", "notes_purged"},
        )
        text = " ".join(str(v) for row in tombstones.values() for v in row.values())
        for case in (self.old, self.recent):
            self.assertNotIn(case.reference, text)
            self.assertNotIn(str(case.uid), text)

    def test_a_rule_that_erased_nothing_leaves_no_tombstone(self):
        Case.objects.filter(pk=self.old.pk).delete()
        purge_expired(today=TODAY, dry_run=False)
        self.assertEqual(
            list(PurgeTombstone.objects.values_list("rule", flat=True)), ["narratives_after_months=6"]
        )

    def test_each_purge_is_one_audit_event_with_counts_only(self):
        purge_expired(today=TODAY, dry_run=False)
        event = audit_log().get(action="retention.purge")
        self.assertEqual(
            (event.organization_id, event.actor_id, event.outcome, event.object_type, event.object_id),
            (self.harbor.pk, None, "ok", "purge", "cases:1 summaries:2 notes:4"),
        )
        for case in (self.old, self.recent):
            self.assertNotIn(case.reference, event.object_id)

    def test_a_dry_run_changes_nothing_and_counts_exactly_what_a_real_run_erases(self):
        cases, notes = Case.objects.count(), CaseNote.objects.count()
        events = audit_log().count()
        [dry] = purge_expired(today=TODAY, dry_run=True)
        self.assertTrue(dry.dry_run)
        self.assertEqual((Case.objects.count(), CaseNote.objects.count()), (cases, notes))
        self.assertEqual(self.summary_of(self.recent), "What happened, in her words.")
        self.assertFalse(PurgeTombstone.objects.exists())
        self.assertEqual(audit_log().count(), events)
        [real] = purge_expired(today=TODAY, dry_run=False)
        self.assertEqual((dry.case_rule, dry.narrative_rule), (real.case_rule, real.narrative_rule))
        self.assertTrue(real.anything)

    def test_a_second_run_the_same_day_erases_nothing_and_leaves_no_trace(self):
        purge_expired(today=TODAY, dry_run=False)
        tombstones, events = PurgeTombstone.objects.count(), audit_log().count()
        [again] = purge_expired(today=TODAY, dry_run=False)
        self.assertFalse(again.anything)
        self.assertEqual(PurgeTombstone.objects.count(), tombstones)
        self.assertEqual(audit_log().count(), events)
        self.assertEqual(self.summary_of(self.untouched), "What happened, in her words.")
        [dry] = purge_expired(today=TODAY, dry_run=True)
        self.assertFalse(dry.anything)

    def test_an_organization_without_rules_is_skipped(self):
        RetentionPolicy.objects.filter(organization=self.harbor).update(
            narrative_months=None, case_years=None
        )
        self.assertEqual(purge_expired(today=TODAY, dry_run=False), [])
        self.assertEqual(self.notes_of(self.recent), 3)


class LargePurgeTests(RetentionTestCase):
    def test_it_works_through_many_batches(self):
        self.policy(months=6, years=5)
        old = [self.closed_case(closed_on=datetime.date(2019, 1, n), notes=1) for n in range(1, 8)]
        recent = [self.closed_case(closed_on=datetime.date(2025, 1, n), notes=2) for n in range(1, 10)]
        with mock.patch.object(retention, "BATCH_SIZE", 2):
            [result] = purge_expired(today=TODAY, dry_run=False)
        self.assertEqual(counts(result.case_rule), (7, 7, 7))
        self.assertEqual(counts(result.narrative_rule), (0, 9, 18))
        self.assertFalse(Case.objects.filter(pk__in=[c.pk for c in old]).exists())
        self.assertFalse(Case.objects.filter(pk__in=[c.pk for c in recent], summary__isnull=False).exists())

    def test_queries_grow_with_batches_not_with_cases(self):
        def queries(count):
            RetentionPolicy.objects.update_or_create(
                organization=self.harbor, defaults={"narrative_months": 6, "case_years": 5}
            )
            for n in range(count):
                self.closed_case(closed_on=datetime.date(2019, 1, 1), notes=1)
                self.closed_case(closed_on=datetime.date(2025, 1, 1), notes=1)
            with CaptureQueriesContext(connection) as ctx:
                purge_expired(today=TODAY, dry_run=False)
            return len(ctx.captured_queries)

        queries(1)  # the very first audit event also creates the chain's head row
        self.assertEqual(queries(3), queries(60))

    def test_it_erases_even_after_the_organizations_keys_were_destroyed(self):
        # Erasing never needs to read what it erases, so crypto-shredding and retention do not get in each other's way.
        self.policy(months=6, years=5)
        old = self.closed_case(closed_on=datetime.date(2019, 1, 1))
        recent = self.closed_case(closed_on=datetime.date(2025, 1, 1))
        keys.destroy_keys(self.harbor.pk)
        [result] = purge_expired(today=TODAY, dry_run=False)
        self.assertEqual((counts(result.case_rule)[0], counts(result.narrative_rule)[1]), (1, 1))
        self.assertFalse(Case.objects.filter(pk=old.pk).exists())
        self.assertTrue(Case.objects.filter(pk=recent.pk, summary__isnull=True).exists())


class RetentionPolicyServiceTests(RetentionTestCase):
    def test_it_sets_and_clears_the_rules(self):
        retention.set_retention_policy(organization=self.harbor, narrative_months=18, case_years=7)
        retention.set_retention_policy(organization=self.harbor, narrative_months=None, case_years=7)
        policy = RetentionPolicy.objects.get(organization=self.harbor)
        self.assertEqual((policy.narrative_months, policy.case_years), (None, 7))
        self.assertEqual(RetentionPolicy.objects.count(), 1)

    def test_it_refuses_a_period_of_zero(self):
        from django.core.exceptions import ValidationError

        with self.assertRaises(ValidationError):
            retention.set_retention_policy(organization=self.harbor, narrative_months=0, case_years=None)
        self.assertFalse(RetentionPolicy.objects.exists())

    def test_rules_are_described_in_words(self):
        self.assertEqual(
            retention.describe_rule("narratives_after_months=1"), "Summaries and notes, 1 month after closing"
        )
        self.assertEqual(retention.describe_rule("cases_after_years=7"), "Whole cases, 7 years after closing")
        self.assertEqual(retention.describe_rule("something else"), "something else")

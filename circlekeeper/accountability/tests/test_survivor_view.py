"""The survivor's view of progress, asked through the instrument engine, kept beside the keeper's view; the case's
disagreement flag follows every check-in, survivor view and new version in force, both ways."""

from django.utils import timezone

from circlekeeper.accountability.comparison import comparison_for, disagree, share
from circlekeeper.accountability.models import CommitmentKind, SurvivorView
from circlekeeper.accountability.tests.helpers import survivor_view, walked
from circlekeeper.cases.models import CaseEvent, EventKind
from circlekeeper.instruments import filling
from circlekeeper.safety.models import HoldReason, SafetyAlert, SafetyHold
from circlekeeper.safety.tests.checks import builtin_version, run_check
from circlekeeper.testing import PersonaTestCase


class SurvivorViewTests(PersonaTestCase):
    def setUp(self):
        self.walk = walked(self.case, self.alice, self.sam)

    def test_a_staff_entered_answer_becomes_the_survivors_view_with_an_event(self):
        response = survivor_view(self.walk.survivor, by=self.ada, kept="1", repaired="dk")
        view = SurvivorView.objects.get()
        self.assertEqual(
            (view.response, view.participant, view.kept, view.repair), (response, self.walk.survivor, 1, None)
        )
        event = CaseEvent.objects.get(kind=EventKind.SURVIVOR_VIEW)
        self.assertEqual((event.facts, event.by), ({"participant": "Survivor A"}, self.ada))

    def test_feeling_less_safe_or_not_saying_puts_the_case_on_hold_at_once(self):
        for answer in ("1", "_pnts"):
            with self.subTest(answer=answer):
                survivor_view(self.walk.survivor, by=self.ada, less_safe=answer)
                hold = SafetyHold.objects.open().get(case=self.case)
                self.assertEqual(hold.reason, HoldReason.SURVIVOR_REPORT)
                self.assertTrue(SafetyAlert.objects.filter(case=self.case, reason="survivor_report").exists())
                self.case.refresh_from_db()
                self.assertTrue(self.case.on_hold)
                hold.delete()
                self.case.on_hold = False
                self.case.save(update_fields=["on_hold"])

    def test_not_feeling_less_safe_opens_no_hold(self):
        survivor_view(self.walk.survivor, by=self.ada, less_safe="0")
        self.assertFalse(SafetyHold.objects.filter(case=self.case).exists())

    def test_prefer_not_to_say_leaves_the_rating_empty(self):
        survivor_view(self.walk.survivor, by=self.ada, kept="pnts", repaired="3")
        view = SurvivorView.objects.get()
        self.assertEqual((view.kept, view.repair), (None, 3))

    def test_other_instruments_and_other_participants_are_ignored(self):
        run_check(self.walk.survivor, by=self.ada)
        version = builtin_version("progress_view")
        response = filling.start_entry(participant=self.walk.uncle, version=version, purpose="x", by=self.ada)
        filling.save_section(
            response=response,
            position=0,
            values={"commitments_kept": "3", "harm_repaired": "3"},
            today=timezone.localdate(),
        )
        filling.submit(response=response, today=timezone.localdate())
        self.assertFalse(SurvivorView.objects.exists())

    def test_the_flag_is_raised_when_the_survivor_says_not_kept_and_the_keeper_says_kept_and_lowered_again(
        self,
    ):
        _version, (one, two) = self.walk.in_force(
            {"kind": CommitmentKind.ATTEND_PROGRAM}, {"kind": CommitmentKind.RESTITUTION}
        )
        self.walk.checkin(one, "kept")
        self.walk.checkin(two, "kept")
        self.case.refresh_from_db()
        self.assertFalse(self.case.progress_views_disagree)
        survivor_view(self.walk.survivor, by=self.ada, kept="0", repaired="3")
        self.case.refresh_from_db()
        self.assertTrue(self.case.progress_views_disagree)
        comparison = comparison_for(self.case)
        self.assertEqual((comparison.kept_disagree, comparison.repair_disagree), (True, False))
        # The keeper's record moves toward the survivor's view: the two agree again.
        self.walk.checkin(one, "not_kept")
        self.walk.checkin(two, "partly")
        self.case.refresh_from_db()
        self.assertEqual(comparison_for(self.case).keeper.kept, 0.25)
        self.assertFalse(self.case.progress_views_disagree)

    def test_the_flag_follows_the_repair_view_and_a_new_survivor_view(self):
        _version, (repair,) = self.walk.in_force({"kind": CommitmentKind.REPAIR_SURVIVOR})
        self.walk.checkin(repair, "not_kept")
        survivor_view(self.walk.survivor, by=self.ada, kept="dk", repaired="3")
        self.case.refresh_from_db()
        self.assertTrue(self.case.progress_views_disagree)
        survivor_view(self.walk.survivor, by=self.ada, kept="dk", repaired="0")
        self.case.refresh_from_db()
        self.assertFalse(self.case.progress_views_disagree)

    def test_a_new_version_in_force_recomputes_the_flag(self):
        first, (commitment,) = self.walk.in_force({"kind": CommitmentKind.ATTEND_PROGRAM})
        self.walk.checkin(commitment, "kept")
        survivor_view(self.walk.survivor, by=self.ada, kept="0", repaired="dk")
        self.case.refresh_from_db()
        self.assertTrue(self.case.progress_views_disagree)
        second = self.walk.draft()
        from circlekeeper.accountability import services

        services.remove_commitment(
            commitment=second.commitments.get(), by=self.alice, lock_version=second.lock_version
        )
        self.walk.add(second, kind=CommitmentKind.OTHER)
        self.walk.affirm(second)
        self.assertFalse(self.case.progress_views_disagree)  # nothing known on the new version yet

    def test_the_rules_of_the_comparison(self):
        self.assertIsNone(share(["unknown", ""]))
        self.assertEqual(share(["kept", "partly", "not_kept", "unknown"]), 0.5)
        self.assertFalse(disagree(None, 0.0))
        self.assertFalse(disagree(3, None))
        self.assertTrue(disagree(2, 0.25))
        self.assertTrue(disagree(1, 0.5))
        self.assertFalse(disagree(2, 0.5))
        self.assertFalse(disagree(0, 0.0))

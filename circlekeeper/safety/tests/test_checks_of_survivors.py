"""SafetyCheck.objects.of_survivors() and survivors entered in error (issue 18, build 3).

"A record entered in error counts nowhere": the checks of someone added as a survivor by mistake are not a
survivor's checks. Every list built on of_survivors() (the supervisor's holds and approvals, the evaluation's
data and dashboards) then leaves them out; here the queryset itself, and one of those lists.
"""

from __future__ import annotations

from circlekeeper.accounts.access import StaffContext
from circlekeeper.accounts.models import Role
from circlekeeper.cases.models import ParticipantRole
from circlekeeper.protocol import corrections
from circlekeeper.safety import dashboard
from circlekeeper.safety.models import SafetyCheck
from circlekeeper.safety.services import open_hold
from circlekeeper.safety.tests.checks import run_check
from circlekeeper.testing import PersonaTestCase, make_participant


class ChecksOfSurvivorsTests(PersonaTestCase):
    def setUp(self) -> None:
        self.survivor = make_participant(self.case, role=ParticipantRole.SURVIVOR, label="Survivor A")
        self.ghost = make_participant(self.case, role=ParticipantRole.SURVIVOR, label="Survivor C")

    def survivors_checked(self) -> set[str]:
        return set(SafetyCheck.objects.of_survivors().values_list("participant__label", flat=True))

    def test_the_checks_of_a_survivor_entered_in_error_are_no_survivors_checks(self):
        for person in (self.survivor, self.ghost):
            run_check(person, by=self.alice)
        self.assertEqual(self.survivors_checked(), {"Survivor A", "Survivor C"})
        corrections.participant_in_error(participant=self.ghost, by=self.alice, reason="Added twice")
        self.assertEqual(self.survivors_checked(), {"Survivor A"})
        # The records stay: the check is still there, it only stops counting.
        self.assertEqual(SafetyCheck.objects.filter(participant=self.ghost).count(), 1)

    def test_a_hold_is_not_shown_as_liftable_on_the_check_of_a_survivor_entered_in_error(self):
        hold = open_hold(
            case=self.case, reason="new_violence", by=self.alice, details="Reported on the phone"
        )
        run_check(self.ghost, by=self.alice)
        context = StaffContext(self.sam, self.harbor, frozenset({Role.SUPERVISOR}))
        [before] = dashboard.holds_to_review(context)
        self.assertEqual((before.pk, before.can_lift), (hold.pk, True))  # type: ignore[attr-defined]
        corrections.participant_in_error(participant=self.ghost, by=self.alice, reason="Added twice")
        [after] = dashboard.holds_to_review(context)
        self.assertFalse(after.can_lift)  # type: ignore[attr-defined]

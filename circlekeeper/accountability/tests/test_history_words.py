"""The case history words this app's codes with labels kept in cases/history.py (which may not import this app):
they must stay the same as the choices here, and each event of this app reads as words with a link."""

from django.urls import reverse

from circlekeeper.accountability.models import ProgressStatus, Step
from circlekeeper.accountability.tests.helpers import survivor_view, walked
from circlekeeper.cases import history
from circlekeeper.cases.models import CaseEvent, EventKind
from circlekeeper.testing import PersonaTestCase


class HistoryWordsTests(PersonaTestCase):
    def test_the_words_for_progress_and_steps_are_the_same_as_the_choices(self):
        self.assertEqual(
            {code: str(label) for code, label in history.COMMITMENT_STATUSES.items()},
            {code: str(label) for code, label in ProgressStatus.choices},
        )
        self.assertEqual(
            {code: str(label) for code, label in history.STAIRCASE_STEPS.items()},
            {str(code): str(label) for code, label in Step.choices},
        )

    def test_the_timeline_tells_the_agreement_in_words_with_a_link_to_the_agreement_page(self):
        walk = walked(self.case, self.alice, self.sam)
        _version, (commitment,) = walk.in_force({})
        walk.checkin(commitment, "not_kept")
        from circlekeeper.accountability import services

        services.record_step(case=self.case, step=1, by=self.alice, commitments=[commitment])
        survivor_view(walk.survivor, by=self.ada)
        self.login(self.alice)
        page = self.client.get(reverse("protocol:timeline", args=[self.case.pk]), {"kind": "accountability"})
        for words in (
            "Agreement version drafted",
            "Version: 1",
            "A party affirmed the agreement",
            "Agreement affirmed by every party",
            f"Commitment: {commitment.number}; Progress: Not kept",
            "Staircase step: 1 · Stop the immediate violence",
            "The survivor&#x27;s view of progress recorded",
        ):
            self.assertContains(page, words)
        self.assertContains(page, reverse("accountability:agreement", args=[self.case.pk]))
        kinds = set(CaseEvent.objects.filter(case=self.case).values_list("kind", flat=True))
        self.assertLessEqual(
            {EventKind.AGREEMENT_AFFIRMED, EventKind.COMMITMENT_CHECKIN, EventKind.SURVIVOR_VIEW}, kinds
        )

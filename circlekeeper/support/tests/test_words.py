"""The case history words this app's codes with labels of its own (cases may not import support): they must
stay the same as this app's, and a pod change reads in words on the case timeline."""

from django.test import SimpleTestCase
from django.urls import reverse

from circlekeeper.cases import history
from circlekeeper.cases.models import CaseEvent, EventKind
from circlekeeper.support.models import PodSide, Stance


class HistoryWordsTests(SimpleTestCase):
    def test_the_history_repeats_every_pod_and_stance_with_the_same_words(self):
        self.assertEqual(
            {k: str(v) for k, v in history.POD_SIDES.items()}, {c.value: str(c.label) for c in PodSide}
        )
        self.assertEqual(
            {k: str(v) for k, v in history.STANCES.items()}, {c.value: str(c.label) for c in Stance}
        )

    def test_a_pod_change_reads_in_words(self):
        event = CaseEvent(
            kind=EventKind.POD_CHANGED, facts={"stance": "barrier", "side": "harm", "member": "Friend K"}
        )
        line = history.describe_event(event)
        self.assertEqual(line.what, "Support network changed")
        self.assertEqual(
            line.facts,
            [
                ("Person", "Friend K"),
                ("Pod", "The pod of the person who caused harm"),
                ("Ally or barrier", "Barrier"),
            ],
        )

    def test_the_addresses_the_timeline_links_to_exist(self):
        self.assertEqual(reverse("support:pods", args=[7]), "/support/cases/7/")

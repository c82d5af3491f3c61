"""The connectedness measures on hand-built graphs with known answers: who counts in a pod, consenting active
allies, the help they cover, density, and the share in touch with the program."""

import networkx as nx
from django.test import SimpleTestCase

from circlekeeper.support.measures import HARM, MEMBER, PARTY, POD_EDGE, SURVIVOR, TIE_EDGE, pod_measures


def graph(*members, ties=()):
    """Two centers; each member is (name, pods, attributes); ties are pairs of names."""
    g = nx.Graph()
    g.add_node(SURVIVOR, kind=PARTY)
    g.add_node(HARM, kind=PARTY)
    for name, pods, attrs in members:
        g.add_node(
            name,
            kind=MEMBER,
            label=name,
            **{
                "stance": "ally",
                "active": True,
                "consented": True,
                "in_touch": True,
                "help": [],
                "role": "survivor_supporter",
                **attrs,
            },
        )
        for pod in pods:
            g.add_edge(pod, name, kind=POD_EDGE)
    for a, b in ties:
        g.add_edge(a, b, kind=TIE_EDGE)
    return g


S = (SURVIVOR,)
H = (HARM,)


class PodMeasureTests(SimpleTestCase):
    def test_an_empty_pod_counts_nobody_has_no_density_and_no_share(self):
        m = pod_measures(graph(), SURVIVOR)
        self.assertEqual((m.pod_size, m.consenting_active, m.help_covered, m.density), (0, 0, (), 0.0))
        self.assertIsNone(m.in_touch_share)

    def test_a_barrier_is_never_counted_nor_their_help(self):
        g = graph(
            ("sister", S, {"help": ["childcare"]}),
            ("friend", S, {"stance": "barrier", "help": ["money"]}),
            ties=[("sister", "friend")],
        )
        m = pod_measures(g, SURVIVOR)
        self.assertEqual((m.pod_size, m.consenting_active, m.help_covered), (1, 1, ("childcare",)))
        self.assertEqual(m.density, 0.0)  # one person left: no pair to know each other

    def test_an_inactive_member_is_not_counted(self):
        g = graph(("sister", S, {}), ("aunt", S, {"active": False, "help": ["transport"]}))
        m = pod_measures(g, SURVIVOR)
        self.assertEqual((m.pod_size, m.consenting_active, m.help_covered), (1, 1, ()))

    def test_a_member_of_both_pods_counts_in_each(self):
        g = graph(("neighbour", (SURVIVOR, HARM), {"help": ["monitoring_safety"]}), ("brother", H, {}))
        survivor, harm = pod_measures(g, SURVIVOR), pod_measures(g, HARM)
        self.assertEqual((survivor.pod_size, harm.pod_size), (1, 2))
        self.assertEqual(survivor.help_covered, ("monitoring_safety",))
        self.assertEqual(harm.help_covered, ("monitoring_safety",))

    def test_the_density_of_a_triangle_is_one_and_of_a_path_of_three_two_thirds(self):
        people: list[tuple[str, tuple[str, ...], dict]] = [("a", S, {}), ("b", S, {}), ("c", S, {})]
        triangle = graph(*people, ties=[("a", "b"), ("b", "c"), ("a", "c")])
        path = graph(*people, ties=[("a", "b"), ("b", "c")])
        self.assertEqual(pod_measures(triangle, SURVIVOR).density, 1.0)
        self.assertAlmostEqual(pod_measures(path, SURVIVOR).density, 2 / 3)

    def test_the_density_leaves_out_the_lines_to_the_center_and_ties_to_people_outside_the_pod(self):
        g = graph(("a", S, {}), ("b", S, {}), ("c", H, {}), ties=[("a", "c"), ("b", "c")])
        self.assertEqual(pod_measures(g, SURVIVOR).density, 0.0)
        g.add_edge("a", "b", kind=TIE_EDGE)
        self.assertEqual(pod_measures(g, SURVIVOR).density, 1.0)

    def test_the_density_of_four_with_two_ties_is_a_third(self):
        g = graph(*[(n, S, {}) for n in "abcd"], ties=[("a", "b"), ("c", "d")])
        self.assertAlmostEqual(pod_measures(g, SURVIVOR).density, 2 / 6)

    def test_help_is_covered_only_by_consenting_active_allies_in_the_order_of_the_list(self):
        g = graph(
            ("ally", S, {"help": ["transport", "emotional_support", "transport"]}),
            ("unsure", S, {"stance": "unsure", "help": ["money"]}),
            ("not-asked", S, {"consented": False, "in_touch": False, "help": ["housing"]}),
            ("resting", S, {"active": False, "help": ["childcare"]}),
        )
        m = pod_measures(g, SURVIVOR)
        self.assertEqual(m.help_covered, ("emotional_support", "transport"))
        self.assertEqual((m.pod_size, m.consenting_active), (3, 1))

    def test_the_share_in_touch_counts_those_with_consent_to_take_part_or_be_contacted(self):
        g = graph(
            ("a", S, {}),
            ("b", S, {"consented": False, "in_touch": True}),
            ("c", S, {"consented": False, "in_touch": False}),
            ("d", S, {"consented": False, "in_touch": False}),
            ("barrier", S, {"stance": "barrier", "in_touch": True}),
        )
        self.assertEqual(pod_measures(g, SURVIVOR).in_touch_share, 0.5)

    def test_each_pod_is_counted_apart(self):
        g = graph(("sister", S, {"help": ["childcare"]}), ("brother", H, {"help": ["talk_with_harm"]}))
        self.assertEqual(pod_measures(g, SURVIVOR).help_covered, ("childcare",))
        self.assertEqual(pod_measures(g, HARM).help_covered, ("talk_with_harm",))

    def test_only_the_two_pods_are_measured(self):
        with self.assertRaises(ValueError):
            pod_measures(graph(), "both")

"""The network map: a valid SVG with a shape per person (by role), its stance and state as classes and marks,
labels escaped, the same facts in the table beside it, the same picture every time, and a fixed number of
queries; for the case team only."""

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

from django.conf import settings
from django.urls import reverse

from circlekeeper.cases.models import ParticipantRole
from circlekeeper.support import services
from circlekeeper.support.tests.helpers import add
from circlekeeper.testing import PersonaTestCase, audit_log, make_participant

SVG = "{http://www.w3.org/2000/svg}"
XSS_LABEL = "<b>K</b>&amp;\"'"
XSS_RELATIONSHIP = "</text><script>alert(1)</script>"


def svg_of(page):
    match = re.search(
        r'<svg xmlns="http://www.w3.org/2000/svg" class="pod-map".*?</svg>', page.content.decode(), re.S
    )
    assert match, "no map on the page"
    return ET.fromstring(match.group(0))


def drawn(svg):
    """{member id: (shape, classes, has a cross, title)} for every member drawn."""
    found = {}
    for g in svg.iter(f"{SVG}g"):
        if "data-member" in g.attrib:
            classes = set(g.attrib["class"].split())
            cross = g.find(f"{SVG}path[@class='map-cross']") is not None
            found[int(g.attrib["data-member"])] = (
                g.attrib["data-shape"],
                classes,
                cross,
                g.find(f"{SVG}title").text,
            )
    return found


class TableRows(HTMLParser):
    """The cells of each row of the map's table, by member id."""

    def __init__(self):
        super().__init__()
        self.rows: dict[int, list[str]] = {}
        self.row: list[str] | None = None
        self.cell: str | None = None
        self.in_table = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == "pod-map-table":
            self.in_table = True
        elif self.in_table and tag == "tr" and "data-member" in attrs:
            self.row = self.rows.setdefault(int(attrs["data-member"]), [])
        elif self.row is not None and tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr":
            self.row = None
        elif tag == "table":
            self.in_table = False

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def table_of(page):
    parser = TableRows()
    parser.feed(page.content.decode())
    return parser.rows


class MapPageTests(PersonaTestCase):
    def setUp(self):
        self.url = reverse("support:map", args=[self.case.pk])
        make_participant(self.case, role=ParticipantRole.SURVIVOR, label="Survivor A")
        make_participant(self.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Person B")

    def people(self):
        sister = make_participant(self.case, role=ParticipantRole.SURVIVOR_SUPPORTER, label="Sister")
        monitor = make_participant(
            self.case, role=ParticipantRole.SAFETY_MONITOR, label="Neighbour", reachable=False
        )
        pastor = make_participant(self.case, role=ParticipantRole.COMMUNITY_MEMBER, label="Pastor")
        friend = make_participant(self.case, role=ParticipantRole.HARM_SUPPORTER, label="Friend K")
        members = {
            "sister": add(self.case, self.alice, participant=sister, help=["childcare", "transport"]),
            "monitor": add(
                self.case, self.alice, participant=monitor, side="both", both_reason="Trusted by both"
            ),
            "pastor": add(self.case, self.alice, participant=pastor, side="harm", stance="unsure", help=[]),
            "friend": add(self.case, self.alice, participant=friend, side="harm", stance="barrier", help=[]),
            "aunt": add(self.case, self.alice, label="Aunt R", active=False, relationship="her aunt"),
        }
        services.add_tie(case=self.case, a=members["sister"], b=members["aunt"], by=self.alice)
        services.add_tie(case=self.case, a=members["monitor"], b=members["sister"], by=self.alice)
        return members

    def test_the_svg_is_valid_with_a_shape_per_person_by_role_and_marks_by_stance_and_state(self):
        members = self.people()
        self.login(self.alice)
        page = self.client.get(self.url)
        svg = svg_of(page)
        self.assertEqual(svg.attrib["role"], "img")
        self.assertEqual(svg.attrib["aria-describedby"], "pod-map-table")
        self.assertEqual(svg.find(f"{SVG}title").text, "The support networks of case HAR-2026-0001")
        self.assertIsNotNone(svg.find(f"{SVG}desc"))
        shapes = drawn(svg)
        self.assertEqual(set(shapes), {m.pk for m in members.values()})
        expected = {
            "sister": ("circle", "map-node--ally", False),
            "monitor": ("diamond", "map-node--ally", False),
            "pastor": ("triangle", "map-node--unsure", False),
            "friend": ("circle", "map-node--barrier", True),
            "aunt": ("circle", "map-node--ally", False),
        }
        for key, (shape, stance, cross) in expected.items():
            found = shapes[members[key].pk]
            self.assertEqual((found[0], stance in found[1], found[2]), (shape, True, cross), key)
        self.assertIn("map-node--inactive", shapes[members["aunt"].pk][1])
        self.assertIn("map-node--unlinked", shapes[members["aunt"].pk][1])
        self.assertNotIn("map-node--unlinked", shapes[members["sister"].pk][1])
        # The parties are squares at the centers; a line to a center for each pod, dashed lines for ties.
        parties = [g for g in svg.iter(f"{SVG}g") if "map-node--party" in g.attrib.get("class", "")]
        self.assertEqual([g.attrib["data-shape"] for g in parties], ["square", "square"])
        self.assertEqual([g.find(f"{SVG}text").text for g in parties], ["Survivor A", "Person B"])
        lines = [line.attrib["class"] for line in svg.iter(f"{SVG}line")]
        self.assertEqual(
            (lines.count("map-edge map-edge--pod"), lines.count("map-edge map-edge--tie")), (6, 2)
        )
        self.assertTrue(audit_log().filter(action="pod.view", object_id=str(self.case.pk)).exists())

    def test_the_table_says_in_words_what_the_map_draws_for_every_person(self):
        members = self.people()
        self.login(self.alice)
        page = self.client.get(self.url)
        shapes, rows = drawn(svg_of(page)), table_of(page)
        self.assertEqual(set(rows), set(shapes))
        role_shape = {
            "Support person for the survivor": "circle",
            "Support person for the person who caused harm": "circle",
            "Safety monitor": "diamond",
            "Community member": "triangle",
            "Not yet a participant": "circle",
        }
        for pk, (shape, classes, cross, title) in shapes.items():
            label, pod, relationship, role, stance, help, consented, active, knows = rows[pk]
            self.assertEqual(role_shape[role], shape)
            self.assertIn(f"map-node--{stance.lower()}", classes)
            self.assertEqual(cross, stance == "Barrier")
            self.assertEqual("map-node--inactive" in classes, active == "No")
            self.assertEqual("map-node--unlinked" in classes, role == "Not yet a participant")
            self.assertTrue(title.startswith(f"{label}: {pod}, {stance}, {role}"), title)
        sister = rows[members["sister"].pk]
        self.assertEqual(
            sister,
            [
                "Sister",
                "The survivor's pod",
                "her aunt",
                "Support person for the survivor",
                "Ally",
                "Childcare, Transport",
                "Yes",
                "Yes",
                "Aunt R, Neighbour",
            ],
        )
        self.assertEqual(rows[members["aunt"].pk][6:8], ["Not asked yet", "No"])
        self.assertEqual(rows[members["monitor"].pk][1:2], ["Both pods"])
        self.assertContains(page, "Legend")
        self.assertContains(
            page, "Red with a cross and a thick border: a barrier, never invited or contacted"
        )

    def test_labels_and_relationships_are_escaped_in_the_svg_and_the_table(self):
        member = add(self.case, self.alice, label=XSS_LABEL, relationship=XSS_RELATIONSHIP)
        self.login(self.alice)
        page = self.client.get(self.url)
        self.assertNotContains(page, XSS_LABEL)
        self.assertNotContains(page, XSS_RELATIONSHIP)
        svg = svg_of(page)  # still valid XML
        title = drawn(svg)[member.pk][3]
        self.assertTrue(title.startswith(XSS_LABEL + ":"))
        self.assertEqual(table_of(page)[member.pk][:3], [XSS_LABEL, "The survivor's pod", XSS_RELATIONSHIP])

    def test_the_same_pods_give_the_same_picture_and_numbers_are_never_localized(self):
        self.people()
        self.login(self.alice)
        first = self.client.get(self.url).content.decode()
        self.client.cookies[settings.LANGUAGE_COOKIE_NAME] = "es"
        second = self.client.get(self.url)
        svg = svg_of(second)
        for line in svg.iter(f"{SVG}line"):
            for name in ("x1", "y1", "x2", "y2"):
                float(line.attrib[name])  # "12,5" would fail
        for circle in svg.iter(f"{SVG}circle"):
            float(circle.attrib["cx"])
        coordinates = re.findall(r' (?:x1|y1|cx|cy|points)="[^"]*"', first)
        self.assertEqual(coordinates, re.findall(r' (?:x1|y1|cx|cy|points)="[^"]*"', second.content.decode()))

    def test_an_empty_map_shows_the_two_parties_and_says_nobody_is_in_a_pod(self):
        self.login(self.alice)
        page = self.client.get(self.url)
        svg = svg_of(page)
        self.assertEqual(drawn(svg), {})
        self.assertNotIn("aria-describedby", svg.attrib)
        self.assertContains(page, "Nobody is in a pod yet")

    def test_the_queries_do_not_grow_with_people_and_ties(self):
        sister = make_participant(self.case, role=ParticipantRole.SURVIVOR_SUPPORTER, label="Sister")
        with self.captureOnCommitCallbacks(execute=True):
            first = add(self.case, self.alice, participant=sister)
        self.login(self.alice)
        self.client.get(self.url)
        with self.assertNumQueries(11):
            self.client.get(self.url)
        previous = first
        for n in range(1, 11):
            if n % 3:
                person = add(self.case, self.alice, label=f"Person {n}", side="harm" if n % 2 else "survivor")
            else:
                monitor = make_participant(
                    self.case, role=ParticipantRole.SAFETY_MONITOR, label=f"Monitor {n}"
                )
                person = add(self.case, self.alice, participant=monitor, stance="unsure")
            services.add_tie(case=self.case, a=previous, b=person, by=self.alice)
            previous = person
        with self.assertNumQueries(11):
            self.client.get(self.url)

"""The dashboards' SVG charts: images with a title and description, suppressed values not drawn, text escaped."""

import re
import xml.etree.ElementTree as ET

from django.test import SimpleTestCase

from circlekeeper.evaluation import charts

SVG = "{http://www.w3.org/2000/svg}"


class BarChartTest(SimpleTestCase):
    def chart(self, bars, **kwargs):
        return str(
            charts.bar_chart(
                chart_id="c1", title="Felt <safety>", description="Means & CIs", bars=bars, **kwargs
            )
        )

    def test_it_is_an_image_named_by_its_title_and_description(self):
        svg = ET.fromstring(self.chart([charts.Bar("T0", 3.0, "mean 3")]))
        self.assertEqual(svg.get("role"), "img")
        self.assertEqual(svg.get("aria-labelledby"), "c1-title c1-desc")
        self.assertEqual(svg.findtext(f"{SVG}title"), "Felt <safety>")
        self.assertEqual(svg.findtext(f"{SVG}desc"), "Means & CIs")

    def test_bar_lengths_follow_the_values_and_whiskers_the_interval(self):
        svg = ET.fromstring(
            self.chart(
                [charts.Bar("T0", 2.5, "a", 2.0, 3.0), charts.Bar("T3", 5.0, "b", 4.5, 5.0)],
                lowest=0,
                highest=5,
            )
        )
        widths = [float(rect.get("width", "nan")) for rect in svg.iter(f"{SVG}rect")]
        self.assertEqual(widths, [150.0, 300.0])
        first_line = svg.find(f"{SVG}g/{SVG}line")
        assert first_line is not None
        self.assertEqual((first_line.get("x1"), first_line.get("x2")), ("290", "350"))

    def test_a_suppressed_value_is_not_drawn_and_says_so_in_words(self):
        text = self.chart([charts.Bar("T0", 3.0, "mean 3"), charts.Bar("T3", None, "suppressed (n <11)")])
        svg = ET.fromstring(text)
        self.assertEqual(len(list(svg.iter(f"{SVG}rect"))), 1)
        self.assertIn("suppressed (n &lt;11)", text)

    def test_labels_are_escaped(self):
        text = self.chart([charts.Bar("<script>alert(1)</script>", 1.0, "x")])
        self.assertNotIn("<script>", text)
        ET.fromstring(text)

    def test_no_inline_style_or_script(self):
        text = self.chart([charts.Bar("T0", 3.0, "a", 2.0, 4.0)])
        self.assertIsNone(re.search(r"style=|<script|on\w+=", text))


class StepChartTest(SimpleTestCase):
    def test_each_group_is_a_step_line_with_its_own_dash_pattern_and_label(self):
        text = str(
            charts.step_chart(
                chart_id="km",
                title="Share without a recurrence",
                description="Kaplan-Meier",
                curves=[
                    charts.Curve("bip", [(0, 1.0), (30, 0.9), (60, 0.8)]),
                    charts.Curve("circles", [(0, 1.0), (30, 0.95), (60, None)]),
                ],
                days=60,
            )
        )
        svg = ET.fromstring(text)
        paths = list(svg.iter(f"{SVG}path"))
        self.assertEqual(len(paths), 2)
        self.assertIsNone(paths[0].get("stroke-dasharray"))
        self.assertEqual(paths[1].get("stroke-dasharray"), "8 4")
        # A step curve: horizontal then vertical moves; the second stops where its estimate is withheld.
        self.assertEqual((paths[0].get("d") or "").count("H"), 2)
        self.assertEqual((paths[1].get("d") or "").count("H"), 1)
        labels = [t.text for t in svg.iter(f"{SVG}text")]
        self.assertIn("bip", labels)
        self.assertIn("circles", labels)

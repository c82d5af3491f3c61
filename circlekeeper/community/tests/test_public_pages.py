"""The public directory page: approved entries only, filters without JavaScript, English and Spanish, the quick
exit first, nothing cached, nothing loaded from elsewhere; and the demo's public side."""

import datetime
import re

from django.conf import settings
from django.db import connection
from django.test import TestCase, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from circlekeeper.accounts.models import Role, User
from circlekeeper.community import directory
from circlekeeper.community.models import DirectoryEntry, EntryStatus, ImpactDecision
from circlekeeper.demo.cases import seed_network
from circlekeeper.demo.public import VALLEY_EDIT, seed_public, waiting_for_approval
from circlekeeper.testing import PersonaTestCase, make_organization, make_user

ENTRY = {
    "summary_en": "Harbor listens first.",
    "summary_es": "Harbor escucha primero.",
    "tracks": ["support_only", "direct_dialogue"],
    "languages": ["English", "Spanish"],
    "areas": ["Harbor City"],
    "how_to_reach_en": "Call from a phone that is not shared; you can hang up at any time.",
    "how_to_reach_es": "Llame desde un teléfono que no comparta; puede colgar en cualquier momento.",
    "hours_en": "Weekdays",
    "hours_es": "Entre semana",
    "cost_en": "Free",
    "cost_es": "Gratis",
    "works_with_harm": True,
}


def publish(organization, admin, network_admin, **changes):
    entry = directory.entry_of(organization)
    entry = directory.save_draft(
        organization=organization, by=admin, data={**ENTRY, **changes}, lock_version=entry.lock_version
    )
    entry = directory.submit(organization=organization, by=admin, lock_version=entry.lock_version)
    return directory.approve(entry=entry, by=network_admin, lock_version=entry.lock_version)


class DirectoryPageTests(PersonaTestCase):
    valley_admin: User

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.valley_admin = make_user(organization=cls.valley, roles=(Role.PROGRAM_ADMIN,))
        publish(cls.harbor, cls.pat, cls.nora)
        publish(
            cls.valley,
            cls.valley_admin,
            cls.nora,
            summary_en="Valley works in the valley.",
            summary_es="",
            tracks=["support_only", "community_accountability"],
            languages=["English", "Tagalog"],
            areas=["Valley County"],
            works_with_harm=False,
        )

    def url(self, **query):
        return reverse("public:directory", args=[self.network.slug])

    def get(self, query=None, **extra):
        return self.client.get(self.url(), query or {}, **extra)

    def test_it_lists_the_approved_entries_with_what_each_offers(self):
        response = self.get()

        self.assertEqual(response.status_code, 200)
        html = response.content.decode()
        self.assertIn("Harbor listens first.", html)
        self.assertIn("Valley works in the valley.", html)
        self.assertIn("Community accountability", html)
        self.assertIn("you can hang up at any time", html)
        self.assertIn("What is restorative justice?", html)
        self.assertIn("2 programs.", html)

    def test_filters_work_as_a_plain_get_form(self):
        html = self.get({"track": "community_accountability"}).content.decode()
        self.assertNotIn("Harbor listens first.", html)
        self.assertIn("Valley works in the valley.", html)

        html = self.get({"language": "Spanish"}).content.decode()
        self.assertIn("Harbor listens first.", html)
        self.assertNotIn("Valley works in the valley.", html)

        html = self.get({"area": "Valley County"}).content.decode()
        self.assertNotIn("Harbor listens first.", html)

        html = self.get({"harm": "yes"}).content.decode()
        self.assertIn("Harbor listens first.", html)
        self.assertNotIn("Valley works in the valley.", html)
        self.assertIn("1 program of 2 matches.", html)

        html = self.get({"track": "direct_dialogue", "harm": "no"}).content.decode()
        self.assertIn("No program matches all of these choices.", html)

    def test_a_filter_value_that_is_not_on_the_list_says_so_and_shows_everything(self):
        response = self.get({"track": "<script>alert(1)</script>"})

        self.assertEqual(response.status_code, 400)
        html = response.content.decode()
        self.assertIn("was not one of the list", html)
        self.assertIn("Harbor listens first.", html)
        self.assertNotIn("<script>alert(1)</script>", html)

    def test_it_is_in_spanish_where_the_entry_has_spanish_text(self):
        response = self.get(HTTP_ACCEPT_LANGUAGE="es")

        html = response.content.decode()
        self.assertIn('<html lang="es">', html)
        self.assertIn("Harbor escucha primero.", html)
        self.assertNotIn("Harbor listens first.", html)
        # Valley wrote no Spanish summary: its English one stands in.
        self.assertIn("Valley works in the valley.", html)
        self.assertIn("Salida rápida", html)

    def test_the_quick_exit_comes_first_and_says_it_does_not_erase_history(self):
        html = self.get().content.decode()

        body = html[html.index("<body") :]
        match = re.search(r"<(a|button|select|input)\b[^>]*>", body)
        assert match is not None
        first_link = match.group(0)
        self.assertIn('id="quick-exit"', first_link)
        self.assertIn(f'href="{settings.QUICK_EXIT_URL}"', first_link)
        self.assertIn("It does not erase your browser history.", html)
        self.assertIn("/static/js/quick-exit.js", html)

    def test_nothing_is_cached_or_loaded_from_elsewhere(self):
        response = self.get()

        self.assertIn("no-store", response["Cache-Control"])
        html = response.content.decode()
        outside = [
            url
            for url in re.findall(r'(?:src|href|action)="([^"]+)"', html)
            if url.startswith(("http:", "https:", "//")) and url != settings.QUICK_EXIT_URL
        ]
        self.assertEqual(outside, [])
        self.assertEqual(
            re.findall(r"<script[^>]*>", html), ['<script src="/static/js/quick-exit.js" defer>']
        )

    def test_it_is_printable(self):
        html = self.get().content.decode()

        self.assertIn('href="/static/community/public.css"', html)
        stylesheet = (settings.BASE_DIR / "circlekeeper/community/static/community/public.css").read_text()
        self.assertIn("@media print", stylesheet)

    def test_markup_in_an_entry_is_shown_as_text(self):
        entry = DirectoryEntry.objects.get(organization=self.harbor)
        payload = "<script>alert(1)</script><img src=x onerror=alert(2)>"
        entry = directory.save_draft(
            organization=self.harbor,
            by=self.pat,
            data={**ENTRY, "summary_en": payload, "areas": [payload]},
            lock_version=entry.lock_version,
        )
        entry = directory.submit(organization=self.harbor, by=self.pat, lock_version=entry.lock_version)
        directory.approve(entry=entry, by=self.nora, lock_version=entry.lock_version)

        html = self.get().content.decode()

        self.assertNotIn("<script>alert(1)", html)
        self.assertNotIn("<img src=x", html)
        self.assertIn("&lt;script&gt;alert(1)&lt;/script&gt;", html)

    def test_a_draft_or_a_review_comment_never_shows(self):
        entry = DirectoryEntry.objects.get(organization=self.harbor)
        directory.save_draft(
            organization=self.harbor,
            by=self.pat,
            data={**ENTRY, "summary_en": "Marker-Draft-Summary"},
            lock_version=entry.lock_version,
        )
        entry.refresh_from_db()
        directory.submit(organization=self.harbor, by=self.pat, lock_version=entry.lock_version)
        entry.refresh_from_db()
        directory.return_entry(
            entry=entry, by=self.nora, comment="Marker-Review-Comment", lock_version=entry.lock_version
        )

        html = self.get().content.decode()

        self.assertNotIn("Marker-Draft-Summary", html)
        self.assertNotIn("Marker-Review-Comment", html)
        self.assertIn("Harbor listens first.", html)

    def test_another_networks_entries_never_show_and_an_unknown_network_is_not_found(self):
        elsewhere = make_organization(name="Elsewhere Org", slug="elsewhere-org")
        admin = make_user(organization=elsewhere, roles=(Role.PROGRAM_ADMIN,))
        network_admin = make_user(organization=elsewhere, roles=(Role.NETWORK_ADMIN,))
        publish(elsewhere, admin, network_admin, summary_en="Elsewhere is elsewhere.")

        self.assertNotIn("Elsewhere is elsewhere.", self.get().content.decode())
        response = self.client.get(reverse("public:directory", args=["no-such-network"]))
        self.assertEqual(response.status_code, 404)

    def test_the_page_takes_as_many_queries_for_one_entry_as_for_many(self):
        def queries():
            with CaptureQueriesContext(connection) as captured:
                self.assertEqual(self.get({"harm": "yes"}).status_code, 200)
            return len(captured)

        two = queries()
        for n in range(5):
            organization = make_organization(network=self.network)
            admin = make_user(organization=organization, roles=(Role.PROGRAM_ADMIN,))
            publish(organization, admin, self.nora, summary_en=f"Program {n}")

        self.assertEqual(queries(), two)
        self.assertLessEqual(two, 4)


class ImpactPageShellTests(PersonaTestCase):
    def test_the_impact_page_is_public_with_the_quick_exit_and_not_cached(self):
        response = self.client.get(reverse("public:impact", args=[self.network.slug]))

        self.assertEqual(response.status_code, 200)
        self.assertIn("no-store", response["Cache-Control"])
        self.assertContains(response, 'id="quick-exit"')
        self.assertEqual(self.client.get(reverse("public:impact", args=["nope"])).status_code, 404)


@override_settings(DEMO_MODE=True)
class DemoTests(TestCase):
    def test_the_demo_has_three_approved_entries_one_edit_waiting_and_two_organizations_shown(self):
        seed_network(settings.DEMO_PASSWORD, datetime.date(2026, 3, 1))

        self.assertEqual(seed_public(), 3)
        self.assertEqual(seed_public(), 0)  # idempotent

        entries = DirectoryEntry.objects.filter(organization__network__slug="bay-area")
        self.assertEqual(entries.filter(published_at__isnull=False).count(), 3)
        self.assertEqual(waiting_for_approval(), ["valley"])
        valley = entries.get(organization__slug="valley")
        self.assertEqual(valley.status, EntryStatus.SUBMITTED)
        self.assertEqual(valley.draft["hours_en"], VALLEY_EDIT["hours_en"])
        self.assertNotEqual(valley.published["hours_en"], VALLEY_EDIT["hours_en"])
        shown = {d.organization.slug: d.shown for d in ImpactDecision.objects.select_related("organization")}
        self.assertEqual(shown, {"harbor": True, "valley": True, "bridge": False})
        html = self.client.get(reverse("public:directory", args=["bay-area"])).content.decode()
        self.assertIn("3 programs.", html)
        self.assertNotIn(VALLEY_EDIT["hours_en"], html)
        spanish = self.client.get(reverse("public:directory", args=["bay-area"]), HTTP_ACCEPT_LANGUAGE="es")
        self.assertContains(spanish, "Gratis")
        impact = self.client.get(reverse("public:impact", args=["bay-area"]))
        self.assertContains(impact, "Harbor Community Circle")
        self.assertNotContains(impact, "Bridge Family Collective")

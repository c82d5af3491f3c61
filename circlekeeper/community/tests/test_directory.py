"""The public directory's approval flow: program admins edit their own entry as a draft, the network's admins
approve it; the public sees only the last approved version."""

from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from circlekeeper.accounts.models import Organization, Role, User
from circlekeeper.community import directory
from circlekeeper.community.models import DirectoryEntry, EntryStatus
from circlekeeper.community.public_views import DIRECTORY_REVIEW, DIRECTORY_SAVE, DIRECTORY_SUBMIT
from circlekeeper.testing import PersonaTestCase, audit_log, make_network, make_organization, make_user


def entry_post(lock_version, **overrides):
    data = {
        "tracks": ["support_only", "direct_dialogue"],
        "summary_en": "Harbor listens first.",
        "summary_es": "Harbor escucha primero.",
        "how_to_reach_en": "Call 555-0100 from a phone that is not shared; you can hang up at any time.",
        "how_to_reach_es": "Llame al 555-0100 desde un teléfono que no comparta.",
        "languages": "English, Spanish",
        "areas": "Harbor City, East Bay",
        "hours_en": "Weekdays 9-5",
        "hours_es": "",
        "cost_en": "Free",
        "cost_es": "Gratis",
        "works_with_harm": "yes",
        "lock_version": lock_version,
    }
    data.update(overrides)
    return data


class DirectoryFlowTests(PersonaTestCase):
    valley_admin: User
    elsewhere: Organization
    other_network_admin: User

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.valley_admin = make_user(organization=cls.valley, roles=(Role.PROGRAM_ADMIN,))
        other_network = make_network(name="Elsewhere", slug="elsewhere")
        cls.elsewhere = make_organization(network=other_network, slug="elsewhere-org")
        cls.other_network_admin = make_user(organization=cls.elsewhere, roles=(Role.NETWORK_ADMIN,))

    def public_page(self):
        self.client.logout()
        return self.client.get(reverse("public:directory", args=[self.network.slug])).content.decode()

    def save(self, user=None, **overrides):
        self.login(user or self.pat)
        entry = directory.entry_of(self.harbor)
        return self.client.post(
            reverse("community:directory_edit"), entry_post(entry.lock_version, **overrides)
        )

    def submit(self, user=None):
        self.login(user or self.pat)
        entry = directory.entry_of(self.harbor)
        return self.client.post(reverse("community:directory_submit"), {"lock_version": entry.lock_version})

    def review(self, decision, comment="", user=None):
        self.login(user or self.nora)
        entry = DirectoryEntry.objects.get(organization=self.harbor)
        return self.client.post(
            reverse("community:directory_review", args=[self.network.slug, entry.pk]),
            {"decision": decision, "comment": comment, "lock_version": entry.lock_version},
        )

    def test_a_saved_draft_is_not_public(self):
        response = self.save()

        self.assertRedirects(response, reverse("community:directory_edit"))
        entry = DirectoryEntry.objects.get(organization=self.harbor)
        self.assertEqual(entry.status, EntryStatus.DRAFT)
        self.assertEqual(entry.draft["languages"], ["English", "Spanish"])
        self.assertTrue(entry.draft["works_with_harm"])
        self.assertEqual(entry.published, {})
        self.assertNotIn("Harbor listens first.", self.public_page())
        self.assertTrue(audit_log().filter(action=DIRECTORY_SAVE, object_id=str(entry.pk)).exists())

    def test_a_submitted_draft_is_still_not_public(self):
        self.save()
        response = self.submit()

        self.assertRedirects(response, reverse("community:directory_edit"))
        self.assertEqual(DirectoryEntry.objects.get(organization=self.harbor).status, EntryStatus.SUBMITTED)
        self.assertNotIn("Harbor listens first.", self.public_page())
        self.assertTrue(audit_log().filter(action=DIRECTORY_SUBMIT).exists())

    def test_an_approved_entry_is_public(self):
        self.save()
        self.submit()

        response = self.review("approve")

        self.assertRedirects(response, reverse("community:directory_review_list", args=[self.network.slug]))
        entry = DirectoryEntry.objects.get(organization=self.harbor)
        self.assertEqual(entry.status, EntryStatus.APPROVED)
        self.assertEqual(entry.reviewed_by, self.nora)
        page = self.public_page()
        self.assertIn("Harbor listens first.", page)
        self.assertIn("Harbor City", page)
        self.assertTrue(audit_log().filter(action=DIRECTORY_REVIEW, actor_id=self.nora.pk).exists())

    def test_an_edit_after_approval_stays_private_until_approved_again(self):
        self.save()
        self.submit()
        self.review("approve")

        self.save(summary_en="Harbor has moved to a new address.")
        self.assertIn("Harbor listens first.", self.public_page())
        self.assertNotIn("Harbor has moved", self.public_page())
        self.submit()
        self.assertNotIn("Harbor has moved", self.public_page())

        self.review("approve")
        page = self.public_page()
        self.assertIn("Harbor has moved to a new address.", page)
        self.assertNotIn("Harbor listens first.", page)

    def test_a_returned_entry_carries_the_comment_and_changes_nothing_public(self):
        self.save()
        self.submit()
        self.review("approve")
        self.save(summary_en="We promise to fix every family.")
        self.submit()

        response = self.review("return", comment="Please do not promise outcomes.")

        self.assertEqual(response.status_code, 302)
        entry = DirectoryEntry.objects.get(organization=self.harbor)
        self.assertEqual(entry.status, EntryStatus.RETURNED)
        self.assertEqual(entry.review_comment, "Please do not promise outcomes.")
        self.assertIn("Harbor listens first.", self.public_page())
        self.login(self.pat)
        page = self.client.get(reverse("community:directory_edit")).content.decode()
        self.assertIn("Please do not promise outcomes.", page)

    def test_returning_needs_a_comment(self):
        self.save()
        self.submit()

        response = self.review("return", comment="  ")

        self.assertEqual(response.status_code, 400)
        self.assertContains(response, "Say what needs to change", status_code=400)
        self.assertEqual(DirectoryEntry.objects.get(organization=self.harbor).status, EntryStatus.SUBMITTED)

    def test_only_the_networks_admins_approve(self):
        self.save()
        self.submit()
        entry = DirectoryEntry.objects.get(organization=self.harbor)
        url = reverse("community:directory_review", args=[self.network.slug, entry.pk])
        post = {"decision": "approve", "lock_version": entry.lock_version}

        for user, status in ((self.pat, 403), (self.eve, 403), (self.alice, 403)):
            self.login(user)
            self.assertEqual(self.client.post(url, post).status_code, status, user)
        # Another network's admin: this network is not theirs to see at all.
        self.login(self.other_network_admin)
        self.assertEqual(self.client.post(url, post).status_code, 404)
        other_url = reverse("community:directory_review", args=["elsewhere", entry.pk])
        self.assertEqual(self.client.post(other_url, post).status_code, 404)
        self.assertEqual(DirectoryEntry.objects.get(pk=entry.pk).status, EntryStatus.SUBMITTED)
        with self.assertRaises(ValidationError):
            directory.approve(entry=entry, by=self.other_network_admin, lock_version=entry.lock_version)

    def test_a_program_admin_edits_only_their_own_organizations_entry(self):
        # The form names no organization; an extra field naming another one is ignored.
        self.login(self.valley_admin)
        entry = directory.entry_of(self.valley)
        self.client.post(
            reverse("community:directory_edit"),
            {**entry_post(entry.lock_version), "organization": self.harbor.pk},
        )

        self.assertFalse(DirectoryEntry.objects.filter(organization=self.harbor).exists())
        self.assertEqual(
            DirectoryEntry.objects.get(organization=self.valley).draft["summary_en"], "Harbor listens first."
        )
        with self.assertRaises(ValidationError):
            directory.save_draft(organization=self.harbor, by=self.valley_admin, data={}, lock_version=1)

    def test_other_roles_may_not_edit_an_entry(self):
        for user in (self.alice, self.sam, self.eve, self.nora):
            self.login(user)
            self.assertEqual(self.client.get(reverse("community:directory_edit")).status_code, 403, user)
            self.assertEqual(self.client.post(reverse("community:directory_submit")).status_code, 403, user)
        self.client.logout()
        response = self.client.get(reverse("community:directory_edit"))
        self.assertEqual(response.status_code, 302)
        self.assertIn(reverse("accounts:login"), response["Location"])

    def test_bad_input_says_what_is_wrong_and_saves_nothing(self):
        response = self.save(tracks=[], summary_en="", languages=" , ", works_with_harm="")

        self.assertEqual(response.status_code, 400)
        self.assertContains(response, "Choose at least one option that you offer.", status_code=400)
        self.assertContains(response, "What we offer is required", status_code=400)
        self.assertContains(response, "Languages: name at least one.", status_code=400)
        self.assertContains(response, "Say whether you work with people who caused harm.", status_code=400)
        self.assertFalse(DirectoryEntry.objects.filter(organization=self.harbor).exists())

    def test_an_option_that_is_not_on_the_list_is_refused(self):
        response = self.save(tracks=["not-a-track"])

        self.assertContains(response, "not-a-track is not one of the available choices", status_code=400)
        self.assertFalse(DirectoryEntry.objects.filter(organization=self.harbor).exists())

    def test_a_stale_form_is_refused_and_writes_nothing(self):
        self.save()
        entry = DirectoryEntry.objects.get(organization=self.harbor)

        response = self.client.post(
            reverse("community:directory_edit"), entry_post(entry.lock_version - 1, summary_en="Overwritten")
        )

        self.assertEqual(response.status_code, 409)
        self.assertContains(response, "changed by someone else", status_code=409)
        self.assertEqual(DirectoryEntry.objects.get(pk=entry.pk).draft["summary_en"], "Harbor listens first.")

    def test_an_empty_entry_cannot_be_submitted_and_nothing_is_written(self):
        response = self.submit()

        self.assertRedirects(response, reverse("community:directory_edit"), fetch_redirect_response=False)
        self.assertFalse(DirectoryEntry.objects.filter(organization=self.harbor).exists())
        page = self.client.get(reverse("community:directory_edit")).content.decode()
        self.assertIn("Fill in the entry before sending it for approval.", page)

    def test_submitting_twice_submits_once(self):
        self.save()
        entry = DirectoryEntry.objects.get(organization=self.harbor)
        self.login(self.pat)
        for _ in range(2):
            self.client.post(reverse("community:directory_submit"), {"lock_version": entry.lock_version})

        entry.refresh_from_db()
        self.assertEqual(entry.status, EntryStatus.SUBMITTED)
        self.assertEqual(audit_log().filter(action=DIRECTORY_SUBMIT).count(), 2)
        self.assertEqual(entry.lock_version, 3)

    def test_the_review_list_shows_waiting_entries_first_and_is_for_network_admins(self):
        self.save()
        self.submit()
        url = reverse("community:directory_review_list", args=[self.network.slug])
        self.login(self.nora)

        response = self.client.get(url)

        self.assertContains(response, "Waiting for the network")
        self.assertContains(response, "Harbor")
        self.login(self.pat)
        self.assertEqual(self.client.get(url).status_code, 403)
        self.login(self.other_network_admin)
        self.assertEqual(self.client.get(url).status_code, 404)


class StaffPageQueryBudgetTests(PersonaTestCase):
    def count(self, url):
        with CaptureQueriesContext(connection) as captured:
            self.assertEqual(self.client.get(url).status_code, 200)
        return len(captured)

    def test_the_review_list_takes_as_many_queries_for_one_entry_as_for_many(self):
        self.login(self.pat)
        entry = directory.entry_of(self.harbor)
        self.client.post(reverse("community:directory_edit"), entry_post(entry.lock_version))
        self.login(self.nora)
        url = reverse("community:directory_review_list", args=[self.network.slug])
        one = self.count(url)

        for _ in range(4):
            organization = make_organization(network=self.network)
            admin = make_user(organization=organization, roles=(Role.PROGRAM_ADMIN,))
            directory.save_draft(
                organization=organization,
                by=admin,
                data=entry_post(1)
                | {
                    "tracks": ["support_only"],
                    "languages": ["English"],
                    "areas": ["Town"],
                    "works_with_harm": False,
                },
                lock_version=1,
            )

        self.assertEqual(self.count(url), one)

    def test_the_edit_and_review_pages_take_a_fixed_number_of_queries(self):
        self.login(self.pat)
        entry = directory.entry_of(self.harbor)
        self.client.post(reverse("community:directory_edit"), entry_post(entry.lock_version))
        self.assertLessEqual(self.count(reverse("community:directory_edit")), 12)
        entry = DirectoryEntry.objects.get(organization=self.harbor)
        self.login(self.nora)
        self.assertLessEqual(
            self.count(reverse("community:directory_review", args=[self.network.slug, entry.pk])), 12
        )

"""shred_organization: once an organization's keys are gone, nothing of it can be read again (SECURITY.md 10)."""

import datetime
from io import StringIO

from django.core.management import CommandError, call_command
from django.db import transaction

from circlekeeper.accounts.models import Organization, User
from circlekeeper.cases.models import Case, CaseNote
from circlekeeper.cases.services import add_case_note
from circlekeeper.lib import keys
from circlekeeper.lib.keys import KeysDestroyed
from circlekeeper.lib.tests.example_models import ExampleModelsTestCase, Person
from circlekeeper.testing import make_case, make_organization, make_user


class ShredOrganizationTests(ExampleModelsTestCase):
    harbor: Organization
    valley: Organization
    keeper: User

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.harbor = make_organization(slug="harbor-shred", name="Harbor")
        cls.valley = make_organization(slug="valley-shred", name="Valley")
        cls.keeper = make_user()
        for organization in (cls.harbor, cls.valley):
            case = make_case(organization, summary=f"{organization.slug} story")
            add_case_note(case=case, author=cls.keeper, text=f"{organization.slug} note")
            Person._default_manager.create(
                organization_id=organization.pk, first_name="Ana", date_of_birth=datetime.date(1990, 1, 1)
            )

    def shred(self, *args, answer=None):
        out = StringIO()
        call_command("shred_organization", *args, stdout=out, stdin=StringIO(answer or ""))
        return out.getvalue()

    def assert_readable(self, organization):
        self.assertEqual(Case.objects.get(organization=organization).summary, f"{organization.slug} story")
        self.assertEqual(CaseNote.objects.get(organization=organization).text, f"{organization.slug} note")
        self.assertEqual(Person._default_manager.get(organization_id=organization.pk).first_name, "Ana")

    def test_after_shredding_every_encrypted_value_of_the_organization_raises_keys_destroyed(self):
        output = self.shred("harbor-shred", answer="harbor-shred\n")
        self.assertIn("Type the organization's short name to confirm", output)
        self.assertIn("Destroyed 2 keys of harbor-shred", output)
        keys.clear_key_cache()
        case = Case.objects.get(organization=self.harbor)  # the row is still there, its secrets are not
        for read in (
            lambda: case.summary,
            lambda: CaseNote.objects.get(organization=self.harbor).text,
            lambda: Person._default_manager.get(organization_id=self.harbor.pk).date_of_birth,
        ):
            with self.assertRaisesMessage(KeysDestroyed, "were destroyed"):
                read()
        self.assert_readable(self.valley)
        self.assertEqual(
            {
                bytes(w)
                for w in keys.DataKey.objects.filter(organization_id=self.harbor.pk).values_list(
                    "wrapped", flat=True
                )
            },
            {b""},
        )

    def test_no_new_keys_are_made_for_a_shredded_organization(self):
        self.shred("harbor-shred", "--confirm", "harbor-shred")
        keys.clear_key_cache()
        with self.assertRaises(KeysDestroyed):
            keys.keyring_for(self.harbor.pk)
        with self.assertRaises(KeysDestroyed), transaction.atomic():
            make_case(self.harbor, summary="a new story")
        self.assertEqual(
            keys.DataKey.objects.filter(organization_id=self.harbor.pk, destroyed_at=None).count(), 0
        )
        self.assertIn("already destroyed", self.shred("harbor-shred", "--confirm", "harbor-shred"))

    def test_the_keys_in_this_process_stop_working_at_once(self):
        self.assert_readable(self.harbor)  # keys now cached in this thread
        self.shred("harbor-shred", "--confirm", "harbor-shred")
        with self.assertRaises(KeysDestroyed):
            Case.objects.get(organization=self.harbor).summary

    def test_a_wrong_confirmation_changes_nothing(self):
        before = list(keys.DataKey.objects.order_by("pk").values_list("pk", "wrapped", "destroyed_at"))
        for args, answer in (
            (("harbor-shred",), "valley-shred\n"),
            (("harbor-shred",), ""),
            (("harbor-shred", "--confirm", "harbor"), None),
        ):
            with (
                self.subTest(args=args, answer=answer),
                self.assertRaisesMessage(CommandError, "nothing was changed"),
            ):
                self.shred(*args, answer=answer)
        with self.assertRaisesMessage(CommandError, "No organization"):
            self.shred("nowhere", "--confirm", "nowhere")
        self.assertEqual(
            before, list(keys.DataKey.objects.order_by("pk").values_list("pk", "wrapped", "destroyed_at"))
        )
        keys.clear_key_cache()
        self.assert_readable(self.harbor)

    def test_an_organization_without_keys_yet_is_recorded_as_shredded(self):
        empty = make_organization(slug="empty-shred")
        self.assertIn("Destroyed 0 keys", self.shred("empty-shred", "--confirm", "empty-shred"))
        with self.assertRaises(KeysDestroyed):
            keys.keyring_for(empty.pk)

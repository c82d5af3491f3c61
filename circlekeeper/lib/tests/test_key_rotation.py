"""rotate_keys: new key versions, every row re-encrypted, resumable after a crash at any point (SECURITY.md 9)."""

import datetime
from io import StringIO

from django.core.management import CommandError, call_command
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from circlekeeper.accounts.models import Organization, User
from circlekeeper.cases.models import Case, CaseNote
from circlekeeper.cases.services import add_case_note
from circlekeeper.lib import crypto, keys
from circlekeeper.lib.fields import blind_index_for, protected_models
from circlekeeper.lib.tests.example_models import ExampleModelsTestCase, Person
from circlekeeper.testing import make_case, make_organization, make_user

BORN = datetime.date(1984, 2, 29)
KINDS = ("name", "name", "date")


class Crash(Exception):
    pass


def all_tokens(organization_id):
    """Every encrypted value of the organization, straight from the columns: (model, field, pk) -> token."""
    tokens = {}
    for model, encrypted, _indexes in protected_models():
        for field in encrypted:
            rows = model._base_manager.filter(organization_id=organization_id).values_list(
                "pk", field.attname
            )
            for pk, token in rows:
                if token is not None:
                    tokens[(model._meta.label_lower, field.name, pk)] = bytes(token)
    return tokens


def versions(organization_id):
    return {crypto.token_key_version(token) for token in all_tokens(organization_id).values()}


def live_versions(organization_id, purpose="data"):
    return sorted(
        keys.DataKey.objects.filter(
            organization_id=organization_id, purpose=purpose, retired_at=None, destroyed_at=None
        ).values_list("version", flat=True)
    )


class RotationTestCase(ExampleModelsTestCase):
    harbor: Organization
    valley: Organization
    keeper: User

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.harbor = make_organization(slug="harbor-rot")
        cls.valley = make_organization(slug="valley-rot")
        cls.keeper = make_user()

    def fill(self, organization, n=5):
        """Cases with summaries and notes, and people with every kind of field: what the org holds."""
        expected = {}
        for i in range(n):
            case = make_case(organization, summary=f"what happened, case {i} 🌱")
            note = add_case_note(case=case, author=self.keeper, text=f"note {i}")
            person = Person._default_manager.create(
                organization_id=organization.pk,
                first_name=f"Ana{i}",
                last_name="Ruiz",
                nickname="Annie",
                date_of_birth=BORN,
                details={"i": i, "tags": ["x", ""]},
                story="" if i % 2 else None,
            )
            expected[("case", case.pk)] = case.summary
            expected[("note", note.pk)] = note.text
            expected[("person", person.pk)] = (
                f"Ana{i}",
                "Ruiz",
                BORN,
                {"i": i, "tags": ["x", ""]},
                "" if i % 2 else None,
            )
        return expected

    def read_all(self, organization):
        found = {}
        for case in Case.objects.filter(organization=organization):
            found[("case", case.pk)] = case.summary
        for note in CaseNote.objects.filter(organization=organization):
            found[("note", note.pk)] = note.text
        for p in Person._default_manager.filter(organization_id=organization.pk):
            found[("person", p.pk)] = (p.first_name, p.last_name, p.date_of_birth, p.details, p.story)
        return found

    def assert_rotated(self, organization, expected, version):
        keys.clear_key_cache()
        self.assertEqual(versions(organization.pk), {version})
        self.assertEqual(live_versions(organization.pk), [version])
        self.assertEqual(live_versions(organization.pk, "index"), [version])
        old = keys.DataKey.objects.filter(organization_id=organization.pk, version__lt=version)
        self.assertTrue(old.exists())
        self.assertFalse(old.filter(retired_at=None).exists())
        self.assertEqual({bytes(w) for w in old.values_list("wrapped", flat=True)}, {b""})
        self.assertEqual(self.read_all(organization), expected)
        for person in Person._default_manager.filter(organization_id=organization.pk):
            index = blind_index_for(organization.pk, "name_dob", KINDS, (person.first_name, "Ruiz", BORN))
            self.assertEqual(person.name_dob_index, index)
            nickname = blind_index_for(organization.pk, "nickname", ("name", "name"), ("annie", "ruiz"))
            self.assertEqual(person.nickname_index, nickname)


class RotateKeysCommandTests(RotationTestCase):
    def test_every_row_moves_to_the_new_version_and_the_old_keys_are_gone(self):
        harbor = self.fill(self.harbor)
        valley = self.fill(self.valley, n=2)
        indexes_before = set(Person._default_manager.values_list("name_dob_index", flat=True))
        out = StringIO()
        call_command("rotate_keys", "--batch-size", "2", stdout=out)
        self.assert_rotated(self.harbor, harbor, 2)
        self.assert_rotated(self.valley, valley, 2)
        self.assertFalse(
            indexes_before & set(Person._default_manager.values_list("name_dob_index", flat=True))
        )
        self.assertIn(
            "harbor-rot: now on data key v2 and index key v2; 15 rows re-encrypted; retired versions: v1.",
            out.getvalue(),
        )
        self.assertIn("Done: 2 organizations, 21 rows re-encrypted.", out.getvalue())

        call_command("rotate_keys", "--organization", "harbor-rot", stdout=StringIO())
        self.assert_rotated(self.harbor, harbor, 3)
        self.assertEqual(versions(self.valley.pk), {2})

    def test_a_rotation_continues_an_unfinished_one_instead_of_starting_another(self):
        harbor = self.fill(self.harbor, n=4)
        with self.assertRaises(Crash):
            keys.rotate_organization_keys(self.harbor.pk, batch_size=2, on_batch=self.crash_after(2))
        keys.clear_key_cache()
        self.assertEqual(live_versions(self.harbor.pk), [1, 2])
        self.assertEqual(versions(self.harbor.pk), {1, 2})
        self.assertEqual(self.read_all(self.harbor), harbor)  # readable mid-rotation
        out = StringIO()
        call_command("rotate_keys", "--organization", "harbor-rot", stdout=out)
        self.assertIn("continued an unfinished rotation", out.getvalue())
        self.assert_rotated(self.harbor, harbor, 2)

    def test_a_row_written_under_the_old_key_during_the_rotation_is_caught_before_retiring_it(self):
        harbor = self.fill(self.harbor, n=3)
        first = Case.objects.filter(organization=self.harbor).order_by("pk")[0]
        written: list[int] = []

        def stale_writer(done):
            if done.model == "cases.case" and not written:
                written.append(done.batch)
                # A page that loaded the keys before the rotation began writes with version 1.
                ring = keys.keyring_for(self.harbor.pk)
                context = Case._meta.get_field("summary").context_for(self.harbor.pk, first.uid)
                token = crypto.encrypt(ring.data_keys[1], 1, crypto.encode_value("written late"), context)
                with connection.cursor() as cursor:
                    cursor.execute("UPDATE cases_case SET summary = %s WHERE id = %s", [token, first.pk])

        report = keys.rotate_organization_keys(self.harbor.pk, batch_size=100, on_batch=stale_writer)
        self.assertEqual(report.rows_rewritten, 9 + 1)
        harbor[("case", first.pk)] = "written late"
        self.assert_rotated(self.harbor, harbor, 2)

    def test_unknown_and_shredded_organizations_are_refused(self):
        with self.assertRaisesMessage(CommandError, "No organization with the short name 'nowhere'"):
            call_command("rotate_keys", "--organization", "nowhere", stdout=StringIO())
        keys.destroy_keys(self.valley.pk)
        with self.assertRaisesMessage(CommandError, "were destroyed"):
            call_command("rotate_keys", "--organization", "valley-rot", stdout=StringIO())
        out = StringIO()
        call_command("rotate_keys", stdout=out)
        self.assertIn("Done: 0 organizations", out.getvalue())

    @staticmethod
    def crash_after(n):
        def on_batch(done):
            if done.batch >= n:
                raise Crash(f"killed after batch {done.batch}")

        return on_batch


class InterruptedRotationTests(RotationTestCase):
    @settings(max_examples=25, deadline=None)
    @given(
        crash_after=st.integers(min_value=1, max_value=30),
        batch_size=st.integers(min_value=1, max_value=4),
        crashes=st.integers(min_value=1, max_value=3),
    )
    def test_a_rotation_killed_at_any_point_and_run_again_ends_on_one_version_with_every_value_intact(
        self, crash_after, batch_size, crashes
    ):
        harbor = self.fill(self.harbor, n=3)
        valley = self.fill(self.valley, n=1)
        for attempt in range(crashes):
            keys.clear_key_cache()
            try:
                keys.rotate_organization_keys(
                    self.harbor.pk,
                    batch_size=batch_size,
                    on_batch=RotateKeysCommandTests.crash_after(crash_after + attempt),
                )
            except Crash:
                # Between runs every value still decrypts, under exactly one of the live versions.
                keys.clear_key_cache()
                self.assertLessEqual(versions(self.harbor.pk), {1, 2})
                self.assertEqual(self.read_all(self.harbor), harbor)
            else:
                break
        else:
            keys.rotate_organization_keys(self.harbor.pk, batch_size=batch_size)
        self.assert_rotated(self.harbor, harbor, 2)
        self.assertEqual(versions(self.valley.pk), {1})
        self.assertEqual(self.read_all(self.valley), valley)

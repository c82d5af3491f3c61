"""Is this person already known? Blind indexes answer without decrypting anything (SECURITY.md 8)."""

import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from circlekeeper.lib.fields import blind_index_for, blind_indexes_for
from circlekeeper.lib.tests.example_models import ExampleModelsTestCase, Person

HARBOR, VALLEY = 8001, 8002
KINDS = ("name", "name", "date")
BORN = datetime.date(1990, 5, 17)


def known(organization_id, first, last, born):
    index = blind_index_for(organization_id, "name_dob", KINDS, (first, last, born))
    assert index is not None
    return Person._default_manager.filter(organization_id=organization_id, name_dob_index=index)


class BlindIndexTests(ExampleModelsTestCase):
    def test_the_same_person_written_differently_is_found(self):
        person = Person._default_manager.create(
            organization_id=HARBOR, first_name="José", last_name="O'Brien-Núñez", date_of_birth=BORN
        )
        self.assertEqual(list(known(HARBOR, "  jose ", "OBRIEN  NUNEZ", BORN)), [person])
        self.assertEqual(list(known(HARBOR, "JOSÉ", "o’brien núñez", "1990-05-17")), [person])
        self.assertFalse(known(HARBOR, "José", "O'Brien-Núñez", datetime.date(1990, 5, 18)).exists())
        self.assertFalse(known(HARBOR, "Josefa", "O'Brien-Núñez", BORN).exists())

    def test_the_index_changes_when_a_source_changes(self):
        person = Person._default_manager.create(
            organization_id=HARBOR, first_name="Ana", last_name="Ruiz", date_of_birth=BORN
        )
        loaded = Person._default_manager.get(pk=person.pk)
        loaded.last_name = "Ruiz Soto"
        loaded.save()
        self.assertFalse(known(HARBOR, "Ana", "Ruiz", BORN).exists())
        self.assertEqual(list(known(HARBOR, "Ana", "Ruiz Soto", BORN)), [person])

    def test_bulk_create_computes_the_index(self):
        Person._default_manager.bulk_create(
            [
                Person(organization_id=HARBOR, first_name=f"P{n}", last_name="Bulk", date_of_birth=BORN)
                for n in range(3)
            ]
        )
        self.assertEqual(known(HARBOR, "p1", "bulk", BORN).count(), 1)

    def test_different_organizations_index_the_same_person_differently(self):
        Person._default_manager.create(
            organization_id=HARBOR, first_name="Ana", last_name="Ruiz", date_of_birth=BORN
        )
        Person._default_manager.create(
            organization_id=VALLEY, first_name="Ana", last_name="Ruiz", date_of_birth=BORN
        )
        harbor = blind_index_for(HARBOR, "name_dob", KINDS, ("Ana", "Ruiz", BORN))
        valley = blind_index_for(VALLEY, "name_dob", KINDS, ("Ana", "Ruiz", BORN))
        self.assertNotEqual(harbor, valley)
        self.assertEqual(Person._default_manager.filter(name_dob_index=harbor).get().organization_id, HARBOR)
        self.assertEqual(Person._default_manager.filter(name_dob_index=valley).get().organization_id, VALLEY)

    def test_a_missing_source_stores_no_index_and_looking_up_nothing_is_refused(self):
        for first, last, born in (
            ("Ana", "", BORN),
            ("Ana", "Ruiz", None),
            (None, "Ruiz", BORN),
            ("...", "Ruiz", BORN),
        ):
            person = Person._default_manager.create(
                organization_id=HARBOR, first_name=first, last_name=last, date_of_birth=born
            )
            self.assertIsNone(Person._default_manager.get(pk=person.pk).name_dob_index)
            self.assertIsNone(blind_index_for(HARBOR, "name_dob", KINDS, (first, last, born)))
        self.assertEqual(blind_indexes_for(HARBOR, "name_dob", KINDS, ("Ana", None, BORN)), [])
        with self.assertRaisesMessage(ValueError, "matches nobody"):
            Person._default_manager.filter(name_dob_index=None)
        self.assertEqual(Person._default_manager.filter(name_dob_index__isnull=True).count(), 4)

    def test_the_index_holds_no_plaintext(self):
        person = Person._default_manager.create(
            organization_id=HARBOR, first_name="Zenobia", last_name="Quill", date_of_birth=BORN
        )
        index = Person._default_manager.values_list("name_dob_index", flat=True).get(pk=person.pk)
        self.assertRegex(index, r"^[0-9a-f]{64}$")

    @settings(max_examples=30, deadline=None)
    @given(
        first=st.text(st.characters(categories=["Lu", "Ll"]), min_size=1, max_size=20),
        last=st.text(st.characters(categories=["Lu", "Ll"]), min_size=1, max_size=20),
        born=st.dates(),
    )
    def test_spacing_and_letter_case_never_hide_a_known_person(self, first, last, born):
        person = Person._default_manager.create(
            organization_id=HARBOR, first_name=first, last_name=last, date_of_birth=born
        )
        variant = (f"  {first.upper()} ", f"{last.lower()}  ", born.isoformat())
        if first.upper().casefold() == first.casefold() and last.lower().casefold() == last.casefold():
            self.assertIn(person, known(HARBOR, *variant))

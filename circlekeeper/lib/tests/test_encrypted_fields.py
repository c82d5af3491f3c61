import datetime

from django.core.exceptions import FieldError, ValidationError
from django.db import connection, transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from circlekeeper.lib import crypto
from circlekeeper.lib.tests.example_models import ExampleModelsTestCase, Person

ORG = 9001

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)
json_fields = (
    st.booleans()
    | st.integers()
    | st.text()
    | st.lists(json_values)
    | st.dictionaries(st.text(), json_values)
)


def raw_column(person, column):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {Person._meta.db_table} WHERE id = %s", [person.pk])
        value = cursor.fetchone()[0]
    return None if value is None else bytes(value)


def assert_identical(test, out, expected):
    test.assertIs(type(out), type(expected))
    test.assertEqual(out, expected)
    if isinstance(expected, list):
        for o, e in zip(out, expected, strict=True):
            assert_identical(test, o, e)
    elif isinstance(expected, dict):
        test.assertEqual(list(out), list(expected))
        for key in expected:
            assert_identical(test, out[key], expected[key])


class EncryptedFieldTests(ExampleModelsTestCase):
    @settings(max_examples=40, deadline=None)
    @given(
        text=st.text(),
        story=st.text(),
        born=st.dates(),
        details=json_fields,
        bulk=st.booleans(),
    )
    def test_every_field_type_round_trips_through_the_database(self, text, story, born, details, bulk):
        person = Person(
            organization_id=ORG, first_name=text, story=story, date_of_birth=born, details=details
        )
        if bulk:
            Person._default_manager.bulk_create([person])
        else:
            person.save()
        loaded = Person._default_manager.get(uid=person.uid)
        assert_identical(self, loaded.first_name, text)
        assert_identical(self, loaded.story, story)
        assert_identical(self, loaded.date_of_birth, born)
        assert_identical(self, loaded.details, details)

    def test_none_stays_null_while_empty_values_are_encrypted_and_distinct(self):
        empty = Person._default_manager.create(organization_id=ORG, first_name="", details=0, story=None)
        nothing = Person._default_manager.create(organization_id=ORG, first_name=None, details=None)
        values: list[object] = [[], {}, False, "", 0]
        falsy = [Person._default_manager.create(organization_id=ORG, details=value) for value in values]
        self.assertIsNone(raw_column(nothing, "first_name"))
        self.assertIsNone(raw_column(nothing, "details"))
        self.assertIsNone(raw_column(empty, "story"))
        self.assertIsNotNone(raw_column(empty, "first_name"))
        self.assertIsNotNone(raw_column(empty, "details"))
        self.assertEqual(Person._default_manager.get(pk=empty.pk).first_name, "")
        self.assertIsNone(Person._default_manager.get(pk=nothing.pk).first_name)
        for person, expected in zip(falsy, values, strict=True):
            assert_identical(self, Person._default_manager.get(pk=person.pk).details, expected)
        self.assertEqual(Person._default_manager.filter(first_name__isnull=True).count(), 1 + len(falsy))
        self.assertEqual(Person._default_manager.filter(first_name=None).count(), 1 + len(falsy))
        self.assertEqual(Person._default_manager.filter(first_name__isnull=False).get(), empty)

    def test_bulk_create_encrypts_like_save(self):
        people = Person._default_manager.bulk_create(
            [Person(organization_id=ORG, story=f"story number {n}") for n in range(5)]
        )
        for n, person in enumerate(people):
            token = raw_column(person, "story")
            self.assertNotIn(b"story number", token)
            self.assertEqual(crypto.token_key_version(token), 1)
            self.assertEqual(Person._default_manager.get(pk=person.pk).story, f"story number {n}")

    def test_refresh_from_db_reads_the_saved_value(self):
        person = Person._default_manager.create(organization_id=ORG, story="first")
        same = Person._default_manager.get(pk=person.pk)
        same.story = "second"
        same.save()
        person.refresh_from_db()
        self.assertEqual(person.story, "second")
        person.story = "unsaved"
        person.refresh_from_db(fields=["story"])
        self.assertEqual(person.story, "second")

    def test_deferred_fields_load_and_decrypt_when_read(self):
        person = Person._default_manager.create(organization_id=ORG, story="deferred story", first_name="Ana")
        loaded = Person._default_manager.only("pk").get(pk=person.pk)
        self.assertEqual(loaded.story, "deferred story")
        self.assertEqual(Person._default_manager.defer("first_name").get(pk=person.pk).first_name, "Ana")

    def test_values_and_values_list_return_the_raw_tokens(self):
        person = Person._default_manager.create(organization_id=ORG, story="never in values()")
        token = Person._default_manager.values_list("story", flat=True).get(pk=person.pk)
        self.assertIsInstance(token, bytes)
        self.assertNotIn(b"never in values()", token)
        self.assertEqual(token, raw_column(person, "story"))
        self.assertEqual(Person._default_manager.values("story").get(pk=person.pk)["story"], token)

    def test_saving_an_untouched_row_keeps_its_tokens_and_a_changed_field_gets_a_new_one(self):
        person = Person._default_manager.create(organization_id=ORG, story="kept", first_name="Ana")
        before = raw_column(person, "story"), raw_column(person, "first_name")
        loaded = Person._default_manager.get(pk=person.pk)
        loaded.first_name = "Bo"
        loaded.save()
        self.assertEqual(raw_column(person, "story"), before[0])
        self.assertNotEqual(raw_column(person, "first_name"), before[1])
        self.assertEqual(Person._default_manager.get(pk=person.pk).first_name, "Bo")

    def test_a_json_value_changed_in_place_is_saved(self):
        person = Person._default_manager.create(organization_id=ORG, details={"pets": ["cat"]})
        loaded = Person._default_manager.get(pk=person.pk)
        loaded.details["pets"].append("dog")
        loaded.save()
        self.assertEqual(Person._default_manager.get(pk=person.pk).details, {"pets": ["cat", "dog"]})

    def test_a_value_of_the_wrong_type_is_refused_with_the_field_name(self):
        with self.assertRaisesMessage(TypeError, "lib.Person.first_name takes a str or None, not int"):
            Person(organization_id=ORG, first_name=5)
        person = Person(organization_id=ORG)
        with self.assertRaisesMessage(TypeError, "lib.Person.date_of_birth takes a datetime.date"):
            person.date_of_birth = datetime.datetime(2000, 1, 1, 12, 0)
        with self.assertRaisesMessage(TypeError, "lib.Person.date_of_birth"):
            person.date_of_birth = "2000-01-01"
        with self.assertRaisesMessage(TypeError, "lib.Person.details takes a dict, list, str, int or bool"):
            person.details = 1.5
        with self.assertRaisesMessage(TypeError, "lib.Person.story"):
            person.story = b"raw bytes are not text"
        person.details = [(1, 2)]  # a tuple inside would come back as a list
        with self.assertRaisesMessage(TypeError, "lib.Person.details"), transaction.atomic():
            person.save()
        self.assertFalse(Person._default_manager.exists())

    def test_full_clean_checks_encrypted_fields(self):
        person = Person(organization_id=ORG, first_name="x" * 101, details=[1.5, float("nan")])
        with self.assertRaises(ValidationError) as caught:
            person.full_clean()
        self.assertEqual(set(caught.exception.message_dict), {"first_name", "details"})

    def test_filters_on_encrypted_fields_are_refused_except_isnull(self):
        Person._default_manager.create(organization_id=ORG, story="findme")
        for lookup in (
            {"story": "findme"},
            {"story__icontains": "find"},
            {"story__in": ["findme"]},
            {"date_of_birth__year": 2000},
            {"details__pets": "cat"},
        ):
            with self.subTest(lookup=lookup), self.assertRaisesMessage(FieldError, "is encrypted"):
                list(Person._default_manager.filter(**lookup))
        self.assertEqual(Person._default_manager.filter(story__isnull=False).count(), 1)
        self.assertEqual(Person._default_manager.exclude(story=None).count(), 1)

    def test_update_and_bulk_update_cannot_write_plaintext(self):
        person = Person._default_manager.create(organization_id=ORG, story="before")
        with self.assertRaisesMessage(TypeError, "cannot encrypt"), transaction.atomic():
            Person._default_manager.filter(pk=person.pk).update(story="in clear")
        person.story = "in clear"
        with self.assertRaisesMessage(TypeError, "cannot encrypt"), transaction.atomic():
            Person._default_manager.bulk_update([person], ["story"])
        self.assertEqual(Person._default_manager.get(pk=person.pk).story, "before")
        Person._default_manager.filter(pk=person.pk).update(story=None)
        self.assertIsNone(Person._default_manager.get(pk=person.pk).story)

    def test_form_fields_match_the_kind_of_value(self):
        from django import forms

        story, first_name = (
            Person._meta.get_field("story").formfield(),
            Person._meta.get_field("first_name").formfield(),
        )
        assert story is not None and first_name is not None
        self.assertIsInstance(story.widget, forms.Textarea)
        self.assertIsInstance(first_name.widget, forms.TextInput)
        self.assertIsInstance(Person._meta.get_field("date_of_birth").formfield(), forms.DateField)
        self.assertIsInstance(Person._meta.get_field("details").formfield(), forms.JSONField)
        self.assertFalse(Person._meta.get_field("name_dob_index").editable)


class ModelRequirementTests(ExampleModelsTestCase):
    def define(self, **fields):
        from django.apps.registry import Apps
        from django.db import models

        class Meta:
            app_label = "lib"
            apps = Apps()

        return type("Broken", (models.Model,), {"__module__": __name__, "Meta": Meta, **fields})

    def test_a_model_without_a_uid_is_refused_when_it_is_defined(self):
        from django.core.exceptions import ImproperlyConfigured
        from django.db import models

        from circlekeeper.lib.fields import EncryptedTextField

        with self.assertRaisesMessage(ImproperlyConfigured, "lib.Broken has encrypted fields (secret)"):
            self.define(organization_id=models.BigIntegerField(), secret=EncryptedTextField())
        with self.assertRaisesMessage(ImproperlyConfigured, "uid = models.UUIDField"):
            self.define(
                organization_id=models.BigIntegerField(), uid=models.UUIDField(), secret=EncryptedTextField()
            )
        with self.assertRaisesMessage(ImproperlyConfigured, "organization_id"):
            self.define(uid=models.UUIDField(unique=True), secret=EncryptedTextField())
        fine = self.define(
            organization_id=models.BigIntegerField(),
            uid=models.UUIDField(unique=True),
            secret=EncryptedTextField(),
        )
        self.assertEqual(fine._meta.get_field("secret").get_internal_type(), "BinaryField")

    def test_a_blind_index_must_name_fields_of_its_model(self):
        from django.core.exceptions import ImproperlyConfigured
        from django.db import models

        from circlekeeper.lib.fields import BlindIndexField

        with self.assertRaisesMessage(ImproperlyConfigured, "missing: email"):
            self.define(
                organization_id=models.BigIntegerField(),
                email_index=BlindIndexField(sources=("email",), kinds=("email",), purpose="email"),
            )
        with self.assertRaises(ValueError):
            BlindIndexField(sources=("email",), kinds=("shoe size",), purpose="email")

    def test_encrypted_fields_cannot_be_unique_or_indexed(self):
        from circlekeeper.lib.fields import EncryptedTextField

        for option in ("unique", "db_index", "primary_key"):
            with self.subTest(option=option), self.assertRaisesMessage(TypeError, option):
                EncryptedTextField(**{option: True})

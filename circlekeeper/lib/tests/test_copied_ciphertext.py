"""A token moved to another row, field or organization fails to decrypt, loudly (SECURITY.md 7)."""

from django.db import connection
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from circlekeeper.lib import keys
from circlekeeper.lib.crypto import DecryptionError
from circlekeeper.lib.tests.example_models import ExampleModelsTestCase, Person

HARBOR, VALLEY = 7001, 7002


def copy_column(source, target, source_column, target_column):
    table = Person._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {target_column} = (SELECT {source_column} FROM {table} WHERE id = %s) WHERE id = %s",
            [source.pk, target.pk],
        )


class CopiedCiphertextTests(ExampleModelsTestCase):
    @settings(max_examples=25, deadline=None)
    @given(secret=st.text(), decoy=st.text(), where=st.sampled_from(["row", "field", "organization"]))
    def test_a_token_copied_elsewhere_fails_to_decrypt_instead_of_showing_its_value(
        self, secret, decoy, where
    ):
        source = Person._default_manager.create(organization_id=HARBOR, first_name=secret, last_name=decoy)
        target_org = VALLEY if where == "organization" else HARBOR
        target = (
            source
            if where == "field"
            else Person._default_manager.create(organization_id=target_org, last_name=decoy)
        )
        copy_column(source, target, "first_name", "last_name" if where == "field" else "first_name")
        loaded = Person._default_manager.get(pk=target.pk)
        with self.assertRaisesMessage(DecryptionError, "does not belong to this context"):
            getattr(loaded, "last_name" if where == "field" else "first_name")

    def test_a_token_assigned_from_another_row_through_the_orm_fails_too(self):
        source = Person._default_manager.create(organization_id=HARBOR, story="what happened")
        target = Person._default_manager.create(organization_id=HARBOR, story="something else")
        token = Person._default_manager.values_list("story", flat=True).get(pk=source.pk)
        Person._default_manager.filter(pk=target.pk).update(story=token)
        with self.assertRaises(DecryptionError) as caught:
            Person._default_manager.get(pk=target.pk).story
        self.assertIn(f"lib.Person.story of row {target.uid}", str(caught.exception))
        self.assertNotIn("what happened", str(caught.exception))

    def test_a_tampered_token_fails(self):
        person = Person._default_manager.create(organization_id=HARBOR, story="intact")
        token = bytearray(Person._default_manager.values_list("story", flat=True).get(pk=person.pk))
        token[-1] ^= 1
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Person._meta.db_table} SET story = %s WHERE id = %s", [bytes(token), person.pk]
            )
        with self.assertRaises(DecryptionError):
            Person._default_manager.get(pk=person.pk).story

    def test_a_wrong_master_key_decrypts_nothing(self):
        person = Person._default_manager.create(organization_id=HARBOR, story="needs the right master key")
        keys.clear_key_cache()
        with (
            override_settings(MASTER_KEY=b"\x01" * 32),
            self.assertRaisesMessage(DecryptionError, "wrong master key"),
        ):
            Person._default_manager.get(pk=person.pk).story
        keys.clear_key_cache()
        self.assertEqual(Person._default_manager.get(pk=person.pk).story, "needs the right master key")

    def test_a_wrapped_key_moved_to_another_organization_does_not_unwrap(self):
        keys.keyring_for(HARBOR)
        keys.keyring_for(VALLEY)
        harbor_key = keys.DataKey.objects.get(organization_id=HARBOR, purpose="data", version=1)
        keys.DataKey.objects.filter(organization_id=VALLEY, purpose="data").update(wrapped=harbor_key.wrapped)
        keys.clear_key_cache()
        with self.assertRaisesMessage(DecryptionError, "org:7002:data:v1"):
            keys.keyring_for(VALLEY)

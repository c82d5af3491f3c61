"""Organizations' keys: made once, wrapped by the master key, cached for one request only."""

import threading
import unittest

from django.db import connection, transaction
from django.test import TestCase, TransactionTestCase

from circlekeeper.lib import crypto, keys
from circlekeeper.lib.crypto import DecryptionError
from circlekeeper.lib.keys import DataKey

ORG = 6001


def context(row="r1"):
    return crypto.Context(organization_id=ORG, model="lib.example", field="secret", row_id=row)


class KeyringTests(TestCase):
    def test_first_use_makes_one_data_key_and_one_index_key_wrapped_by_the_master_key(self):
        ring = keys.keyring_for(ORG)
        self.assertEqual((ring.data_version, ring.index_version), (1, 1))
        self.assertNotEqual(ring.data_key, ring.index_key)
        rows = {row.purpose: row for row in DataKey.objects.filter(organization_id=ORG)}
        self.assertEqual(set(rows), {"data", "index"})
        for row, key in ((rows["data"], ring.data_key), (rows["index"], ring.index_key)):
            self.assertNotIn(key, bytes(row.wrapped))
            self.assertNotIn(key.hex().encode(), bytes(row.wrapped))
        keys.clear_key_cache(everything=True)
        again = keys.keyring_for(ORG)
        self.assertEqual((again.data_key, again.index_key), (ring.data_key, ring.index_key))
        self.assertEqual(DataKey.objects.filter(organization_id=ORG).count(), 2)
        self.assertNotIn(ring.data_key.hex(), repr(ring))

    def test_values_round_trip_and_decrypting_for_an_organization_without_keys_says_so(self):
        token = keys.encrypt_value(ORG, context(), {"a": [1, "b"]})
        self.assertEqual(keys.decrypt_value(ORG, context(), token), {"a": [1, "b"]})
        other = crypto.Context(organization_id=ORG + 1, model="lib.example", field="secret", row_id="r1")
        with self.assertRaisesMessage(DecryptionError, "has no keys"):
            keys.decrypt_value(ORG + 1, other, token)
        with self.assertRaises(ValueError):
            keys.decrypt_value(ORG, other, token)

    def test_a_token_under_a_version_this_thread_has_not_seen_reloads_the_keys_once(self):
        ring = keys.keyring_for(ORG)  # cached with version 1 only
        # Another process starts a rotation and writes under version 2.
        new_key = crypto.generate_key()
        DataKey.objects.create(
            organization_id=ORG,
            purpose="data",
            version=2,
            wrapped=crypto.wrap_key(bytes(keys.settings.MASTER_KEY), new_key, label=f"org:{ORG}:data:v2"),
        )
        token = crypto.encrypt(new_key, 2, crypto.encode_value("from elsewhere"), context())
        self.assertEqual(keys.decrypt_value(ORG, context(), token), "from elsewhere")
        self.assertEqual(keys.keyring_for(ORG).data_version, 2)
        missing = crypto.encrypt(ring.data_key, 9, crypto.encode_value("x"), context())
        with self.assertRaisesMessage(DecryptionError, "key version 9"):
            keys.decrypt_value(ORG, context(), missing)

    def test_a_request_starting_forgets_the_keys(self):
        keys.keyring_for(ORG)
        keys.clear_key_cache(everything=True)  # as if committed: from now on they are cached
        keys.keyring_for(ORG)
        DataKey.objects.filter(organization_id=ORG).delete()
        keys.keyring_for(ORG)  # still cached within this "request"
        self.assertFalse(DataKey.objects.filter(organization_id=ORG).exists())
        self.client.get("/")  # any request
        keys.keyring_for(ORG)
        self.assertEqual(DataKey.objects.filter(organization_id=ORG).count(), 2)

    def test_keys_made_in_a_rolled_back_savepoint_are_not_used_afterwards(self):
        with self.assertRaises(RuntimeError), transaction.atomic():
            lost = keys.keyring_for(ORG)
            raise RuntimeError("roll back the new keys")
        self.assertFalse(DataKey.objects.filter(organization_id=ORG).exists())
        token = keys.encrypt_value(ORG, context(), "written after the rollback")
        self.assertNotEqual(keys.keyring_for(ORG).data_key, lost.data_key)
        keys.clear_key_cache(everything=True)
        self.assertEqual(keys.decrypt_value(ORG, context(), token), "written after the rollback")


@unittest.skipUnless(connection.vendor == "postgresql", "needs concurrent connections (PostgreSQL)")
class ConcurrentFirstUseTests(TransactionTestCase):
    def test_two_workers_using_an_organization_for_the_first_time_agree_on_its_keys(self):
        barrier = threading.Barrier(4)
        found, errors = [], []

        def worker():
            try:
                barrier.wait()
                with transaction.atomic():
                    found.append(keys.keyring_for(ORG).data_key)
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(errors, [])
        self.assertEqual(len(set(found)), 1)
        self.assertEqual(DataKey.objects.filter(organization_id=ORG).count(), 2)

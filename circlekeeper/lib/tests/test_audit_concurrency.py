from __future__ import annotations

import threading
import unittest

from django.db import connection, connections, transaction
from django.test import TransactionTestCase

from circlekeeper.lib.audit import AuditEvent, record, verify_chain

WRITERS = 4
EVENTS_EACH = 15


@unittest.skipUnless(
    connection.vendor == "postgresql",
    "SQLite lets one writer in at a time by itself (IMMEDIATE transactions); PostgreSQL needs the head lock",
)
class ConcurrentWritersTests(TransactionTestCase):
    def test_concurrent_writers_never_fork_the_chain(self):
        start = threading.Barrier(WRITERS)
        errors: list[BaseException] = []

        def write() -> None:
            try:
                start.wait()
                for n in range(EVENTS_EACH):
                    # Like a request: the event commits with other work, holding the head until then.
                    with transaction.atomic():
                        record(None, action="case.view", object_type="case", object_id=n)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=write) for _ in range(WRITERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        self.assertEqual(errors, [])
        report = verify_chain()
        self.assertTrue(report.intact, report.reason)
        self.assertEqual(report.events, WRITERS * EVENTS_EACH)
        self.assertEqual(
            list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True)),
            list(range(1, WRITERS * EVENTS_EACH + 1)),
        )

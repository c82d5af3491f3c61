"""The lib app's models, defined beside the code that uses them and gathered here for Django."""

from circlekeeper.lib.audit import AuditEvent  # noqa: F401
from circlekeeper.lib.heartbeat import WorkerHeartbeat  # noqa: F401
from circlekeeper.lib.idempotency import FormSubmission  # noqa: F401
from circlekeeper.lib.keys import DataKey  # noqa: F401

"""Dashboard pages computed in the background (issue 8 item 9), run by `manage.py db_worker`.

A page asks for its numbers with `request_computation`: a stored result that is recent and computed from the
data as they are now (dashboards.data_stamp) is used at once; otherwise one computation is queued — never two
for the same page, however many people open it — and the page shows its progress until it is done. A run that
was queued or started long ago and never finished (a worker killed mid-task) is queued again.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_tasks import task

from circlekeeper.accounts.models import Network, Organization
from circlekeeper.evaluation import dashboards, dataset
from circlekeeper.evaluation.models import ComputationStatus, DashboardComputation

logger = logging.getLogger(__name__)

# A result older than this is computed anew on the next visit, even if no change to the data was seen.
MAX_AGE = datetime.timedelta(minutes=getattr(settings, "EVALUATION_DASHBOARD_MAX_AGE_MINUTES", 15))
# A computation queued or running for longer than this is taken as lost, and queued again.
LOST_AFTER = datetime.timedelta(minutes=10)


@dataclass(frozen=True)
class Requested:
    computation: DashboardComputation
    fresh: bool  # the stored result is current; nothing was queued


def scope_key(scope: dataset.Scope) -> str:
    if scope.network is not None:
        return f"network:{scope.network.pk}"
    return f"organization:{scope.organizations[0].pk}"


def _is_current(computation: DashboardComputation, stamp: str, now: datetime.datetime) -> bool:
    return (
        computation.status == ComputationStatus.DONE
        and computation.computed_at is not None
        and computation.computed_at >= now - MAX_AGE
        and computation.data_stamp == stamp
    )


def _in_flight(computation: DashboardComputation, now: datetime.datetime) -> bool:
    return (
        computation.status in (ComputationStatus.PENDING, ComputationStatus.RUNNING)
        and computation.requested_at >= now - LOST_AFTER
    )


def request_computation(
    scope: dataset.Scope, domain: str, filters: dict[str, str], *, now: datetime.datetime | None = None
) -> Requested:
    """The page's stored computation; queued anew when it is missing, stale, failed or lost."""
    now = now or timezone.now()
    key = scope_key(scope)
    filters_key = dashboards.filters_key(filters)
    stamp = dashboards.data_stamp(scope)
    lookup = {"scope_key": key, "domain": domain, "filters_key": filters_key}
    computation = DashboardComputation.objects.filter(**lookup).first()
    if computation is not None and (_is_current(computation, stamp, now) or _in_flight(computation, now)):
        return Requested(computation, fresh=_is_current(computation, stamp, now))
    with transaction.atomic():
        if computation is None:
            try:
                with transaction.atomic():
                    computation = DashboardComputation.objects.create(
                        **lookup,
                        organization=None if scope.network else scope.organizations[0],
                        network=scope.network,
                        filters=filters,
                        requested_at=now,
                    )
            except IntegrityError:
                # Opened by someone else a moment ago: theirs is queued already.
                computation = DashboardComputation.objects.get(**lookup)
                return Requested(computation, fresh=False)
        else:
            # Whoever takes the row first queues the run; the others find it in flight.
            computation = DashboardComputation.objects.select_for_update().get(pk=computation.pk)
            if _in_flight(computation, now) or _is_current(computation, stamp, now):
                return Requested(computation, fresh=_is_current(computation, stamp, now))
            computation.status = ComputationStatus.PENDING
            computation.progress = 0
            computation.requested_at = now
            computation.save(update_fields=["status", "progress", "requested_at"])
        computation_id = computation.pk
        transaction.on_commit(lambda: compute_dashboard_task.enqueue(computation_id))
    return Requested(computation, fresh=False)


def current_computation(
    scope: dataset.Scope, domain: str, filters: dict[str, str], *, now: datetime.datetime | None = None
) -> DashboardComputation | None:
    """The page's stored result while it is current (done, recent, from the data as they are now), else None:
    what a reproducibility bundle (bundle.py) publishes beside the rows it reads anew."""
    lookup = {"scope_key": scope_key(scope), "domain": domain, "filters_key": dashboards.filters_key(filters)}
    computation = DashboardComputation.objects.filter(**lookup).first()
    if computation is None or computation.result is None:
        return None
    if not _is_current(computation, dashboards.data_stamp(scope), now or timezone.now()):
        return None
    return computation


def scope_of(computation: DashboardComputation) -> dataset.Scope:
    if computation.network_id is not None:
        return dataset.Scope.for_published_network(Network.objects.get(pk=computation.network_id))
    assert computation.organization_id is not None
    return dataset.Scope.for_organization(Organization.objects.get(pk=computation.organization_id))


def run_computation(computation_id: int, *, now: datetime.datetime | None = None) -> dict[str, Any]:
    """Compute one page's numbers and store them, saving the progress after each section."""
    computation = DashboardComputation.objects.filter(pk=computation_id).first()
    if computation is None:
        return {"status": "gone"}
    scope = scope_of(computation)
    # The stamp is taken before reading, so that a change made while computing is seen on the next visit.
    stamp = dashboards.data_stamp(scope)
    started = now or timezone.now()
    DashboardComputation.objects.filter(pk=computation.pk).update(
        status=ComputationStatus.RUNNING, progress=0, started_at=started
    )

    def progress(percent: int) -> None:
        # Never 100 before the result is stored: 100 means done.
        DashboardComputation.objects.filter(pk=computation.pk).update(progress=min(percent, 99))

    try:
        result = dashboards.compute(
            scope, computation.domain, computation.filters, now=started, on_progress=progress
        )
    except Exception:
        logger.exception("The dashboard computation %s failed", computation.pk)
        DashboardComputation.objects.filter(pk=computation.pk).update(status=ComputationStatus.FAILED)
        raise
    DashboardComputation.objects.filter(pk=computation.pk).update(
        status=ComputationStatus.DONE,
        progress=100,
        result=result,
        data_stamp=stamp,
        computed_at=timezone.now(),
    )
    return {"status": "done", "sections": len(result["sections"])}


@task()
def compute_dashboard_task(computation_id: int) -> dict[str, Any]:
    return run_computation(computation_id)

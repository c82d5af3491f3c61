"""The case timeline page, and the fragment that loads its older events as one scrolls."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from circlekeeper.accounts.audit import Action, audit
from circlekeeper.cases.access import get_case_for
from circlekeeper.protocol.timeline import TimelineFilter, timeline_page


def _context(request: HttpRequest, case_id: int) -> dict[str, object]:
    case = get_case_for(request, case_id)
    form = TimelineFilter(request.GET)
    group, before = form.choice()
    page = timeline_page(case, group=group, before=before)
    if page is None:
        raise Http404
    # The history names risk levels, holds and safety plans: a read of safety data (SECURITY.md 16).
    audit(request, action=Action.TIMELINE_VIEW, object_type="case", object_id=case.pk)
    return {"case": case, "form": form, "group": group, "before": before, "page": page}


@login_required
@require_GET
def timeline(request: HttpRequest, case_id: int) -> HttpResponse:
    return render(request, "protocol/timeline.html", _context(request, case_id))


@login_required
@require_GET
def timeline_more(request: HttpRequest, case_id: int) -> HttpResponse:
    """The next events as list items, for htmx to put in place of the "Older events" link."""
    return render(request, "protocol/timeline_entries.html", _context(request, case_id))

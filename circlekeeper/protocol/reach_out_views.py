"""The page where a keeper records that the person who caused harm, or their side, reached out themselves."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from circlekeeper.accounts.audit import Action, audit
from circlekeeper.accounts.models import User
from circlekeeper.cases.access import get_case_for
from circlekeeper.cases.models import HARM_SIDE
from circlekeeper.lib.audit import Outcome
from circlekeeper.lib.forms import add_service_errors
from circlekeeper.protocol import services
from circlekeeper.protocol.forms import ReachOutForm
from circlekeeper.protocol.models import ReachOut


@login_required
def reach_out(request: HttpRequest, case_id: int) -> HttpResponse:
    """GET: the form and what was recorded before. POST: record it, whatever the case's stage, holds or status."""
    case = get_case_for(request, case_id)
    user = request.user
    assert isinstance(user, User)
    participants = list(case.participants.filter(role__in=HARM_SIDE).order_by("pk"))
    form = ReachOutForm(request.POST if request.method == "POST" else None, participants=participants)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                entry = services.record_reach_out(
                    case=case,
                    by=user,
                    side=form.cleaned_data["side"],
                    participant=form.chosen(),
                    reached_at=form.reached_at(),
                    how=form.cleaned_data["how"],
                    summary=form.cleaned_data["summary"],
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                audit(request, action=Action.REACH_OUT_RECORD, object_type="reach_out", object_id=entry.pk)
                messages.success(
                    request,
                    _(
                        "Recorded. This arranges no contact: any reply to them goes through the contact policy "
                        "like every other contact."
                    ),
                )
                return redirect("protocol:reach_out", case.pk)
        audit(
            request,
            action=Action.REACH_OUT_RECORD,
            object_type="case",
            object_id=case.pk,
            outcome=Outcome.REFUSED,
        )
    else:
        # What they said is case narrative: opening it is a read that is kept (SECURITY.md 16).
        audit(request, action=Action.REACH_OUT_LIST, object_type="case", object_id=case.pk)
    entries = ReachOut.objects.filter(case=case).select_related("participant", "recorded_by")
    return render(
        request,
        "protocol/reach_out.html",
        {"case": case, "form": form, "entries": entries},
        status=status,
    )

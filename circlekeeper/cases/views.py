from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from circlekeeper.accounts.audit import Action, audit
from circlekeeper.accounts.models import CASE_ROLES, User
from circlekeeper.cases.access import case_worker_context, cases_for, get_case_for
from circlekeeper.cases.forms import CaseFilterForm
from circlekeeper.cases.models import CaseAssignment

_TEAM = Prefetch(
    "assignments", queryset=CaseAssignment.objects.select_related("user").order_by("role", "user_id")
)


@login_required
def case_list(request: HttpRequest) -> HttpResponse:
    context = case_worker_context(request)
    colleagues = list(
        User.objects.filter(
            memberships__organization=context.organization, memberships__role__in=CASE_ROLES, is_active=True
        ).distinct()
    )
    form = CaseFilterForm(request.GET or None, colleagues=colleagues)
    cases = cases_for(context)
    if form.is_valid():
        if form.cleaned_data["status"]:
            cases = cases.filter(status=form.cleaned_data["status"])
        if form.cleaned_data["assignee"]:
            cases = cases.filter(
                pk__in=CaseAssignment.objects.filter(user_id=form.cleaned_data["assignee"]).values("case_id")
            )
    page = Paginator(
        cases.order_by(*form.ordering()).prefetch_related(_TEAM), settings.CASES_PER_PAGE
    ).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    audit(request, action=Action.CASE_LIST)
    return render(request, "cases/case_list.html", {"form": form, "page": page, "query": query.urlencode()})


@login_required
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    team = list(case.assignments.select_related("user").order_by("role", "user__display_name"))
    audit(request, action=Action.CASE_VIEW, object_type="case", object_id=case.pk)
    return render(request, "cases/case_detail.html", {"case": case, "team": team})

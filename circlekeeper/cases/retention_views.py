"""The retention page: a program admin sets when closed cases are erased, sees what that would erase, and
reads the record of past purges (SECURITY.md 10)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from circlekeeper.accounts.access import program_admin_context
from circlekeeper.accounts.audit import audit
from circlekeeper.cases.models import PurgeTombstone, RetentionPolicy
from circlekeeper.cases.retention import CHANGE_ACTION, describe_rule, preview_purge, set_retention_policy

TOMBSTONES_PER_PAGE = 50


class RetentionPolicyForm(forms.Form):
    narrative_months = forms.IntegerField(
        label=_("Erase case summaries and notes after (months)"),
        required=False,
        min_value=1,
        max_value=1200,
        help_text=_(
            "When a case has been closed for this many months, its summary (what happened) and all its notes "
            "are erased for good. The rest of the case stays. Leave empty to keep them."
        ),
    )
    case_years = forms.IntegerField(
        label=_("Erase whole cases after (years)"),
        required=False,
        min_value=1,
        max_value=100,
        help_text=_(
            "When a case has been closed for this many years, the whole case is erased for good: its summary, "
            "notes, team, participants and releases. Leave empty to keep cases."
        ),
    )


@login_required
def retention_policy(request: HttpRequest) -> HttpResponse:
    _context, organization = program_admin_context(request)
    policy = RetentionPolicy.objects.filter(organization=organization).first()
    months = policy.narrative_months if policy else None
    years = policy.case_years if policy else None
    form = RetentionPolicyForm(
        request.POST or None, initial={"narrative_months": months, "case_years": years}
    )
    unsaved = False
    if request.method == "POST" and form.is_valid():
        months, years = form.cleaned_data["narrative_months"], form.cleaned_data["case_years"]
        # Preview is the form's first button, so pressing Enter in a field shows what would be erased.
        if "save" in request.POST:
            set_retention_policy(organization=organization, narrative_months=months, case_years=years)
            # The rules, not any record: which periods the organization chose is what an investigation needs.
            audit(
                request,
                action=CHANGE_ACTION,
                object_type="retention_policy",
                object_id=f"narratives:{months or 'keep'} cases:{years or 'keep'}",
            )
            messages.success(request, _("The retention rules were saved."))
            return redirect("cases:retention")
        unsaved = True
    preview = preview_purge(
        organization=organization, narrative_months=months, case_years=years, today=timezone.localdate()
    )
    tombstones = PurgeTombstone.objects.for_organization(organization).order_by("-ran_at", "-id")
    page = Paginator(tombstones, TOMBSTONES_PER_PAGE).get_page(request.GET.get("page"))
    rows = [(tombstone, describe_rule(tombstone.rule)) for tombstone in page]
    return render(
        request,
        "cases/retention.html",
        {
            "form": form,
            "organization": organization,
            "preview": preview,
            "unsaved": unsaved,
            "page": page,
            "rows": rows,
        },
    )

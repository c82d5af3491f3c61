"""The program admin's page for crypto-shredding their organization (SECURITY.md 10; issue 18, build 3).

It first says exactly what is destroyed and what stays, asks the admin to confirm who they are (the same
re-authentication as exports) and to type the organization's name; then it calls the one shredding service.
A plain form: no JavaScript needed.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from circlekeeper.accounts import shredding
from circlekeeper.accounts.access import program_admin_context
from circlekeeper.accounts.audit import Action, audit
from circlekeeper.accounts.forms import ShredForm
from circlekeeper.accounts.reauth import guard_export
from circlekeeper.lib import keys
from circlekeeper.lib.forms import add_service_errors


@login_required
def shred_organization(request: HttpRequest) -> HttpResponse:
    _context, organization = program_admin_context(request)
    shredded_at = keys.keys_destroyed_at(organization.pk)
    form = ShredForm(request.POST or None)
    status = 200
    if shredded_at is None:
        # As irreversible as anything can be: the admin confirms who they are first, as before an export.
        needed = guard_export(request, next_url=reverse("accounts:shred_organization"))
        if needed is not None:
            return needed
        if request.method == "POST":
            status = 400
            if form.is_valid():
                try:
                    count = shredding.shred_organization(
                        organization=organization, typed=form.cleaned_data["confirmation"]
                    )
                except ValidationError as exc:
                    add_service_errors(form, exc)
                except shredding.AlreadyShredded:
                    return redirect("accounts:shred_organization")
                else:
                    audit(
                        request,
                        action=Action.ORGANIZATION_SHRED,
                        object_type="organization",
                        object_id=organization.pk,
                    )
                    messages.success(
                        request,
                        _(
                            "%(count)s keys destroyed: the organization's encrypted data can no longer be read."
                        )
                        % {"count": count},
                    )
                    return redirect("accounts:shred_organization")
    context = {
        "organization": organization,
        "form": form,
        "shredded_at": shredded_at,
        "destroyed": shredding.DESTROYED,
        "kept": shredding.KEPT,
    }
    return render(request, "accounts/shred_organization.html", context, status=status)

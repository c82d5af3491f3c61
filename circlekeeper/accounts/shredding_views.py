"""The program admin's page for crypto-shredding their organization (SECURITY.md 10; issue 18, build 3).

It first says exactly what is destroyed and what stays, asks the admin to confirm who they are (the same
re-authentication as exports) and to type the organization's name; then it calls the one shredding service.
A plain form: no JavaScript needed.
"""

from __future__ import annotations

import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from circlekeeper.accounts import shredding
from circlekeeper.accounts.access import program_admin_context
from circlekeeper.accounts.audit import Action, audit
from circlekeeper.accounts.forms import ShredForm
from circlekeeper.accounts.models import Organization
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


def shredded_message(destroyed_at: datetime.datetime | None) -> str:
    """What a shredded organization's pages, exports and API calls say (when unknown: "?", never a 500)."""
    return _(
        "This organization's case data was destroyed (shredded) on %(date)s by its program admin; "
        "it cannot be read by anyone."
    ) % {"date": date_format(timezone.localtime(destroyed_at), "DATE_FORMAT") if destroyed_at else "?"}


def keys_destroyed(request: HttpRequest, exception: keys.KeysDestroyed) -> HttpResponse:
    """What any request answers that needed a shredded organization's keys (settings.KEYS_DESTROYED_RESPONSE).

    410 Gone: the data is gone for good, so asking again will not help. A page in the shell for people, the
    API's own error shape ({"error": ..., "fields": {}}) under /api/; the REDCap API gives REDCap's shape itself.
    """
    destroyed_at = exception.destroyed_at
    if destroyed_at is None and exception.organization_id is not None:
        destroyed_at = keys.keys_destroyed_at(exception.organization_id)
    message = shredded_message(destroyed_at)
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {"error": message, "fields": {}}, status=410, json_dumps_params={"ensure_ascii": False}
        )
    else:
        organization = (
            Organization.objects.filter(pk=exception.organization_id).first()
            if exception.organization_id is not None
            else None
        )
        context = {"organization": organization, "message": message, "destroyed_at": destroyed_at}
        response = render(request, "accounts/organization_shredded.html", context, status=410)
    response["Cache-Control"] = "no-store, private"
    return response

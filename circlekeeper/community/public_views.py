"""The network's public side and its staff pages (issue 9 items 3-5).

Public, no sign-in (namespace `public`, under /n/): the directory of options and the impact page. They carry the
quick exit (SECURITY.md 19), ask nothing of anyone and load nothing from elsewhere.

Staff (namespace `community`): a program admin edits their organization's directory entry and records whether
their organization shows its numbers on the impact page and takes part in the pooled data; a network admin
approves or returns the entries of their network; the network's admins and evaluators open its hub.

Who may do what: the access helpers below (program admins: accounts.access.program_admin_context; network admins:
hub.admin_network; the hub: hub.hub_network). A role that may not act gets 403; another network, 404.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from circlekeeper.accounts.access import program_admin_context
from circlekeeper.accounts.audit import Action, audit
from circlekeeper.accounts.models import Network, User
from circlekeeper.cases.models import Track
from circlekeeper.community import directory, hub, impact
from circlekeeper.community.models import DirectoryEntry, EntryStatus
from circlekeeper.community.network_settings import ThresholdForm, set_suppression_threshold
from circlekeeper.community.public_forms import (
    DirectoryEntryForm,
    DirectoryFilterForm,
    ImpactDecisionForm,
    PoolDecisionForm,
    ReviewForm,
    VersionForm,
)
from circlekeeper.lib.forms import add_service_errors

# The audit actions of these pages, by the names the tests use.
DIRECTORY_SAVE = Action.DIRECTORY_SAVE
DIRECTORY_SUBMIT = Action.DIRECTORY_SUBMIT
DIRECTORY_REVIEW = Action.DIRECTORY_REVIEW
IMPACT_DECISION = Action.IMPACT_DECISION
POOL_DECISION = Action.POOL_DECISION
HUB_VIEW = Action.HUB_VIEW


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _status(form: Any, exc: ValidationError) -> int:
    return 400 if add_service_errors(form, exc) else 409


# --- public pages: /n/<network>/ -----------------------------------------------------------------------------------


def _public_network(slug: str) -> Network:
    network = Network.objects.filter(slug=slug).first()
    if network is None:
        raise Http404
    return network


@never_cache
@require_GET
def public_directory(request: HttpRequest, slug: str) -> HttpResponse:
    network = _public_network(slug)
    entries = directory.public_entries(network, get_language() or "en")
    form = DirectoryFilterForm(
        request.GET or None,
        languages=directory.choices_of(entries, "languages"),
        areas=directory.choices_of(entries, "areas"),
    )
    shown = entries
    if form.is_bound and form.is_valid():
        shown = directory.filter_entries(
            entries,
            track=form.cleaned_data["track"],
            language=form.cleaned_data["language"],
            area=form.cleaned_data["area"],
            works_with_harm=form.works_with_harm(),
        )
    context = {
        "public_page": True,
        "network": network,
        "form": form,
        "entries": shown,
        "total": len(entries),
        "filtered": form.is_bound,
        "tracks": Track,
    }
    return render(request, "community/public/directory.html", context, status=400 if form.errors else 200)


@never_cache
@require_GET
def public_impact(request: HttpRequest, slug: str) -> HttpResponse:
    network = _public_network(slug)
    report = impact.impact_report(network)
    return render(request, "community/public/impact.html", {"public_page": True, "report": report})


# --- a program admin's directory entry ------------------------------------------------------------------------------


@login_required
def directory_edit(request: HttpRequest) -> HttpResponse:
    _context, organization = program_admin_context(request)
    entry = directory.entry_of(organization)
    status = 200
    if request.method == "POST":
        form = DirectoryEntryForm(request.POST)
        if form.is_valid():
            try:
                entry = directory.save_draft(
                    organization=organization,
                    by=_user(request),
                    data=form.entry_data(),
                    lock_version=form.cleaned_data["lock_version"],
                )
            except ValidationError as exc:
                status = _status(form, exc)
            else:
                audit(
                    request, action=Action.DIRECTORY_SAVE, object_type="directory_entry", object_id=entry.pk
                )
                messages.success(
                    request, _("Draft saved. It is not public: send it for approval when it is ready.")
                )
                return redirect("community:directory_edit")
        else:
            status = 400
    else:
        form = DirectoryEntryForm(initial=DirectoryEntryForm.initial_from(entry.draft, entry.lock_version))
    context = {
        "form": form,
        "entry": entry,
        "organization": organization,
        "submit_form": VersionForm(initial={"lock_version": entry.lock_version}),
        "complete": directory.is_complete(entry.draft),
        "changed": entry.draft != entry.published,
        "statuses": EntryStatus,
    }
    return render(request, "community/hub/directory_edit.html", context, status=status)


@login_required
@require_POST
def directory_submit(request: HttpRequest) -> HttpResponse:
    _context, organization = program_admin_context(request)
    form = VersionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The form was incomplete: nothing was sent. Try again."))
        return redirect("community:directory_edit")
    try:
        entry = directory.submit(
            organization=organization, by=_user(request), lock_version=form.cleaned_data["lock_version"]
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("community:directory_edit")
    audit(request, action=Action.DIRECTORY_SUBMIT, object_type="directory_entry", object_id=entry.pk)
    messages.success(request, _("Sent to the network's admins. The public sees it once they approve it."))
    return redirect("community:directory_edit")


# --- a network admin's review of the entries ------------------------------------------------------------------------


@login_required
def directory_review_list(request: HttpRequest, slug: str) -> HttpResponse:
    _context, network = hub.admin_network(request, slug)
    context = {"network": network, "entries": directory.waiting_entries(network), "statuses": EntryStatus}
    return render(request, "community/hub/directory_review_list.html", context)


def _entry_for_review(request: HttpRequest, slug: str, entry_id: int) -> tuple[Network, DirectoryEntry]:
    """An entry of a network this person administers, or 404."""
    _context, network = hub.admin_network(request, slug)
    entry = (
        DirectoryEntry.objects.filter(pk=entry_id, organization__network=network)
        .select_related("organization", "reviewed_by")
        .first()
    )
    if entry is None:
        raise Http404
    return network, entry


@login_required
def directory_review(request: HttpRequest, slug: str, entry_id: int) -> HttpResponse:
    network, entry = _entry_for_review(request, slug, entry_id)
    status = 200
    if request.method == "POST":
        form = ReviewForm(request.POST)
        if form.is_valid():
            try:
                if form.cleaned_data["decision"] == "approve":
                    entry = directory.approve(
                        entry=entry, by=_user(request), lock_version=form.cleaned_data["lock_version"]
                    )
                    done = _("Approved: the public directory now shows this version.")
                else:
                    entry = directory.return_entry(
                        entry=entry,
                        by=_user(request),
                        comment=form.cleaned_data["comment"],
                        lock_version=form.cleaned_data["lock_version"],
                    )
                    done = _("Returned to the program with your comment.")
            except ValidationError as exc:
                status = _status(form, exc)
            else:
                audit(
                    request, action=Action.DIRECTORY_REVIEW, object_type="directory_entry", object_id=entry.pk
                )
                messages.success(request, done)
                return redirect("community:directory_review_list", slug=network.slug)
        else:
            status = 400
    else:
        form = ReviewForm(initial={"lock_version": entry.lock_version})
    language = "es" if (get_language() or "en").startswith("es") else "en"
    context = {
        "network": network,
        "entry": entry,
        "form": form,
        "draft": directory.PublicEntry(entry.organization.name, "", entry.draft, language, None),
        "published": directory.PublicEntry(entry.organization.name, "", entry.published, language, None)
        if entry.published
        else None,
        "statuses": EntryStatus,
    }
    return render(request, "community/hub/directory_review.html", context, status=status)


# --- a program admin's decisions: the impact page and the pooled data -----------------------------------------------


def _sharing_page(
    request: HttpRequest,
    *,
    impact_form: ImpactDecisionForm | None = None,
    pool_form: PoolDecisionForm | None = None,
    status: int = 200,
) -> HttpResponse:
    _context, organization = program_admin_context(request)
    impact_decisions = impact.impact_history(organization)
    pool_decisions = hub.pool_history(organization)
    shown = bool(impact_decisions and impact_decisions[0].shown)
    pooled = not pool_decisions or pool_decisions[0].pooled
    context = {
        "organization": organization,
        "impact_decisions": impact_decisions,
        "pool_decisions": pool_decisions,
        "shown": shown,
        "pooled": pooled,
        "impact_form": impact_form or ImpactDecisionForm(initial={"shown": "yes" if shown else "no"}),
        "pool_form": pool_form or PoolDecisionForm(initial={"pooled": "yes" if pooled else "no"}),
    }
    return render(request, "community/hub/sharing.html", context, status=status)


@login_required
@require_GET
def sharing(request: HttpRequest) -> HttpResponse:
    return _sharing_page(request)


@login_required
@require_POST
def impact_decide(request: HttpRequest) -> HttpResponse:
    _context, organization = program_admin_context(request)
    form = ImpactDecisionForm(request.POST)
    if not form.is_valid():
        return _sharing_page(request, impact_form=form, status=400)
    try:
        decision = impact.record_impact_decision(
            organization=organization,
            shown=form.decision(),
            reason=form.cleaned_data["reason"],
            by=_user(request),
        )
    except ValidationError as exc:
        return _sharing_page(request, impact_form=form, status=_status(form, exc))
    audit(request, action=Action.IMPACT_DECISION, object_type="impact_decision", object_id=decision.pk)
    messages.success(
        request, _("Recorded. The public impact page follows your decision from the next quarter.")
    )
    return redirect("community:sharing")


@login_required
@require_POST
def pool_decide(request: HttpRequest) -> HttpResponse:
    _context, organization = program_admin_context(request)
    form = PoolDecisionForm(request.POST)
    if not form.is_valid():
        return _sharing_page(request, pool_form=form, status=400)
    try:
        decision = hub.record_pool_decision(
            organization=organization,
            pooled=form.decision(),
            reason=form.cleaned_data["reason"],
            by=_user(request),
        )
    except ValidationError as exc:
        return _sharing_page(request, pool_form=form, status=_status(form, exc))
    audit(request, action=Action.POOL_DECISION, object_type="pool_decision", object_id=decision.pk)
    messages.success(
        request,
        _(
            "Recorded. The network's pooled results follow your decision from the next quarter (the start of a "
            "calendar quarter), so that they never change by one program's numbers mid-quarter."
        ),
    )
    return redirect("community:sharing")


# --- the network hub -------------------------------------------------------------------------------------------------


@login_required
@require_GET
def network_hub(request: HttpRequest, slug: str) -> HttpResponse:
    context, network = hub.hub_network(request, slug)
    data = hub.hub_for(network)
    audit(request, action=Action.HUB_VIEW, object_type="network", object_id=network.pk)
    is_admin = any(n.pk == network.pk for n in context.admin_of_networks)
    threshold_form = (
        ThresholdForm(
            initial={
                "suppression_threshold": network.suppression_threshold,
                "rounding_base": network.rounding_base,
            }
        )
        if is_admin
        else None
    )
    return render(
        request,
        "community/hub/hub.html",
        {"hub": data, "is_admin": is_admin, "threshold_form": threshold_form},
    )


@login_required
@require_POST
def network_threshold(request: HttpRequest, slug: str) -> HttpResponse:
    """A network admin sets the smallest count of people shown in the network's shared results."""
    _context, network = hub.admin_network(request, slug)
    form = ThresholdForm(request.POST)
    if not form.is_valid():
        data = hub.hub_for(network)
        return render(
            request,
            "community/hub/hub.html",
            {"hub": data, "is_admin": True, "threshold_form": form},
            status=400,
        )
    set_suppression_threshold(
        network, form.cleaned_data["suppression_threshold"], form.cleaned_data.get("rounding_base")
    )
    audit(request, action=Action.NETWORK_SETTINGS, object_type="network", object_id=network.pk)
    messages.success(
        request,
        _("The network's smallest count shown is now %(n)s.")
        % {"n": form.cleaned_data["suppression_threshold"]},
    )
    return redirect("community:hub", network.slug)

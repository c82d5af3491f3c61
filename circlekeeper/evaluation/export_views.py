"""The de-identified data page and the exports, for an organization's evaluators (evaluation/access.py).

Both read the organization's item-level rows (items.py): codes, months and answers, nothing identifying.
Every page showing rows and every file is audited with what was read, never the data. Exports ask the
person to confirm who they are first (accounts/reauth.py).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import content_disposition_header, urlencode

from circlekeeper.accounts.audit import Action, audit
from circlekeeper.accounts.reauth import MAX_AGE, guard_export
from circlekeeper.evaluation import deidentify, exports, items
from circlekeeper.evaluation.access import organization_row_scope
from circlekeeper.evaluation.dataset import Scope
from circlekeeper.evaluation.export_forms import TIMEPOINTS, DataForm, ExportForm
from circlekeeper.lib import keys

PAGE_SIZE = 50
EXPORT_OBJECT_TYPE = "evaluation_export"
# The formats an instrument's rows are streamed in; the others are made in memory.
STREAMED = (exports.Format.CSV, exports.Format.SPSS)


def _language() -> str:
    return (translation.get_language() or "en").split("-")[0]


@login_required
def deidentified_data(request: HttpRequest) -> HttpResponse:
    scope = organization_row_scope(request)
    instruments = items.instruments_by_code(scope)
    if "instrument" in request.GET and request.GET["instrument"] not in instruments:
        raise Http404  # not an instrument with data in this organization
    data = None
    if request.GET:
        data = request.GET.copy()
        data.setdefault("language", _language())  # a plain link (?instrument=...): the page's language
    form = DataForm(data, instruments=list(instruments.values()), initial={"language": _language()})
    context: dict[str, Any] = {"form": form, "scope": scope, "has_data": bool(instruments)}
    if form.is_valid():
        instrument = instruments[form.cleaned_data["instrument"]]
        language = form.cleaned_data["language"] or _language()
        variables = items.variables_for(instrument, language)
        page = Paginator(items.responses_for(scope, instrument), PAGE_SIZE).get_page(request.GET.get("page"))
        plan = deidentify.plan_for(scope)
        rows = items.rows_of(scope, page.object_list, variables, plan)
        audit(
            request, action=Action.EVALUATION_DATA_VIEW, object_type="instrument", object_id=instrument.code
        )
        context |= {
            "instrument": instrument,
            "variables": variables,
            "rows": [[row.get(variable.name) for variable in variables] for row in rows],
            "page": page,
            "query": urlencode({"instrument": instrument.code, "language": language}),
            "deidentification": plan.summary,
        }
    return render(request, "evaluation/exports/data.html", context)


def _table(scope: Scope, instruments: dict[str, Any], dataset: str, language: str) -> items.Table:
    if dataset == TIMEPOINTS:
        return items.timepoint_table(scope, language=language)
    return items.item_table(scope, instruments[dataset], language=language)


@login_required
def export_data(request: HttpRequest) -> HttpResponseBase:
    scope = organization_row_scope(request)
    # A POST cannot be replayed after confirming: come back to the form.
    needed = guard_export(request, next_url=reverse("evaluation:exports"))
    if needed is not None:
        return needed
    instruments = items.instruments_by_code(scope)
    chosen = request.POST.get("dataset")
    if chosen and chosen != TIMEPOINTS and chosen not in instruments:
        raise Http404  # not an instrument with data in this organization
    form = ExportForm(
        request.POST or None, instruments=list(instruments.values()), initial={"language": _language()}
    )
    if request.method == "POST" and form.is_valid():
        dataset, format = form.cleaned_data["dataset"], form.cleaned_data["format"]
        code = "timepoints" if dataset == TIMEPOINTS else dataset
        basename = f"{scope.slug}-{code}-{timezone.localdate().isoformat()}"
        response: HttpResponseBase
        if format in STREAMED and dataset != TIMEPOINTS:
            # Streams: the responses are read a chunk at a time as the file is sent (issue 10 item 6). A shredded
            # organization's answers cannot be read: say so now (410), not halfway through the file.
            for organization_id in scope.organization_ids:
                keys.refuse_if_destroyed(organization_id)
            instrument = instruments[dataset]
            language = form.cleaned_data["language"]
            variables = items.variables_for(instrument, language)
            plan = deidentify.plan_for(scope)
            rows = items.item_rows_stream(scope, instrument, variables, plan)
            if format == exports.Format.CSV:
                pieces = exports.csv_stream([variable.name for variable in variables], rows)
            else:
                widths = exports.context_widths(scope)
                with translation.override(language):
                    notes = deidentify.summary_lines(plan.summary)
                pieces = exports.sav_stream(
                    variables, rows, title=instrument.name, widths=widths, notes=notes
                )
            filename = exports.filename(basename, format)
            response = StreamingHttpResponse(pieces, content_type=exports.WRITERS[exports.Format(format)][2])
        else:
            table = _table(scope, instruments, dataset, form.cleaned_data["language"])
            file = exports.export(table, format, basename=basename)
            filename = file.filename
            response = HttpResponse(file.content, content_type=file.content_type)
        audit(
            request,
            action=Action.EVALUATION_EXPORT,
            object_type=EXPORT_OBJECT_TYPE,
            object_id=f"{format}:{code}",
        )
        response["Content-Disposition"] = content_disposition_header(True, filename) or "attachment"
        response["Cache-Control"] = "no-store, private"
        return response
    return render(
        request,
        "evaluation/exports/exports.html",
        {
            "form": form,
            "scope": scope,
            "minutes": int(MAX_AGE.total_seconds() // 60),
            "deidentification": deidentify.plan_for(scope).summary,
        },
        status=400 if request.method == "POST" else 200,
    )

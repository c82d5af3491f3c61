"""The support network pages: both pods with their measures now and over time, the network map with its text
equivalent, adding and changing a member, and ties between members.

Every rule lives in services.py and measures.py; these views find the object, read the form, call one service
and answer. A refusal is shown with its reason and writes nothing.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from circlekeeper.accounts.audit import Action, audit
from circlekeeper.accounts.models import User
from circlekeeper.cases.access import get_case_for
from circlekeeper.cases.models import Case, CaseStatus, Participant, ParticipantRole
from circlekeeper.cases.participants import StaleEdit
from circlekeeper.lib.audit import Outcome
from circlekeeper.lib.forms import add_service_errors
from circlekeeper.support import services
from circlekeeper.support.access import get_member_for, get_tie_for
from circlekeeper.support.forms import EditMemberForm, MemberForm, TieForm
from circlekeeper.support.measures import PodData, PodMeasures, all_measures, graph_from, knows, load_pods
from circlekeeper.support.models import POD_SIDES, PodMeasure, PodMember, PodSide, PodTie
from circlekeeper.support.network_map import draw, role_label

if TYPE_CHECKING:
    import networkx as nx  # for the annotations only: measures.py loads it when a page builds a graph

# The pod a participant's role suggests when they are placed from the list of people not yet in a pod.
SUGGESTED_SIDE = {
    ParticipantRole.SURVIVOR_SUPPORTER: PodSide.SURVIVOR,
    ParticipantRole.HARM_SUPPORTER: PodSide.HARM,
}


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{round(share * 100)} %"


@dataclass(frozen=True)
class MemberRow:
    """One member as the pages show them: the facts the map draws, in words."""

    member: PodMember
    role: str
    consented: bool
    knows: list[str]


@dataclass(frozen=True)
class MeasureRow:
    when: datetime.datetime | None  # None: now, counted from the pods as they are
    pod_size: int
    consenting_active: int
    help_labels: list[str]
    density: str
    in_touch: str


def _measure_row(when: datetime.datetime | None, m: PodMeasures | PodMeasure) -> MeasureRow:
    return MeasureRow(
        when, m.pod_size, m.consenting_active, m.help_labels, _percent(m.density), _percent(m.in_touch_share)
    )


def _rows(data: PodData, graph: nx.Graph) -> list[MemberRow]:
    return [
        MemberRow(
            member=m,
            role=role_label(m.participant.role if m.participant else ""),
            consented=data.consented(m),
            knows=knows(graph, m.pk),
        )
        for m in data.members
    ]


def _pod_people(case: Case) -> list[Participant]:
    """The participants whose role may be placed in a pod (support persons, monitors, community members)."""
    return list(case.participants.filter(role__in=services.POD_ROLES).order_by("id"))


def _placed(data: PodData, *, but: PodMember | None = None) -> dict[int, str]:
    """The pod each participant already in one is in (but the member being changed)."""
    return {
        m.participant_id: m.side for m in data.members if m.participant_id and (but is None or m.pk != but.pk)
    }


def _pods_context(case: Case, *, tie_form: TieForm | None = None) -> dict[str, Any]:
    data = load_pods(case)
    graph = graph_from(data)
    rows, now = _rows(data, graph), all_measures(graph)
    history = list(
        PodMeasure.objects.for_organization(case.organization)
        .filter(case=case)
        .order_by("-computed_at", "-id")
    )
    labels = {m.pk: m.label for m in data.members}
    pods = [
        {
            "side": side,
            "label": side.label,
            "rows": [r for r in rows if r.member.in_pod(side)],
            "measures": [
                _measure_row(None, now[side.value]),
                *(_measure_row(m.computed_at, m) for m in history if m.side == side.value),
            ],
        }
        for side in POD_SIDES
    ]
    placed = _placed(data)
    unplaced = [
        (p, SUGGESTED_SIDE.get(ParticipantRole(p.role), "")) for p in _pod_people(case) if p.pk not in placed
    ]
    return {
        "case": case,
        "is_open": case.status == CaseStatus.OPEN,
        "pods": pods,
        "unplaced": unplaced,
        "ties": [(t, labels.get(t.a_id, ""), labels.get(t.b_id, "")) for t in data.ties],
        "tie_form": tie_form or TieForm(members=data.members, auto_id="tie-%s"),
        "has_members": bool(data.members),
    }


@login_required
def pods(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    audit(request, action=Action.POD_VIEW, object_type="case", object_id=case.pk)
    return render(request, "support/pods.html", _pods_context(case))


@login_required
def network_map(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    data = load_pods(case)
    graph = graph_from(data)
    audit(request, action=Action.POD_VIEW, object_type="case", object_id=case.pk)
    context = {"case": case, "map": draw(graph), "rows": _rows(data, graph)}
    return render(request, "support/map.html", context)


def _refused(request: HttpRequest, object_type: str, object_id: int) -> None:
    audit(
        request, action=Action.POD_EDIT, object_type=object_type, object_id=object_id, outcome=Outcome.REFUSED
    )


def _initial_from_query(request: HttpRequest, people: list[Participant]) -> dict[str, Any]:
    """The participant and pod chosen by an "add to a pod" link, when they are among the choices."""
    initial: dict[str, Any] = {"active": True}
    chosen = request.GET.get("participant", "")
    if chosen.isdigit() and int(chosen) in {p.pk for p in people}:
        initial["participant"] = int(chosen)
    if request.GET.get("side") in PodSide.values:
        initial["side"] = request.GET["side"]
    return initial


@login_required
def member_add(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    people, placed = _pod_people(case), _placed(load_pods(case))
    posted = request.method == "POST"
    initial = _initial_from_query(request, [p for p in people if p.pk not in placed])
    form = MemberForm(request.POST if posted else None, participants=people, placed=placed, initial=initial)
    status = 400 if posted else 200
    if posted and form.is_valid():
        try:
            member = services.add_member(case=case, fields=form.member_fields(), by=_user(request))
        except ValidationError as exc:
            status = 400 if add_service_errors(form, exc) else 409
        else:
            audit(request, action=Action.POD_EDIT, object_type="pod_member", object_id=member.pk)
            messages.success(request, _("%(label)s is in the pod now.") % {"label": member.label})
            return redirect("support:pods", case.pk)
    if posted:
        _refused(request, "case", case.pk)
    context = {"case": case, "form": form, "member": None}
    return render(request, "support/member_form.html", context, status=status)


@login_required
def member_edit(request: HttpRequest, case_id: int, member_id: int) -> HttpResponse:
    member = get_member_for(request, case_id, member_id)
    people, placed = _pod_people(member.case), _placed(load_pods(member.case), but=member)
    posted = request.method == "POST"
    form = EditMemberForm(
        request.POST if posted else None,
        participants=people,
        placed=placed,
        initial=EditMemberForm.initial_for(member),
    )
    status = 400 if posted else 200
    if posted and form.is_valid():
        try:
            services.change_member(
                member=member,
                version=form.cleaned_data["version"],
                fields=form.member_fields(),
                by=_user(request),
            )
        except StaleEdit as exc:
            form.add_error(None, exc)
            status = 409
        except ValidationError as exc:
            status = 400 if add_service_errors(form, exc) else 409
        else:
            audit(request, action=Action.POD_EDIT, object_type="pod_member", object_id=member.pk)
            messages.success(request, _("The changes are saved."))
            return redirect("support:pods", member.case_id)
    if posted:
        _refused(request, "pod_member", member.pk)
    else:
        # The page shows the relationship and any reason for both pods: a read of what could identify them.
        audit(request, action=Action.POD_VIEW, object_type="pod_member", object_id=member.pk)
    context = {"case": member.case, "form": form, "member": member}
    return render(request, "support/member_form.html", context, status=status)


@login_required
@require_POST
def tie_add(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_case_for(request, case_id)
    members = list(PodMember.objects.for_organization(case.organization).filter(case=case).order_by("id"))
    form = TieForm(request.POST, members=members, auto_id="tie-%s")
    status = 400
    if form.is_valid():
        a, b = form.pair()
        try:
            services.add_tie(case=case, a=a, b=b, by=_user(request))
        except ValidationError as exc:
            status = 400 if add_service_errors(form, exc) else 409
        else:
            audit(request, action=Action.POD_EDIT, object_type="pod_member", object_id=a.pk)
            messages.success(
                request, _("Recorded: %(a)s and %(b)s know each other.") % {"a": a.label, "b": b.label}
            )
            return redirect("support:pods", case.pk)
    _refused(request, "case", case.pk)
    return render(request, "support/pods.html", _pods_context(case, tie_form=form), status=status)


@login_required
@require_POST
def tie_remove(request: HttpRequest, case_id: int, tie_id: int) -> HttpResponse:
    tie: PodTie = get_tie_for(request, case_id, tie_id)
    a_id = tie.a_id
    try:
        removed = services.remove_tie(tie=tie, by=_user(request))
    except ValidationError as exc:
        _refused(request, "pod_member", a_id)
        messages.error(request, " ".join(exc.messages))
    else:
        if removed:
            audit(request, action=Action.POD_EDIT, object_type="pod_member", object_id=a_id)
            messages.success(request, _("The tie is removed."))
        else:
            messages.info(request, _("This tie was already removed: nothing changed."))
    return redirect("support:pods", tie.case_id)

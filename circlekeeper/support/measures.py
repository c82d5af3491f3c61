"""A case's support networks as a graph, and the connectedness of each pod (issue 7, part 2).

The graph (`build_graph`) has one node per party, "survivor" and "harm" (the centers), and one per pod member,
with an edge from a center to each member of its pod (a member of both pods has two) and an edge between two
members who know each other (a tie). `pod_measures` reads only the graph, so tests can build one by hand.

How each number is counted, for one pod (a member of both pods counts in each):

- pod size: the members who are active and not a barrier. Barriers are never counted as supporters;
- consenting active allies: those of them who are allies and consented to take part (their participant record
  holds a current consent to take part; someone not yet recorded as a participant has not been asked);
- kinds of help covered: every kind of help offered by a consenting active ally, in the order of the list;
- density: the share of the possible pairs among the pod-size members who know each other (networkx's density
  of the graph of those members and their ties only; 0 with fewer than two);
- share in touch with the program: the share of the pod-size members whose participant record holds a current
  consent to take part or to be contacted (none when the pod is empty).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from circlekeeper.cases.models import Case, Consent, ConsentKind, Participant, ParticipantRole
from circlekeeper.support.models import POD_SIDES, HelpKind, PodMember, PodSide, PodTie, Stance, help_order

if TYPE_CHECKING:
    # The two functions that build graphs import networkx when called: the pod data and the constants here
    # are imported at start-up (by the views and services), and a web worker should not load networkx for
    # pages that draw no pod (issue 10, its memory).
    import networkx as nx

SURVIVOR = PodSide.SURVIVOR.value
HARM = PodSide.HARM.value
CENTERS = (SURVIVOR, HARM)
# The role of each party at a center of the map.
CENTER_ROLES = {SURVIVOR: ParticipantRole.SURVIVOR.value, HARM: ParticipantRole.PERSON_WHO_CAUSED_HARM.value}
PARTY = "party"
MEMBER = "member"
POD_EDGE = "pod"
TIE_EDGE = "tie"


def member_node(pk: int) -> str:
    return f"member-{pk}"


@dataclass
class PodData:
    """Everything the pods of one case are drawn and counted from, loaded in a fixed number of queries."""

    case: Case
    members: list[PodMember]
    ties: list[PodTie]
    # participant id -> kinds of current consent
    consents: dict[int, set[str]] = field(default_factory=dict)
    # The label of each party at a center (the first recorded survivor / person who caused harm), if any.
    party_labels: dict[str, str] = field(default_factory=dict)

    def consented(self, member: PodMember) -> bool:
        return ConsentKind.TAKE_PART in self.consents.get(member.participant_id or 0, set())

    def in_touch(self, member: PodMember) -> bool:
        kinds = self.consents.get(member.participant_id or 0, set())
        return bool(kinds & {ConsentKind.TAKE_PART, ConsentKind.CONTACT})


# What counting needs of each member (record_measures loads only these; the pages load everything).
COUNTED_FIELDS = ("id", "label", "side", "stance", "active", "help", "participant_id", "participant__role")


def load_pods(case: Case, *, counting: bool = False) -> PodData:
    """The case's members (with their participants), ties, current consents and the parties' labels, in four
    queries; `counting` loads only what the measures need, in three."""
    members_query = (
        PodMember.objects.for_organization(case.organization)
        .filter(case=case)
        .select_related("participant")
        .order_by("id")
    )
    members = list(members_query.only(*COUNTED_FIELDS) if counting else members_query)
    ties = list(
        PodTie.objects.for_organization(case.organization)
        .current()
        .filter(case=case)
        .order_by("a_id", "b_id")
        .only("id", "a_id", "b_id")
    )
    linked = [m.participant_id for m in members if m.participant_id]
    consents: dict[int, set[str]] = {}
    if linked:
        current = (
            Consent.objects.for_organization(case.organization)
            .current()
            .filter(participant_id__in=linked)
            .order_by()
            .values_list("participant_id", "kind")
        )
        for participant_id, kind in current:
            consents.setdefault(participant_id, set()).add(kind)
    if counting:
        return PodData(case, members, ties, consents)
    found = (
        Participant.objects.for_organization(case.organization)
        .filter(case=case, role__in=CENTER_ROLES.values())
        .order_by("-id")
        .values_list("role", "label")
    )
    labels_by_role = dict(found)  # ordered newest first, so the first recorded one wins
    party_labels = {
        center: labels_by_role[role] for center, role in CENTER_ROLES.items() if role in labels_by_role
    }
    return PodData(case, members, ties, consents, party_labels)


def graph_from(data: PodData) -> nx.Graph:
    import networkx as nx  # here, not at the top: see the TYPE_CHECKING import

    graph = nx.Graph()
    for center in CENTERS:
        graph.add_node(center, kind=PARTY, role=CENTER_ROLES[center], label=data.party_labels.get(center, ""))
    for member in data.members:
        node = member_node(member.pk)
        graph.add_node(
            node,
            kind=MEMBER,
            pk=member.pk,
            label=member.label,
            side=member.side,
            stance=member.stance,
            active=member.active,
            consented=data.consented(member),
            in_touch=data.in_touch(member),
            help=list(member.help),
            # The participant's role, or "" for someone not (yet) recorded as a participant.
            role=member.participant.role if member.participant else "",
        )
        for center in CENTERS:
            if member.in_pod(center):
                graph.add_edge(center, node, kind=POD_EDGE)
    for tie in data.ties:
        graph.add_edge(member_node(tie.a_id), member_node(tie.b_id), kind=TIE_EDGE)
    return graph


def build_graph(case: Case) -> nx.Graph:
    return graph_from(load_pods(case))


@dataclass(frozen=True)
class PodMeasures:
    """One pod's connectedness; see the module's docstring for how each number is counted."""

    pod_size: int
    consenting_active: int
    help_covered: tuple[str, ...]
    density: float
    in_touch_share: float | None

    @property
    def help_labels(self) -> list[str]:
        return [str(HelpKind(code).label) for code in self.help_covered if code in HelpKind.values]

    def rounded(self) -> PodMeasures:
        """As stored: shares to four decimals, so that a recount of the same pod compares equal."""
        share = None if self.in_touch_share is None else round(self.in_touch_share, 4)
        return PodMeasures(
            self.pod_size, self.consenting_active, self.help_covered, round(self.density, 4), share
        )


def pod_members(graph: nx.Graph, side: str) -> list[Any]:
    """The members counted in this pod: joined to its center, active, and not a barrier."""
    if side not in graph:
        return []
    counted = []
    for node in graph.neighbors(side):
        attrs = graph.nodes[node]
        if attrs.get("kind") != MEMBER or graph.edges[side, node].get("kind") != POD_EDGE:
            continue
        if attrs.get("active") and attrs.get("stance") != Stance.BARRIER:
            counted.append(node)
    return counted


def pod_measures(graph: nx.Graph, side: str) -> PodMeasures:
    import networkx as nx  # here, not at the top: see the TYPE_CHECKING import

    if side not in CENTERS:
        raise ValueError(f"not a pod: {side!r}")
    counted = pod_members(graph, side)
    nodes = graph.nodes
    allies = [n for n in counted if nodes[n].get("stance") == Stance.ALLY and nodes[n].get("consented")]
    help_covered: list[str] = [code for n in allies for code in nodes[n].get("help", [])]
    knows = nx.Graph()
    knows.add_nodes_from(counted)
    knows.add_edges_from(
        (u, v) for u, v, kind in graph.subgraph(counted).edges(data="kind") if kind == TIE_EDGE
    )
    density = float(nx.density(knows)) if len(counted) >= 2 else 0.0
    in_touch = sum(1 for n in counted if nodes[n].get("in_touch"))
    return PodMeasures(
        pod_size=len(counted),
        consenting_active=len(allies),
        help_covered=tuple(help_order(help_covered)),
        density=density,
        in_touch_share=in_touch / len(counted) if counted else None,
    )


def all_measures(graph: nx.Graph) -> dict[str, PodMeasures]:
    return {side.value: pod_measures(graph, side.value) for side in POD_SIDES}


def knows(graph: nx.Graph, pk: int) -> list[str]:
    """The labels of the members this member knows, in label order."""
    node = member_node(pk)
    if node not in graph:
        return []
    found = (
        graph.nodes[other]["label"]
        for other, kind in ((o, graph.edges[node, o].get("kind")) for o in graph.neighbors(node))
        if kind == TIE_EDGE
    )
    return sorted(found, key=str.casefold)

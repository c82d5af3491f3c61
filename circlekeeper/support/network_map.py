"""The network map: the pods laid out with networkx and turned into plain data a template draws as inline SVG.

Nothing here builds SVG text: the template does, so every label goes through Django's escaping. The layout is
deterministic (fixed centers, a seeded spring layout), so the same pods always give the same picture.

Shapes say the role (the parties: squares; support persons: circles; a safety monitor: a diamond; a community
member: a triangle; someone not yet a participant: a circle with a dashed outline). Colour says the stance, and
never alone: a barrier also has a cross and a thick border, and an inactive member is hollow and grey. The page
gives the same facts in a table beside the map, and a legend in HTML.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _

from circlekeeper.cases.models import ParticipantRole
from circlekeeper.support.measures import CENTERS, HARM, MEMBER, SURVIVOR, TIE_EDGE
from circlekeeper.support.models import PodSide, Stance

if TYPE_CHECKING:
    # `layout` imports networkx when called: the support views import this module at start-up, and a web
    # worker should not load networkx for pages that draw no map (issue 10, its memory).
    import networkx as nx

WIDTH, HEIGHT, MARGIN = 760, 460, 64
SIZE = 18  # half the width of a shape
LABEL_CHARS = 18  # longer labels are cut on the map (the table and each shape's title give them whole)
SEED = 7

SQUARE, CIRCLE, DIAMOND, TRIANGLE = "square", "circle", "diamond", "triangle"
SHAPES = {
    ParticipantRole.SURVIVOR: SQUARE,
    ParticipantRole.PERSON_WHO_CAUSED_HARM: SQUARE,
    ParticipantRole.SURVIVOR_SUPPORTER: CIRCLE,
    ParticipantRole.HARM_SUPPORTER: CIRCLE,
    ParticipantRole.SAFETY_MONITOR: DIAMOND,
    ParticipantRole.COMMUNITY_MEMBER: TRIANGLE,
    "": CIRCLE,
}
# Where each pod's members start before the spring layout pulls them into place.
START_X = {PodSide.SURVIVOR: -0.7, PodSide.HARM: 0.7, PodSide.BOTH: 0.0}
FIXED = {SURVIVOR: (-1.0, 0.0), HARM: (1.0, 0.0)}


def role_label(role: str) -> str:
    if not role:
        return _("Not yet a participant")
    return str(ParticipantRole(role).label) if role in ParticipantRole.values else role


@dataclass(frozen=True)
class MapNode:
    key: str
    member_id: int | None
    label: str
    short_label: str
    title: str
    shape: str
    css: str
    x: float
    y: float
    # For a square: its corner; for a diamond or triangle: its points; for a barrier: the cross.
    corner: tuple[float, float]
    points: str
    cross: str
    label_y: float


@dataclass(frozen=True)
class MapEdge:
    kind: str
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True)
class NetworkMap:
    width: int
    height: int
    nodes: list[MapNode]
    edges: list[MapEdge]

    node_size: int = 2 * SIZE
    radius: int = SIZE

    @property
    def members(self) -> list[MapNode]:
        return [n for n in self.nodes if n.member_id is not None]


def layout(graph: nx.Graph) -> dict[Any, tuple[float, float]]:
    """Positions in [-1, 1]-ish units: the survivor left, the person who caused harm right, pods around them."""
    members = [n for n in graph if graph.nodes[n].get("kind") == MEMBER]
    start: dict[Any, tuple[float, float]] = {c: FIXED[c] for c in CENTERS if c in graph}
    for index, node in enumerate(members):
        side = graph.nodes[node].get("side", PodSide.BOTH)
        start[node] = (START_X.get(side, 0.0), ((index % 7) - 3) * 0.25)
    if not members:
        return start
    import networkx as nx  # here, not at the top: see the TYPE_CHECKING import

    positions = nx.spring_layout(graph, pos=start, fixed=list(FIXED), seed=SEED, iterations=100)
    return {node: (float(x), float(y)) for node, (x, y) in positions.items()}


def _scaler(positions: dict[Any, tuple[float, float]]) -> Any:
    xs = [x for x, _y in positions.values()]
    ys = [y for _x, y in positions.values()]
    low_x, high_x, low_y, high_y = min(xs), max(xs), min(ys), max(ys)

    def scale(x: float, y: float) -> tuple[float, float]:
        sx = MARGIN + (x - low_x) / (high_x - low_x) * (WIDTH - 2 * MARGIN) if high_x > low_x else WIDTH / 2
        sy = MARGIN + (y - low_y) / (high_y - low_y) * (HEIGHT - 2 * MARGIN) if high_y > low_y else HEIGHT / 2
        return round(sx, 1), round(sy, 1)

    return scale


def _points(shape: str, x: float, y: float) -> str:
    if shape == DIAMOND:
        corners = [(x, y - SIZE - 2), (x + SIZE + 2, y), (x, y + SIZE + 2), (x - SIZE - 2, y)]
    elif shape == TRIANGLE:
        corners = [(x, y - SIZE - 2), (x + SIZE + 2, y + SIZE - 2), (x - SIZE - 2, y + SIZE - 2)]
    else:
        return ""
    return " ".join(f"{round(px, 1)},{round(py, 1)}" for px, py in corners)


def _cross(x: float, y: float) -> str:
    d = SIZE * 0.6
    return (
        f"M {round(x - d, 1)} {round(y - d, 1)} L {round(x + d, 1)} {round(y + d, 1)} "
        f"M {round(x + d, 1)} {round(y - d, 1)} L {round(x - d, 1)} {round(y + d, 1)}"
    )


def _title(attrs: dict[str, Any]) -> str:
    """What a member's shape says, in words (the shape's tooltip, and for screen readers)."""
    facts = [
        str(PodSide(attrs["side"]).label) if attrs.get("side") in PodSide.values else "",
        str(Stance(attrs["stance"]).label) if attrs.get("stance") in Stance.values else "",
        role_label(attrs.get("role", "")),
        _("active") if attrs.get("active") else _("not active"),
    ]
    return f"{attrs.get('label', '')}: " + ", ".join(f for f in facts if f)


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def _node(key: Any, attrs: dict[str, Any], x: float, y: float) -> MapNode:
    party = attrs.get("kind") != MEMBER
    role = attrs.get("role", "")
    shape = SHAPES.get(role, CIRCLE)
    classes = ["map-node", f"map-node--{shape}"]
    if party:
        classes.append("map-node--party")
        label = attrs.get("label") or (
            _("The survivor") if key == SURVIVOR else _("The person who caused harm")
        )
        title = f"{label}: {role_label(role)}"
    else:
        classes.append(f"map-node--{attrs.get('stance', Stance.UNSURE)}")
        if not attrs.get("active"):
            classes.append("map-node--inactive")
        if not role:
            classes.append("map-node--unlinked")
        label, title = attrs.get("label", ""), _title(attrs)
    barrier = not party and attrs.get("stance") == Stance.BARRIER
    return MapNode(
        key=str(key),
        member_id=None if party else attrs.get("pk"),
        label=label,
        short_label=_short(label),
        title=title,
        shape=shape,
        css=" ".join(classes),
        x=x,
        y=y,
        corner=(round(x - SIZE, 1), round(y - SIZE, 1)),
        points=_points(shape, x, y),
        cross=_cross(x, y) if barrier else "",
        label_y=round(y + SIZE + 16, 1),
    )


def draw(graph: nx.Graph) -> NetworkMap:
    scale = _scaler(positions := layout(graph))
    placed = {node: scale(*xy) for node, xy in positions.items()}
    edges = [MapEdge(kind or "pod", *placed[u], *placed[v]) for u, v, kind in graph.edges(data="kind")]
    edges.sort(key=lambda e: e.kind == TIE_EDGE)  # ties drawn last, over the lines to the centers
    # Parties first, then members in the order they were added.
    nodes = [_node(node, graph.nodes[node], *placed[node]) for node in graph]
    return NetworkMap(WIDTH, HEIGHT, nodes, edges)

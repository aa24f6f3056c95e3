"""Place the nodes and route the edges of a graph, with grandalf's Sugiyama layout.

grandalf (pure Python, the ``draw`` extra) does the layered layout: it breaks cycles,
assigns layers, orders each layer to reduce crossings, and routes long edges through
dummy points between layers. This module only feeds it sizes and reads positions back.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ..representation import WorkflowGraph
from .style import NodeStyle

__all__ = ["Box", "Layout", "MissingExtraError", "Point", "layout_graph", "require_layout"]

Point = tuple[float, float]
_MARGIN = 24.0
_COMPONENT_GAP = 48.0


class MissingExtraError(ImportError):
    """A drawing needs the optional ``draw`` extra (grandalf), and it is not installed."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"Drawing {what} needs the layout library grandalf, which is not installed. "
            "Install the drawing extra: pip install 'flowkit[draw]'. "
            "(Mermaid text and JSON need no extra.)"
        )


def require_layout(what: str) -> Any:
    """Import grandalf, or raise :class:`MissingExtraError` naming the extra."""
    try:
        return importlib.import_module("grandalf.layouts")
    except ImportError:
        raise MissingExtraError(what) from None


@attrs.frozen
class Box:
    """A placed node: its centre, width and height."""

    x: float
    y: float
    width: float
    height: float


@attrs.frozen
class Layout:
    """Where everything goes: node boxes by id, one route per edge, the canvas size."""

    boxes: Mapping[str, Box]
    routes: Sequence[tuple[Point, ...]]
    width: float
    height: float


class _View:
    """What grandalf reads (w, h) and writes (xy) per vertex."""

    def __init__(self, width: float, height: float) -> None:
        self.w, self.h = width, height
        self.xy: Point = (0.0, 0.0)


class _EdgeView:
    """Receives grandalf's route of one edge."""

    def __init__(self) -> None:
        self.points: list[Point] = []

    def setpath(self, points: list[Point]) -> None:
        self.points = [(float(x), float(y)) for x, y in points]


def layout_graph(graph: WorkflowGraph, styles: Mapping[str, NodeStyle], what: str) -> Layout:
    """Lay out ``graph`` top-down; each connected part side by side, left to right.

    Raises:
        MissingExtraError: grandalf is not installed.
    """
    layouts = require_layout(what)
    graphs = importlib.import_module("grandalf.graphs")
    routing = importlib.import_module("grandalf.routing")
    vertices = {node.id: graphs.Vertex(node.id) for node in graph.nodes}
    for node_id, vertex in vertices.items():
        vertex.view = _View(styles[node_id].width, styles[node_id].height)
    edges = []
    for edge in graph.edges:
        if edge.source in vertices and edge.target in vertices and edge.source != edge.target:
            grand_edge = graphs.Edge(vertices[edge.source], vertices[edge.target])
            grand_edge.view = _EdgeView()
            edges.append((edge.source, edge.target, grand_edge))
    whole = graphs.Graph(list(vertices.values()), [e for _, _, e in edges])

    boxes: dict[str, Box] = {}
    offset_x, height = _MARGIN, 0.0
    for component in whole.C:
        sugiyama = layouts.SugiyamaLayout(component)
        sugiyama.xspace, sugiyama.yspace = 36, 46
        sugiyama.route_edge = routing.route_with_lines
        sugiyama.init_all()
        sugiyama.draw(8)
        members = list(component.sV)
        left = min(v.view.xy[0] - v.view.w / 2 for v in members)
        top = min(v.view.xy[1] - v.view.h / 2 for v in members)
        right = max(v.view.xy[0] + v.view.w / 2 for v in members)
        bottom = max(v.view.xy[1] + v.view.h / 2 for v in members)
        dx, dy = offset_x - left, _MARGIN - top
        for vertex in members:
            x, y = vertex.view.xy
            boxes[vertex.data] = Box(x + dx, y + dy, vertex.view.w, vertex.view.h)
        for _, _, grand_edge in edges:
            if grand_edge in component.sE:
                view = grand_edge.view
                view.points = [(x + dx, y + dy) for x, y in view.points]
        offset_x += right - left + _COMPONENT_GAP
        height = max(height, bottom - top)

    routes: list[tuple[Point, ...]] = []
    for edge in graph.edges:
        found = next(
            (g for s, t, g in edges if (s, t) == (edge.source, edge.target)),
            None,
        )
        if found is None or len(found.view.points) < 2:
            routes.append(_self_loop(boxes[edge.source]) if edge.source in boxes else ())
        else:
            routes.append(tuple(found.view.points))
    width = offset_x - _COMPONENT_GAP + _MARGIN
    return Layout(boxes, routes, max(width, 2 * _MARGIN), height + 2 * _MARGIN)


def _self_loop(box: Box) -> tuple[Point, ...]:
    """A loop out of a box's right side and back in."""
    right, top = box.x + box.width / 2, box.y - box.height / 4
    bottom = box.y + box.height / 4
    return ((right, top), (right + 28, top - 6), (right + 28, bottom + 6), (right, bottom))

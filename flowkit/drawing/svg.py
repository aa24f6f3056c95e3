"""A standalone SVG picture of a workflow graph (and a run's path), from one layout."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from html import escape

from ..representation import WorkflowGraph
from .layout import Box, Layout, Point, layout_graph
from .path import NodeState, RunPath
from .style import (
    FONT_FAMILY,
    SUBTITLE_SIZE,
    TIMES,
    TITLE_SIZE,
    Kind,
    NodeStyle,
    node_style,
)

__all__ = ["SVG_STYLE", "render_svg", "to_svg"]

SVG_STYLE = f"""
.fk text {{ font-family: {FONT_FAMILY}; fill: #1f2430; }}
.fk .title {{ font-size: {TITLE_SIZE}px; font-weight: 600; }}
.fk .subtitle {{ font-size: {SUBTITLE_SIZE}px; fill: #5b6475; }}
.fk .edge {{ fill: none; stroke: #8a94a6; stroke-width: 1.4; }}
.fk .edge.taken {{ stroke: #2563eb; stroke-width: 2.6; }}
.fk .edge.resource {{ stroke: #9b7bd4; stroke-dasharray: 5 4; }}
.fk .edge-label rect {{ fill: #ffffff; stroke: #d5d9e0; }}
.fk .edge-label text {{ font-size: 10.5px; fill: #4a5263; }}
.fk .shape {{ stroke-width: 1.6; }}
.fk .kind-step .shape {{ fill: #e8f0fe; stroke: #3b6fd8; stroke-width: 2; }}
.fk .kind-catch_error .shape {{ fill: #fdecea; stroke: #c0392b; stroke-width: 2;
  stroke-dasharray: 6 3; }}
.fk .kind-event .shape {{ fill: #f6f7f9; stroke: #8a94a6; }}
.fk .kind-event .title {{ font-weight: 500; font-size: 12px; }}
.fk .kind-start .shape {{ fill: #e3f6e8; stroke: #2f9e55; stroke-width: 2; }}
.fk .kind-start .mark {{ fill: #2f9e55; }}
.fk .kind-stop .shape {{ fill: #3a4250; stroke: #1f242c; stroke-width: 2; }}
.fk .kind-stop .ring {{ fill: none; stroke: #3a4250; stroke-width: 1.2; }}
.fk .kind-stop text, .fk .kind-stop .subtitle {{ fill: #ffffff; }}
.fk .kind-stop .mark {{ fill: #ffffff; }}
.fk .kind-external .shape {{ fill: #fff4d6; stroke: #d99a00; stroke-width: 2; }}
.fk .kind-resource .shape {{ fill: #f1e8fd; stroke: #7b3fd8; }}
.fk .kind-resource_config .shape {{ fill: #e4f5f4; stroke: #1f8f88; }}
.fk .kind-other .shape {{ fill: #ffffff; stroke: #8a94a6; }}
.fk .node {{ cursor: pointer; }}
.fk .node:hover .shape, .fk .node.selected .shape {{ stroke: #111827; stroke-width: 2.6; }}
.fk .state-not_reached {{ opacity: 0.38; }}
.fk .state-failed .shape {{ fill: #fbd5d0; stroke: #c0392b; stroke-width: 3; }}
.fk .state-waiting .shape {{ fill: #ffe8a3; stroke: #d99a00; stroke-width: 3; }}
.fk .badge rect {{ fill: #2563eb; }}
.fk .state-failed .badge rect {{ fill: #c0392b; }}
.fk .state-waiting .badge rect {{ fill: #b77f00; }}
.fk .badge text {{ fill: #ffffff; font-size: 10.5px; font-weight: 700; }}
"""


def _f(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _curve(points: tuple[Point, ...]) -> str:
    """A smooth path through ``points`` (Catmull-Rom turned into cubic Béziers)."""
    if not points:
        return ""
    parts = [f"M{_f(points[0][0])},{_f(points[0][1])}"]
    for i in range(1, len(points)):
        p0 = points[i - 2] if i >= 2 else points[i - 1]
        p1, p2 = points[i - 1], points[i]
        p3 = points[i + 1] if i + 1 < len(points) else p2
        c1 = (p1[0] + (p2[0] - p0[0]) / 6, p1[1] + (p2[1] - p0[1]) / 6)
        c2 = (p2[0] - (p3[0] - p1[0]) / 6, p2[1] - (p3[1] - p1[1]) / 6)
        parts.append(f"C{_f(c1[0])},{_f(c1[1])} {_f(c2[0])},{_f(c2[1])} {_f(p2[0])},{_f(p2[1])}")
    return " ".join(parts)


def _middle(points: tuple[Point, ...]) -> Point:
    """The point halfway along a polyline."""
    pairs = list(itertools.pairwise(points))
    lengths = [((b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2) ** 0.5 for a, b in pairs]
    half = sum(lengths) / 2
    for (a, b), length in zip(pairs, lengths, strict=True):
        if half <= length and length > 0:
            t = half / length
            return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)
        half -= length
    return points[-1]


def _shape(kind: Kind, box: Box) -> str:
    """The outline of a node of ``kind``, centred in ``box``."""
    x0, y0 = box.x - box.width / 2, box.y - box.height / 2
    w, h = box.width, box.height
    x1, y1 = x0 + w, y0 + h
    rect = f'x="{_f(x0)}" y="{_f(y0)}" width="{_f(w)}" height="{_f(h)}"'
    if kind in (Kind.EVENT, Kind.START, Kind.STOP):
        shape = f'<rect class="shape" {rect} rx="{_f(h / 2)}"/>'
        if kind is Kind.STOP:
            ring = f'x="{_f(x0 - 3)}" y="{_f(y0 - 3)}" width="{_f(w + 6)}" height="{_f(h + 6)}"'
            shape = f'<rect class="ring" {ring} rx="{_f(h / 2 + 3)}"/>' + shape
        return shape
    if kind is Kind.EXTERNAL:
        d = h / 2
        pts = [(x0, box.y), (x0 + d, y0), (x1 - d, y0), (x1, box.y), (x1 - d, y1), (x0 + d, y1)]
        return f'<polygon class="shape" points="{" ".join(f"{_f(a)},{_f(b)}" for a, b in pts)}"/>'
    if kind is Kind.RESOURCE:
        r = 6.0
        return (
            f'<path class="shape" d="M{_f(x0)},{_f(y0 + r)} A{_f(w / 2)},{_f(r)} 0 0 1 '
            f"{_f(x1)},{_f(y0 + r)} V{_f(y1 - r)} A{_f(w / 2)},{_f(r)} 0 0 1 {_f(x0)},"
            f'{_f(y1 - r)} Z"/><path class="shape" d="M{_f(x0)},{_f(y0 + r)} '
            f'A{_f(w / 2)},{_f(r)} 0 0 0 {_f(x1)},{_f(y0 + r)}"/>'
        )
    if kind is Kind.RESOURCE_CONFIG:
        fold = 10.0
        return (
            f'<path class="shape" d="M{_f(x0)},{_f(y0)} H{_f(x1 - fold)} L{_f(x1)},'
            f'{_f(y0 + fold)} V{_f(y1)} H{_f(x0)} Z"/><path class="shape" '
            f'd="M{_f(x1 - fold)},{_f(y0)} V{_f(y0 + fold)} H{_f(x1)}"/>'
        )
    return f'<rect class="shape" {rect} rx="7"/>'


def _mark(kind: Kind, box: Box) -> str:
    """The small glyph of start (a triangle) and stop (a square) nodes."""
    cx, cy = box.x - box.width / 2 + 17, box.y
    if kind is Kind.START:
        points = f"{_f(cx - 4)},{_f(cy - 6)} {_f(cx + 6)},{_f(cy)} {_f(cx - 4)},{_f(cy + 6)}"
        return f'<polygon class="mark" points="{points}"/>'
    if kind is Kind.STOP:
        corner = f'x="{_f(cx - 5)}" y="{_f(cy - 5)}"'
        return f'<rect class="mark" {corner} width="10" height="10" rx="1.5"/>'
    return ""


def _text(style: NodeStyle, box: Box) -> str:
    shift = 9.0 if style.kind in (Kind.START, Kind.STOP) else 0.0
    x = _f(box.x + shift)
    if style.subtitle is None:
        return (
            f'<text class="title" x="{x}" y="{_f(box.y)}" text-anchor="middle" '
            f'dominant-baseline="central">{escape(style.title)}</text>'
        )
    return (
        f'<text class="title" x="{x}" y="{_f(box.y - 7)}" text-anchor="middle" '
        f'dominant-baseline="central">{escape(style.title)}</text>'
        f'<text class="subtitle" x="{x}" y="{_f(box.y + 10)}" text-anchor="middle" '
        f'dominant-baseline="central">{escape(style.subtitle)}</text>'
    )


def _badge(text: str, box: Box) -> str:
    width = 10 + 6.6 * len(text)
    x, y = box.x + box.width / 2 - width + 8, box.y - box.height / 2 - 9
    return (
        f'<g class="badge"><rect x="{_f(x)}" y="{_f(y)}" width="{_f(width)}" height="16" '
        f'rx="8"/><text x="{_f(x + width / 2)}" y="{_f(y + 8)}" text-anchor="middle" '
        f'dominant-baseline="central">{escape(text)}</text></g>'
    )


def _badge_text(path: RunPath, node_id: str) -> str | None:
    state, count = path.states.get(node_id), path.counts.get(node_id, 0)
    parts = [f"{TIMES}{count}"] if count else []
    if state is NodeState.FAILED:
        parts.append("failed")
    elif state is NodeState.WAITING:
        parts.append("waiting")
    return " ".join(parts) or None


def render_svg(
    graph: WorkflowGraph,
    layout: Layout,
    styles: Mapping[str, NodeStyle],
    path: RunPath | None,
) -> str:
    """The SVG document of an already laid-out graph (the HTML page embeds the same)."""
    kinds = {node.id: styles[node.id].kind for node in graph.nodes}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="fk" viewBox="0 0 {_f(layout.width)} '
        f'{_f(layout.height)}" width="{_f(layout.width)}" height="{_f(layout.height)}" '
        f'role="img" aria-label="{escape(graph.name)}">',
        f"<title>{escape(graph.name)}</title>",
        "<defs>",
        '<marker id="fk-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#8a94a6"/></marker>',
        '<marker id="fk-arrow-taken" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="5" '
        'markerHeight="5" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#2563eb"/></marker>',
        "</defs>",
        f"<style>{SVG_STYLE}</style>",
        '<g class="edges">',
    ]
    labels = []
    for edge, route in zip(graph.edges, layout.routes, strict=True):
        if len(route) < 2:
            continue
        classes = ["edge"]
        taken = path is not None and (edge.source, edge.target) in path.taken
        if taken:
            classes.append("taken")
        if kinds.get(edge.target) in (Kind.RESOURCE, Kind.RESOURCE_CONFIG):
            classes.append("resource")
        marker = "fk-arrow-taken" if taken else "fk-arrow"
        out.append(
            f'<path class="{" ".join(classes)}" data-source="{escape(edge.source)}" '
            f'data-target="{escape(edge.target)}" d="{_curve(route)}" '
            f'marker-end="url(#{marker})"/>'
        )
        if edge.label:
            mx, my = _middle(route)
            width = 10 + 6.4 * len(edge.label)
            labels.append(
                f'<g class="edge-label"><rect x="{_f(mx - width / 2)}" y="{_f(my - 9)}" '
                f'width="{_f(width)}" height="18" rx="4"/><text x="{_f(mx)}" y="{_f(my)}" '
                f'text-anchor="middle" dominant-baseline="central">{escape(edge.label)}</text></g>'
            )
    out.append("</g>")
    out.append('<g class="edge-labels">' + "".join(labels) + "</g>")
    out.append('<g class="nodes">')
    for node in graph.nodes:
        style, box = styles[node.id], layout.boxes[node.id]
        classes = ["node", f"kind-{style.kind.value}"]
        if path is not None:
            classes.append(f"state-{path.states.get(node.id, NodeState.NOT_REACHED).value}")
        badge = _badge_text(path, node.id) if path is not None else None
        out.append(
            f'<g class="{" ".join(classes)}" data-id="{escape(node.id)}" tabindex="0">'
            f"<title>{escape(node.label)}</title>"
            f"{_shape(style.kind, box)}{_mark(style.kind, box)}{_text(style, box)}"
            f"{_badge(badge, box) if badge else ''}</g>"
        )
    out.append("</g></svg>")
    return "\n".join(out) + "\n"


def to_svg(graph: WorkflowGraph, path: RunPath | None = None) -> str:
    """The graph as a standalone SVG document (styles inside; no script, nothing fetched).

    Raises:
        MissingExtraError: The ``draw`` extra (grandalf) is not installed.
    """
    styles = {node.id: node_style(node) for node in graph.nodes}
    layout = layout_graph(graph, styles, "SVG")
    return render_svg(graph, layout, styles, path)

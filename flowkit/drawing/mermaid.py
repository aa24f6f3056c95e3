"""Mermaid flowchart text of a workflow graph, with a run's path when given."""

from __future__ import annotations

import re

from ..representation import WorkflowGraph
from .path import NodeState, RunPath
from .style import TIMES, Kind, kind_of

__all__ = ["to_mermaid"]

# Mermaid node shapes by kind: (opening, closing) around the quoted label.
_SHAPES = {
    Kind.STEP: ('["', '"]'),
    Kind.CATCH_ERROR: ('["', '"]'),
    Kind.EVENT: ('(["', '"])'),
    Kind.START: ('(["', '"])'),
    Kind.STOP: ('(["', '"])'),
    Kind.EXTERNAL: ('{{"', '"}}'),
    Kind.RESOURCE: ('[("', '")]'),
    Kind.RESOURCE_CONFIG: ('>"', '"]'),
    Kind.OTHER: ('["', '"]'),
}
_CLASS_DEFS = {
    "step": "fill:#e8f0fe,stroke:#3b6fd8,stroke-width:2px,color:#102a5c",
    "catch_error": (
        "fill:#fdecea,stroke:#c0392b,stroke-width:2px,stroke-dasharray:5 3,color:#5c1010"
    ),
    "event": "fill:#f6f7f9,stroke:#8a94a6,color:#2d3340",
    "start": "fill:#e3f6e8,stroke:#2f9e55,stroke-width:2px,color:#0f3d1f",
    "stop": "fill:#3a4250,stroke:#1f242c,stroke-width:2px,color:#ffffff",
    "external": "fill:#fff4d6,stroke:#d99a00,stroke-width:2px,color:#4d3500",
    "resource": "fill:#f1e8fd,stroke:#7b3fd8,color:#2f1060",
    "resource_config": "fill:#e4f5f4,stroke:#1f8f88,color:#0d3b38",
    "other": "fill:#ffffff,stroke:#8a94a6",
}
_STATE_DEFS = {
    NodeState.NOT_REACHED: "notreached",
    NodeState.FAILED: "failed",
    NodeState.WAITING: "waiting",
}
_STATE_CLASS_DEFS = {
    "notreached": "opacity:0.45,stroke-dasharray:4 3",
    "failed": "fill:#fbd5d0,stroke:#c0392b,stroke-width:3px,color:#5c1010",
    "waiting": "fill:#ffe8a3,stroke:#d99a00,stroke-width:3px,color:#4d3500",
}


def _ident(node_id: str, used: dict[str, str]) -> str:
    """A Mermaid-safe id (letters, digits, underscore), unique within the graph."""
    if node_id in used:
        return used[node_id]
    base = "n_" + re.sub(r"\W", "_", node_id, flags=re.ASCII)
    ident, suffix = base, 1
    taken = set(used.values())
    while ident in taken:
        suffix += 1
        ident = f"{base}_{suffix}"
    used[node_id] = ident
    return ident


def _text(text: str) -> str:
    """Text safe inside a quoted Mermaid label."""
    return (
        text.replace("&", "#amp;")
        .replace('"', "#quot;")
        .replace("<", "#lt;")
        .replace(">", "#gt;")
        .replace("\n", " ")
    )


def to_mermaid(graph: WorkflowGraph, path: RunPath | None = None, *, direction: str = "TD") -> str:
    """The graph as Mermaid flowchart text.

    Steps are rectangles, events stadiums, the human bridge a hexagon, resources
    cylinders; StartEvent and StopEvent are coloured start and stop nodes. With ``path``,
    labels carry run counts (``step1 x2``), the failed step is red, waiting nodes amber,
    nodes the run did not reach are faded, and the edges it took are thick.

    Args:
        graph: The graph to draw.
        path: A run's path over the graph, or None for the structure alone.
        direction: Mermaid's flow direction: ``TD`` (top down) or ``LR``.

    Returns:
        The text, starting with ``flowchart``; ends with a newline.
    """
    ids: dict[str, str] = {}
    lines = [f"flowchart {direction}"]
    for node in graph.nodes:
        kind = kind_of(node)
        label = node.label if kind is not Kind.EXTERNAL else f"{node.label} (human)"
        if path is not None:
            count = path.counts.get(node.id, 0)
            if count:
                label += f" {TIMES}{count}"
            note = path.notes.get(node.id)
            if note:
                label += f" · {note}"
        opening, closing = _SHAPES[kind]
        lines.append(f"    {_ident(node.id, ids)}{opening}{_text(label)}{closing}")
    for edge in graph.edges:
        if edge.source not in ids or edge.target not in ids:
            continue
        source, target = ids[edge.source], ids[edge.target]
        taken = path is not None and (edge.source, edge.target) in path.taken
        arrow = "==>" if taken else "-->"
        label = f'|"{_text(edge.label)}"|' if edge.label else ""
        lines.append(f"    {source} {arrow}{label} {target}")
    by_kind: dict[str, list[str]] = {}
    for node in graph.nodes:
        by_kind.setdefault(kind_of(node).value, []).append(ids[node.id])
    for name, members in by_kind.items():
        lines.append(f"    classDef {name} {_CLASS_DEFS[name]}")
        lines.append(f"    class {','.join(members)} {name}")
    if path is not None:
        for name, style in _STATE_CLASS_DEFS.items():
            lines.append(f"    classDef {name} {style}")
        by_state: dict[str, list[str]] = {}
        for node in graph.nodes:
            state_class = _STATE_DEFS.get(path.states.get(node.id, NodeState.NOT_REACHED))
            if state_class is not None:
                by_state.setdefault(state_class, []).append(ids[node.id])
        for name, members in by_state.items():
            lines.append(f"    class {','.join(members)} {name}")
    return "\n".join(lines) + "\n"

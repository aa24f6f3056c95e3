"""What hovering or clicking a node shows: its details as (label, value) rows."""

from __future__ import annotations

from typing import Any

from ..representation import (
    WorkflowEventNode,
    WorkflowGraph,
    WorkflowGraphNode,
    WorkflowResourceConfigNode,
    WorkflowResourceNode,
    WorkflowStepNode,
)
from .path import NodeState, RunPath
from .style import Kind, kind_of

__all__ = ["node_details"]

_KIND_NAMES = {
    Kind.STEP: "step",
    Kind.CATCH_ERROR: "error handler (catch_error)",
    Kind.EVENT: "event",
    Kind.START: "start event",
    Kind.STOP: "stop event",
    Kind.EXTERNAL: "human in the loop",
    Kind.RESOURCE: "resource",
    Kind.RESOURCE_CONFIG: "resource config",
    Kind.OTHER: "node",
}


def _join(values: list[str]) -> str:
    return ", ".join(values) if values else "—"


def _rows(node: WorkflowGraphNode, graph: WorkflowGraph) -> list[tuple[str, str]]:
    into = [e.source for e in graph.edges if e.target == node.id]
    out = [e.target for e in graph.edges if e.source == node.id]
    rows: list[tuple[str, str]] = []
    if isinstance(node, WorkflowStepNode):
        rows.append(("accepts", _join(into)))
        rows.append(("returns", _join(out)))
        rows.append(("workers", str(node.num_workers)))
        rows.append(("retry policy", node.retry_policy or "none"))
        rows.append(("timeout", "none" if node.timeout is None else f"{node.timeout:g} s"))
        if node.description:
            rows.append(("about", node.description))
    elif isinstance(node, WorkflowEventNode):
        schema: dict[str, Any] = node.event_schema or {}
        fields = [
            f"{name}: {spec.get('python_type', spec.get('type', '?'))}"
            for name, spec in schema.get("properties", {}).items()
        ]
        rows.append(("fields", _join(fields)))
        rows.append(("class chain", " → ".join(node.event_types)))
        rows.append(("produced by", _join(node.produced_by)))
        rows.append(("consumed by", _join(out)))
        if schema.get("description"):
            rows.append(("about", str(schema["description"])))
    elif kind_of(node) is Kind.EXTERNAL:
        rows.append(("receives", _join(into)))
        rows.append(("answers with", _join(out)))
        rows.append(("how", "the caller reads it from stream_events() and calls ctx.send_event()"))
    elif isinstance(node, WorkflowResourceNode):
        rows.append(("type", node.type_name or "?"))
        rows.append(("factory", node.getter_name or "?"))
        if node.source_file:
            rows.append(("defined in", f"{node.source_file}:{node.source_line or '?'}"))
        rows.append(("used by", _join(into)))
        if node.description:
            rows.append(("about", node.description))
    elif isinstance(node, WorkflowResourceConfigNode):
        rows.append(("type", node.type_name or "?"))
        rows.append(("file", node.config_file or "?"))
        rows.append(("path", node.path_selector or "(whole file)"))
        rows.append(
            ("value", "unreadable" if node.config_value is None else str(node.config_value))
        )
        rows.append(("used by", _join(into)))
    return rows


def node_details(graph: WorkflowGraph, path: RunPath | None) -> dict[str, dict[str, Any]]:
    """Per node id: its label, kind and rows of details, the run's counts included."""
    details: dict[str, dict[str, Any]] = {}
    for node in graph.nodes:
        rows = _rows(node, graph)
        if path is not None:
            state = path.states.get(node.id, NodeState.NOT_REACHED)
            count = path.counts.get(node.id, 0)
            if isinstance(node, WorkflowStepNode):
                rows.insert(0, ("in this run", f"ran {count} time{'s' if count != 1 else ''}"))
            elif isinstance(node, WorkflowEventNode):
                rows.insert(0, ("in this run", f"{count} event{'s' if count != 1 else ''}"))
            rows.insert(1, ("state", path.notes.get(node.id, state.value.replace("_", " "))))
        details[node.id] = {
            "label": node.label,
            "kind": _KIND_NAMES[kind_of(node)],
            "rows": [list(row) for row in rows],
        }
    return details

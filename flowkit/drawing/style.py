"""How each node looks: its kind (step, event, start, stop, human bridge, ...), text and size.

One place decides, so the Mermaid text, the SVG and the HTML page agree.
"""

from __future__ import annotations

import enum

import attrs

from ..representation import (
    WorkflowEventNode,
    WorkflowGraphNode,
    WorkflowResourceConfigNode,
    WorkflowResourceNode,
    WorkflowStepNode,
)

__all__ = [
    "FONT_FAMILY",
    "SUBTITLE_SIZE",
    "TIMES",
    "TITLE_SIZE",
    "Kind",
    "NodeStyle",
    "kind_of",
    "node_style",
    "text_width",
]

TIMES = "\u00d7"  # the multiplication sign of run counts, as in "step1 x2"
FONT_FAMILY = "'DejaVu Sans', 'Segoe UI', Helvetica, Arial, sans-serif"


class Kind(enum.Enum):
    """What a node is, as far as its shape and colours go."""

    STEP = "step"
    CATCH_ERROR = "catch_error"
    EVENT = "event"
    START = "start"
    STOP = "stop"
    EXTERNAL = "external"
    RESOURCE = "resource"
    RESOURCE_CONFIG = "resource_config"
    OTHER = "other"


def kind_of(node: WorkflowGraphNode) -> Kind:
    """The kind of ``node``: StartEvent and StopEvent classes are start and stop nodes."""
    if isinstance(node, WorkflowStepNode):
        return Kind.CATCH_ERROR if node.catch_error else Kind.STEP
    if isinstance(node, WorkflowEventNode):
        if node.is_subclass_of("StartEvent"):
            return Kind.START
        if node.is_subclass_of("StopEvent"):
            return Kind.STOP
        return Kind.EVENT
    if node.node_type == "external":
        return Kind.EXTERNAL
    if isinstance(node, WorkflowResourceNode):
        return Kind.RESOURCE
    if isinstance(node, WorkflowResourceConfigNode):
        return Kind.RESOURCE_CONFIG
    return Kind.OTHER


# Advance widths of DejaVu Sans (the widest common sans), in ems; others draw narrower.
_NARROW = set("fijlrtI.,:;'!|()[] ")
_WIDE = set("mwMW@%")


def text_width(text: str, size: float) -> float:
    """An upper estimate of the width of ``text`` drawn at font ``size`` pixels."""
    ems = 0.0
    for char in text:
        if char in _NARROW:
            ems += 0.36
        elif char in _WIDE:
            ems += 0.95
        elif char.isupper() or char.isdigit():
            ems += 0.70
        else:
            ems += 0.62
    return ems * size


@attrs.frozen
class NodeStyle:
    """A node's kind, its two lines of text, and its box size in pixels."""

    kind: Kind
    title: str
    subtitle: str | None
    width: float
    height: float


_SUBTITLES = {
    Kind.EXTERNAL: "human input",
    Kind.RESOURCE: "resource",
    Kind.RESOURCE_CONFIG: "config",
    Kind.CATCH_ERROR: "catch_error",
}
TITLE_SIZE = 13.0
SUBTITLE_SIZE = 10.5
_MAX_LABEL = 40
_DEFAULT_WORKERS = 4  # @step's default: only other values are worth a line


def node_style(node: WorkflowGraphNode) -> NodeStyle:
    """The look of ``node``: steps are tall boxes, events slim pills, the rest in between."""
    kind = kind_of(node)
    title = node.truncated_label(_MAX_LABEL)
    subtitle = _SUBTITLES.get(kind)
    if kind is Kind.EXTERNAL:
        title = "human / outside"
        subtitle = node.label
    elif isinstance(node, WorkflowStepNode) and kind is Kind.STEP:
        parts = []
        if node.num_workers is not None and node.num_workers != _DEFAULT_WORKERS:
            parts.append(f"{node.num_workers} workers")
        if node.retry_policy:
            parts.append("retries")
        if node.timeout is not None:
            parts.append(f"{node.timeout:g}s timeout")
        subtitle = " · ".join(parts) or None
    width = max(text_width(title, TITLE_SIZE), text_width(subtitle or "", SUBTITLE_SIZE))
    padding = {Kind.EXTERNAL: 48.0, Kind.EVENT: 30.0, Kind.START: 52.0, Kind.STOP: 52.0}
    width += padding.get(kind, 28.0)
    height = 34.0 if kind is Kind.EVENT else (48.0 if subtitle else 38.0)
    if kind is Kind.RESOURCE:
        height += 10.0  # the cylinder's rims
    return NodeStyle(kind, title, subtitle, max(width, 90.0), height)

"""Draw a workflow: Mermaid text, a standalone SVG, an offline HTML page, or JSON.

The graph comes from :func:`flowkit.representation.get_workflow_representation`; a run's
path comes from its :class:`~flowkit.statistics.RunStatistics`. Mermaid and JSON need
nothing more; SVG and HTML are laid out by grandalf (``pip install 'flowkit[draw]'``).

Examples:
    >>> text = draw(MyWorkflow, "mermaid")
    >>> page = draw_run(workflow, handler, "html")   # after ``await handler``
"""

from __future__ import annotations

import json
from typing import Any, Literal, TypeAlias

import cattrs

from ..representation import WorkflowGraph, get_workflow_representation
from ..statistics import RunStatistics
from ..workflow import Workflow
from .html import to_html
from .layout import MissingExtraError
from .mermaid import to_mermaid
from .path import NodeState, RunPath, run_path
from .runs import RunSource, run_statistics
from .svg import to_svg

__all__ = [
    "FORMATS",
    "Format",
    "MissingExtraError",
    "NodeState",
    "RunPath",
    "RunSource",
    "draw",
    "draw_run",
    "render",
    "run_path",
    "run_statistics",
    "to_html",
    "to_mermaid",
    "to_svg",
]

Format: TypeAlias = Literal["mermaid", "html", "svg", "json"]
FORMATS: tuple[Format, ...] = ("mermaid", "html", "svg", "json")
_STATS_CONVERTER = cattrs.Converter()


def _to_json(graph: WorkflowGraph, path: RunPath | None, stats: RunStatistics | None) -> str:
    data: dict[str, Any] = graph.model_dump()
    if path is not None and stats is not None:
        data["run"] = {
            "statistics": _STATS_CONVERTER.unstructure(stats),
            "states": {k: v.value for k, v in path.states.items()},
            "taken": sorted([s, t] for s, t in path.taken),
        }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render(graph: WorkflowGraph, format: Format, statistics: RunStatistics | None = None) -> str:
    """Draw ``graph`` in ``format``, with the path of the run ``statistics`` describes.

    Args:
        graph: The workflow's graph.
        format: ``"mermaid"``, ``"html"``, ``"svg"`` or ``"json"``.
        statistics: A run's counters, or None to draw the structure alone.

    Returns:
        The drawing as text. JSON is the graph's ``model_dump()``, plus a ``"run"`` key
        with the statistics, node states and taken edges when a run is drawn.

    Raises:
        ValueError: ``format`` is not one of :data:`FORMATS`.
        MissingExtraError: SVG or HTML was asked for without the ``draw`` extra.
    """
    path = None if statistics is None else run_path(graph, statistics)
    if format == "mermaid":
        return to_mermaid(graph, path)
    if format == "json":
        return _to_json(graph, path, statistics)
    if format == "svg":
        return to_svg(graph, path)
    if format == "html":
        return to_html(graph, path)
    raise ValueError(f"Unknown drawing format {format!r}; choose one of {', '.join(FORMATS)}.")


def draw(workflow: Workflow | type[Workflow], format: Format = "html") -> str:
    """Draw every flow a workflow can take.

    Args:
        workflow: A workflow instance or class.
        format: ``"mermaid"``, ``"html"``, ``"svg"`` or ``"json"``.

    Raises:
        ValueError: Unknown ``format``.
        MissingExtraError: SVG or HTML without the ``draw`` extra.
    """
    return render(get_workflow_representation(workflow), format)


def draw_run(workflow: Workflow | type[Workflow], run: RunSource, format: Format = "html") -> str:
    """Draw the path a run took: step runs, event counts, the failed step, who waits.

    Args:
        workflow: The workflow the run belongs to.
        run: Its handler, its context, a snapshot dict from ``ctx.to_dict()``, or a
            RunStatistics.
        format: ``"mermaid"``, ``"html"``, ``"svg"`` or ``"json"``.

    Raises:
        TypeError: ``run`` is not one of the accepted kinds.
        ValueError: Unknown ``format``.
        MissingExtraError: SVG or HTML without the ``draw`` extra.
    """
    stats = run_statistics(workflow, run)
    return render(get_workflow_representation(workflow), format, stats)

"""Read a run's counters from what the caller has: a handler, a context, or a snapshot.

The one place that asks a run for its statistics (``Context.statistics()``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias, Union

from ..context import Context
from ..handler import WorkflowHandler
from ..statistics import RunStatistics
from ..workflow import Workflow

__all__ = ["RunSource", "run_statistics"]

# What a run can be drawn from (a Union, so that it is a real object at run time).
RunSource: TypeAlias = Union[  # noqa: UP007
    WorkflowHandler, Context[Any], Mapping[str, Any], RunStatistics
]


def _instance(workflow: Workflow | type[Workflow]) -> Workflow:
    if not isinstance(workflow, type):
        return workflow
    try:
        return workflow()
    except Exception as exc:
        raise TypeError(
            f"Cannot create {workflow.__name__}() to read a snapshot of it: {exc}. "
            "Pass a workflow instance instead of the class."
        ) from None


def run_statistics(workflow: Workflow | type[Workflow], run: RunSource) -> RunStatistics:
    """The counters of a run, from its handler, its context or its snapshot.

    Args:
        workflow: The workflow the run belongs to (an instance, or a class whose
            ``__init__`` takes no arguments); used to restore a snapshot.
        run: A :class:`~flowkit.handler.WorkflowHandler` (live or finished), a
            :class:`~flowkit.context.Context`, a snapshot dict made by ``ctx.to_dict()``,
            or a :class:`~flowkit.statistics.RunStatistics`.

    Returns:
        The run's statistics as of now.

    Raises:
        TypeError: ``run`` is none of the above.
        ContextSerdeError: The snapshot is not one of this workflow.
    """
    if isinstance(run, RunStatistics):
        return run
    if isinstance(run, WorkflowHandler):
        ctx: Context[Any] = run.ctx
    elif isinstance(run, Context):
        ctx = run
    elif isinstance(run, Mapping):
        ctx = Context.from_dict(_instance(workflow), dict(run))
    else:
        raise TypeError(
            f"Cannot draw a run from a {type(run).__name__}. Pass the run's handler, its "
            "context, a snapshot dict from ctx.to_dict(), or a RunStatistics."
        )
    statistics = getattr(ctx, "statistics", None)
    if statistics is None:
        raise TypeError(
            "This version of flowkit's Context has no statistics(); drawing a run's path "
            "needs it. Upgrade flowkit."
        )
    result: RunStatistics = statistics()
    return result

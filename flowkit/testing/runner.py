"""WorkflowTestRunner: run a workflow to its end and collect what it streamed."""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs

from ..context import Context
from ..events import Event, EventType, StartEvent
from ..workflow import Workflow

__all__ = ["WorkflowTestResult", "WorkflowTestRunner"]


@attrs.frozen
class WorkflowTestResult:
    """What a test run produced.

    Attributes:
        collected: Every event streamed, in order (the terminal event included).
        event_types: How many events of each type were streamed.
        result: What ``await handler`` returned.
        ctx: The run's context.
    """

    collected: list[Event]
    event_types: dict[EventType, int]
    result: Any
    ctx: Context[Any]


class WorkflowTestRunner:
    """Runs a workflow end to end and collects the events it streams.

    Args:
        workflow: The workflow to run.
    """

    def __init__(self, workflow: Workflow) -> None:
        self._workflow = workflow

    async def run(
        self,
        start_event: StartEvent | None = None,
        ctx: Context[Any] | None = None,
        expose_internal: bool = True,
        exclude_events: list[EventType] | None = None,
    ) -> WorkflowTestResult:
        """Run the workflow to its end and return what it streamed and returned.

        Args:
            start_event: The event to start with; ``StartEvent()`` if None.
            ctx: A context to resume or reuse.
            expose_internal: Also collect internal events (step state changes).
            exclude_events: Event types to leave out of ``collected`` (exact types:
                their subclasses are kept).

        Raises:
            Exception: What awaiting the run raises (a step's exception, a timeout).
        """
        start = start_event if start_event is not None else StartEvent()
        handler = self._workflow.run(ctx=ctx, start_event=start)
        excluded = set(exclude_events or ())  # exact types, as in llama-index-workflows
        collected = [
            ev
            async for ev in handler.stream_events(expose_internal=expose_internal)
            if type(ev) not in excluded
        ]
        result = await handler
        counts = Counter(type(ev) for ev in collected)
        return WorkflowTestResult(collected, dict(counts), result, handler.ctx)

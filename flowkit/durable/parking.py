"""When a run may be parked, and what it asks for: the one place that reads this from a run.

A run is parked when it waits only on outside input: no step is running, no event is queued,
and it still accepts events from outside (a step takes a ``HumanResponseEvent``, or a step waits
in ``ctx.wait_for_event``). The engine says so by streaming ``WorkflowIdleEvent`` to a reader of
``stream_events(expose_internal=True)``.
"""

from __future__ import annotations

from ..events import Event, InputRequiredEvent, WorkflowIdleEvent

__all__ = ["prompt_of", "waits_only_on_outside_input"]


def waits_only_on_outside_input(event: Event) -> bool:
    """Whether ``event``, read from ``stream_events(expose_internal=True)``, means the run has
    nothing to do until an event arrives from outside (so it can be parked).

    This is the only place that decides it; once ``Context.statistics()`` exists it can be
    checked against ``ctx.statistics().waiting`` as well.
    """
    return isinstance(event, WorkflowIdleEvent)


def prompt_of(event: Event) -> str | None:
    """The prompt ``event`` puts to a person: an ``InputRequiredEvent``'s ``prefix`` (or repr)."""
    if not isinstance(event, InputRequiredEvent):
        return None
    prefix = event.get("prefix")
    return prefix if isinstance(prefix, str) else repr(event)

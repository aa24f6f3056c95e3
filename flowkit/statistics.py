"""What a run did so far: how often each step ran, which events flowed, where it stopped.

The engine keeps these as counters while a run goes (no event is copied), carries them in
snapshots, and hands them out as a frozen :class:`RunStatistics`; drawings of a run's path
(``flowkit.drawing``) and the durable run store read them.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

__all__ = ["RunStatistics", "WaitingStep"]


@attrs.frozen
class WaitingStep:
    """A step paused in ``ctx.wait_for_event``, waiting for an event from outside the run.

    Attributes:
        step: The name of the waiting step.
        waiting_for: The class name of the event it waits for.
        prompt: The class name of the event it streamed to ask for it, or ``None``.
    """

    step: str
    waiting_for: str
    prompt: str | None = None


@attrs.frozen
class RunStatistics:
    """Counters of one run, as of the moment they were read.

    Attributes:
        step_runs: How many times each step was called (retries count once each), by step name.
        events: How many events of each class entered the run (routed to a step, sent in by the
            caller, or ending the run), by class name.
        failed_step: The step whose error ended the run, or ``None``.
        waiting: The steps waiting for outside input, in the order they started waiting.
        finished: Whether the run has ended (completed, failed or cancelled).
    """

    step_runs: Mapping[str, int] = attrs.field(factory=dict)
    events: Mapping[str, int] = attrs.field(factory=dict)
    failed_step: str | None = None
    waiting: tuple[WaitingStep, ...] = ()
    finished: bool = False

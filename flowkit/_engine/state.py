"""RunState: everything a run is, and so everything a snapshot holds.

Each event routed to a step becomes a ``Delivery`` with a run-unique id. At every
await point a delivery is in exactly one place: queued for its step (keyed by id, in
routing order), in progress in a worker, buffered by ``collect_events``, or gone
(consumed). The run's ``Ledger`` (``ledger.py``) is the only code that moves a
delivery, always in synchronous code, so a snapshot taken between two awaits is
always consistent.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import attrs

from ..events import Event


@attrs.define(eq=False)
class Delivery:
    """One event on its way to (or inside) one step.

    ``claimed_by`` is set on a delivery buffered by ``collect_events`` once the
    delivery with that id completed a batch with it; the claim is released when that
    step execution ends, so a re-run (a retry, or a restore) gets the same batch.
    """

    id: int
    step: str
    event: Event
    attempts: int = 0
    claimed_by: int | None = None


@attrs.define(eq=False)
class Waiter:
    """A ``ctx.wait_for_event`` call that has not returned yet.

    ``key`` identifies the call across a restore: the step re-runs from its top and
    asks again with the same key, and gets ``resolved`` if the answer came meanwhile.
    """

    key: str
    step: str
    delivery_id: int
    event_type: type[Event]
    requirements: dict[str, Any]
    waiter_event: Event | None = None
    resolved: Event | None = None

    def matches(self, event: Event) -> bool:
        """Whether ``event`` answers this waiter."""
        if type(event) is not self.event_type:
            return False
        return all(event.get(name, _MISSING) == value for name, value in self.requirements.items())


_MISSING = object()


@attrs.define(eq=False)
class RunCounters:
    """Cheap counters of a run, kept in its snapshots (``Context.statistics()`` reads them).

    ``step_runs`` counts step calls (each retry once) by step name, ``events`` the events
    that entered the run by class name, and ``failed_step`` names the step whose error
    ended the run.
    """

    step_runs: dict[str, int] = attrs.Factory(dict)
    events: dict[str, int] = attrs.Factory(dict)
    failed_step: str | None = None


@attrs.define(eq=False)
class RunState:
    """The whole state of one run: the store, the deliveries, the waiters and the stream."""

    run_id: str
    store: Any
    queued: dict[str, dict[int, Delivery]] = attrs.Factory(dict)
    in_progress: dict[int, Delivery] = attrs.Factory(dict)
    collected: dict[str, dict[int, Delivery]] = attrs.Factory(dict)
    waiters: dict[str, Waiter] = attrs.Factory(dict)
    stream: deque[Event] = attrs.Factory(deque)
    next_id: int = 1
    elapsed: float = 0.0
    started: bool = False
    finished: bool = False
    counters: RunCounters = attrs.Factory(RunCounters)
    # Event classes that entered the run through the context (sent by the caller, waited
    # for, prompts, streamed): a snapshot lists those its registry lacks.
    used_events: set[type] = attrs.Factory(set)
    # time.monotonic() when the current execution began; not part of a snapshot.
    running_since: float | None = None

    def elapsed_now(self, now: float) -> float:
        """Seconds of the timeout used so far, counting the current execution."""
        if self.running_since is None:
            return self.elapsed
        return self.elapsed + now - self.running_since

    def queue_of(self, step: str) -> dict[int, Delivery]:
        """The queue of ``step`` (deliveries by id, oldest first), created on first use."""
        queue = self.queued.get(step)
        if queue is None:
            queue = self.queued[step] = {}
        return queue

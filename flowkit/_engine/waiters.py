"""Steps that pause inside a run: ``wait_for_event`` waiters and ``collect_events`` buffers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from ..errors import ContextStateError
from ..events import Event
from .state import Delivery, Waiter
from .worker import Execution, current_execution

if TYPE_CHECKING:
    from .run import Run

EventT = TypeVar("EventT", bound=Event)


def _execution(method: str) -> Execution:
    execution = current_execution.get()
    if execution is None:
        raise ContextStateError(
            f"ctx.{method}() can only be called from inside a step: it pauses the step that "
            "calls it. From outside the run, use handler.ctx.send_event() instead."
        )
    return execution


class Waiters:
    """The live side of a run's waiters and collect buffers (their data is in RunState)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self._wakers: dict[str, anyio.Event] = {}
        self._rewritten: set[str] = set()

    def any_open(self) -> bool:
        """Whether a waiter is still waiting for its event."""
        return any(w.resolved is None for w in self.run.state.waiters.values())

    def resolve(self, event: Event) -> bool:
        """Give ``event`` to the first open waiter it matches; False if none matches."""
        for waiter in self.run.state.waiters.values():
            if waiter.resolved is None and waiter.matches(event):
                waiter.resolved = event
                wake = self._wakers.pop(waiter.key, None)
                if wake is not None:
                    self.run.pending += 1  # the waiting step is running again
                    wake.set()
                return True
        return False

    async def wait_for_event(
        self,
        event_type: type[EventT],
        waiter_event: Event | None,
        waiter_id: str | None,
        requirements: dict[str, Any] | None,
        timeout: float | None,
    ) -> EventT:
        """Pause the calling step until an event of ``event_type`` matching ``requirements``."""
        execution = _execution("wait_for_event")
        delivery = execution.delivery
        execution.waits += 1
        key = f"{delivery.id}:{waiter_id if waiter_id is not None else execution.waits}"
        state = self.run.state
        waiter = state.waiters.get(key)
        if waiter is None:
            waiter = Waiter(
                key, delivery.step, delivery.id, event_type, dict(requirements or {}), waiter_event
            )
            state.waiters[key] = waiter
            if waiter_event is not None:
                self.run.stream.write(waiter_event)
        elif waiter.resolved is None and key not in self._rewritten:
            # Restored from a snapshot: the caller of this run has not seen the request yet.
            self._rewritten.add(key)
            if waiter.waiter_event is not None:
                self.run.stream.write(waiter.waiter_event)
        if waiter.resolved is None:
            wake = self._wakers[key] = self.run.new_event()
            self.run.pending -= 1
            if self.run.pending == 0:
                self.run.on_idle()
            try:
                with anyio.fail_after(math_inf_if_none(timeout)):
                    await wake.wait()
            except TimeoutError:
                del state.waiters[key]
                self._wakers.pop(key, None)
                self.run.pending += 1
                raise TimeoutError(
                    f"wait_for_event({event_type.__name__}) timed out after {timeout} seconds. "
                    "Pass a larger timeout=, or timeout=None to wait without limit."
                ) from None
        del state.waiters[key]
        resolved = waiter.resolved
        assert isinstance(resolved, event_type)
        return resolved

    def collect_events(
        self, event: Event, expected: Sequence[type[Event]], buffer_id: str | None
    ) -> list[Event] | None:
        """Buffer ``event``; return the batch once one event of each ``expected`` type is in."""
        execution = _execution("collect_events")
        delivery = execution.delivery
        key = buffer_id if buffer_id is not None else delivery.step
        buffer = self.run.state.collected.get(key)
        if buffer is None:
            buffer = self.run.state.collected[key] = {}
        own = buffer.get(delivery.id)
        if own is None:
            own = buffer[delivery.id] = Delivery(delivery.id, delivery.step, event)
        if delivery.claimed_by == delivery.id:
            # A retry, or a restored re-run, of the execution that completed a batch.
            claimed = [d for d in buffer.values() if d.claimed_by == delivery.id]
            return _in_order([*claimed, own] if own not in claimed else claimed, expected)
        if len(buffer) < len(expected):  # cannot be complete: no need to look
            return None
        batch = _match(buffer, expected)
        if batch is None:
            return None
        for item in batch:
            item.claimed_by = delivery.id
        delivery.claimed_by = delivery.id
        return [item.event for item in batch]

    def release_claims(self, delivery: Delivery) -> None:
        """Drop the batch the finished execution of ``delivery`` collected, and its own entry."""
        if delivery.claimed_by is None:
            return
        collected = self.run.state.collected
        for key, buffer in list(collected.items()):
            for item in [d for d in buffer.values() if d.claimed_by == delivery.id]:
                del buffer[item.id]
            buffer.pop(delivery.id, None)
            if not buffer:
                del collected[key]


def math_inf_if_none(timeout: float | None) -> float:
    """``timeout``, or infinity for None (``fail_after`` takes a float)."""
    return float("inf") if timeout is None else timeout


def _match(buffer: dict[int, Delivery], expected: Sequence[type[Event]]) -> list[Delivery] | None:
    """One unclaimed delivery per entry of ``expected``, oldest first; None if one is missing.

    Oldest means first routed (lowest delivery id), whatever order concurrent workers
    of the collecting step happened to run in.
    """
    by_type: dict[type[Event], list[Delivery]] = {}
    for _id, item in sorted(buffer.items()):
        if item.claimed_by is None:
            by_type.setdefault(type(item.event), []).append(item)
    taken: dict[type[Event], int] = {}
    batch: list[Delivery] = []
    for wanted in expected:
        candidates = by_type.get(wanted, ())
        index = taken.get(wanted, 0)
        if index >= len(candidates):
            return None
        taken[wanted] = index + 1
        batch.append(candidates[index])
    return batch


def _in_order(items: list[Delivery], expected: Sequence[type[Event]]) -> list[Event] | None:
    fresh = {d.id: Delivery(d.id, d.step, d.event) for d in items}
    batch = _match(fresh, expected)
    return None if batch is None else [d.event for d in batch]

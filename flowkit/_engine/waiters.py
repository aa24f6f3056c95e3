"""Steps that pause inside a run: ``wait_for_event`` waiters and ``collect_events`` buffers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import anyio

from ..errors import ContextStateError
from ..events import Event
from .backend import Wakeup
from .ledger import Ledger
from .state import Waiter
from .stream import EventStream
from .worker import Execution, current_execution

EventT = TypeVar("EventT", bound=Event)


def _execution(method: str) -> Execution:
    execution = current_execution.get()
    if execution is None:
        raise ContextStateError(
            f"{method} is only available from within step functions. "
            f"ctx.{method}() belongs to the step that calls it; from outside the run, "
            "use handler.ctx.send_event() instead."
        )
    return execution


def _ended() -> None:
    """What a released Waiters calls when a run becomes idle: it has ended already."""


class Waiters:
    """The calls that pause a step, over the run's ledger (which holds their data)."""

    def __init__(
        self,
        ledger: Ledger,
        stream: EventStream,
        new_event: Callable[[], Wakeup],
        on_idle: Callable[[], None],
    ) -> None:
        self._ledger = ledger
        self._stream = stream
        self._new_event = new_event
        self._on_idle = on_idle

    def release(self) -> None:
        """The run has ended: let go of it (nothing of it can pause any more)."""
        self._on_idle = _ended

    async def wait_for_event(
        self,
        event_type: type[EventT],
        waiter_event: Event | None,
        waiter_id: str | None,
        requirements: dict[str, Any] | None,
        timeout: float | None,
    ) -> EventT:
        """Pause the calling step until an event of ``event_type`` matching ``requirements``.

        However the wait ends (answered, timed out, cancelled by a scope of the step,
        the run ending), the waiter is unregistered exactly once.
        """
        execution = _execution("wait_for_event")
        delivery = execution.delivery
        execution.waits += 1
        key = f"{delivery.id}:{waiter_id if waiter_id is not None else execution.waits}"
        ledger = self._ledger
        waiter = ledger.waiter(key)
        if waiter is None:
            waiter = Waiter(
                key, delivery.step, delivery.id, event_type, dict(requirements or {}), waiter_event
            )
            ledger.add_waiter(waiter)
            if waiter_event is not None:
                self._stream.write(waiter_event)
        elif waiter.resolved is None and ledger.ask_again(waiter):
            # Restored from a snapshot, and the caller has not been given the prompt.
            assert waiter.waiter_event is not None
            self._stream.write(waiter.waiter_event)
        try:
            if waiter.resolved is None:
                wake = self._new_event()
                if ledger.pause(key, wake):
                    self._on_idle()
                try:
                    with anyio.fail_after(timeout):  # None: no limit
                        await wake.wait()
                except TimeoutError:
                    raise TimeoutError(
                        f"wait_for_event({event_type.__name__}) timed out after {timeout} "
                        "seconds. Pass a larger timeout=, or timeout=None to wait without limit."
                    ) from None
        finally:
            ledger.leave(key)
        resolved = waiter.resolved
        assert isinstance(resolved, event_type)
        return resolved

    def collect_events(
        self, event: Event, expected: Sequence[type[Event]], buffer_id: str | None
    ) -> list[Event] | None:
        """Buffer ``event``; return the batch once one event of each ``expected`` type is in."""
        delivery = _execution("collect_events").delivery
        key = buffer_id if buffer_id is not None else delivery.step
        return self._ledger.collect(key, delivery, event, expected)

"""EventStream: the events a run writes for its caller, read once through ``stream_events()``.

The unread events are the RunState's ``stream`` deque itself, so a snapshot sees
exactly what the caller has not read. Writes are synchronous (``ctx.write_event_to_stream``
is), so the buffer cannot refuse an event. The bound is applied at step boundaries
instead: while a reader is iterating and nobody awaits the run's result, a worker that
is about to start a step with more than ``high_water`` unread events waits for the
reader. Without a reader, events are kept so that a late reader sees them all.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel

from ..events import Event
from .backend import Wakeup

DEFAULT_HIGH_WATER = 10_000


class EventStream:
    """A run's outgoing events; ``buffer`` (the RunState's) holds those not yet read."""

    def __init__(
        self,
        buffer: deque[Event],
        high_water: int = DEFAULT_HIGH_WATER,
        new_event: Callable[[], Wakeup] = anyio.Event,
        checkpoint: Callable[[], Awaitable[None]] = anyio.lowlevel.checkpoint,
    ) -> None:
        self.buffer = buffer
        self.high_water = high_water
        self.reading = False
        self.result_awaited = False
        self.closed = False
        self._new_event = new_event
        self._checkpoint = checkpoint
        self._readable: Wakeup | None = None
        self._drained: Wakeup | None = None

    def write(self, event: Event) -> None:
        """Append ``event`` for the reader; never blocks. Ignored once the stream is closed."""
        if self.closed:
            return
        self.buffer.append(event)
        if self._readable is not None:
            self._readable.set()
            self._readable = None

    def close(self) -> None:
        """End the stream after the events already written (the terminal event last)."""
        self.closed = True
        if self._readable is not None:
            self._readable.set()
            self._readable = None
        self.release_writers()

    async def receive(self) -> Event:
        """The next unread event.

        Raises:
            anyio.EndOfStream: The stream is closed and every event has been read.
        """
        buffer = self.buffer
        # Yield first, as anyio's streams do: a reader of a backlog lets others in, and a
        # reader that just answered lets the step write its next event before it waits.
        await self._checkpoint()
        while not buffer:
            if self.closed:
                raise anyio.EndOfStream
            if self._readable is None:
                self._readable = self._new_event()
            await self._readable.wait()
        event = buffer.popleft()
        if self._drained is not None and len(buffer) <= self.high_water // 2:
            self.release_writers()
        return event

    def must_wait(self) -> bool:
        """Whether a worker should wait for the reader before its next step."""
        return len(self.buffer) > self.high_water and self.reading and not self.result_awaited

    async def wait_for_reader(self) -> None:
        """Wait until the reader has caught up, stops reading, or the stream closes."""
        while self.must_wait() and not self.closed:
            if self._drained is None:
                self._drained = self._new_event()
            await self._drained.wait()

    def release_writers(self) -> None:
        """Wake the workers waiting for the reader (it caught up, left, or the run ended)."""
        if self._drained is not None:
            self._drained.set()
            self._drained = None

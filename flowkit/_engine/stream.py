"""EventStream: the events a run writes for its caller, read once through ``stream_events()``.

Writes are synchronous (``ctx.write_event_to_stream`` is), so the buffer cannot
refuse an event. The bound is applied at step boundaries instead: while a reader is
iterating and nobody awaits the run's result, a worker that finishes a step with
more than ``high_water`` unread events waits for the reader before taking its next
event. Without a reader, events are kept so that a late reader sees them all.
"""

from __future__ import annotations

import math
from collections import deque

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ..events import Event

DEFAULT_HIGH_WATER = 10_000


class EventStream:
    """A run's outgoing events; ``buffer`` (the RunState's) holds those not yet read."""

    def __init__(self, buffer: deque[Event], high_water: int = DEFAULT_HIGH_WATER) -> None:
        self.buffer = buffer
        self.high_water = high_water
        self.reading = False
        self.result_awaited = False
        self.closed = False
        self._drained: anyio.Event | None = None
        self._send: MemoryObjectSendStream[Event]
        self._receive: MemoryObjectReceiveStream[Event]
        self._send, self._receive = anyio.create_memory_object_stream[Event](math.inf)
        for event in buffer:  # unread events restored from a snapshot
            self._send.send_nowait(event)

    def write(self, event: Event) -> None:
        """Append ``event`` for the reader; never blocks. Ignored once the stream is closed."""
        if self.closed:
            return
        self.buffer.append(event)
        self._send.send_nowait(event)

    def close(self) -> None:
        """End the stream after the events already written (the terminal event last)."""
        self.closed = True
        self._send.close()
        self.release_writers()

    async def receive(self) -> Event:
        """The next unread event.

        Raises:
            anyio.EndOfStream: The stream is closed and every event has been read.
        """
        try:
            event = await self._receive.receive()
        except anyio.EndOfStream:
            self._receive.close()
            raise
        buffer = self.buffer
        if buffer and buffer[0] is event:
            buffer.popleft()
        else:
            buffer.remove(event)
        if self._drained is not None and len(buffer) <= self.high_water // 2:
            self.release_writers()
        return event

    def __del__(self) -> None:
        # The reader may never come: close both ends so that nothing warns at collection.
        self._send.close()
        self._receive.close()

    def must_wait(self) -> bool:
        """Whether a worker should wait for the reader before its next step."""
        return len(self.buffer) > self.high_water and self.reading and not self.result_awaited

    async def wait_for_reader(self) -> None:
        """Wait until the reader has caught up, stops reading, or the stream closes."""
        while self.must_wait() and not self.closed:
            if self._drained is None:
                self._drained = anyio.Event()
            await self._drained.wait()

    def release_writers(self) -> None:
        """Wake the workers waiting for the reader (it caught up, left, or the run ended)."""
        if self._drained is not None:
            self._drained.set()
            self._drained = None

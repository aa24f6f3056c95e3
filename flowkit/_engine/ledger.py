"""Ledger: the single owner of one run's state; every change of a RunState goes through it.

The ledger keeps each delivery once, in the RunState (queued for its step by id, in
progress, buffered by ``collect_events``), and counts the work that is not finished:
``pending`` is the number of deliveries queued or running and not paused in a
``wait_for_event``. When it drops to zero the run is idle, and the run decides whether
it can go on. Each step's memory object stream carries hand-offs only (the ids of its
queued deliveries, in order), so a worker that receives an id takes its delivery with
no scan. The streams exist while the run executes: ``open()`` makes them, ``close()``
closes them when the run ends, and ``rest()`` closes those of steps that ran once when
it waits idle (a step's stream is made again with its next delivery).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import anyio
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ..events import Event
from .backend import Wakeup
from .collect import CollectBuffer
from .state import Delivery, RunState, Waiter


@attrs.define(eq=False)
class Handoffs:
    """The memory object stream that hands one step's delivery ids to its workers."""

    send: MemoryObjectSendStream[int]
    receive: MemoryObjectReceiveStream[int]

    def close(self) -> None:
        """Close both ends."""
        self.send.close()
        self.receive.close()


class Ledger:
    """What one run holds and owes: its deliveries, waiters, and the count of open work."""

    def __init__(self, state: RunState) -> None:
        self.state = state
        self.pending = 0
        self.ended = False
        self._handoffs: dict[str, Handoffs] = {}
        self._open = False
        # Made on first use: a run that parks holds as few objects as it can.
        # Waiters paused in this run, by key, with the event that wakes them.
        self._wakers: dict[str, Wakeup] | None = None
        # Waiters that asked in this run (a restored prompt streams once).
        self._asked: set[str] | None = None
        self._buffers: dict[str, CollectBuffer] | None = None
        self._requeue_in_progress()

    # -- deliveries ------------------------------------------------------------------

    def add(self, step: str, event: Event) -> Delivery:
        """Queue ``event`` for ``step`` as a new delivery."""
        state = self.state
        delivery = Delivery(state.next_id, step, event)
        state.next_id += 1
        queue = state.queued.get(step)
        if queue is None:
            queue = state.queued[step] = {}
        queue[delivery.id] = delivery
        self.pending += 1
        if self._open:
            handoffs = self._handoffs.get(step)
            if handoffs is None:
                self._feed(step, delivery.id)
            else:
                handoffs.send.send_nowait(delivery.id)
        return delivery

    def queued(self, step: str) -> int:
        """How many deliveries of ``step`` wait for a worker."""
        queue = self.state.queued.get(step)
        return len(queue) if queue else 0

    def take(self, step: str) -> Delivery | None:
        """The next queued delivery of ``step``, now in progress; None if none is queued."""
        queue = self.state.queued.get(step)
        if not queue:
            return None
        # The stream holds exactly the ids in the queue, in the same order: never blocks.
        delivery = queue.pop(self._handoffs[step].receive.receive_nowait())
        state = self.state
        state.in_progress[delivery.id] = delivery
        counts = state.counters.step_runs
        counts[step] = counts.get(step, 0) + 1
        return delivery

    def count_retry(self, step: str) -> None:
        """Count one more call of ``step`` (a retry: ``take`` counted its first call)."""
        self.state.counters.step_runs[step] += 1

    def complete(self, delivery: Delivery) -> bool:
        """``delivery``'s step execution ended; True if the run is idle now."""
        if delivery.claimed_by is not None:
            self._release_claims(delivery)
        if self.state.waiters:
            self._drop_waiters_of(delivery.id)
        del self.state.in_progress[delivery.id]
        self.pending -= 1
        return self.pending == 0

    def active_steps(self) -> list[str]:
        """The names of the steps with a delivery in progress, sorted."""
        return sorted({d.step for d in self.state.in_progress.values()})

    def steps_with_work(self) -> Iterator[tuple[str, int]]:
        """Each step that has queued deliveries, with how many."""
        for step, queue in self.state.queued.items():
            if queue:
                yield step, len(queue)

    def count_event(self, event: Event) -> None:
        """Count ``event`` as entering the run."""
        counts = self.state.counters.events
        name = type(event).__name__
        counts[name] = counts.get(name, 0) + 1

    def _requeue_in_progress(self) -> None:
        """Queue again, first, what a restored snapshot had in progress (at-least-once)."""
        state = self.state
        if state.in_progress:
            requeued: dict[str, dict[int, Delivery]] = {}
            for delivery in sorted(state.in_progress.values(), key=lambda d: d.id):
                requeued.setdefault(delivery.step, {})[delivery.id] = delivery
            for step, queue in state.queued.items():
                requeued.setdefault(step, {}).update(queue)
            state.queued = requeued
            state.in_progress.clear()
        self.pending = sum(len(queue) for queue in state.queued.values())

    # -- the hand-off streams ---------------------------------------------------------

    def open(self) -> None:
        """Make the steps' hand-off streams, holding what is queued; the run starts."""
        self._open = True
        for step, queue in self.state.queued.items():
            for ident in queue:
                self._feed(step, ident)

    def close(self) -> None:
        """Close every hand-off stream; the run has ended."""
        self._open = False
        for handoffs in self._handoffs.values():
            handoffs.close()
        self._handoffs.clear()

    def rest(self) -> None:
        """If the run is idle, close the hand-off streams of the steps that ran once.

        A run parked on a human after its start step then holds none. A step that ran
        more than once (one that takes the human's answers) keeps its stream: it is
        likely to run again soon, and making a stream costs more than keeping one.
        """
        if self.pending == 0 and self._handoffs:
            runs = self.state.counters.step_runs
            for step in [step for step in self._handoffs if runs.get(step, 0) <= 1]:
                self._handoffs.pop(step).close()

    def _feed(self, step: str, ident: int) -> None:
        handoffs = self._handoffs.get(step)
        if handoffs is None:
            send, receive = anyio.create_memory_object_stream[int](math.inf)
            handoffs = self._handoffs[step] = Handoffs(send, receive)
        handoffs.send.send_nowait(ident)

    # -- waiters ------------------------------------------------------------------------

    def waiter(self, key: str) -> Waiter | None:
        """The waiter of ``key``, if one is registered."""
        return self.state.waiters.get(key)

    def add_waiter(self, waiter: Waiter) -> None:
        """Register a new waiter; its prompt is being streamed now."""
        self.state.waiters[waiter.key] = waiter
        self._mark_asked(waiter.key)

    def ask_again(self, waiter: Waiter) -> bool:
        """A restored waiter asks again: True if its prompt must be streamed (once per run).

        A prompt still unread in the restored stream is not streamed again.
        """
        if (self._asked and waiter.key in self._asked) or waiter.waiter_event is None:
            return False
        self._mark_asked(waiter.key)
        prompt = waiter.waiter_event
        return not any(event is prompt for event in self.state.stream)

    def any_open_waiter(self) -> bool:
        """Whether a waiter is still waiting for its event."""
        return any(w.resolved is None for w in self.state.waiters.values())

    def resolve(self, event: Event) -> bool:
        """Give ``event`` to the first open waiter it matches; False if none matches."""
        for waiter in self.state.waiters.values():
            if waiter.resolved is None and waiter.matches(event):
                waiter.resolved = event
                wake = self._wakers.pop(waiter.key, None) if self._wakers else None
                if wake is not None:
                    self.pending += 1  # the waiting step is running again
                    wake.set()
                return True
        return False

    def pause(self, key: str, wake: Wakeup) -> bool:
        """The step of waiter ``key`` waits on ``wake``; True if the run is idle now."""
        if self._wakers is None:
            self._wakers = {}
        self._wakers[key] = wake
        self.pending -= 1
        return self.pending == 0

    def end(self) -> None:
        """The run has its outcome: waits left from now on stay in the state."""
        self.ended = True

    def leave(self, key: str) -> None:
        """The wait of ``key`` is over, however it ended: unregister it exactly once.

        A waiter that was not answered counts as running again. Once the run has
        ended, the waiter stays in the state, so that a snapshot resumes the wait.
        """
        if self._wakers and self._wakers.pop(key, None) is not None:
            self.pending += 1
        if not self.ended:
            self.state.waiters.pop(key, None)

    def _mark_asked(self, key: str) -> None:
        if self._asked is None:
            self._asked = set()
        self._asked.add(key)

    def _drop_waiters_of(self, delivery_id: int) -> None:
        """Forget the waiters a finished step execution left (a re-run took another path)."""
        stale = [k for k, w in self.state.waiters.items() if w.delivery_id == delivery_id]
        for key in stale:
            self.leave(key)

    # -- collect buffers -------------------------------------------------------------

    def collect(
        self, key: str, delivery: Delivery, event: Event, expected: Sequence[type[Event]]
    ) -> list[Event] | None:
        """Buffer ``event`` of ``delivery`` under ``key``; the batch once ``expected`` is in."""
        buffer = self._collect_buffer(key)
        if delivery.id not in buffer.items:
            buffer.add(Delivery(delivery.id, delivery.step, event))
        if delivery.claimed_by == delivery.id:
            # A retry, or a restored re-run, of the execution that completed a batch.
            return buffer.claimed(delivery.id, expected)
        batch = buffer.match(expected, delivery.id)
        if batch is None:
            return None
        delivery.claimed_by = delivery.id
        return [item.event for item in batch]

    def _collect_buffer(self, key: str) -> CollectBuffer:
        if self._buffers is None:
            self._buffers = {}
        buffer = self._buffers.get(key)
        if buffer is None:
            items = self.state.collected.get(key)
            if items is None:
                items = self.state.collected[key] = {}
            buffer = self._buffers[key] = CollectBuffer(items)
        return buffer

    def _release_claims(self, delivery: Delivery) -> None:
        """Drop the batch the finished execution of ``delivery`` collected, and its own entry."""
        collected = self.state.collected
        for key in list(collected):
            self._collect_buffer(key).release(delivery.id)
            if not collected[key]:
                del collected[key]
                buffers = self._buffers
                assert buffers is not None  # _collect_buffer made it
                del buffers[key]

"""Crew: the worker tasks of one run: which step each works on, hand-offs, the run's own task.

A worker exits when its step has nothing queued, so an idle run holds no worker task.
A worker whose step returned an event for a step that needs a worker becomes that
worker instead of starting a task, so a chain of steps runs in one task; the run's
own task works too, on a step handed to it, which costs a wake-up instead of a task.

A worker runs its step's queued deliveries back to back and yields to the event loop
between two of them only every ``YIELD_EVERY`` deliveries, or once ``YIELD_AFTER``
seconds have passed since it last did: a turn of the event loop costs more than a quick
step, and other tasks (the stream's reader, the caller, other runs) still get theirs.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping

import anyio
from anyio.abc import TaskGroup

from . import worker
from .backend import Wakeup
from .ledger import Ledger
from .stream import EventStream
from .worker import RELEASED, Execution, StepHost, StepRuntime, current_execution

YIELD_EVERY = 32
"""A worker yields to the event loop at least once every this many deliveries."""

YIELD_AFTER = 0.001
"""...and before its next delivery once this many seconds passed since it last yielded."""


class Crew:
    """The task group of one run and who works on what in it."""

    def __init__(
        self,
        host: StepHost,
        ledger: Ledger,
        stream: EventStream,
        new_event: Callable[[], Wakeup],
        checkpoint: Callable[[], Awaitable[None]],
    ) -> None:
        self._host = host
        self._ledger = ledger
        self._stream = stream
        self._new_event = new_event
        self._checkpoint = checkpoint
        # Set while a worker routes what its step returned: that worker may take the
        # next step itself instead of starting a task for it (see _work).
        self.returning = False
        self._handoff: StepRuntime | None = None
        self._host_job: StepRuntime | None = None
        self._host_free = False  # the run's own task is between two jobs
        self._host_wake: Wakeup | None = None
        self._host_execution: Execution | None = None
        self._workers = 0  # worker tasks alive besides the run's own
        self._task_group: TaskGroup | None = None

    def wake(self, step: StepRuntime) -> None:
        """``step`` has a new delivery: make sure a worker will take it."""
        if step.alive < step.num_workers and self._task_group is not None:
            step.alive += 1
            if self.returning and self._handoff is None:
                self._handoff = step
            elif self._host_free and self._host_job is None:
                self._host_job = step
                if self._host_wake is not None:
                    self._host_wake.set()
            else:
                self._start_worker(step)

    def release(self) -> None:
        """The run has ended and its task group is gone: let go of the run."""
        assert self._task_group is None, "release() while the run's task group is open"
        del self._host

    def stop(self) -> bool:
        """The run ended: end its tasks; True if none had to be cancelled.

        Cancelling is the way to stop a task that runs a step, but it costs (on asyncio,
        formatting the task's repr; on both, an exception through every frame). The run's
        own task is often the only one, between two jobs or routing what its step
        returned: then it ends by itself, woken if it waits.
        """
        task_group = self._task_group
        if task_group is None:
            return False
        if self._workers or not (
            self._host_free
            or (self.returning and current_execution.get(None) is self._host_execution)
        ):
            task_group.cancel_scope.cancel()
            return False
        if self._host_wake is not None:
            self._host_wake.set()
        return True

    async def work(self, steps: Mapping[str, StepRuntime]) -> None:
        """Run the workers in a task group until the run ends."""
        try:
            async with anyio.create_task_group() as task_group:
                self._task_group = task_group
                for name, count in list(self._ledger.steps_with_work()):
                    step = steps[name]
                    for _ in range(min(count, step.num_workers) - step.alive):
                        step.alive += 1
                        if self._host_job is None:
                            self._host_job = step
                        else:
                            self._start_worker(step)
                if self._ledger.pending == 0:
                    self._host.on_idle()
                if not self._host.ended:
                    await self._host_loop()  # returns once the run has ended
        finally:
            self._task_group = None

    def _start_worker(self, step: StepRuntime) -> None:
        """Start a task that works on ``step``'s deliveries (``step.alive`` counts it already)."""
        assert self._task_group is not None
        self._workers += 1
        self._task_group.start_soon(self._work, step, name=f"flowkit step {step.name}")

    async def _host_loop(self) -> None:
        """Work on the steps handed to the run's own task, until the run ends."""
        checkpoint = self._checkpoint
        # One Execution for every job of this task, as a worker task has for its steps.
        execution = self._host_execution = Execution(RELEASED, 0.0, context=self._host.context_ref)
        token = current_execution.set(execution)
        try:
            while True:
                step = self._host_job
                if step is None:
                    if self._host.ended:  # Crew.stop() ended any other task; this one returns
                        return
                    self._host_free = True
                    # One turn of the loop before waiting: work often comes within it (a
                    # caller answering what a step streamed), and then needs no wake-up.
                    await checkpoint()
                    if self._host_job is None and not self._host.ended:
                        self._ledger.rest()  # a parked run lets its start step's stream go
                        self._host_wake = self._new_event()
                        await self._host_wake.wait()
                    continue
                self._host_free = False
                self._host_wake = None
                self._host_job = None
                await self._work(step, execution)
                execution.release()  # a run that waits holds no finished delivery
        finally:
            current_execution.reset(token)
            execution.release()
            self._host_execution = None

    async def _work(self, step: StepRuntime, execution: Execution | None = None) -> None:
        """Work on ``step``'s deliveries until none is queued, then on a handed-off step.

        ``execution`` is the calling task's, set and released by it (the run's own
        task); without it, this task makes its own on its first delivery.
        """
        ledger = self._ledger
        stream = self._stream
        host = self._host
        checkpoint = self._checkpoint
        unread = stream.buffer
        high_water = stream.high_water
        first = True
        own = execution is None
        token = None
        # This task has just been scheduled: it counts as having yielded now.
        now = yielded_at = time.monotonic()
        streak = 0  # deliveries begun since this task last yielded
        try:
            while True:
                if not first:
                    if not ledger.queued(step.name):
                        step.alive -= 1
                        return
                    # Between two steps in one task: let the reader and other tasks in.
                    # (Nothing is taken yet, so a snapshot or a cancellation loses nothing.)
                    now = time.monotonic()
                    behind = len(unread) > high_water and stream.must_wait()
                    if behind or streak >= YIELD_EVERY or now - yielded_at >= YIELD_AFTER:
                        await (stream.wait_for_reader() if behind else checkpoint())
                        streak = 0
                        now = yielded_at = time.monotonic()
                first = False
                # None if nothing is queued (any more: another worker took the last one).
                delivery = None if host.ended else ledger.take(step.name)
                if delivery is None:
                    step.alive -= 1
                    return
                streak += 1
                if execution is None:
                    execution = Execution(delivery, now, context=self._host.context_ref)
                    token = current_execution.set(execution)
                else:
                    execution.begin(delivery, now)
                await worker.execute(host, step, delivery, execution)
                handoff = self._handoff
                if handoff is not None:
                    self._handoff = None
                    if handoff is step:  # a step that feeds itself: this worker goes on with it
                        step.alive -= 1
                    elif ledger.queued(step.name):
                        self._start_worker(handoff)  # this step has more to do: keep on it
                    else:
                        step.alive -= 1
                        step = handoff
        finally:
            if own:
                self._workers -= 1
            if token is not None:
                current_execution.reset(token)
            if own and execution is not None:
                # Timer handles and library tasks may hold the context variable's value
                # past the run's end: it must not keep the run alive (see Execution.release).
                execution.release()

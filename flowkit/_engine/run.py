"""Run: one run of a workflow as one AnyIO task group; routes events, finishes, cancels."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import attrs
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ..errors import (
    WorkflowCancelledByUser,
    WorkflowRuntimeError,
    WorkflowStepDoesNotExistError,
    WorkflowTimeoutError,
)
from ..events import (
    Event,
    InputRequiredEvent,
    InternalDispatchEvent,
    StopEvent,
    UnhandledEvent,
    WorkflowCancelledEvent,
    WorkflowFailedEvent,
    WorkflowIdleEvent,
    WorkflowTimedOutEvent,
)
from . import worker
from .graph import StepGraph
from .signature import StepConfig
from .state import Delivery, RunState
from .stream import EventStream
from .waiters import Waiters

if TYPE_CHECKING:
    from ..retry_policy import RetryPolicy


@attrs.define(eq=False)
class StepRuntime:
    """One step inside one run: its queue's memory object stream and its worker counts."""

    name: str
    config: StepConfig
    call: Callable[[Event], Any]
    send: MemoryObjectSendStream[Delivery] | None = None
    receive: MemoryObjectReceiveStream[Delivery] | None = None
    alive: int = 0
    num_workers: int = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.num_workers = self.config.num_workers

    def feed(self, delivery: Delivery) -> None:
        """Put ``delivery`` on the step's stream, opening it on first use."""
        if self.send is None:
            self.send, self.receive = anyio.create_memory_object_stream[Delivery](math.inf)
        self.send.send_nowait(delivery)

    def close(self) -> None:
        """Close the step's stream; the run has ended."""
        if self.send is not None and self.receive is not None:
            self.send.close()
            self.receive.close()

    def __del__(self) -> None:
        # A run whose task never started (its event loop closed first) never closes
        # its streams itself: do it here so that nothing warns at collection.
        self.close()

    @property
    def retry_policy(self) -> RetryPolicy | None:
        """The step's retry policy, if any."""
        return self.config.retry_policy


@attrs.define(eq=False)
class Outcome:
    """How a run ended: the terminal event streamed last, and the exception to raise, if any."""

    event: StopEvent
    error: BaseException | None = None


class Run:
    """One run of a workflow: the task group, the routing of events, and how it ends."""

    def __init__(
        self,
        graph: StepGraph,
        calls: Mapping[str, Callable[[Event], Any]],
        state: RunState,
        *,
        timeout: float | None,
        verbose: bool,
        stream_high_water: int,
        catch_error: Callable[[str], str | None],
    ) -> None:
        self.graph = graph
        self.state = state
        self.timeout = timeout
        self.verbose = verbose
        if state.stream:  # a cancelled run's terminal event is not part of its resumption
            state.stream = deque(e for e in state.stream if not isinstance(e, StopEvent))
        self.done = anyio.Event()
        # anyio.Event() looks the backend up on every call; its class is the backend's
        # own, which builds events directly. Events are made on every wake-up.
        self.new_event: type[anyio.Event] = type(self.done)
        self.stream = EventStream(state.stream, stream_high_water, self.new_event)
        self.waiters = Waiters(self)
        self.catch_error = catch_error
        self.steps: dict[str, StepRuntime] = {}
        for name, config in graph.steps.items():
            self.steps[name] = StepRuntime(name, config, calls[name])
        # Set while a worker routes what its step returned: that worker may take the
        # next step itself instead of starting a task for it (see worker.work).
        self.returning = False
        self.handoff: StepRuntime | None = None
        # The run's own task works too: it waits here for a step whose events have no
        # worker, which costs a wake-up instead of starting a task.
        self._host_job: StepRuntime | None = None
        self._host_wake: anyio.Event | None = None
        self._accepts_outside_input = bool(graph.external_inputs)
        self.pending = 0
        self.outcome: Outcome | None = None
        self.expose_internal = False
        self.recoveries: dict[str, int] = {}
        self._task_group: TaskGroup | None = None
        self._run_scope: anyio.CancelScope | None = None
        self._last_step: str | None = None
        self._requeue_in_progress()
        # A run exists from now on: a snapshot taken before its task starts resumes it.
        state.started = True

    # -- routing -------------------------------------------------------------------

    def send_event(self, event: Event, step: str | None = None) -> None:
        """Route an event sent through ``ctx.send_event``.

        Raises:
            WorkflowRuntimeError: ``event`` is not an Event, or the run has ended.
            WorkflowStepDoesNotExistError: ``step`` names no step of the workflow.
        """
        if not isinstance(event, Event):
            raise WorkflowRuntimeError(
                f"send_event() takes an Event instance, got {type(event).__name__}. "
                "Wrap the value in an Event subclass."
            )
        if self.outcome is not None:
            raise WorkflowRuntimeError(
                f"Cannot send {type(event).__name__}: the run has already ended. "
                "Start a new run, or resume a snapshot with workflow.run(ctx=...)."
            )
        if step is not None:
            target = self.steps.get(step)
            if target is None:
                raise WorkflowStepDoesNotExistError(
                    f"Step {step} does not exist. The workflow's steps are: "
                    f"{', '.join(sorted(self.steps))}."
                )
            if not self.graph.accepts(step, type(event)):
                raise WorkflowRuntimeError(
                    f"Step {step} does not accept event of type {type(event).__name__}. "
                    "Send it without step= to route it by type, or to a step that accepts it."
                )
            self.deliver(target, event)
            return
        self.route(event)

    def route(self, event: Event) -> None:
        """Deliver ``event`` to its waiter, its consumer steps, the stream, or the run's end."""
        if self.state.waiters and self.waiters.resolve(event):
            return
        if isinstance(event, StopEvent):
            self.finish(Outcome(event))
            return
        consumers = self.graph.consumers(type(event))
        if isinstance(event, InputRequiredEvent):
            self.stream.write(event)
        elif not consumers:
            self._unhandled(event)
            return
        for name in consumers:
            self.deliver(self.steps[name], event)

    def deliver(self, step: StepRuntime, event: Event) -> None:
        """Queue ``event`` for ``step`` and make sure a worker will take it."""
        state = self.state
        delivery = Delivery(state.next_id, step.name, event)
        state.next_id += 1
        queue = state.queued.get(step.name)
        if queue is None:
            queue = state.queued[step.name] = deque()
        queue.append(delivery)
        step.feed(delivery)
        self.pending += 1
        if step.alive < step.num_workers and self._task_group is not None:
            step.alive += 1
            if self.returning and self.handoff is None:
                self.handoff = step
            elif self._host_wake is not None and self._host_job is None:
                self._host_job = step
                self._host_wake.set()
            else:
                self.start_worker(step)

    def start_worker(self, step: StepRuntime) -> None:
        """Start a task that works on ``step``'s deliveries (``step.alive`` counts it already)."""
        assert self._task_group is not None
        self._task_group.start_soon(worker.work, self, step, name=f"flowkit step {step.name}")

    def _unhandled(self, event: Event) -> None:
        if self.expose_internal:
            self.stream.write(
                UnhandledEvent(
                    event_type=type(event).__name__,
                    qualified_name=f"{type(event).__module__}.{type(event).__qualname__}",
                    idle=self.pending == 0,
                )
            )

    def write_internal(self, event: InternalDispatchEvent) -> None:
        """Stream an internal event if a reader asked for them."""
        if self.expose_internal:
            self.stream.write(event)

    def _requeue_in_progress(self) -> None:
        """Queue again the deliveries a restored snapshot had in progress (at-least-once)."""
        state = self.state
        for delivery in sorted(state.in_progress.values(), key=lambda d: d.id, reverse=True):
            state.queue_of(delivery.step).appendleft(delivery)
        state.in_progress.clear()
        for name, queue in state.queued.items():
            step = self.steps[name]
            for delivery in queue:
                step.feed(delivery)
            self.pending += len(queue)

    # -- idleness ------------------------------------------------------------------

    def step_done(self, step: StepRuntime) -> None:
        """Count one delivery of ``step`` as finished; act if the run became idle."""
        self._last_step = step.name
        self.pending -= 1
        if self.pending == 0:
            self.on_idle()

    def on_idle(self) -> None:
        """Nothing is queued or running: end the run if it can never go on."""
        if self.outcome is not None:
            return
        if self._accepts_outside_input or self.waiters.any_open():
            if self.expose_internal:
                self.write_internal(WorkflowIdleEvent())
            return
        last = f" The last step to run was '{self._last_step}'." if self._last_step else ""
        error = WorkflowRuntimeError(
            f"Workflow '{self.graph.workflow_name}' is idle and can never finish: no step is "
            f"running, no event is queued, and no step or waiter accepts events from outside."
            f"{last} Make the steps return an event on every path, ending with StopEvent."
        )
        self.finish(
            Outcome(WorkflowFailedEvent(step_name=self._last_step or "", exception=error), error)
        )

    # -- ending --------------------------------------------------------------------

    def finish(self, outcome: Outcome) -> None:
        """End the run with ``outcome`` unless it already ended; cancel every step task."""
        if self.outcome is not None:
            return
        self.outcome = outcome
        if not isinstance(outcome.error, WorkflowCancelledByUser):
            self.state.finished = True
        self.stream.write(outcome.event)
        self.stream.close()
        if self._task_group is not None:
            self._task_group.cancel_scope.cancel()

    def fail(
        self, step: str, error: BaseException, attempts: int | None, elapsed: float | None
    ) -> None:
        """End the run because ``step`` failed for good with ``error``."""
        event = WorkflowFailedEvent(
            step_name=step,
            exception=error if isinstance(error, Exception) else WorkflowRuntimeError(repr(error)),
            attempts=attempts,
            elapsed_seconds=elapsed,
        )
        self.finish(Outcome(event, error))

    def cancel(self) -> None:
        """Cancel the run (``handler.cancel_run()``); a no-op once it has ended.

        The outcome is decided now: a step that finishes after this call changes
        nothing (its event stays in progress, to run again on resume).
        """
        if self.outcome is not None:
            return
        self._end_cancelled()
        if self._run_scope is not None:
            self._run_scope.cancel()
        elif self.state.running_since is None:  # not started: nothing will set done
            self._close_streams()
            self.done.set()

    def _end_cancelled(self) -> None:
        error = WorkflowCancelledByUser(
            "The run was cancelled. Its context can be resumed with workflow.run(ctx=...)."
        )
        self.finish(Outcome(WorkflowCancelledEvent(), error))

    def _close_streams(self) -> None:
        for step in self.steps.values():
            step.close()

    def active_steps(self) -> list[str]:
        """The names of the steps with a delivery in progress, sorted."""
        return sorted({d.step for d in self.state.in_progress.values()})

    # -- the task group ------------------------------------------------------------

    async def execute(self) -> None:
        """Run until a StopEvent, a failure, the timeout or cancellation.

        Never raises, except the cancellation of a scope around the run (the task
        group that owns it, or the event loop shutting down), which it re-raises
        after ending the run as cancelled.
        """
        if self.outcome is not None:  # cancelled, or stopped, before it started
            self.done.set()
            return
        state = self.state
        state.running_since = time.monotonic()
        remaining = math.inf if self.timeout is None else self.timeout - state.elapsed
        timed_out = False
        try:
            with anyio.CancelScope() as run_scope:
                self._run_scope = run_scope
                with anyio.move_on_after(remaining) as timer:
                    async with anyio.create_task_group() as task_group:
                        self._task_group = task_group
                        self._start_workers()
                        if self.outcome is None:
                            await self._host()
                timed_out = timer.cancelled_caught
        except anyio.get_cancelled_exc_class():
            self._task_group = None
            self._end_cancelled()  # a no-op if the run had ended already
            raise
        except Exception as exc:  # a bug in flowkit: never leave the handler waiting
            self._task_group = None
            error = WorkflowRuntimeError(
                f"Internal error in flowkit, please file a bug report: {exc!r}"
            )
            error.__cause__ = exc
            self.fail("", error, None, None)
        finally:
            state.elapsed = state.elapsed_now(time.monotonic())
            state.running_since = None
            self._task_group = None
            self._run_scope = None
            self._close_streams()
            if self.outcome is None:
                if timed_out:
                    assert self.timeout is not None
                    active = self.active_steps()
                    self.finish(
                        Outcome(
                            WorkflowTimedOutEvent(timeout=self.timeout, active_steps=active),
                            WorkflowTimeoutError(timeout=self.timeout, active_steps=active),
                        )
                    )
                else:
                    self._end_cancelled()
            self.done.set()

    async def _host(self) -> None:
        """Work on the steps handed to the run's own task, until the run is cancelled."""
        while True:
            step = self._host_job
            if step is None:
                self._host_wake = self.new_event()
                await self._host_wake.wait()
                continue
            self._host_wake = None
            self._host_job = None
            await worker.work(self, step)

    def _start_workers(self) -> None:
        assert self._task_group is not None
        for step in self.steps.values():
            wanted = min(len(self.state.queued.get(step.name, ())), step.num_workers)
            for _ in range(wanted - step.alive):
                step.alive += 1
                if self._host_job is None:
                    self._host_job = step
                else:
                    self.start_worker(step)
        if self.pending == 0:
            self.on_idle()

"""Run: one run of a workflow as one AnyIO task group; routes events, finishes, cancels."""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime, timezone

import anyio
import attrs

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

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
    StepFailedEvent,
    StopEvent,
    UnhandledEvent,
    WorkflowCancelledEvent,
    WorkflowFailedEvent,
    WorkflowIdleEvent,
    WorkflowTimedOutEvent,
)
from .backend import native_checkpoint, native_event_class
from .crew import Crew
from .graph import StepGraph
from .ledger import Ledger
from .slots import RunSlots
from .state import Delivery, RunState
from .stream import EventStream
from .sync_steps import LoopHandle
from .waiters import Waiters
from .worker import StepCall, StepRuntime


@attrs.define(eq=False)
class Outcome:
    """How a run ended: the terminal event streamed last, and the exception to raise, if any."""

    event: StopEvent
    error: BaseException | None = None


@attrs.frozen
class RunSettings:
    """How a workflow instance runs: its timeout, output and limits."""

    timeout: float | None
    verbose: bool
    stream_high_water: int
    slots: RunSlots | None


class Run:
    """One run of a workflow: the task group, the routing of events, and how it ends.

    It reads and changes the run's state only through its ``ledger``; it implements
    ``worker.StepHost`` for the step executions it starts.
    """

    def __init__(
        self,
        graph: StepGraph,
        calls: Mapping[str, StepCall],
        state: RunState,
        settings: RunSettings,
        catch_error: Callable[[str], str | None],
    ) -> None:
        self.graph = graph
        self.state = state
        self.timeout = settings.timeout
        self.verbose = settings.verbose
        self._slots = settings.slots
        if state.stream:  # a cancelled run's terminal event is not part of its resumption
            state.stream = deque(e for e in state.stream if not isinstance(e, StopEvent))
        self.ledger = Ledger(state)
        self.done = anyio.Event()
        # Events are made on every wake-up: the backend's own, looked up once.
        self.new_event = native_event_class()
        # Likewise anyio.lowlevel.checkpoint(): workers and the reader yield once per event.
        self.checkpoint = native_checkpoint()
        self.stream = EventStream(
            state.stream, settings.stream_high_water, self.new_event, self.checkpoint
        )
        self.waiters = Waiters(self.ledger, self.stream, self.new_event, self.on_idle)
        self.catch_error = catch_error
        self.steps = {name: StepRuntime(name, c, calls[name]) for name, c in graph.steps.items()}
        self.crew = Crew(self, self.ledger, self.stream, self.new_event, self.checkpoint)
        self._accepts_outside_input = bool(graph.external_inputs)
        # The graph's consumers by event type, without the method call.
        self._consumers: dict[type[Event], tuple[str, ...]] = {}
        self.outcome: Outcome | None = None
        self.ended = False  # outcome is not None, read on every step: a plain attribute
        self.expose_internal = False
        self.recoveries: dict[str, int] | None = None  # by step; made at the first failure
        self._run_scope: anyio.CancelScope | None = None
        self._stopped = False  # ended with no task left to cancel (Crew.stop)
        self._last_step: str | None = None
        # A weak reference to the Context its steps get (Context.get_step_context()).
        self.context_ref: Callable[[], object] | None = None
        # The loop the run runs on, for ctx calls from sync steps' threads (sync_steps.py).
        self.loop: LoopHandle | None = None
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
            self.ledger.count_event(event)
            self.deliver(target, event)
            return
        self.route(event)

    def route(self, event: Event) -> None:
        """Deliver ``event`` to its waiter, its consumer steps, the stream, or the run's end."""
        ledger = self.ledger
        ledger.count_event(event)
        if self.state.waiters and ledger.resolve(event):
            return
        if isinstance(event, StopEvent):
            self.finish(Outcome(event))
            return
        consumers = self._consumers.get(type(event))
        if consumers is None:
            consumers = self._consumers[type(event)] = self.graph.consumers(type(event))
        if isinstance(event, InputRequiredEvent):
            self.stream.write(event)
        elif not consumers:
            self._unhandled(event)
            return
        if len(consumers) == 1:  # as deliver(), inline: this runs for almost every event
            step = self.steps[consumers[0]]
            ledger.add(step.name, event)
            if step.alive < step.num_workers:
                self.crew.wake(step)
            return
        for name in consumers:
            self.deliver(self.steps[name], event)

    def deliver(self, step: StepRuntime, event: Event) -> None:
        """Queue ``event`` for ``step`` and make sure a worker will take it."""
        self.ledger.add(step.name, event)
        if step.alive < step.num_workers:  # else a worker of the step will take it
            self.crew.wake(step)

    def emit(self, result: Event) -> None:
        """Route the event a step returned (``worker.StepHost``)."""
        crew = self.crew
        crew.returning = True
        try:
            self.route(result)
        finally:
            crew.returning = False

    def _unhandled(self, event: Event) -> None:
        if self.expose_internal:
            self.stream.write(
                UnhandledEvent(
                    event_type=type(event).__name__,
                    qualified_name=f"{type(event).__module__}.{type(event).__qualname__}",
                    idle=self.ledger.pending == 0,
                )
            )

    def write_internal(self, event: InternalDispatchEvent) -> None:
        """Stream an internal event if a reader asked for them."""
        if self.expose_internal:
            self.stream.write(event)

    # -- step executions (worker.StepHost) -------------------------------------------

    def step_done(self, delivery: Delivery) -> None:
        """The execution of ``delivery`` ended; act if the run became idle."""
        self._last_step = delivery.step
        if self.ledger.complete(delivery):
            self.on_idle()

    def retrying(self, step: str) -> None:
        """Count the call of a retried step."""
        self.ledger.count_retry(step)

    def give_up(
        self, step: StepRuntime, delivery: Delivery, exc: Exception, elapsed: float
    ) -> None:
        """The step failed for good: hand it to a @catch_error handler, or end the run."""
        handler = self.catch_error(step.name)
        if self.recoveries is None:
            self.recoveries = {}
        recoveries = self.recoveries.get(step.name, 0)
        limit = self.steps[handler].config.catch_error_max_recoveries if handler else 0
        if handler is not None and recoveries < limit:
            self.recoveries[step.name] = recoveries + 1
            failed = StepFailedEvent(
                step_name=step.name,
                input_event=delivery.event,
                exception=exc,
                attempts=delivery.attempts,
                elapsed_seconds=elapsed,
                failed_at=datetime.now(timezone.utc),
            )
            self.deliver(self.steps[handler], failed)
            self.step_done(delivery)
            return
        self.fail(step.name, exc, delivery.attempts, elapsed)

    # -- idleness ------------------------------------------------------------------

    def on_idle(self) -> None:
        """Nothing is queued or running: end the run if it can never go on."""
        if self.outcome is not None:
            return
        if self._accepts_outside_input or self.ledger.any_open_waiter():
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
        self.ended = True
        self.ledger.end()
        if not isinstance(outcome.error, WorkflowCancelledByUser):
            self.state.finished = True
        self.stream.write(outcome.event)
        self.stream.close()
        self._stopped = self.crew.stop()

    def fail(
        self, step: str, error: BaseException, attempts: int | None, elapsed: float | None
    ) -> None:
        """End the run because ``step`` failed for good with ``error``."""
        if self.outcome is not None:
            return
        if step:
            self.state.counters.failed_step = step
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
        if self._run_scope is not None and not self._stopped:
            self._run_scope.cancel()
        elif self.state.running_since is None:  # not started: nothing will set done
            self.done.set()

    def _end_cancelled(self) -> None:
        error = WorkflowCancelledByUser(
            "The run was cancelled. Its context can be resumed with workflow.run(ctx=...)."
        )
        self.finish(Outcome(WorkflowCancelledEvent(), error))

    def active_steps(self) -> list[str]:
        """The names of the steps with a delivery in progress, sorted."""
        return self.ledger.active_steps()

    # -- the task group ------------------------------------------------------------

    async def execute(self) -> None:
        """Wait for a run slot, then run until a StopEvent, a failure, the timeout or cancel.

        Never raises, except the cancellation of a scope around the run (the task
        group that owns it, or the event loop shutting down), which it re-raises
        after ending the run as cancelled. Whatever else escapes (a bug in flowkit)
        ends the run as failed: nothing reaches the event loop.
        """
        if self.outcome is not None:  # cancelled, or stopped, before it started
            self.done.set()
            self._release()
            return
        self.loop = LoopHandle.current()
        state = self.state
        timed_out = False
        try:
            with anyio.CancelScope() as run_scope:
                self._run_scope = run_scope
                if self._slots is not None:
                    await self._slots.acquire()
                try:
                    # The steps run in the crew's task group until the run ends (inline:
                    # each frame here is passed through on every resumption of this task).
                    state.running_since = time.monotonic()
                    if self.timeout is not None:  # the timeout counts from the slot on
                        run_scope.deadline = anyio.current_time() + self.timeout - state.elapsed
                    self.ledger.open()
                    await self.crew.work(self.steps)
                finally:
                    if self._slots is not None:
                        self._slots.release()
            # Cancelled with no outcome: only the deadline does that (cancel() decides first).
            timed_out = run_scope.cancelled_caught and self.outcome is None
        except anyio.get_cancelled_exc_class():
            self._end_cancelled()  # a no-op if the run had ended already
            raise
        except BaseException as exc:  # a bug in flowkit: never leave the handler waiting
            while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
                exc = exc.exceptions[0]  # the task group's wrapping says nothing
            error = WorkflowRuntimeError(
                f"Internal error in flowkit, please file a bug report: {exc!r}"
            )
            error.__cause__ = exc
            self.fail("", error, None, None)
        finally:
            if state.running_since is not None:
                state.elapsed = state.elapsed_now(time.monotonic())
                state.running_since = None
            self._run_scope = None
            self.ledger.close()
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
            self._release()

    def _release(self) -> None:
        """Drop what points back at this ended run from what it owns (its steps' calls
        hold its Context). Reference counting then frees the run as soon as its handler
        and context are let go, instead of leaving a cycle for the garbage collector:
        with many runs, its full collections cost more than the runs themselves.
        """
        self.crew.release()
        self.waiters.release()
        self.steps = {}

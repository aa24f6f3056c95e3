"""One step worker: take a delivery from the step's stream, call the step, route its result."""

from __future__ import annotations

import time
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
import attrs

from ..errors import WorkflowRuntimeError
from ..events import Event, StepFailedEvent, StepState, StepStateChanged
from .state import Delivery

if TYPE_CHECKING:
    from .run import Run, StepRuntime


@attrs.define(eq=False)
class Execution:
    """The step execution the current task is running, for ``ctx`` calls made inside it.

    One per worker task, reused for each delivery it runs (the context variable is
    set once per task, not once per step).
    """

    run: Run
    delivery: Delivery
    first_attempt_at: float
    waits: int = 0
    last_error: Exception | None = None
    last_failed_at: datetime | None = None

    def begin(self, delivery: Delivery) -> None:
        """Start running ``delivery``."""
        self.delivery = delivery
        self.first_attempt_at = time.monotonic()
        self.waits = 0
        self.last_error = None
        self.last_failed_at = None


current_execution: ContextVar[Execution | None] = ContextVar("flowkit_execution", default=None)


async def work(run: Run, step: StepRuntime) -> None:
    """Work on ``step``'s deliveries until its stream is empty, then on a handed-off step.

    A worker exits when its step has nothing queued, so an idle run holds no worker
    task. When the step it just ran returned an event for a step that needs a worker,
    it becomes that worker instead of starting a task: a chain of steps runs in one
    task, with a checkpoint between steps so that other tasks and cancellation get in.
    """
    stream = run.stream
    queued = run.state.queued
    first = True
    execution: Execution | None = None
    token = None
    try:
        while True:
            receive = step.receive
            assert receive is not None
            if not queued.get(step.name):  # the RunState mirrors the stream: nothing to take
                step.alive -= 1
                return
            try:
                delivery = receive.receive_nowait()
            except anyio.WouldBlock:  # another worker holds the last one, before its take()
                step.alive -= 1
                return
            if not first:
                # Between two steps in one task: let the reader and other tasks in. (The
                # delivery is still queued in the RunState until take(), so a snapshot or a
                # cancellation here loses nothing.)
                if stream.must_wait():
                    await stream.wait_for_reader()
                await anyio.lowlevel.checkpoint()
            first = False
            if run.outcome is not None:  # ended (cancelled, say) while this task was not looking
                step.alive -= 1
                return
            run.state.take(delivery)
            if execution is None:
                execution = Execution(run, delivery, time.monotonic())
                token = current_execution.set(execution)
            else:
                execution.begin(delivery)
            await execute(run, step, delivery, execution)
            handoff = run.handoff
            if handoff is not None:
                run.handoff = None
                if handoff is step:  # a step that feeds itself: this worker goes on with it
                    step.alive -= 1
                elif queued.get(step.name):
                    run.start_worker(handoff)  # this step has more to do: keep working on it
                else:
                    step.alive -= 1
                    step = handoff

    finally:
        if token is not None:
            current_execution.reset(token)


async def execute(run: Run, step: StepRuntime, delivery: Delivery, execution: Execution) -> None:
    """Run one delivery through ``step``, retrying as its policy says, and route the result."""
    if run.verbose or run.expose_internal or step.retry_policy is not None:
        result = await _call_with_retries(run, step, delivery, execution)
    else:  # the common case, without the retry loop's bookkeeping
        delivery.attempts += 1
        try:
            result = await step.call(delivery.event)
            if result is not None and not isinstance(result, Event):
                raise _not_an_event(step, result)
        except Exception as exc:
            _give_up(run, step, delivery, exc, time.monotonic() - execution.first_attempt_at)
            return
    if isinstance(result, _Failed) or run.outcome is not None:
        # Failed, or the run ended while the step ran: its result changes nothing, and a
        # cancelled run keeps the delivery in progress to run it again on resume.
        return
    if run.verbose:
        produced = type(result).__name__ if result is not None else "None"
        print(f"Step {step.name} produced event {produced}")
    if run.expose_internal:  # before routing: a StopEvent closes the stream
        run.write_internal(
            StepStateChanged(
                name=step.name,
                step_state=StepState.NOT_RUNNING,
                worker_id=str(delivery.id),
                input_event_name=type(delivery.event).__name__,
                output_event_name=type(result).__name__ if result is not None else None,
            )
        )
    if result is not None:
        run.returning = True
        try:
            run.route(result)
        finally:
            run.returning = False
    if delivery.claimed_by is not None:
        run.waiters.release_claims(delivery)
    del run.state.in_progress[delivery.id]
    run.step_done(step)


def _not_an_event(step: StepRuntime, result: object) -> WorkflowRuntimeError:
    return WorkflowRuntimeError(
        f"Step function {step.name} returned {type(result).__name__} instead of an "
        "Event instance. Return an Event, or None to emit nothing."
    )


class _Failed:
    """The step failed for good and the failure is handled: nothing to route."""


_FAILED = _Failed()


async def _call_with_retries(
    run: Run, step: StepRuntime, delivery: Delivery, execution: Execution
) -> Event | _Failed | None:
    while True:
        delivery.attempts += 1
        if run.verbose:
            print(f"Running step {step.name}")
        if run.expose_internal:
            run.write_internal(
                StepStateChanged(
                    name=step.name,
                    step_state=StepState.RUNNING,
                    worker_id=str(delivery.id),
                    input_event_name=type(delivery.event).__name__,
                )
            )
        try:
            result = await step.call(delivery.event)
            if result is None or isinstance(result, Event):
                return result
            raise _not_an_event(step, result)
        except Exception as exc:
            elapsed = time.monotonic() - execution.first_attempt_at
            policy = step.retry_policy
            delay = None
            if policy is not None and not isinstance(exc, WorkflowRuntimeError):
                delay = policy.next(elapsed, delivery.attempts, exc)
            if delay is None:
                _give_up(run, step, delivery, exc, elapsed)
                return _FAILED
            execution.last_error = exc
            execution.last_failed_at = datetime.now(timezone.utc)
            if run.verbose:
                print(f"Step {step.name} failed, retrying in {delay} seconds")
            await anyio.sleep(delay)


def _give_up(
    run: Run, step: StepRuntime, delivery: Delivery, exc: Exception, elapsed: float
) -> None:
    """The step failed for good: hand it to a @catch_error handler, or end the run."""
    handler = run.catch_error(step.name)
    recoveries = run.recoveries.get(step.name, 0)
    if handler is not None and recoveries < run.steps[handler].config.catch_error_max_recoveries:
        run.recoveries[step.name] = recoveries + 1
        failed = StepFailedEvent(
            step_name=step.name,
            input_event=delivery.event,
            exception=exc,
            attempts=delivery.attempts,
            elapsed_seconds=elapsed,
            failed_at=datetime.now(timezone.utc),
        )
        run.deliver(run.steps[handler], failed)
        if delivery.claimed_by is not None:  # the failed execution consumed its batch
            run.waiters.release_claims(delivery)
        del run.state.in_progress[delivery.id]
        run.step_done(step)
        return
    run.fail(step.name, exc, delivery.attempts, elapsed)

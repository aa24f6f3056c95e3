"""One step execution: call the step on one delivery, retry it, and hand back what it returned.

The worker knows its run only through ``StepHost``, the few calls a step execution
makes on the run (``run.py`` implements it), so it imports nothing of ``run.py``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any, Protocol, TypeAlias

import anyio
import attrs

from ..errors import WorkflowRuntimeError
from ..events import Event, InternalDispatchEvent, StepState, StepStateChanged
from ..retry_policy import RetryInfo, RetryPolicy
from .signature import StepConfig
from .state import Delivery

StepCall: TypeAlias = Callable[[Event], Awaitable[Any]]
"""A step bound to its workflow instance and context: called with the event only."""


@attrs.define(eq=False)
class StepRuntime:
    """One step inside one run: its bound call and how many worker tasks it has."""

    name: str
    config: StepConfig
    call: StepCall
    alive: int = 0
    num_workers: int = attrs.field(init=False)
    retry_policy: RetryPolicy | None = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.num_workers = self.config.num_workers
        self.retry_policy = self.config.retry_policy


class StepHost(Protocol):
    """What a step execution needs from its run."""

    verbose: bool
    expose_internal: bool
    ended: bool  # whether the run has its outcome already
    # A weak reference to the Context its steps get (Context.get_step_context()).
    context_ref: Callable[[], object] | None

    def write_internal(self, event: InternalDispatchEvent) -> None:
        """Stream an internal event if a reader asked for them."""

    def emit(self, result: Event) -> None:
        """Route the event a step returned."""

    def give_up(
        self, step: StepRuntime, delivery: Delivery, exc: Exception, elapsed: float
    ) -> None:
        """The step failed for good with an Exception: recover with @catch_error, or fail."""

    def fail(
        self, step: str, error: BaseException, attempts: int | None, elapsed: float | None
    ) -> None:
        """End the run because ``step`` raised ``error``."""

    def step_done(self, delivery: Delivery) -> None:
        """The execution of ``delivery`` ended; its result, if any, is routed."""

    def retrying(self, step: str) -> None:
        """``step`` is called again for the delivery it failed on."""

    def on_idle(self) -> None:
        """Nothing is queued or running: end the run if it can never go on."""


@attrs.define(eq=False)
class Execution:
    """The step execution the current task is running, for ``ctx`` calls made inside it.

    One per worker task, reused for each delivery it runs (the context variable is
    set once per task, not once per step).
    """

    delivery: Delivery
    first_attempt_at: float
    waits: int = 0
    last_error: Exception | None = None
    last_failed_at: datetime | None = None
    # A weak reference to the run's Context, for Context.get_step_context().
    context: Callable[[], object] | None = None

    def release(self) -> None:
        """The worker task is done: forget the delivery and the failure it ran.

        Whatever a step scheduled while this execution was current (an asyncio timer
        handle, a task a library started, a callback from a thread) holds a copy of
        the task's context variables, so it holds this object, possibly long after
        the run. Released, it no longer leads to the run, its events or a traceback
        (whose frames hold the workflow and the context).
        """
        self.delivery = RELEASED
        self.last_error = None
        self.last_failed_at = None

    def retry_info(self) -> RetryInfo:
        """Which attempt at its delivery this execution is making, for ``ctx.retry_info()``.

        On a first attempt ``elapsed_seconds`` is 0.0, as ``RetryInfo`` documents (and the
        incumbent gives), however long the step has run: it counts from the first attempt
        only once there is a retry. Released (asked by a task its step left behind, once
        the worker is done), it has no delivery and no failure to tell of: it gives a
        first attempt's values.
        """
        delivery = self.delivery
        if delivery is RELEASED or delivery.attempts <= 1:
            return RetryInfo(
                retry_number=0, elapsed_seconds=0.0, last_exception=None, last_failed_at=None
            )
        return RetryInfo(
            retry_number=delivery.attempts - 1,
            elapsed_seconds=time.monotonic() - self.first_attempt_at,
            last_exception=self.last_error,
            last_failed_at=self.last_failed_at,
        )

    def begin(self, delivery: Delivery, now: float) -> None:
        """Start running ``delivery`` at ``now`` (``time.monotonic()``)."""
        self.delivery = delivery
        self.first_attempt_at = now
        if self.waits:
            self.waits = 0
        if self.last_error is not None:
            self.last_error = None
            self.last_failed_at = None


RELEASED = Delivery(id=-1, step="", event=Event())
"""The delivery of a released Execution: it belongs to no run."""

current_execution: ContextVar[Execution | None] = ContextVar("flowkit_execution", default=None)


async def execute(
    host: StepHost, step: StepRuntime, delivery: Delivery, execution: Execution
) -> None:
    """Run one delivery through ``step``, retrying as its policy says, and route the result.

    An Exception is the step's failure (retried, then handed to @catch_error or ending
    the run); any other BaseException but cancellation ends the run as a failure at once.
    """
    try:
        if host.verbose or host.expose_internal or step.retry_policy is not None:
            result = await _call_with_retries(host, step, delivery, execution)
        else:  # the common case, without the retry loop's bookkeeping
            delivery.attempts += 1
            try:
                result = await step.call(delivery.event)
                if result is not None and not isinstance(result, Event):
                    raise _not_an_event(step, result)
            except Exception as exc:
                elapsed = time.monotonic() - execution.first_attempt_at
                host.give_up(step, delivery, exc, elapsed)
                return
    except anyio.get_cancelled_exc_class():
        raise
    except BaseException as exc:  # not an error to retry or recover from: the run fails
        host.fail(step.name, exc, delivery.attempts, time.monotonic() - execution.first_attempt_at)
        return
    if isinstance(result, _Failed) or host.ended:
        # Failed, or the run ended while the step ran: its result changes nothing, and a
        # cancelled run keeps the delivery in progress to run it again on resume.
        return
    if host.verbose:
        produced = type(result).__name__ if result is not None else "None"
        print(f"Step {step.name} produced event {produced}")
    if host.expose_internal:  # before routing: a StopEvent closes the stream
        host.write_internal(
            StepStateChanged(
                name=step.name,
                step_state=StepState.NOT_RUNNING,
                worker_id=str(delivery.id),
                input_event_name=type(delivery.event).__name__,
                output_event_name=type(result).__name__ if result is not None else None,
            )
        )
    if result is not None:
        host.emit(result)
    host.step_done(delivery)


def _not_an_event(step: StepRuntime, result: object) -> WorkflowRuntimeError:
    return WorkflowRuntimeError(
        f"Step function {step.name} returned {type(result).__name__} instead of an "
        "Event instance. Return an Event, or None to emit nothing."
    )


class _Failed:
    """The step failed for good and the failure is handled: nothing to route."""


_FAILED = _Failed()


async def _call_with_retries(
    host: StepHost, step: StepRuntime, delivery: Delivery, execution: Execution
) -> Event | _Failed | None:
    first = True
    while True:
        delivery.attempts += 1
        if not first:
            host.retrying(step.name)
        first = False
        if host.verbose:
            print(f"Running step {step.name}")
        if host.expose_internal:
            host.write_internal(
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
                host.give_up(step, delivery, exc, elapsed)
                return _FAILED
            execution.last_error = exc
            execution.last_failed_at = datetime.now(timezone.utc)
            if host.verbose:
                print(f"Step {step.name} failed, retrying in {delay} seconds")
            await anyio.sleep(delay)

"""What a run promises, seen from outside (``_engine/run.py``).

Found by mutation testing (docs/mutation-testing.md): each test fails if one line of the
run is broken. The guarantees:

- ``ctx.send_event`` refuses a value that is not an event, a run that has ended, a step
  that does not exist and a step that does not accept the event, each with its whole
  message; an event sent to a step with ``step=`` is counted by ``ctx.statistics()``;
- an event no step accepts is streamed to internal readers as an ``UnhandledEvent``
  naming its class, and saying whether the run was idle when it came;
- a ``StepFailedEvent`` has a UTC ``failed_at``;
- a ``WorkflowFailedEvent`` names the step, its attempts, its elapsed seconds and the
  exception, and wraps a ``BaseException`` in a ``WorkflowRuntimeError`` naming it;
- a restored run with no work fails at once as idle, naming no step;
- a run cancelled before its task has started is done at once (as the incumbent's
  handler, an asyncio future, is once cancelled), and its task never runs a step.

(A bug in the engine failing the run with no step named is in test_fault_injection.py.)
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import anyio
import pytest

from flowkit import Context, Workflow, catch_error, step
from flowkit.errors import (
    WorkflowCancelledByUser,
    WorkflowRuntimeError,
    WorkflowStepDoesNotExistError,
)
from flowkit.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StepFailedEvent,
    StopEvent,
    UnhandledEvent,
    WorkflowFailedEvent,
    WorkflowIdleEvent,
)

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


class Job(Event):
    n: int


class Orphan(Event):
    """An event no step accepts."""


# --- ctx.send_event errors ----------------------------------------------------------------------


class SendsBadly(Workflow):
    """Tries each way of sending wrongly, records the errors, then sends a job by name."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.errors: list[tuple[type[Exception], str]] = []
        self.ctx: Context | None = None

    @step
    async def start(self, ctx: Context, ev: StartEvent) -> Job | None:
        self.ctx = ctx
        attempts: list[tuple[Any, str | None]] = [
            (42, None),
            (Job(n=1), "nowhere"),
            (Job(n=1), "start"),
        ]
        for event, target in attempts:
            try:
                ctx.send_event(event, step=target)
            except Exception as exc:  # recorded and checked below
                self.errors.append((type(exc), str(exc)))
        ctx.send_event(Job(n=2), step="job")
        return None

    @step
    async def job(self, ev: Job) -> StopEvent:
        return StopEvent(result=ev.n)


async def test_send_event_refuses_wrong_sends_with_their_whole_message() -> None:
    workflow = SendsBadly()
    handler = workflow.run()
    with anyio.fail_after(5):
        assert await handler == 2
    assert workflow.errors == [
        (
            WorkflowRuntimeError,
            "send_event() takes an Event instance, got int. Wrap the value in an Event subclass.",
        ),
        (
            WorkflowStepDoesNotExistError,
            "Step nowhere does not exist. The workflow's steps are: job, start.",
        ),
        (
            WorkflowRuntimeError,
            "Step start does not accept event of type Job. "
            "Send it without step= to route it by type, or to a step that accepts it.",
        ),
    ]
    # The job sent by name is counted as entering the run.
    assert handler.ctx.statistics().events.get("Job") == 1
    # Once the run is over, nothing can be sent to it.
    assert workflow.ctx is not None
    with pytest.raises(WorkflowRuntimeError) as caught:
        workflow.ctx.send_event(Job(n=3))
    assert str(caught.value) == (
        "Cannot send Job: the run has already ended. "
        "Start a new run, or resume a snapshot with workflow.run(ctx=...)."
    )


# --- unhandled events ---------------------------------------------------------------------------


class SendsOrphanThenWaits(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        ctx.send_event(Orphan())  # while this step runs: the run is not idle
        answer = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="?"), timeout=None
        )
        return StopEvent(result=answer.response)


async def test_an_unhandled_event_is_streamed_naming_its_class_and_whether_the_run_was_idle() -> (
    None
):
    handler = SendsOrphanThenWaits().run()
    unhandled: list[Event] = []
    with anyio.fail_after(5):
        async for event in handler.stream_events(expose_internal=True):
            if isinstance(event, UnhandledEvent) or event is None:
                unhandled.append(event)
            if isinstance(event, WorkflowIdleEvent):
                handler.ctx.send_event(Orphan())  # nothing runs nor is queued: idle
                handler.ctx.send_event(HumanResponseEvent(response="ok"))
        assert await handler == "ok"
    name = f"{Orphan.__module__}.{Orphan.__qualname__}"
    assert unhandled == [
        UnhandledEvent(event_type="Orphan", qualified_name=name, idle=False),
        UnhandledEvent(event_type="Orphan", qualified_name=name, idle=True),
    ]


# --- failures -----------------------------------------------------------------------------------


class FailsAndIsCaught(Workflow):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.failed: list[StepFailedEvent] = []

    @step
    async def job(self, ev: StartEvent) -> StopEvent:
        raise ValueError("boom")

    @catch_error
    async def recover(self, ev: StepFailedEvent) -> StopEvent:
        self.failed.append(ev)
        return StopEvent(result="recovered")


async def test_a_step_failed_event_is_stamped_in_utc() -> None:
    workflow = FailsAndIsCaught()
    with anyio.fail_after(5):
        assert await workflow.run() == "recovered"
    [failed] = workflow.failed
    assert failed.failed_at.utcoffset() == timedelta(0)


class Fails(Workflow):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = ValueError("boom")

    @step
    async def job(self, ev: StartEvent) -> StopEvent:
        raise self.error


async def test_a_failed_run_reports_the_step_its_attempts_its_time_and_the_exception() -> None:
    workflow = Fails()
    handler = workflow.run()
    before = time.monotonic()
    with anyio.fail_after(5):
        streamed = [event async for event in handler.stream_events()]
        with pytest.raises(ValueError, match=r"^boom$"):
            await handler
    took = time.monotonic() - before
    [terminal] = streamed
    assert isinstance(terminal, WorkflowFailedEvent)
    assert terminal.step_name == "job"
    assert terminal.attempts == 1
    assert terminal.exception is workflow.error
    assert isinstance(terminal.elapsed_seconds, float)
    assert 0.0 <= terminal.elapsed_seconds <= took


class Abort(BaseException):
    """Not an Exception: the failure event wraps it."""


class Aborts(Workflow):
    @step
    async def boom(self, ev: StartEvent) -> StopEvent:
        raise Abort("stop everything")


async def test_a_base_exception_is_wrapped_in_a_runtime_error_naming_it() -> None:
    handler = Aborts().run()
    with anyio.fail_after(5):
        streamed = [event async for event in handler.stream_events()]
        with pytest.raises(Abort):
            await handler
    [terminal] = streamed
    assert isinstance(terminal, WorkflowFailedEvent)
    assert isinstance(terminal.exception, WorkflowRuntimeError)
    assert str(terminal.exception) == "Abort('stop everything')"


class Paused(Workflow):
    """``first`` waits for the gate; a snapshot taken then holds it in progress."""

    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.gate = anyio.Event()

    @step
    async def first(self, ev: StartEvent) -> Job:
        await self.gate.wait()
        return Job(n=1)

    @step
    async def second(self, ev: Job) -> StopEvent:
        return StopEvent(result=ev.n)


async def test_a_restored_run_with_nothing_to_do_fails_as_idle_naming_no_step() -> None:
    """A snapshot edited to hold no work (nothing queued, in progress or awaited) restores
    into a run that can never finish: it fails at once, and no step of this process ran."""
    workflow = Paused()
    handler = workflow.run()
    await anyio.wait_all_tasks_blocked()
    snapshot = handler.ctx.to_dict()
    await handler.cancel_run()
    assert [d["step"] for d in snapshot["in_progress"]] == ["first"]
    snapshot["in_progress"] = []

    resumed = workflow.run(ctx=Context.from_dict(workflow, snapshot))
    with anyio.fail_after(5):
        streamed = [event async for event in resumed.stream_events()]
        with pytest.raises(WorkflowRuntimeError) as caught:
            await resumed
    assert str(caught.value) == (
        "Workflow 'Paused' is idle and can never finish: no step is running, no event is "
        "queued, and no step or waiter accepts events from outside. Make the steps return an "
        "event on every path, ending with StopEvent."
    )
    [terminal] = streamed
    assert isinstance(terminal, WorkflowFailedEvent)
    assert terminal.step_name == ""
    assert terminal.exception is caught.value


# --- cancelling a run that waits for a run slot -------------------------------------------------


class Holds(Workflow):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(num_concurrent_runs=1, **kwargs)
        self.gate = anyio.Event()
        self.started = 0

    @step
    async def hold(self, ev: StartEvent) -> StopEvent:
        self.started += 1
        await self.gate.wait()
        return StopEvent(result="held")


def _flowkit_tasks() -> set[int]:
    return {t.id for t in anyio.get_running_tasks() if t.name and "flowkit" in t.name}


async def test_a_run_cancelled_while_waiting_for_a_slot_ends_its_task_at_once() -> None:
    workflow = Holds()
    first = workflow.run()
    await anyio.wait_all_tasks_blocked()
    before = _flowkit_tasks()
    second = workflow.run()
    await anyio.wait_all_tasks_blocked()
    assert workflow.started == 1  # the second run waits for the slot
    await second.cancel_run()
    with anyio.fail_after(5):
        with pytest.raises(WorkflowCancelledByUser):
            await second
        await anyio.wait_all_tasks_blocked()
        assert _flowkit_tasks() == before  # while the first run still holds the slot
        workflow.gate.set()
        assert await first == "held"
    assert workflow.started == 1


async def test_a_run_cancelled_before_its_task_starts_is_done_at_once(
    no_leaked_tasks: None,
) -> None:
    workflow = Holds()
    handler = workflow.run()
    with pytest.warns(DeprecationWarning, match="use await handler.cancel_run"):
        handler.cancel()  # synchronous: the run's task has not had a turn yet
    assert handler.is_done()
    with pytest.warns(DeprecationWarning, match="check await handler instead"):
        assert handler.cancelled()
    with pytest.raises(WorkflowCancelledByUser):
        await handler
    await anyio.wait_all_tasks_blocked()
    assert workflow.started == 0

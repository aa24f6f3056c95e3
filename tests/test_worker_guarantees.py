"""What one step execution promises, seen from outside (the worker, ``_engine/worker.py``).

Found by mutation testing (docs/mutation-testing.md): each test fails if one line of the
worker is broken. The guarantees:

- ``ctx.retry_info()`` gives 0.0 elapsed seconds on a first attempt, describes the previous
  failure (a UTC timestamp included) and the time since the first attempt on a retry, and
  starts clean on the next event the same worker runs;
- a retry policy, a ``StepFailedEvent`` and a ``WorkflowFailedEvent`` get the seconds
  since the first attempt on the event and the number of attempts, with or without a
  retry policy, for an ``Exception`` and for a ``BaseException``;
- a step that returns something other than an event fails at once with a
  ``WorkflowRuntimeError`` naming the step and the type, retry policy or not;
- ``StepStateChanged`` events name the step's execution, its input and its output;
- a step re-run after a restore counts the attempt made before the snapshot, and its
  ``wait_for_event`` gets an answer that came before the snapshot, even when it is the
  second wait of one worker;
- a task a step leaves behind no longer sees the step's failure once the run is over:
  its ``ctx.retry_info()`` gives a first attempt's values (retry number 0, no failure).
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from anyio.abc import TaskGroup

from flowkit import Context, Workflow, catch_error, step
from flowkit.errors import WorkflowCancelledByUser, WorkflowRuntimeError
from flowkit.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StepFailedEvent,
    StepState,
    StepStateChanged,
    StopEvent,
    WorkflowFailedEvent,
)
from flowkit.retry_policy import (
    RetryInfo,
    RetryPolicy,
    retry_policy,
    stop_after_attempt,
    wait_fixed,
)

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

RETRY_ONCE = retry_policy(wait=wait_fixed(0), stop=stop_after_attempt(2))
RETRY_TWICE = retry_policy(wait=wait_fixed(0), stop=stop_after_attempt(3))


class Job(Event):
    n: int


# --- ctx.retry_info() ---------------------------------------------------------------------------


class FailsFirstJobOnce(Workflow):
    """Two jobs on one worker; the first fails once and is retried."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seen: list[tuple[int, RetryInfo]] = []
        self.error = ValueError("first attempt")

    @step
    async def start(self, ctx: Context, ev: StartEvent) -> Job | None:
        ctx.send_event(Job(n=1))
        ctx.send_event(Job(n=2))
        return None

    @step(num_workers=1, retry_policy=RETRY_ONCE)
    async def job(self, ctx: Context, ev: Job) -> StopEvent | None:
        info = ctx.retry_info()
        self.seen.append((ev.n, info))
        if ev.n == 1 and info.retry_number == 0:
            raise self.error
        return StopEvent(result="done") if ev.n == 2 else None


async def test_retry_info_describes_the_last_failure_and_starts_clean_on_the_next_event() -> None:
    workflow = FailsFirstJobOnce()
    with anyio.fail_after(5):
        assert await workflow.run() == "done"
    [(n1, first), (n1_again, retry), (n2, next_event)] = workflow.seen
    assert (n1, n1_again, n2) == (1, 1, 2)
    assert (first.retry_number, first.last_exception, first.last_failed_at) == (0, None, None)
    assert retry.retry_number == 1
    assert retry.last_exception is workflow.error
    assert isinstance(retry.last_failed_at, datetime)
    assert retry.last_failed_at.utcoffset() == timedelta(0)  # timezone-aware UTC
    # The next event the same worker runs: a first attempt, with no failure behind it.
    assert next_event.retry_number == 0
    assert next_event.last_exception is None
    assert next_event.last_failed_at is None


class FailsTwice(Workflow):
    """Fails on its first two attempts; each attempt yields before asking, so time passes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seen: list[RetryInfo] = []

    @step(retry_policy=RETRY_TWICE)
    async def job(self, ctx: Context, ev: StartEvent) -> StopEvent:
        await anyio.lowlevel.checkpoint()
        info = ctx.retry_info()
        self.seen.append(info)
        if info.retry_number < 2:
            raise ValueError(f"attempt {info.retry_number}")
        return StopEvent(result="done")


class NoPolicy(Workflow):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seen: list[RetryInfo] = []

    @step
    async def job(self, ctx: Context, ev: StartEvent) -> StopEvent:
        await anyio.lowlevel.checkpoint()
        self.seen.append(ctx.retry_info())
        return StopEvent(result="done")


async def test_retry_info_gives_zero_elapsed_seconds_on_a_first_attempt_and_counts_on_retries() -> (
    None
):
    """RetryInfo (and the incumbent) say 0.0 on the first attempt, however long it has run."""
    first_attempt = RetryInfo(
        retry_number=0, elapsed_seconds=0.0, last_exception=None, last_failed_at=None
    )
    no_policy = NoPolicy()
    with anyio.fail_after(5):
        assert await no_policy.run() == "done"
    assert no_policy.seen == [first_attempt]

    workflow = FailsTwice()
    with anyio.fail_after(5):
        assert await workflow.run() == "done"
    [first, second, third] = workflow.seen
    assert first == first_attempt
    assert [second.retry_number, third.retry_number] == [1, 2]
    # Later attempts count from the start of the first one.
    assert 0.0 < second.elapsed_seconds < third.elapsed_seconds


# --- elapsed time and attempts of a failure -----------------------------------------------------


class RecordingPolicy:
    """Retries once at once, and records what the engine tells it."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, int]] = []

    def next(
        self, elapsed_time: float, attempts: int, error: Exception, *, seed: int | None = None
    ) -> float | None:
        self.calls.append((elapsed_time, attempts))
        return 0.0 if attempts < 2 else None


def _fails_and_recovers(policy: RetryPolicy | None) -> Any:
    class FailsAndRecovers(Workflow):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.calls = 0
            self.failed: list[StepFailedEvent] = []

        @step
        async def start(self, ev: StartEvent) -> Job:
            return Job(n=1)

        @step(retry_policy=policy)
        async def job(self, ev: Job) -> StopEvent:
            self.calls += 1
            raise ValueError("always")

        @catch_error
        async def recover(self, ev: StepFailedEvent) -> StopEvent:
            self.failed.append(ev)
            return StopEvent(result="recovered")

    return FailsAndRecovers()


@pytest.mark.parametrize("with_policy", [False, True], ids=["no policy", "retry policy"])
async def test_a_failure_reports_its_attempts_and_the_seconds_since_the_first_attempt(
    with_policy: bool,
) -> None:
    """Elapsed times are checked against the time measured around the run, not a guess."""
    policy = RecordingPolicy() if with_policy else None
    workflow = _fails_and_recovers(policy)
    before = time.monotonic()
    with anyio.fail_after(5):
        assert await workflow.run() == "recovered"
    took = time.monotonic() - before
    attempts = 2 if with_policy else 1
    assert workflow.calls == attempts
    [failed] = workflow.failed
    assert failed.step_name == "job"
    assert failed.attempts == attempts
    assert isinstance(failed.elapsed_seconds, float)
    assert 0.0 <= failed.elapsed_seconds <= took
    if policy is not None:
        assert [a for _, a in policy.calls] == [1, 2]
        elapsed = [e for e, _ in policy.calls]
        assert all(0.0 <= e <= took for e in elapsed)
        assert elapsed == sorted(elapsed)  # counted from the same first attempt
        assert elapsed[-1] <= failed.elapsed_seconds


class Abort(BaseException):
    """A user's own "abort" signal: not an Exception, so not retried nor recovered."""


@pytest.mark.parametrize("with_policy", [False, True], ids=["no policy", "retry policy"])
async def test_a_base_exception_fails_the_run_with_one_attempt_and_its_elapsed_time(
    with_policy: bool,
) -> None:
    class Aborts(Workflow):
        @step(retry_policy=RETRY_TWICE if with_policy else None)
        async def boom(self, ev: StartEvent) -> StopEvent:
            raise Abort("stop everything")

    handler = Aborts().run()
    before = time.monotonic()
    with anyio.fail_after(5):
        streamed = [event async for event in handler.stream_events()]
        with pytest.raises(Abort):
            await handler
    took = time.monotonic() - before
    [terminal] = streamed
    assert isinstance(terminal, WorkflowFailedEvent)
    assert terminal.step_name == "boom"
    assert terminal.attempts == 1
    assert isinstance(terminal.elapsed_seconds, float)
    assert 0.0 <= terminal.elapsed_seconds <= took


# --- a step that returns something other than an event ------------------------------------------


@pytest.mark.parametrize("with_policy", [False, True], ids=["no policy", "retry policy"])
async def test_a_non_event_return_fails_at_once_naming_the_step_and_the_type(
    with_policy: bool,
) -> None:
    class ReturnsText(Workflow):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.calls = 0

        @step(retry_policy=RETRY_TWICE if with_policy else None)
        async def chatty(self, ev: StartEvent) -> StopEvent:
            self.calls += 1
            return "not an event"  # type: ignore[return-value]

    workflow = ReturnsText()
    with (
        anyio.fail_after(5),
        pytest.raises(
            WorkflowRuntimeError,
            match=r"^Step function chatty returned str instead of an Event instance\. ",
        ),
    ):
        await workflow.run()
    assert workflow.calls == 1  # flowkit's own error is not retried


# --- StepStateChanged ---------------------------------------------------------------------------


class Middle(Event):
    pass


class Last(Event):
    pass


class ThreeSteps(Workflow):
    """Returns an event, then None (sending one instead), then a StopEvent."""

    @step
    async def first(self, ev: StartEvent) -> Middle:
        return Middle()

    @step
    async def middle(self, ctx: Context, ev: Middle) -> Last | None:
        ctx.send_event(Last())
        return None

    @step
    async def last(self, ev: Last) -> StopEvent:
        return StopEvent(result="end")


async def test_step_state_changes_name_the_execution_its_input_and_its_output() -> None:
    handler = ThreeSteps().run()
    with anyio.fail_after(5):
        streamed = [event async for event in handler.stream_events(expose_internal=True)]
        assert await handler == "end"
    changes = [event for event in streamed if isinstance(event, StepStateChanged)]
    assert [(c.name, c.step_state, c.input_event_name, c.output_event_name) for c in changes] == [
        ("first", StepState.RUNNING, "StartEvent", None),
        ("first", StepState.NOT_RUNNING, "StartEvent", "Middle"),
        ("middle", StepState.RUNNING, "Middle", None),
        ("middle", StepState.NOT_RUNNING, "Middle", None),
        ("last", StepState.RUNNING, "Last", None),
        ("last", StepState.NOT_RUNNING, "Last", "StopEvent"),
    ]
    # The start and the end of one execution name the same worker.
    for started, ended in zip(changes[::2], changes[1::2], strict=True):
        assert started.worker_id == ended.worker_id


# --- restored steps -----------------------------------------------------------------------------


class FailsAfterAnswer(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        answer = await ctx.wait_for_event(HumanResponseEvent, timeout=None)
        raise ValueError(answer.response)


async def test_a_step_run_again_after_a_restore_counts_the_attempt_before_the_snapshot() -> None:
    handler = FailsAfterAnswer().run()
    await anyio.wait_all_tasks_blocked()
    data = json.loads(json.dumps(handler.ctx.to_dict()))
    await handler.cancel_run()
    with pytest.raises(WorkflowCancelledByUser):
        await handler
    [in_progress] = data["in_progress"]
    assert (in_progress["step"], in_progress["attempts"]) == ("ask", 1)

    fresh = FailsAfterAnswer()
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    await anyio.wait_all_tasks_blocked()
    resumed.ctx.send_event(HumanResponseEvent(response="no"))
    with anyio.fail_after(5):
        streamed = [event async for event in resumed.stream_events()]
        with pytest.raises(ValueError, match=r"^no$"):
            await resumed
    [terminal] = streamed
    assert isinstance(terminal, WorkflowFailedEvent)
    assert terminal.attempts == 2  # the step ran before the snapshot, and once after


class Question(InputRequiredEvent):
    n: int


class Answered(Event):
    n: int
    response: str


class TwoQuestions(Workflow):
    """One worker asks two questions, one event after the other."""

    @step
    async def start(self, ctx: Context, ev: StartEvent) -> Job | None:
        ctx.send_event(Job(n=1))
        ctx.send_event(Job(n=2))
        return None

    @step(num_workers=1)
    async def ask(self, ctx: Context, ev: Job) -> Answered:
        answer = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=Question(n=ev.n), timeout=None
        )
        return Answered(n=ev.n, response=answer.response)

    @step
    async def gather(self, ctx: Context, ev: Answered) -> StopEvent | None:
        batch = ctx.collect_events(ev, [Answered, Answered])
        if batch is None:
            return None
        return StopEvent(result=sorted((a.n, a.response) for a in batch if isinstance(a, Answered)))


async def test_an_answer_given_before_a_snapshot_reaches_the_second_wait_of_a_worker() -> None:
    handler = TwoQuestions().run()
    data: dict[str, Any] = {}
    with anyio.fail_after(5):
        async for event in handler.stream_events():
            if isinstance(event, Question):
                handler.ctx.send_event(HumanResponseEvent(response=f"answer {event.n}"))
                if event.n == 2:  # answered, but the step has not taken the answer yet
                    data = json.loads(json.dumps(handler.ctx.to_dict()))
                    await handler.cancel_run()
        with pytest.raises(WorkflowCancelledByUser):
            await handler
    assert [w["resolved"] is not None for w in data["waiters"]] == [True]

    fresh = TwoQuestions()
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    with anyio.fail_after(5):
        async for event in resumed.stream_events():
            # The restored step takes the answer it was given: it asks nothing again.
            assert not isinstance(event, InputRequiredEvent), event
        assert await resumed == [(1, "answer 1"), (2, "answer 2")]


# --- what a step leaves behind ------------------------------------------------------------------


class LeavesATask(Workflow):
    """Its step fails once, then starts a task (in the caller's task group) that outlives it."""

    def __init__(self, task_group: TaskGroup, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task_group = task_group
        self.run_over = anyio.Event()
        self.seen: list[RetryInfo] = []

    @step(retry_policy=RETRY_ONCE)
    async def work(self, ctx: Context, ev: StartEvent) -> StopEvent:
        if ctx.retry_info().retry_number == 0:
            raise ValueError("first attempt")
        self.task_group.start_soon(self.later, ctx)
        return StopEvent(result="done")

    async def later(self, ctx: Context) -> None:
        await self.run_over.wait()
        self.seen.append(ctx.retry_info())


async def test_a_task_a_step_left_behind_sees_a_first_attempt_not_the_failure() -> None:
    """Such a task holds the step's execution; released, it holds no failure (Execution.release).

    Its ``retry_info()`` gives a first attempt's values then, never a retry number of -1.
    """
    async with anyio.create_task_group() as task_group:
        workflow = LeavesATask(task_group)
        with anyio.fail_after(5):
            assert await workflow.run() == "done"
        workflow.run_over.set()
    assert workflow.seen == [
        RetryInfo(retry_number=0, elapsed_seconds=0.0, last_exception=None, last_failed_at=None)
    ]

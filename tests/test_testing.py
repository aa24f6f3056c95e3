"""Tests for flowkit.testing: WorkflowTestRunner runs a workflow and collects its stream."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from flowkit import Context, Workflow, step
from flowkit.context import Context as ContextClass
from flowkit.events import Event, StartEvent, StepState, StepStateChanged, StopEvent
from flowkit.testing import WorkflowTestResult, WorkflowTestRunner

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


class Progress(Event):
    n: int


class DetailedProgress(Progress):
    detail: str


class Middle(Event):
    pass


class TwoSteps(Workflow):
    """Each step streams a Progress; the first stores the StartEvent's name."""

    @step
    async def first(self, ctx: Context[Any], ev: StartEvent) -> Middle:
        ctx.write_event_to_stream(Progress(n=1))
        await ctx.store.set("name", ev.get("name", "nobody"))
        return Middle()

    @step
    async def second(self, ctx: Context[Any], ev: Middle) -> StopEvent:
        ctx.write_event_to_stream(Progress(n=2))
        ctx.write_event_to_stream(DetailedProgress(n=3, detail="almost"))
        return StopEvent(result=f"hello {await ctx.store.get('name')}")


USER_EVENTS: list[Event] = [
    Progress(n=1),
    Progress(n=2),
    DetailedProgress(n=3, detail="almost"),
    StopEvent(result="hello Ada"),
]


async def test_runner_collects_the_stream_and_counts_event_types() -> None:
    with anyio.fail_after(5):
        outcome = await WorkflowTestRunner(TwoSteps()).run(
            start_event=StartEvent(name="Ada"), expose_internal=False
        )

    assert isinstance(outcome, WorkflowTestResult)
    assert outcome.collected == USER_EVENTS
    assert outcome.event_types == {Progress: 2, DetailedProgress: 1, StopEvent: 1}
    assert outcome.result == "hello Ada"


async def test_runner_returns_the_run_context() -> None:
    with anyio.fail_after(5):
        outcome = await WorkflowTestRunner(TwoSteps()).run(start_event=StartEvent(name="Ada"))

    assert isinstance(outcome.ctx, ContextClass)
    assert not outcome.ctx.is_running
    assert await outcome.ctx.store.get("name") == "Ada"


async def test_runner_starts_with_an_empty_start_event_by_default() -> None:
    with anyio.fail_after(5):
        outcome = await WorkflowTestRunner(TwoSteps()).run(expose_internal=False)

    assert outcome.result == "hello nobody"


async def test_runner_exposes_internal_events_by_default() -> None:
    with anyio.fail_after(5):
        outcome = await WorkflowTestRunner(TwoSteps()).run(start_event=StartEvent(name="Ada"))

    changes = [
        (ev.name, ev.step_state) for ev in outcome.collected if isinstance(ev, StepStateChanged)
    ]
    others = [ev for ev in outcome.collected if not isinstance(ev, StepStateChanged)]
    # Each step reports that it started and that it finished, as llama-index-workflows does.
    assert changes == [
        ("first", StepState.RUNNING),
        ("first", StepState.NOT_RUNNING),
        ("second", StepState.RUNNING),
        ("second", StepState.NOT_RUNNING),
    ]
    assert outcome.event_types[StepStateChanged] == 4
    assert others == USER_EVENTS
    assert outcome.collected[-1] == StopEvent(result="hello Ada")


async def test_runner_excludes_events_of_the_given_types() -> None:
    with anyio.fail_after(5):
        outcome = await WorkflowTestRunner(TwoSteps()).run(
            start_event=StartEvent(name="Ada"), exclude_events=[StepStateChanged]
        )

    assert outcome.collected == USER_EVENTS
    assert StepStateChanged not in outcome.event_types
    assert outcome.result == "hello Ada"


async def test_runner_excludes_exactly_the_given_types_not_their_subclasses() -> None:
    # llama-index-workflows filters with ``type(event) in exclude_events``.
    with anyio.fail_after(5):
        outcome = await WorkflowTestRunner(TwoSteps()).run(
            start_event=StartEvent(name="Ada"),
            expose_internal=False,
            exclude_events=[Progress],
        )

    assert outcome.collected == [
        DetailedProgress(n=3, detail="almost"),
        StopEvent(result="hello Ada"),
    ]
    assert outcome.event_types == {DetailedProgress: 1, StopEvent: 1}


class Visits(Workflow):
    @step
    async def visit(self, ctx: Context[Any], ev: StartEvent) -> StopEvent:
        visits: int = await ctx.store.get("visits", default=0) + 1
        await ctx.store.set("visits", visits)
        return StopEvent(result=visits)


async def test_runner_reuses_a_given_context() -> None:
    runner = WorkflowTestRunner(Visits())
    with anyio.fail_after(5):
        first = await runner.run()
        second = await runner.run(ctx=first.ctx)

    assert (first.result, second.result) == (1, 2)
    assert second.ctx is first.ctx


class Broken(Workflow):
    @step
    async def fail(self, ev: StartEvent) -> StopEvent:
        raise RuntimeError("step went wrong")


async def test_runner_raises_what_the_run_raises() -> None:
    with anyio.fail_after(5), pytest.raises(RuntimeError, match=r"^step went wrong$"):
        await WorkflowTestRunner(Broken()).run()

"""``Context.statistics()``: the counters of a run, live, finished and restored from a snapshot."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from flowkit import Context, Workflow, step
from flowkit.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent
from flowkit.retry_policy import retry_policy, stop_after_attempt, wait_fixed
from flowkit.statistics import RunStatistics, WaitingStep

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


class Middle(Event):
    n: int


class Chain(Workflow):
    @step
    async def first(self, ev: StartEvent) -> Middle:
        return Middle(n=1)

    @step
    async def second(self, ev: Middle) -> Middle | StopEvent:
        if ev.n < 3:
            return Middle(n=ev.n + 1)
        return StopEvent(result=ev.n)


class Ask(Workflow):
    @step
    async def start(self, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prefix="name?")

    @step
    async def answer(self, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=ev.response)


class Waiting(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        answer = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="ok?"), timeout=None
        )
        return StopEvent(result=answer.response)


class Flaky(Workflow):
    @step(retry_policy=retry_policy(wait=wait_fixed(0), stop=stop_after_attempt(3)))
    async def fails(self, ev: StartEvent) -> StopEvent:
        raise ValueError("always")


def json_round_trip(data: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(data))
    return loaded


async def test_finished_run_counts_step_calls_and_events() -> None:
    handler = Chain().run()
    with anyio.fail_after(5):
        assert await handler == 3
    assert handler.ctx.statistics() == RunStatistics(
        step_runs={"first": 1, "second": 3},
        events={"StartEvent": 1, "Middle": 3, "StopEvent": 1},
        failed_step=None,
        waiting=(),
        finished=True,
    )


async def test_live_run_shows_the_waiting_step_and_counts_the_answer() -> None:
    workflow = Waiting()
    handler = workflow.run()
    events = handler.stream_events()
    with anyio.fail_after(5):
        prompt = await events.__anext__()
    assert isinstance(prompt, InputRequiredEvent)
    live = handler.ctx.statistics()
    assert live.waiting == (WaitingStep("ask", "HumanResponseEvent", "InputRequiredEvent"),)
    assert live.step_runs == {"ask": 1}
    assert live.events == {"StartEvent": 1}
    assert not live.finished

    handler.ctx.send_event(HumanResponseEvent(response="yes"))
    with anyio.fail_after(5):
        assert await handler == "yes"
    done = handler.ctx.statistics()
    assert done.waiting == ()
    assert done.events == {"StartEvent": 1, "HumanResponseEvent": 1, "StopEvent": 1}
    assert done.finished


async def test_input_required_events_are_counted_as_they_enter_the_run() -> None:
    handler = Ask().run()
    with anyio.fail_after(5):
        async for event in handler.stream_events():
            if isinstance(event, InputRequiredEvent):
                handler.ctx.send_event(HumanResponseEvent(response="Ada"))
        assert await handler == "Ada"
    stats = handler.ctx.statistics()
    assert stats.events == {
        "StartEvent": 1,
        "InputRequiredEvent": 1,
        "HumanResponseEvent": 1,
        "StopEvent": 1,
    }
    assert stats.step_runs == {"start": 1, "answer": 1}


async def test_failed_run_names_the_step_and_counts_each_retry() -> None:
    handler = Flaky().run()
    with anyio.fail_after(5), pytest.raises(ValueError, match=r"^always$"):
        await handler
    stats = handler.ctx.statistics()
    assert stats.failed_step == "fails"
    assert stats.step_runs == {"fails": 3}
    assert stats.finished


async def test_restored_context_keeps_the_counters_and_the_resumed_run_adds_to_them() -> None:
    workflow = Waiting()
    handler = workflow.run()
    with anyio.fail_after(5):
        await handler.stream_events().__anext__()
    data = json_round_trip(handler.ctx.to_dict())
    await handler.cancel_run()
    assert data["statistics"] == {
        "step_runs": {"ask": 1},
        "events": {"StartEvent": 1},
        "failed_step": None,
    }

    restored = Context.from_dict(workflow, data)
    assert restored.statistics() == RunStatistics(
        step_runs={"ask": 1},
        events={"StartEvent": 1},
        waiting=(WaitingStep("ask", "HumanResponseEvent", "InputRequiredEvent"),),
        finished=False,
    )
    resumed = workflow.run(ctx=restored)
    resumed.ctx.send_event(HumanResponseEvent(response="later"))
    with anyio.fail_after(5):
        assert await resumed == "later"
    stats = resumed.ctx.statistics()
    assert stats.step_runs == {"ask": 2}  # the step ran again from its top on resume
    assert stats.events == {"StartEvent": 1, "HumanResponseEvent": 1, "StopEvent": 1}
    assert stats.finished


async def test_a_snapshot_without_statistics_loads_with_zero_counters() -> None:
    workflow = Waiting()
    handler = workflow.run()
    with anyio.fail_after(5):
        await handler.stream_events().__anext__()
    data = json_round_trip(handler.ctx.to_dict())
    await handler.cancel_run()
    del data["statistics"]  # as written before the key existed

    restored = Context.from_dict(workflow, data)
    stats = restored.statistics()
    assert stats.step_runs == {}
    assert stats.events == {}
    assert stats.failed_step is None
    assert stats.waiting == (WaitingStep("ask", "HumanResponseEvent", "InputRequiredEvent"),)


async def test_a_new_context_has_zero_counters_and_is_not_finished() -> None:
    stats = Context(Chain()).statistics()
    assert stats == RunStatistics()


@pytest.mark.parametrize(
    "counters",
    [
        pytest.param(
            {"step_runs": {}, "events": {"StartEvent": 1}, "failed_step": None}, id="events"
        ),
        pytest.param({"step_runs": {}, "events": {}, "failed_step": "ask"}, id="failed step"),
    ],
)
async def test_counters_without_step_runs_are_kept_when_frozen_again(
    counters: dict[str, Any],
) -> None:
    # Only counters that are all zero are left out of a snapshot.
    workflow = Waiting()
    handler = workflow.run()
    with anyio.fail_after(5):
        await handler.stream_events().__anext__()
    data = json_round_trip(handler.ctx.to_dict())
    await handler.cancel_run()
    data["statistics"] = counters

    restored = Context.from_dict(workflow, data)
    assert restored.to_dict()["statistics"] == counters
    stats = restored.statistics()
    assert (stats.step_runs, stats.events, stats.failed_step) == (
        {},
        counters["events"],
        counters["failed_step"],
    )

"""``wait_for_event`` and ``collect_events`` bookkeeping seen from outside: the run's count
of open work, the waiters it lists, the buffers a snapshot holds. Found by mutation
testing (docs/mutation-testing.md): each test fails if one line of the ledger is broken."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from flowkit import Context, Workflow, step
from flowkit.errors import WorkflowRuntimeError
from flowkit.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
    WorkflowIdleEvent,
)
from flowkit.statistics import WaitingStep

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


class Busy(Event):
    pass


class AnswerWhileBusy(Workflow):
    """One step waits; another is still running when the answer comes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = anyio.Event()

    @step
    async def start(self, ev: StartEvent) -> Busy:
        return Busy()

    @step
    async def wait(self, ctx: Context, ev: Busy) -> StopEvent:
        answer = await ctx.wait_for_event(HumanResponseEvent, timeout=None)
        await self.gate.wait()  # still running after the other step ended
        return StopEvent(result=answer.response)

    @step
    async def busy(self, ev: Busy) -> None:
        await self.gate.wait()


@pytest.mark.parametrize("gate_first", [False, True])
async def test_an_answer_while_other_steps_run_keeps_the_run_going(gate_first: bool) -> None:
    workflow = AnswerWhileBusy()
    handler = workflow.run()
    await anyio.wait_all_tasks_blocked()
    if gate_first:
        workflow.gate.set()
        await anyio.wait_all_tasks_blocked()
    handler.ctx.send_event(HumanResponseEvent(response="yes"))
    workflow.gate.set()
    with anyio.fail_after(5):
        assert await handler == "yes"


class Waits(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        answer = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="?"), timeout=None
        )
        return StopEvent(result=answer.response)


async def test_a_waiting_run_streams_one_idle_event_to_internal_readers() -> None:
    handler = Waits().run()
    streamed: list[Event] = []
    with anyio.fail_after(5):
        async for event in handler.stream_events(expose_internal=True):
            streamed.append(event)
            if isinstance(event, WorkflowIdleEvent):
                handler.ctx.send_event(HumanResponseEvent(response="ok"))
        assert await handler == "ok"
    assert sum(isinstance(e, WorkflowIdleEvent) for e in streamed) == 1


class TwoWaitsAtOnce(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        answers: dict[str, str] = {}

        async def wait(q: str) -> None:
            event = await ctx.wait_for_event(
                HumanResponseEvent, requirements={"q": q}, timeout=None
            )
            answers[q] = event.response

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait, "a")
            tg.start_soon(wait, "b")
        return StopEvent(result=answers)


async def test_two_waits_at_once_in_one_step_are_two_waiters() -> None:
    handler = TwoWaitsAtOnce().run()
    await anyio.wait_all_tasks_blocked()
    assert handler.ctx.statistics().waiting == (
        WaitingStep("ask", "HumanResponseEvent"),
        WaitingStep("ask", "HumanResponseEvent"),
    )
    handler.ctx.send_event(HumanResponseEvent(response="B", q="b"))
    handler.ctx.send_event(HumanResponseEvent(response="A", q="a"))
    with anyio.fail_after(5):
        assert await handler == {"a": "A", "b": "B"}


class Path(Event):
    pass


class ChangesPath(Workflow):
    """Waits on its first run; after a restore it takes another path and does not wait."""

    def __init__(self, wait: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.wait = wait
        self.gate = anyio.Event()

    @step
    async def first(self, ctx: Context, ev: StartEvent) -> Path:
        if self.wait:
            await ctx.wait_for_event(HumanResponseEvent, timeout=None)
        return Path()

    @step
    async def second(self, ev: Path) -> StopEvent:
        await self.gate.wait()
        return StopEvent(result="other path")


async def test_a_waiter_its_restored_step_no_longer_asks_for_is_dropped() -> None:
    workflow = ChangesPath(wait=True)
    handler = workflow.run()
    await anyio.wait_all_tasks_blocked()
    data = json.loads(json.dumps(handler.ctx.to_dict()))
    await handler.cancel_run()
    assert len(data["waiters"]) == 1

    fresh = ChangesPath(wait=False)
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    await anyio.wait_all_tasks_blocked()
    assert resumed.ctx.statistics().waiting == ()
    assert resumed.ctx.to_dict()["waiters"] == []
    fresh.gate.set()
    with anyio.fail_after(5):
        assert await resumed == "other path"


class Part(Event):
    n: int


class Gathered(Event):
    total: int


class FanIn(Workflow):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = anyio.Event()

    @step
    async def spread(self, ctx: Context, ev: StartEvent) -> Part | None:
        for n in range(3):
            ctx.send_event(Part(n=n))
        return None

    @step(num_workers=1)
    async def gather(self, ctx: Context, ev: Part) -> Gathered | None:
        batch = ctx.collect_events(ev, [Part, Part])
        if batch is None:
            return None
        return Gathered(total=sum(p.n for p in batch if isinstance(p, Part)))

    @step
    async def finish(self, ev: Gathered) -> StopEvent:
        await self.gate.wait()
        return StopEvent(result=ev.total)


async def test_a_completed_batch_leaves_the_buffer_and_the_rest_stays() -> None:
    workflow = FanIn()
    handler = workflow.run()
    await anyio.wait_all_tasks_blocked()
    data = handler.ctx.to_dict()
    # Parts 0 and 1 made the batch and are gone; part 2 waits for a partner.
    assert [d["event"]["n"] for d in data["collected"]["gather"]] == [2]
    workflow.gate.set()
    with anyio.fail_after(5):
        assert await handler == 1


class AnsweredThenNothing(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent | None:
        await ctx.wait_for_event(HumanResponseEvent, timeout=None)
        return None  # answered, and then nothing is left to do


async def test_an_answered_wait_whose_step_ends_leaves_the_run_idle() -> None:
    handler = AnsweredThenNothing().run()
    await anyio.wait_all_tasks_blocked()
    handler.ctx.send_event(HumanResponseEvent(response="ok"))
    with (
        anyio.fail_after(5),
        pytest.raises(WorkflowRuntimeError, match="is idle and can never finish"),
    ):
        await handler


class Rounds(Workflow):
    """Pairs parts sent by the caller; the first batch waits at a gate; two batches end it."""

    def __init__(self, hold: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hold = hold
        self.gate = anyio.Event()

    @step
    async def start(self, ev: StartEvent) -> Part | None:
        return None  # the caller sends the parts

    @step(num_workers=1)
    async def gather(self, ctx: Context, ev: Part) -> StopEvent | None:
        batch = ctx.collect_events(ev, [Part, Part])
        if batch is None:
            return None
        if self.hold:
            await self.gate.wait()
        pairs: list[list[int]] = await ctx.store.get("pairs", default=[])
        pairs.append([p.n for p in batch if isinstance(p, Part)])
        await ctx.store.set("pairs", pairs)
        return StopEvent(result=pairs) if len(pairs) == 2 else None


async def test_a_batch_completed_again_after_a_restore_leaves_the_buffer_right() -> None:
    workflow = Rounds(hold=True)
    handler = workflow.run()
    handler.ctx.send_event(Part(n=0))
    handler.ctx.send_event(Part(n=1))
    await anyio.wait_all_tasks_blocked()  # the batch is complete; its step waits at the gate
    data = json.loads(json.dumps(handler.ctx.to_dict()))
    await handler.cancel_run()

    fresh = Rounds(hold=False)
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    for n in (2, 3, 4):  # queued behind the re-run of the execution that made batch one
        resumed.ctx.send_event(Part(n=n))
    with anyio.fail_after(5):
        assert await resumed == [[0, 1], [2, 3]]
    assert resumed.ctx.to_dict()["collected"] == {}  # both batches released; part 4 unread

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


class Answered(Event):
    name: str
    response: str


class TwoAsk(Workflow):
    """Two steps each wait for their own answer; ``second`` may be held before it asks."""

    def __init__(self, hold_second: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hold = anyio.Event()
        if not hold_second:
            self.hold.set()

    @step
    async def start(self, ev: StartEvent) -> Busy:
        return Busy()  # accepted by both steps below

    @step
    async def first(self, ctx: Context, ev: Busy) -> Answered:
        return await self._ask(ctx, "first")

    @step
    async def second(self, ctx: Context, ev: Busy) -> Answered:
        await self.hold.wait()
        return await self._ask(ctx, "second")

    async def _ask(self, ctx: Context, name: str) -> Answered:
        answer = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix=f"{name}?"),
            requirements={"q": name},
            timeout=None,
        )
        return Answered(name=name, response=answer.response)

    @step
    async def both(self, ctx: Context, ev: Answered) -> StopEvent | None:
        batch = ctx.collect_events(ev, [Answered, Answered])
        if batch is None:
            return None
        return StopEvent(result=sorted((a.name, a.response) for a in batch))


async def prompts_of(handler: Any, count: int) -> list[str]:
    """Read the stream until ``count`` prompts came; their prefixes, in order."""
    prompts: list[str] = []
    async for event in handler.stream_events():
        if isinstance(event, InputRequiredEvent):
            prompts.append(event.prefix)
            if len(prompts) == count:
                break
    return prompts


async def snapshot_of_two_asked() -> dict[str, Any]:
    """Both steps of a TwoAsk run wait, their prompts read by the caller: the snapshot."""
    handler = TwoAsk().run()
    with anyio.fail_after(5):
        assert sorted(await prompts_of(handler, 2)) == ["first?", "second?"]
    data: dict[str, Any] = json.loads(json.dumps(handler.ctx.to_dict()))
    await handler.cancel_run()
    assert data["stream"] == []
    assert len(data["waiters"]) == 2
    return data


async def test_each_restored_waiter_that_asks_again_streams_its_prompt_once() -> None:
    data = await snapshot_of_two_asked()
    fresh = TwoAsk()
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    with anyio.fail_after(5):
        assert sorted(await prompts_of(resumed, 2)) == ["first?", "second?"]
    resumed.ctx.send_event(HumanResponseEvent(response="1", q="first"))
    resumed.ctx.send_event(HumanResponseEvent(response="2", q="second"))
    streamed: list[str] = []
    with anyio.fail_after(5):
        async for event in resumed.stream_events():
            if isinstance(event, InputRequiredEvent):
                streamed.append(event.prefix)
        assert await resumed == [("first", "1"), ("second", "2")]
    assert streamed == []  # neither prompt came a second time


async def test_an_answer_for_a_restored_waiter_that_has_not_asked_again_is_kept() -> None:
    data = await snapshot_of_two_asked()
    fresh = TwoAsk(hold_second=True)
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    await anyio.wait_all_tasks_blocked()  # `first` asks again and waits; `second` is held
    # The answer to `second` comes before its step asks again, while `first` waits.
    resumed.ctx.send_event(HumanResponseEvent(response="2", q="second"))
    fresh.hold.set()
    await anyio.wait_all_tasks_blocked()
    assert [w.step for w in resumed.ctx.statistics().waiting] == ["first"]
    resumed.ctx.send_event(HumanResponseEvent(response="1", q="first"))
    with anyio.fail_after(5):
        assert await resumed == [("first", "1"), ("second", "2")]


async def test_a_wait_answered_while_another_waits_ends_and_the_other_goes_on() -> None:
    workflow = TwoAsk()
    handler = workflow.run()
    await anyio.wait_all_tasks_blocked()
    handler.ctx.send_event(HumanResponseEvent(response="2", q="second"))
    await anyio.wait_all_tasks_blocked()  # `second` returned while `first` still waits
    assert [w.step for w in handler.ctx.statistics().waiting] == ["first"]
    assert handler.ctx.to_dict()["collected"]["both"][0]["event"]["name"] == "second"
    handler.ctx.send_event(HumanResponseEvent(response="1", q="first"))
    with anyio.fail_after(5):
        assert await handler == [("first", "1"), ("second", "2")]


class AsksByName(Workflow):
    """Asks for a name; after a restore (``ask_age_first``) it asks for an age before it."""

    def __init__(self, ask_age_first: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ask_age_first = ask_age_first

    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        answers = []
        questions = ["age", "name"] if self.ask_age_first else ["name"]
        for question in questions:
            answer = await ctx.wait_for_event(
                HumanResponseEvent,
                waiter_event=InputRequiredEvent(prefix=f"{question}?"),
                waiter_id=question,
                requirements={"q": question},
                timeout=None,
            )
            answers.append(f"{question}={answer.response}")
        return StopEvent(result=answers)


async def test_a_waiter_id_finds_its_restored_waiter_whatever_the_order_of_the_waits() -> None:
    handler = AsksByName().run()
    with anyio.fail_after(5):
        assert await prompts_of(handler, 1) == ["name?"]
    data = json.loads(json.dumps(handler.ctx.to_dict()))
    await handler.cancel_run()

    # The re-run step now asks for the age first: a new waiter, with its own prompt,
    # and the restored waiter of the name is asked for second, under its own id.
    fresh = AsksByName(ask_age_first=True)
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    with anyio.fail_after(5):
        assert await prompts_of(resumed, 1) == ["age?"]
        resumed.ctx.send_event(HumanResponseEvent(response="42", q="age"))
        assert await prompts_of(resumed, 1) == ["name?"]
        resumed.ctx.send_event(HumanResponseEvent(response="Ada", q="name"))
        assert await resumed == ["age=42", "name=Ada"]


class TwoBuffers(Workflow):
    """Pairs even parts in one buffer and odd parts in another, in one step."""

    @step
    async def spread(self, ctx: Context, ev: StartEvent) -> Part | None:
        for n in range(4):
            ctx.send_event(Part(n=n))
        return None

    @step(num_workers=1)
    async def pair(self, ctx: Context, ev: Part) -> StopEvent | None:
        buffer = "even" if ev.n % 2 == 0 else "odd"
        batch = ctx.collect_events(ev, [Part, Part], buffer_id=buffer)
        if batch is None:
            return None
        pairs: list[list[int]] = await ctx.store.get("pairs", default=[])
        pairs.append([p.n for p in batch if isinstance(p, Part)])
        await ctx.store.set("pairs", pairs)
        return StopEvent(result=pairs) if len(pairs) == 2 else None


async def test_a_step_collects_into_the_buffer_its_buffer_id_names() -> None:
    with anyio.fail_after(5):
        assert await TwoBuffers().run() == [[0, 2], [1, 3]]


async def test_an_answer_given_just_before_a_cancel_is_kept_in_the_snapshot() -> None:
    # The answer reaches the waiter, then the run is cancelled before the waiting step
    # runs again: the snapshot keeps the answered waiter, and the resumed step gets the
    # answer without asking again.
    handler = Waits().run()
    with anyio.fail_after(5):
        assert await prompts_of(handler, 1) == ["?"]
    handler.ctx.send_event(HumanResponseEvent(response="kept"))
    await handler.cancel_run()
    data = json.loads(json.dumps(handler.ctx.to_dict()))
    assert [w["resolved"]["_data"]["response"] for w in data["waiters"]] == ["kept"]

    workflow = Waits()
    resumed = workflow.run(ctx=Context.from_dict(workflow, data))
    streamed: list[Event] = []
    with anyio.fail_after(5):
        async for event in resumed.stream_events():
            streamed.append(event)
        assert await resumed == "kept"
    assert not any(isinstance(event, InputRequiredEvent) for event in streamed)

"""Hostile use (issue 9): odd BaseExceptions, a workflow shared by backends, abandoned waits,
prompts after a restore, and a collect_events backlog. Public API only, on both backends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowkit import Context, Workflow, step
from flowkit.errors import WorkflowCancelledByUser
from flowkit.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
    WorkflowFailedEvent,
)
from flowkit.retry_policy import retry_policy, stop_after_attempt, wait_fixed
from flowkit.statistics import WaitingStep

leak_checked = pytest.mark.usefixtures("no_leaked_tasks")


# --- BaseExceptions raised by steps -------------------------------------------------------------


class Abort(BaseException):
    """A user's own "abort" signal: a BaseException that is not an Exception."""


BASE_EXCEPTIONS: list[Callable[[], BaseException]] = [
    lambda: Abort("stop everything"),
    lambda: GeneratorExit("misused"),
    lambda: KeyboardInterrupt("re-raised by a library"),
    lambda: SystemExit(3),
]


class Raises(Workflow):
    def __init__(self, make: Callable[[], BaseException], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.make = make
        self.raised: list[BaseException] = []

    @step
    async def boom(self, ev: StartEvent) -> StopEvent:
        error = self.make()
        self.raised.append(error)
        raise error


class RaisesWithRetries(Raises):
    @step(retry_policy=retry_policy(wait=wait_fixed(0), stop=stop_after_attempt(3)))
    async def boom(self, ev: StartEvent) -> StopEvent:
        error = self.make()
        self.raised.append(error)
        raise error


@leak_checked
@pytest.mark.parametrize("make", BASE_EXCEPTIONS)
@pytest.mark.parametrize("kind", [Raises, RaisesWithRetries])
async def test_a_step_base_exception_fails_the_run_with_that_exception(
    make: Callable[[], BaseException], kind: type[Raises]
) -> None:
    workflow = kind(make)
    handler = workflow.run()
    with anyio.fail_after(5):
        streamed = [event async for event in handler.stream_events()]
        with pytest.raises(BaseException) as caught:  # noqa: PT011  # checked by identity below
            await handler
    [raised] = workflow.raised  # not retried: not an error to recover from
    assert caught.value is raised
    assert not isinstance(caught.value, WorkflowCancelledByUser)
    [terminal] = streamed
    assert isinstance(terminal, WorkflowFailedEvent)
    assert terminal.step_name == "boom"
    assert handler.ctx.statistics().failed_step == "boom"


@pytest.mark.parametrize("make", BASE_EXCEPTIONS)
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_step_base_exception_never_reaches_a_bare_event_loop(
    make: Callable[[], BaseException], backend: str
) -> None:
    loop_errors: list[dict[str, Any]] = []

    async def main() -> str:
        if backend == "asyncio":
            asyncio.get_running_loop().set_exception_handler(lambda _, c: loop_errors.append(c))
        for _ in range(2):  # the loop survives, and runs the next run
            handler = Raises(make).run()
            with pytest.raises(type(make())):
                await handler
        await anyio.wait_all_tasks_blocked()
        return "survived"

    assert anyio.run(main, backend=backend) == "survived"
    assert loop_errors == []


# --- one workflow instance, both backends -------------------------------------------------------


class Gated(Workflow):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.running = 0
        self.most = 0

    @step
    async def work(self, ev: StartEvent) -> StopEvent:
        self.running += 1
        self.most = max(self.most, self.running)
        await anyio.lowlevel.checkpoint()
        await anyio.lowlevel.checkpoint()
        self.running -= 1
        return StopEvent(result=ev.get("n"))


@pytest.mark.parametrize(
    "backends", [("trio", "asyncio"), ("asyncio", "trio"), ("asyncio", "trio", "asyncio")]
)
@pytest.mark.parametrize("limit", [1, 2])
def test_num_concurrent_runs_works_under_each_backend_in_turn(
    backends: tuple[str, ...], limit: int
) -> None:
    workflow = Gated(num_concurrent_runs=limit)

    async def main() -> list[Any]:
        handlers = [workflow.run(n=n) for n in range(5)]
        with anyio.fail_after(5):
            return [await handler for handler in handlers]

    for backend in backends:
        assert anyio.run(main, backend=backend) == [0, 1, 2, 3, 4]
        assert workflow.most == limit


@leak_checked
async def test_a_run_cancelled_while_waiting_for_a_slot_passes_the_slot_on() -> None:
    gate = anyio.Event()

    class Held(Workflow):
        @step
        async def work(self, ev: StartEvent) -> StopEvent:
            await gate.wait()
            return StopEvent(result=ev.get("n"))

    workflow = Held(num_concurrent_runs=1)
    first, second, third = (workflow.run(n=n) for n in range(3))
    await anyio.wait_all_tasks_blocked()
    await second.cancel_run()
    with pytest.raises(WorkflowCancelledByUser):
        await second
    gate.set()
    with anyio.fail_after(5):
        assert [await first, await third] == [0, 2]


# --- waits that end any way remove their waiter exactly once ----------------------------------


class Answer(HumanResponseEvent):
    pass


class AbandonThenWait(Workflow):
    """Abandons a wait (in one of several ways), then waits again; the answer must come."""

    def __init__(self, how: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.how = how

    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        if self.how == "cancelled scope":
            with anyio.CancelScope() as scope:
                scope.cancel()
                await ctx.wait_for_event(HumanResponseEvent, timeout=None)
        elif self.how == "move_on_after":
            with anyio.move_on_after(0.001):
                await ctx.wait_for_event(HumanResponseEvent, timeout=None)
        elif self.how == "timeout":
            with pytest.raises(TimeoutError):
                await ctx.wait_for_event(HumanResponseEvent, timeout=0.001)
        elif self.how == "task group":
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as tg:

                    async def wait() -> None:
                        await ctx.wait_for_event(HumanResponseEvent, timeout=None)

                    tg.start_soon(wait)
                    await anyio.wait_all_tasks_blocked()
                    scope.cancel()
        answer = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="again"), timeout=None
        )
        return StopEvent(result=answer.response)


WAYS_OUT = ["cancelled scope", "move_on_after", "timeout", "task group"]


@leak_checked
@pytest.mark.parametrize("how", WAYS_OUT)
async def test_an_abandoned_wait_leaves_no_waiter_behind(how: str) -> None:
    handler = AbandonThenWait(how).run()
    events = handler.stream_events()
    with anyio.fail_after(5):
        prompt = await events.__anext__()
    assert isinstance(prompt, InputRequiredEvent)
    assert handler.ctx.statistics().waiting == (
        WaitingStep("ask", "HumanResponseEvent", "InputRequiredEvent"),
    )
    handler.ctx.send_event(HumanResponseEvent(response="second"))
    with anyio.fail_after(5):
        assert await handler == "second"


class TwoWaiters(Workflow):
    """One step abandons its wait; the other step's wait must get the one answer."""

    @step
    async def quitter(self, ctx: Context, ev: StartEvent) -> None:
        with anyio.CancelScope() as scope:
            scope.cancel()
            await ctx.wait_for_event(HumanResponseEvent, timeout=None)

    @step
    async def stayer(self, ctx: Context, ev: StartEvent) -> StopEvent:
        answer = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="stay"), timeout=None
        )
        return StopEvent(result=answer.response)


@leak_checked
async def test_an_abandoned_wait_takes_no_answer_meant_for_another_step() -> None:
    handler = TwoWaiters().run()
    events = handler.stream_events()
    with anyio.fail_after(5):
        await events.__anext__()
        await anyio.wait_all_tasks_blocked()
    assert len(handler.ctx.statistics().waiting) == 1  # the quitter's wait is gone
    handler.ctx.send_event(HumanResponseEvent(response="for stayer"))
    with anyio.fail_after(5):
        assert await handler == "for stayer"


class TimesOut(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        await ctx.wait_for_event(HumanResponseEvent, timeout=0.001)
        return StopEvent(result="unreachable")


@leak_checked
async def test_a_wait_that_times_out_fails_the_step_and_the_run_does_not_hang() -> None:
    handler = TimesOut().run()
    with (
        anyio.fail_after(5),
        pytest.raises(
            TimeoutError,
            match=(
                r"^wait_for_event\(HumanResponseEvent\) timed out after 0\.001 seconds\. Pass a "
                r"larger timeout=, or timeout=None to wait without limit\.$"
            ),
        ),
    ):
        await handler
    assert handler.ctx.statistics().waiting == ()


# --- one prompt per wait after a restore ---------------------------------------------------------


class Asks(Workflow):
    @step
    async def first(self, ctx: Context, ev: StartEvent) -> StopEvent:
        one = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix="one"),
            requirements={"q": "one"},
            timeout=None,
        )
        two = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix="two"),
            requirements={"q": "two"},
            timeout=None,
        )
        return StopEvent(result=[one.response, two.response])


async def answer_every_prompt(workflow: Workflow, ctx: Context[Any]) -> tuple[list[str], Any]:
    handler = workflow.run(ctx=ctx)
    prompts: list[str] = []
    with anyio.fail_after(5):
        async for event in handler.stream_events():
            if isinstance(event, InputRequiredEvent):
                prompts.append(event.prefix)
                handler.ctx.send_event(
                    HumanResponseEvent(response=f"answer {event.prefix}", q=event.prefix)
                )
        return prompts, await handler


@leak_checked
@pytest.mark.parametrize("read_before_freeze", [False, True])
async def test_a_restored_wait_streams_its_prompt_once(read_before_freeze: bool) -> None:
    workflow = Asks()
    handler = workflow.run()
    if read_before_freeze:
        with anyio.fail_after(5):
            assert isinstance(await handler.stream_events().__anext__(), InputRequiredEvent)
    else:
        await anyio.wait_all_tasks_blocked()  # the step waits; its prompt is unread
    data = json.loads(json.dumps(handler.ctx.to_dict()))
    await handler.cancel_run()

    fresh = Asks()
    prompts, result = await answer_every_prompt(fresh, Context.from_dict(fresh, data))
    assert prompts == ["one", "two"]
    assert result == ["answer one", "answer two"]


@leak_checked
async def test_a_prompt_restored_twice_unread_still_streams_once() -> None:
    workflow = Asks()
    handler = workflow.run()
    await anyio.wait_all_tasks_blocked()  # the step waits; its prompt is unread
    data = json.loads(json.dumps(handler.ctx.to_dict()))
    await handler.cancel_run()
    # Restore, freeze again before anything runs, restore again.
    again = json.loads(json.dumps(Context.from_dict(workflow, data).to_dict()))
    prompts, result = await answer_every_prompt(workflow, Context.from_dict(workflow, again))
    assert prompts == ["one", "two"]
    assert result == ["answer one", "answer two"]


# --- collect_events with a backlog ---------------------------------------------------------------


class Left(Event):
    i: int


class Right(Event):
    i: int


class PairsRun(Workflow):
    @step
    async def send(self, ctx: Context, ev: StartEvent) -> Left | Right | None:
        await ctx.store.set("expected", ev.get("expected"))
        for kind, i in ev.get("order"):
            ctx.send_event(Left(i=i) if kind == "L" else Right(i=i))
        return None

    @step(num_workers=1)
    async def pair(self, ctx: Context, ev: Left | Right) -> StopEvent | None:
        batch = ctx.collect_events(ev, [Left, Right])
        if batch is None:
            return None
        pairs: list[tuple[int, int]] = await ctx.store.get("pairs", default=[])
        left, right = batch
        assert isinstance(left, Left)
        assert isinstance(right, Right)
        pairs.append((left.i, right.i))
        await ctx.store.set("pairs", pairs)
        if len(pairs) == await ctx.store.get("expected"):
            return StopEvent(result=pairs)
        return None


def oldest_first(order: list[tuple[str, int]]) -> list[tuple[int, int]]:
    """The pairs collect_events makes: each batch takes the oldest Left and oldest Right."""
    lefts: list[int] = []
    rights: list[int] = []
    pairs = []
    for kind, i in order:
        (lefts if kind == "L" else rights).append(i)
        if lefts and rights:
            pairs.append((lefts.pop(0), rights.pop(0)))
    return pairs


async def run_pairs(order: list[tuple[str, int]]) -> Any:
    expected = len(oldest_first(order))
    handler = PairsRun(timeout=None).run(order=order, expected=expected)
    with anyio.fail_after(30):
        return await handler


@leak_checked
@pytest.mark.parametrize("backlog", [1, 2_000])
async def test_a_backlog_of_one_type_pairs_oldest_first(backlog: int) -> None:
    order = [("L", i) for i in range(backlog)] + [("R", i) for i in range(backlog)]
    assert await run_pairs(order) == [(i, i) for i in range(backlog)]


@leak_checked
async def test_a_backlog_of_the_second_type_pairs_oldest_first() -> None:
    order = [("R", i) for i in range(1_000)] + [("L", i) for i in range(1_000)]
    assert await run_pairs(order) == [(i, i) for i in range(1_000)]


@given(st.lists(st.sampled_from("LR"), min_size=2, max_size=60))
def test_any_interleaving_pairs_as_the_oldest_first_model(kinds: list[str]) -> None:
    order = [(kind, i) for i, kind in enumerate(kinds)]
    if not oldest_first(order):
        return
    for backend in ("asyncio", "trio"):
        result = anyio.run(run_pairs, order, backend=backend)
        assert [tuple(pair) for pair in result] == oldest_first(order)

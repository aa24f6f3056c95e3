"""Tests for flowkit.context: the store, typed state, sending and collecting events."""

from __future__ import annotations

from typing import Any

import anyio
import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowkit import Context, Workflow, step
from flowkit.errors import (
    ContextStateError,
    WorkflowRuntimeError,
    WorkflowStepDoesNotExistError,
)
from flowkit.events import Event, HumanResponseEvent, StartEvent, StopEvent

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


class Progress(Event):
    n: int


class Job(Event):
    i: int


class Done(Event):
    i: int


class A(Event):
    v: str


class B(Event):
    v: str


class Ping(Event):
    pass


# -- the store -----------------------------------------------------------------------


class StoreUser(Workflow):
    @step
    async def use(self, ctx: Context[Any], ev: StartEvent) -> StopEvent:
        store = ctx.store
        await store.set("count", 1)
        await store.set("user.name", "Ada")  # creates the intermediate dict
        await store.set("user.langs", ["en", "fr"])
        try:
            await store.get("missing")
        except ValueError as exc:
            error = str(exc)
        return StopEvent(
            result={
                "count": await store.get("count"),
                "name": await store.get("user.name"),
                "second_lang": await store.get("user.langs.1"),
                "default": await store.get("missing", default="fallback"),
                "none_default": await store.get("user.age", default=None),
                "error": error,
            }
        )


async def test_store_get_and_set_with_defaults_and_dotted_paths() -> None:
    with anyio.fail_after(5):
        handler = StoreUser().run()
        result = await handler

    assert result == {
        "count": 1,
        "name": "Ada",
        "second_lang": "fr",
        "default": "fallback",
        "none_default": None,
        "error": result["error"],
    }
    assert result["error"].startswith("Path 'missing' not found in state")
    store = handler.ctx.store
    assert await store.get("user") == {"name": "Ada", "langs": ["en", "fr"]}


async def test_store_missing_key_raises_value_error() -> None:
    with anyio.fail_after(5):
        handler = StoreUser().run()
        await handler

    with pytest.raises(ValueError, match=r"^Path 'missing' not found in state"):
        await handler.ctx.store.get("missing")
    with pytest.raises(ValueError, match=r"^Path 'user\.missing' not found in state"):
        await handler.ctx.store.get("user.missing")


@attrs.define
class Tally:
    count: int = 0
    names: list[str] = attrs.Factory(list)


class Typed(Workflow):
    @step
    async def tally(self, ctx: Context[Tally], ev: StartEvent) -> StopEvent:
        initial: Tally = await ctx.store.get_state()
        async with ctx.store.edit_state() as live:
            live.count += 1
            live.names.append(ev.name)
        await ctx.store.set("count", await ctx.store.get("count") + 10)
        return StopEvent(result=(initial, await ctx.store.get_state()))


async def test_typed_state_through_context_of_an_attrs_class() -> None:
    with anyio.fail_after(5):
        handler = Typed().run(name="Ada")
        initial, final = await handler

    assert type(initial) is Tally
    assert initial.count == 0
    assert final == Tally(count=11, names=["Ada"])

    store = handler.ctx.store
    await store.set_state(Tally(count=5))
    state = await store.get_state()
    assert state == Tally(count=5, names=[])
    assert type(state) is Tally

    with pytest.raises(
        ValueError, match=r"^State must be of type Tally or a parent type, got str\."
    ):
        await store.set_state("wrong")
    assert await store.get_state() == Tally(count=5)


class Visits(Workflow):
    @step
    async def visit(self, ctx: Context[Any], ev: StartEvent) -> StopEvent:
        visits: int = await ctx.store.get("visits", default=0) + 1
        await ctx.store.set("visits", visits)
        return StopEvent(result=visits)


async def test_store_survives_reusing_a_context_for_another_run() -> None:
    workflow = Visits()
    with anyio.fail_after(5):
        first = workflow.run()
        assert await first == 1
        second = workflow.run(ctx=first.ctx)
        assert await second == 2

    assert second.ctx is first.ctx
    assert second.run_id != first.run_id
    assert await second.ctx.store.get("visits") == 2


async def test_a_new_context_runs_with_what_was_stored_before() -> None:
    workflow = Visits()
    ctx: Context[Any] = Context(workflow)
    await ctx.store.set("visits", 10)
    with anyio.fail_after(5):
        assert await workflow.run(ctx=ctx) == 11


# -- send_event ----------------------------------------------------------------------


class Router(Workflow):
    """Sends a Ping to the step named by the StartEvent; two steps accept Ping."""

    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.calls: list[str] = []

    @step
    async def start(self, ctx: Context[Any], ev: StartEvent) -> Ping | None:
        ctx.send_event(Ping(), step=ev.target)
        return None

    @step
    async def left(self, ev: Ping) -> StopEvent:
        self.calls.append("left")
        return StopEvent(result="left")

    @step
    async def right(self, ev: Ping) -> StopEvent:
        self.calls.append("right")
        return StopEvent(result="right")


@pytest.mark.parametrize("target", ["left", "right"])
async def test_send_event_from_a_step_to_a_named_step(target: str) -> None:
    workflow = Router()
    with anyio.fail_after(5):
        assert await workflow.run(target=target) == target
    assert workflow.calls == [target]


async def test_send_event_from_a_step_to_an_unknown_step_fails_the_run() -> None:
    workflow = Router()
    with anyio.fail_after(5):
        handler = workflow.run(target="middle")
        with pytest.raises(WorkflowStepDoesNotExistError, match=r"^Step middle does not exist"):
            await handler
    assert workflow.calls == []


class Answered(Workflow):
    """Waits for a HumanResponseEvent from the caller."""

    @step
    async def start(self, ev: StartEvent) -> None:
        return None

    @step
    async def answer(self, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=f"got {ev.response}")


async def test_send_event_errors_from_the_caller() -> None:
    with anyio.fail_after(5):
        handler = Answered().run()
        ctx = handler.ctx

        with pytest.raises(WorkflowStepDoesNotExistError, match=r"^Step nope does not exist"):
            ctx.send_event(HumanResponseEvent(response="x"), step="nope")
        with pytest.raises(WorkflowRuntimeError, match=r"^send_event\(\) takes an Event"):
            ctx.send_event("hello")  # type: ignore[arg-type]  # the runtime check under test
        with pytest.raises(
            WorkflowRuntimeError,
            match=r"^Step start does not accept event of type HumanResponseEvent",
        ):
            ctx.send_event(HumanResponseEvent(response="x"), step="start")

        # None of the refused events reached the run.
        assert not handler.is_done()
        ctx.send_event(HumanResponseEvent(response="yes"))
        assert await handler == "got yes"

        with pytest.raises(
            WorkflowRuntimeError,
            match=r"^Cannot send HumanResponseEvent: the run has already ended",
        ):
            ctx.send_event(HumanResponseEvent(response="late"))


async def test_send_event_on_a_context_with_no_run_raises() -> None:
    ctx: Context[Any] = Context(Answered())

    with pytest.raises(
        ContextStateError,
        match=r"^send_event\(\) called before workflow started\. Call workflow\.run\(\) first\.",
    ):
        ctx.send_event(HumanResponseEvent(response="x"))


# -- collect_events ------------------------------------------------------------------


class FanIn(Workflow):
    """Sends five Jobs to one worker; a gather step collects the five results."""

    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.gather_calls = 0

    @step
    async def dispatch(self, ctx: Context[Any], ev: StartEvent) -> Job | None:
        for i in range(5):
            ctx.send_event(Job(i=i), step="work")
        return None

    @step(num_workers=1)
    async def work(self, ev: Job) -> Done:
        return Done(i=ev.i * 10)

    @step
    async def gather(self, ctx: Context[Any], ev: Done) -> StopEvent | None:
        self.gather_calls += 1
        results = ctx.collect_events(ev, [Done] * 5)
        if results is None:
            return None
        return StopEvent(result=results)


async def test_collect_events_fans_in_five_results() -> None:
    workflow = FanIn()
    with anyio.fail_after(5):
        result = await workflow.run()

    assert result == [Done(i=0), Done(i=10), Done(i=20), Done(i=30), Done(i=40)]
    assert workflow.gather_calls == 5


class Pair(Workflow):
    @step
    async def start(self, ctx: Context[Any], ev: StartEvent) -> A | B | None:
        ctx.send_event(B(v="b"))
        ctx.send_event(A(v="a"))
        return None

    @step
    async def pair(self, ctx: Context[Any], ev: A | B) -> StopEvent | None:
        got = ctx.collect_events(ev, [A, B])
        return None if got is None else StopEvent(result=got)


async def test_collect_events_returns_them_in_the_order_asked() -> None:
    with anyio.fail_after(5):
        result = await Pair().run()

    assert result == [A(v="a"), B(v="b")]  # B arrived first


ARRIVALS: dict[str, Event] = {"job": Job(i=1), "a": A(v="a"), "b": B(v="b")}


class Triple(Workflow):
    """Sends one Job, one A and one B in the order the StartEvent names."""

    @step
    async def start(self, ctx: Context[Any], ev: StartEvent) -> Job | A | B | None:
        for name in ev.order:
            ctx.send_event(ARRIVALS[name])
        return None

    @step
    async def collect(self, ctx: Context[Any], ev: Job | A | B) -> StopEvent | None:
        got = ctx.collect_events(ev, [Job, A, B])
        return None if got is None else StopEvent(result=got)


@given(order=st.permutations(list(ARRIVALS)))
async def test_collect_events_order_does_not_depend_on_arrival(order: list[str]) -> None:
    with anyio.fail_after(5):
        result = await Triple().run(order=order)

    assert result == [Job(i=1), A(v="a"), B(v="b")]


# -- the stream, and the run's state seen from the context ---------------------------


class Streamer(Workflow):
    @step
    async def write(self, ctx: Context[Any], ev: StartEvent) -> StopEvent:
        ctx.write_event_to_stream(None)
        ctx.write_event_to_stream(Progress(n=1))
        ctx.write_event_to_stream(None)
        return StopEvent(result="done")


async def test_write_event_to_stream_ignores_none() -> None:
    with anyio.fail_after(5):
        handler = Streamer().run()
        streamed = [event async for event in handler.stream_events()]
        assert await handler == "done"
    assert streamed == [Progress(n=1), StopEvent(result="done")]


class Observed(Workflow):
    """Two steps that report what the context says while they both run."""

    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.both_started = anyio.Event()
        self.gate = anyio.Event()
        self.seen: dict[str, Any] = {}

    @step
    async def start(self, ctx: Context[Any], ev: StartEvent) -> Job:
        ctx.send_event(Job(i=1))
        return Job(i=2)

    @step
    async def slow(self, ctx: Context[Any], ev: Job) -> StopEvent | None:
        if ev.i == 1:
            self.seen["is_running"] = ctx.is_running
            self.seen["running_steps"] = await ctx.running_steps()
            self.both_started.set()
            await self.gate.wait()
            return None
        await self.gate.wait()
        return StopEvent(result="done")


async def test_is_running_and_running_steps_before_during_and_after() -> None:
    workflow = Observed()
    ctx: Context[Any] = Context(workflow)
    assert not ctx.is_running
    assert await ctx.running_steps() == []

    with anyio.fail_after(5):
        handler = workflow.run(ctx=ctx)
        await workflow.both_started.wait()
        await anyio.wait_all_tasks_blocked()
        assert ctx.is_running
        assert await ctx.running_steps() == ["slow"]
        workflow.gate.set()
        assert await handler == "done"

    assert workflow.seen == {"is_running": True, "running_steps": ["slow"]}
    assert not ctx.is_running
    assert await ctx.running_steps() == []


async def test_running_steps_names_each_running_step_once() -> None:
    class TwoSteps(Workflow):
        def __init__(self) -> None:
            super().__init__(timeout=None)
            self.gate = anyio.Event()

        @step
        async def start(self, ctx: Context[Any], ev: StartEvent) -> A | B:
            ctx.send_event(B(v="b"))
            return A(v="a")

        @step
        async def first(self, ev: A) -> None:
            await self.gate.wait()

        @step
        async def second(self, ev: B) -> StopEvent:
            await self.gate.wait()
            return StopEvent(result="done")

    workflow = TwoSteps()
    with anyio.fail_after(5):
        handler = workflow.run()
        await anyio.wait_all_tasks_blocked()
        assert await handler.ctx.running_steps() == ["first", "second"]
        workflow.gate.set()
        assert await handler == "done"


# -- calls in the wrong place or state -----------------------------------------------


async def test_pausing_calls_outside_a_step_raise_context_state_error() -> None:
    with anyio.fail_after(5):
        handler = Answered().run()
        ctx = handler.ctx

        with pytest.raises(ContextStateError) as waited:
            await ctx.wait_for_event(HumanResponseEvent)
        with pytest.raises(ContextStateError) as collected:
            ctx.collect_events(A(v="a"), [A, B])
        for method, error in (("wait_for_event", waited), ("collect_events", collected)):
            assert str(error.value) == (
                f"{method} is only available from within step functions. ctx.{method}() "
                "belongs to the step that calls it; from outside the run, use "
                "handler.ctx.send_event() instead."
            )

        ctx.send_event(HumanResponseEvent(response="still fine"))
        assert await handler == "got still fine"


async def test_running_a_context_whose_run_is_still_running_raises() -> None:
    workflow = Answered()
    with anyio.fail_after(5):
        handler = workflow.run()
        with pytest.raises(
            ContextStateError, match=r"^This context belongs to a run that is still running\."
        ):
            workflow.run(ctx=handler.ctx)

        handler.ctx.send_event(HumanResponseEvent(response="once"))
        assert await handler == "got once"

"""Static type checks of flowkit's public API: mypy checks this file, pytest never runs it.

Run ``mypy tests/type_tests``. Each ``assert_type`` states what a user's type checker
sees. With ``warn_unused_ignores``, each ``# type: ignore[...]`` is a mistake that must
keep being reported.
"""

from collections.abc import AsyncGenerator, Coroutine
from typing import Annotated, Any, assert_type

import attrs

from flowkit import Context, Workflow, step
from flowkit.context.state_store import InMemoryStateStore
from flowkit.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent
from flowkit.handler import WorkflowHandler
from flowkit.resource import Resource, ResourceManager


@attrs.define
class MyState:
    count: int = 0
    name: str = ""


class Approval(HumanResponseEvent):
    approved: bool = False


class Tick(Event):
    n: int


class Typed(Workflow):
    @step
    async def start(self, ev: StartEvent, ctx: Context[MyState]) -> StopEvent:
        assert_type(ctx.store, InMemoryStateStore[MyState])
        state = await ctx.store.get_state()
        assert_type(state, MyState)
        assert_type(state.count, int)
        await ctx.store.set_state(MyState(count=state.count + 1))
        await ctx.store.set_state("not a state")  # type: ignore[arg-type]
        async with ctx.store.edit_state() as live:
            assert_type(live, MyState)

        answer = await ctx.wait_for_event(HumanResponseEvent)
        assert_type(answer, HumanResponseEvent)
        approval = await ctx.wait_for_event(
            Approval, waiter_event=InputRequiredEvent(prefix="ok?"), timeout=None
        )
        assert_type(approval, Approval)
        assert_type(approval.approved, bool)
        await ctx.wait_for_event(Tick(n=1))  # type: ignore[arg-type]

        collected = ctx.collect_events(ev, [Tick, StartEvent])
        assert_type(collected, list[Event] | None)
        assert_type(ctx.retry_info().retry_number, int)
        return StopEvent(result=state.count)


async def run_and_await() -> None:
    workflow = Typed(timeout=None)
    handler = workflow.run(topic="any keyword is a StartEvent field")
    assert_type(handler, WorkflowHandler)
    assert_type(handler.ctx, Context[Any])
    assert_type(handler.ctx.store, InMemoryStateStore[Any])
    assert_type(handler.stream_events(), AsyncGenerator[Event, None])
    assert_type(await handler, Any)
    assert_type(await handler.stop_event_result(), StopEvent)
    assert_type(workflow.start_event_class, type[StartEvent])
    assert_type(workflow.stop_event_class, type[StopEvent])
    assert_type(workflow.validate(), bool)

    async with workflow.open_run(start_event=StartEvent()) as running:
        assert_type(running, WorkflowHandler)


async def step_keeps_its_signature(ctx: Context[MyState]) -> None:
    workflow = Typed()
    coroutine = workflow.start(StartEvent(), ctx)
    assert_type(coroutine, Coroutine[Any, Any, StopEvent]).close()
    assert_type(await Typed.start(workflow, StartEvent(), ctx), StopEvent)
    await workflow.start(Tick(n=1), ctx)  # type: ignore[arg-type]


@step(workflow=Typed, num_workers=2)
async def free_step(ev: Tick) -> StopEvent:
    return StopEvent(result=ev.n)


async def free_step_keeps_its_signature() -> None:
    assert_type(await free_step(Tick(n=1)), StopEvent)
    await free_step(StartEvent())  # type: ignore[arg-type]


class Client:
    pass


def make_client() -> Client:
    return Client()


class SyncAndResources(Workflow):
    @step
    def blocking(self, ev: Tick, client: Annotated[Client, Resource(make_client)]) -> StopEvent:
        return StopEvent(result=client)


def sync_step_keeps_its_signature() -> None:
    workflow = SyncAndResources(resource_manager=ResourceManager())
    assert_type(workflow.blocking(Tick(n=1), Client()), StopEvent)
    assert_type(workflow.validate(validate_resources=True), bool)
    workflow.validate(True)  # type: ignore[call-arg]  # its flags are keyword-only

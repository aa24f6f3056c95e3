"""``Context.get_step_context()`` and the guards of a context that has no run (yet).

The messages start with the incumbent's wording; where flowkit allows more (a caller
may write to the stream, ``running_steps()`` before a run is empty) docs/migrating.md
says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from flowkit import Context, Workflow, step
from flowkit.errors import ContextStateError, WorkflowRuntimeError
from flowkit.events import Event, StartEvent, StopEvent


class Progress(Event):
    note: str = ""


def report(note: str) -> None:
    """A helper a step calls without passing its context."""
    Context.get_step_context().write_event_to_stream(Progress(note=note))


class Reporting(Workflow):
    @step
    async def work(self, ev: StartEvent) -> StopEvent:  # no ctx parameter
        report("working")
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.child)
        return StopEvent(result=Context.get_step_context().is_running)

    async def child(self) -> None:  # a task the step starts is inside the step
        report("child")


async def test_get_step_context_is_the_context_of_the_calling_step() -> None:
    handler = Reporting().run()
    with anyio.fail_after(5):
        notes = [e.note async for e in handler.stream_events() if isinstance(e, Progress)]
        assert await handler is True
    assert notes == ["working", "child"]


async def test_get_step_context_is_the_runs_own_context() -> None:
    seen: list[Context[Any]] = []

    class Same(Workflow):
        @step
        async def work(self, ctx: Context, ev: StartEvent) -> StopEvent:
            seen.append(Context.get_step_context())
            return StopEvent(result=Context.get_step_context() is ctx)

    handler = Same().run()
    with anyio.fail_after(5):
        assert await handler is True
    assert seen == [handler.ctx]


async def test_get_step_context_outside_a_step_is_a_runtime_error() -> None:
    message = r"^Context\.get_step_context\(\) may only be called from within a step function\."
    with pytest.raises(WorkflowRuntimeError, match=message):
        Context.get_step_context()
    handler = Reporting().run()
    with anyio.fail_after(5):
        await handler
    with pytest.raises(WorkflowRuntimeError, match=message):
        Context.get_step_context()  # the run is over; the caller was never inside it


# -- a context that has not run -------------------------------------------------------------


class Echo(Workflow):
    @step
    async def echo(self, ev: StartEvent) -> StopEvent:
        return StopEvent(result="ok")


PRE_RUN_CALLS: dict[str, Callable[[Context[Any]], Any]] = {
    "write_event_to_stream": lambda ctx: ctx.write_event_to_stream(Progress()),
    "collect_events": lambda ctx: ctx.collect_events(Progress(), [Progress]),
    "retry_info": lambda ctx: ctx.retry_info(),
}


@pytest.mark.parametrize("method", sorted(PRE_RUN_CALLS))
def test_calls_that_need_a_run_say_so_on_a_context_that_has_not_run(method: str) -> None:
    ctx: Context[Any] = Context(Echo())
    with pytest.raises(
        ContextStateError,
        match=rf"^{method} requires a running workflow\. Call workflow\.run\(\) first\.",
    ):
        PRE_RUN_CALLS[method](ctx)


async def test_wait_for_event_needs_a_run_and_a_step() -> None:
    ctx: Context[Any] = Context(Echo())
    with pytest.raises(ContextStateError, match=r"^wait_for_event requires a running workflow\."):
        await ctx.wait_for_event(Progress)
    handler = Echo().run()
    with anyio.fail_after(5):
        await handler
    with pytest.raises(
        ContextStateError, match=r"^wait_for_event is only available from within step functions\."
    ):
        await handler.ctx.wait_for_event(Progress)
    with pytest.raises(
        ContextStateError, match=r"^retry_info is only available from within step functions\."
    ):
        handler.ctx.retry_info()


async def test_what_flowkit_allows_on_a_context_that_has_not_run() -> None:
    ctx: Context[Any] = Context(Echo())
    assert ctx.is_running is False
    assert await ctx.running_steps() == []  # the incumbent raises ContextStateError
    await ctx.store.set("k", 1)
    assert ctx.to_dict()["store"] == {"k": 1}

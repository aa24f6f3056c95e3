"""A workflow and its runs are garbage once the runs end, whatever their steps left behind.

A step's context variables are captured by what it schedules: asyncio timer handles
(``anyio.sleep``, the deadlines of ``fail_after`` and ``move_on_after``), tasks a
library starts in its own task group, callbacks from worker threads. Cancelled timer
handles stay in asyncio's heap until their time comes, while an earlier timer is
pending; tasks live as long as their library. None of them may keep a finished run.

Every step here fails once first, so the run's retry bookkeeping holds an exception
whose traceback holds the step's frame (the workflow and the context): the worst case.
"""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import pytest
from anyio.abc import TaskGroup

from flowkit import Context, Workflow, catch_error, step
from flowkit.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StepFailedEvent,
    StopEvent,
)
from flowkit.handler import WorkflowHandler
from flowkit.retry_policy import retry_policy, stop_after_attempt, wait_fixed

RETRY = retry_policy(wait=wait_fixed(0), stop=stop_after_attempt(2))


class Doze(Event):
    pass


def _fail_first_attempt(ctx: Context) -> None:
    if ctx.retry_info().retry_number == 0:
        raise ConnectionError("the first attempt fails")


class Leaky(Workflow):
    """Its step schedules something that outlives the run, as ``kind`` says."""

    def __init__(self, kind: str, library: TaskGroup) -> None:
        super().__init__(timeout=10)
        self.kind = kind
        self.library = library
        self.dozing = anyio.Event()

    @step(retry_policy=RETRY)
    async def work(self, ctx: Context, ev: StartEvent) -> StopEvent | Doze:
        _fail_first_attempt(ctx)
        if self.kind == "sleep":  # a sibling step is cancelled in anyio.sleep as the run ends
            ctx.send_event(Doze())
            await self.dozing.wait()
        elif self.kind == "fail_after":
            with anyio.fail_after(100):
                await anyio.lowlevel.checkpoint()
        elif self.kind == "move_on_after":
            with anyio.move_on_after(100) as scope:
                scope.cancel()
                await anyio.sleep(100)
        elif self.kind == "library_task":
            self.library.start_soon(anyio.sleep_forever)
        return StopEvent(result=self.kind)

    @step(retry_policy=RETRY)
    async def doze(self, ctx: Context, ev: Doze) -> None:
        _fail_first_attempt(ctx)
        self.dozing.set()
        await anyio.sleep(100)


class LeakySync(Workflow):
    """A sync step that starts a library task on the loop from its thread."""

    def __init__(self, kind: str, library: TaskGroup) -> None:
        super().__init__(timeout=10)
        self.kind = kind
        self.library = library

    @step(retry_policy=RETRY)
    def work(self, ctx: Context, ev: StartEvent) -> StopEvent:
        _fail_first_attempt(ctx)
        if self.kind == "from_thread":
            anyio.from_thread.run_sync(self.library.start_soon, anyio.sleep_forever)
        return StopEvent(result=threading.current_thread().name)


class LeakyRecovery(Workflow):
    """A @catch_error handler (its event holds the failure) that sleeps past the run."""

    def __init__(self, kind: str, library: TaskGroup) -> None:
        super().__init__(timeout=10)
        self.library = library

    @step
    async def work(self, ev: StartEvent) -> StopEvent:
        raise ConnectionError("always fails")

    @catch_error
    async def recover(self, ev: StepFailedEvent) -> StopEvent:
        with anyio.move_on_after(100):
            await anyio.lowlevel.checkpoint()
        self.library.start_soon(anyio.sleep_forever)
        return StopEvent(result="recovered")


CASES: dict[str, Callable[[str, TaskGroup], Workflow]] = {
    "sleep": Leaky,
    "fail_after": Leaky,
    "move_on_after": Leaky,
    "library_task": Leaky,
    "sync_step": LeakySync,
    "from_thread": LeakySync,
    "catch_error": LeakyRecovery,
}


async def _run_and_forget(kind: str, library: TaskGroup) -> list[weakref.ref[Any]]:
    workflow = CASES[kind](kind, library)
    handler = workflow.run()
    await handler
    refs: list[weakref.ref[Any]] = [weakref.ref(workflow), weakref.ref(handler.ctx)]
    return refs


@pytest.mark.parametrize("kind", sorted(CASES))
async def test_finished_workflows_are_garbage(kind: str) -> None:
    with anyio.fail_after(10):
        async with anyio.create_task_group() as library:
            # A pending timer earlier than the steps' ones: asyncio keeps the cancelled
            # handles behind it in its heap, as in any program with a timer running.
            library.start_soon(anyio.sleep, 50)
            refs = [ref for _ in range(3) for ref in await _run_and_forget(kind, library)]
            await anyio.wait_all_tasks_blocked()
            gc.collect()
            alive = [type(ref()).__name__ for ref in refs if ref() is not None]
            library.cancel_scope.cancel()
    assert alive == []


# -- an ended run is freed by reference counting alone ------------------------------------


class Tick(Event):
    i: int


class Ask(InputRequiredEvent):
    pass


class Answer(HumanResponseEvent):
    total: int


class Gathering(Workflow):
    """Steps that take ``ctx`` (their calls hold it), collect events and wait for input."""

    @step
    async def spread(self, ctx: Context, ev: StartEvent) -> Tick | None:
        for i in range(3):
            ctx.send_event(Tick(i=i))
        return None

    @step
    async def gather(self, ctx: Context, ev: Tick) -> StopEvent | None:
        ticks = ctx.collect_events(ev, [Tick] * 3)
        if ticks is None:
            return None
        await ctx.store.set("ticks", len(ticks))
        answer = await ctx.wait_for_event(Answer, waiter_event=Ask())
        return StopEvent(result=answer.total)


async def _run_to_the_question(workflow: Workflow) -> WorkflowHandler:
    handler = workflow.run()
    async for ev in handler.stream_events():
        if isinstance(ev, Ask):
            return handler
    raise AssertionError("the run never asked")


async def _answered(workflow: Workflow) -> list[weakref.ref[Any]]:
    handler = await _run_to_the_question(workflow)
    handler.ctx.send_event(Answer(total=3))
    assert await handler == 3
    return [weakref.ref(handler), weakref.ref(handler.ctx)]


async def _cancelled(workflow: Workflow) -> list[weakref.ref[Any]]:
    handler = await _run_to_the_question(workflow)
    await handler.cancel_run()
    assert handler.is_done()
    return [weakref.ref(handler), weakref.ref(handler.ctx)]


async def _resumed(workflow: Workflow) -> list[weakref.ref[Any]]:
    handler = await _run_to_the_question(workflow)
    resumed = workflow.run(ctx=Context.from_dict(workflow, handler.ctx.to_dict()))
    handler.ctx.send_event(Answer(total=3))
    resumed.ctx.send_event(Answer(total=4))
    assert (await handler, await resumed) == (3, 4)
    return [weakref.ref(handler), weakref.ref(handler.ctx), weakref.ref(resumed.ctx)]


async def _left_alive(ending: Callable[[Workflow], Any]) -> tuple[list[str], int]:
    """What reference counting did not free: the types of what ``ending`` returned
    references to that are still alive, and how many objects the cycle collector found.
    """
    workflow = Gathering(timeout=10)
    await _answered(workflow)  # the first run fills the workflow's caches
    gc.collect()
    gc.disable()
    try:
        with anyio.fail_after(10):
            refs = await ending(workflow)
        await anyio.lowlevel.checkpoint()  # the run's own task lets go of its frames
        return [type(ref()).__name__ for ref in refs if ref() is not None], gc.collect()
    finally:
        gc.enable()


@pytest.mark.parametrize("ending", [_answered, _resumed])
async def test_an_ended_run_is_freed_without_the_cycle_collector(
    ending: Callable[[Workflow], Any],
) -> None:
    """What a run owns points back at it only while it runs: no cycle outlives it.

    With many runs, collecting such cycles costs more than the runs themselves.
    """
    assert await _left_alive(ending) == ([], 0)


# trio only: on asyncio, anyio's task group keeps the CancelledError of a cancelled task
# in a cycle with the frame of its done-callback, and its traceback holds the step's frame.
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_a_cancelled_run_is_freed_without_the_cycle_collector() -> None:
    assert await _left_alive(_cancelled) == ([], 0)

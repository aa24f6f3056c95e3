"""Steps written as ``def``: they run in a worker thread while the event loop goes on.

Every test runs on asyncio and trio. Threads are ordered with threading.Event and
anyio.Event handshakes, never with sleeps.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import pytest

from flowkit import Context, Workflow, catch_error, step
from flowkit.errors import WorkflowCancelledByUser, WorkflowRuntimeError, WorkflowTimeoutError
from flowkit.events import Event, StartEvent, StepFailedEvent, StopEvent
from flowkit.retry_policy import retry_policy, stop_after_attempt, wait_fixed

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


class Ping(Event):
    n: int


class Note(Event):
    text: str


async def _release_after(release: threading.Event, started: anyio.Event) -> None:
    await started.wait()
    release.set()


async def test_a_blocking_def_step_leaves_the_event_loop_running() -> None:
    started = anyio.Event()
    release = threading.Event()
    ticks = 0

    class Blocking(Workflow):
        @step
        def block(self, ev: StartEvent) -> StopEvent:
            anyio.from_thread.run_sync(started.set)
            # Released only by a task of the loop: if the step blocked the loop, this
            # would wait out its timeout and see no ticks.
            released = release.wait(timeout=5)
            return StopEvent(result=(released, ticks, threading.current_thread().name))

    async def ticker() -> None:
        nonlocal ticks
        await started.wait()
        for _ in range(3):
            ticks += 1
            await anyio.lowlevel.checkpoint()
        release.set()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            released, seen_ticks, thread_name = await Blocking().run()
    assert released is True
    assert seen_ticks == 3
    assert thread_name != threading.current_thread().name


async def test_a_free_function_def_step_runs_in_a_thread() -> None:
    class Free(Workflow):
        pass

    @step(workflow=Free)
    def double(ev: StartEvent) -> StopEvent:
        return StopEvent(result=(ev.n * 2, threading.current_thread() is threading.main_thread()))

    with anyio.fail_after(5):
        assert await Free().run(n=21) == (42, False)


class Chatty(Workflow):
    @step
    def start(self, ctx: Context, ev: StartEvent) -> Ping | None:
        anyio.from_thread.run(ctx.store.set, "seen", ["start"])
        ctx.write_event_to_stream(Ping(n=99))  # a class the snapshot knows: to_dict below
        for n in range(3):
            ctx.send_event(Ping(n=n))
        return None

    @step
    def gather(self, ctx: Context, ev: Ping) -> StopEvent | None:
        events = ctx.collect_events(ev, [Ping, Ping, Ping])
        if events is None:
            return None
        seen = anyio.from_thread.run(ctx.store.get, "seen")
        stats = ctx.statistics()
        snapshot = ctx.to_dict()  # frozen on the loop, between two of its awaits
        json.dumps(snapshot)
        return StopEvent(result=(sorted(e.n for e in events), seen, stats.events["Ping"]))


async def test_ctx_calls_from_a_sync_step_run_on_the_loop() -> None:
    with anyio.fail_after(5):
        handler = Chatty().run()
        streamed = [e async for e in handler.stream_events()]
        result = await handler
    assert result == ([0, 1, 2], ["start"], 3)
    assert Ping(n=99) in streamed
    assert await handler.ctx.store.get("seen") == ["start"]


async def test_a_sync_step_is_retried_by_its_policy() -> None:
    attempts: list[int] = []

    class Flaky(Workflow):
        @step(retry_policy=retry_policy(wait=wait_fixed(0), stop=stop_after_attempt(3)))
        def flaky(self, ctx: Context, ev: StartEvent) -> StopEvent:
            attempts.append(ctx.retry_info().retry_number)
            if len(attempts) < 3:
                raise ConnectionError(f"attempt {len(attempts)} failed")
            return StopEvent(result=str(ctx.retry_info().last_exception))

    with anyio.fail_after(5):
        handler = Flaky().run()
        assert await handler == "attempt 2 failed"
    assert attempts == [0, 1, 2]
    assert handler.ctx.statistics().step_runs == {"flaky": 3}


async def test_a_sync_catch_error_handler_recovers() -> None:
    class Recovering(Workflow):
        @step
        def fail(self, ev: StartEvent) -> StopEvent:
            raise ValueError("boom")

        @catch_error
        def recover(self, ev: StepFailedEvent) -> StopEvent:
            return StopEvent(
                result=(ev.step_name, str(ev.exception), threading.current_thread().name)
            )

    with anyio.fail_after(5):
        step_name, message, thread_name = await Recovering().run()
    assert (step_name, message) == ("fail", "boom")
    assert thread_name != threading.current_thread().name


async def test_sync_steps_run_num_workers_at_once() -> None:
    barrier = threading.Barrier(2, timeout=5)

    class Parallel(Workflow):
        @step
        def start(self, ctx: Context, ev: StartEvent) -> Ping | None:
            ctx.send_event(Ping(n=1))
            ctx.send_event(Ping(n=2))
            return None

        @step(num_workers=2)
        def meet(self, ev: Ping) -> Note:
            # Passes only if both executions are in their threads at the same time.
            barrier.wait()
            return Note(text=str(ev.n))

        @step
        def end(self, ctx: Context, ev: Note) -> StopEvent | None:
            notes = ctx.collect_events(ev, [Note, Note])
            return None if notes is None else StopEvent(result=sorted(n.text for n in notes))

    with anyio.fail_after(10):
        assert await Parallel().run() == ["1", "2"]


async def test_wait_for_event_in_a_sync_step_is_a_clear_error() -> None:
    class Waits(Workflow):
        @step
        def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
            ctx.wait_for_event(Ping)  # type: ignore[unused-coroutine]  # raises before returning one
            return StopEvent()

    with anyio.fail_after(5), pytest.raises(WorkflowRuntimeError) as info:
        await Waits().run()
    assert str(info.value) == (
        "ctx.wait_for_event() cannot be used in a sync step: it pauses the step, and a step "
        "written as 'def' runs in a worker thread. Declare the step 'async def' to call "
        "'await ctx.wait_for_event(...)'."
    )


class Stuck(Workflow):
    """A sync step that ignores cancellation: it blocks until the test releases it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entered = anyio.Event()
        self.release = threading.Event()
        self.left = threading.Event()
        self.late_error: BaseException | None = None

    @step
    def stuck(self, ctx: Context, ev: StartEvent) -> StopEvent:
        anyio.from_thread.run_sync(self.entered.set)
        self.release.wait(timeout=10)
        try:
            ctx.send_event(StartEvent())  # the run has ended by now
        except BaseException as exc:
            self.late_error = exc
        self.left.set()
        return StopEvent(result="too late")


async def test_cancel_run_does_not_wait_for_a_sync_step_that_ignores_it() -> None:
    workflow = Stuck()
    with anyio.fail_after(10):
        handler = workflow.run()
        await workflow.entered.wait()
        await handler.cancel_run()
        with pytest.raises(WorkflowCancelledByUser):
            await handler
        assert not workflow.left.is_set()  # the thread is still in the step
        # The abandoned thread runs on to its end; what it does no longer reaches the run.
        workflow.release.set()
        await anyio.to_thread.run_sync(workflow.left.wait, 5)
    assert isinstance(workflow.late_error, WorkflowRuntimeError)
    assert "the run has already ended" in str(workflow.late_error)
    assert await handler.ctx.running_steps() == []


async def test_the_run_timeout_ends_a_run_whose_sync_step_blocks() -> None:
    workflow = Stuck(timeout=0.2)
    with anyio.fail_after(10):
        with pytest.raises(WorkflowTimeoutError) as info:
            await workflow.run()
        assert info.value.active_steps == ["stuck"]
        workflow.release.set()
        await anyio.to_thread.run_sync(workflow.left.wait, 5)
    assert isinstance(workflow.late_error, WorkflowRuntimeError)


async def test_send_event_from_a_thread_the_caller_started() -> None:
    class Waiting(Workflow):
        @step
        async def start(self, ctx: Context, ev: StartEvent) -> StopEvent:
            answer = await ctx.wait_for_event(Ping)
            return StopEvent(result=answer.n)

    with anyio.fail_after(5):
        handler = Waiting().run()
        while not handler.ctx.statistics().waiting:
            await anyio.lowlevel.checkpoint()
        await anyio.to_thread.run_sync(handler.ctx.send_event, Ping(n=7))
        assert await handler == 7


async def test_a_finished_runs_context_is_read_from_any_thread() -> None:
    with anyio.fail_after(5):
        handler = Chatty().run()
        await handler
        snapshot = await anyio.to_thread.run_sync(handler.ctx.to_dict)
        stats = await anyio.to_thread.run_sync(handler.ctx.statistics)
    assert snapshot == handler.ctx.to_dict()
    assert stats.finished is True
    with pytest.raises(WorkflowRuntimeError, match=r"^Cannot send Ping: the run has already ended"):
        await anyio.to_thread.run_sync(handler.ctx.send_event, Ping(n=1))

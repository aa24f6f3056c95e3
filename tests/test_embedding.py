"""Embedding runs in an application: ``open_run`` task groups, detached runs, event loops."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import trio
from anyio.abc import TaskStatus

from flowkit import Context, Workflow, step
from flowkit.errors import WorkflowCancelledByUser, WorkflowRuntimeError
from flowkit.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
    WorkflowCancelledEvent,
)
from flowkit.handler import WorkflowHandler

# Async tests check that the run leaves no task behind (the event-loop tests are sync).
leak_checked = pytest.mark.usefixtures("no_leaked_tasks")

SCRIPTS = Path(__file__).parent / "scripts"
REPO_ROOT = Path(__file__).parent.parent


class Progress(Event):
    n: int


class Double(Workflow):
    @step
    async def double(self, ctx: Context[Any], ev: StartEvent) -> StopEvent:
        ctx.write_event_to_stream(Progress(n=ev.value))
        return StopEvent(result=ev.value * 2)


class Sleeper(Workflow):
    """Streams one event, then sleeps until cancelled."""

    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.started = anyio.Event()
        self.cleaned_up = False

    @step
    async def sleep(self, ctx: Context[Any], ev: StartEvent) -> StopEvent:
        ctx.write_event_to_stream(Progress(n=0))
        self.started.set()
        try:
            await anyio.sleep_forever()
        finally:
            self.cleaned_up = True
        return StopEvent(result="woke up")


class Failing(Workflow):
    @step
    async def fail(self, ev: StartEvent) -> StopEvent:
        raise ValueError("step failed")


class WaitsForSignal(Workflow):
    """Finishes once another workflow's step has set ``signal``."""

    def __init__(self, signal: anyio.Event) -> None:
        super().__init__(timeout=None)
        self.signal = signal

    @step
    async def wait(self, ev: StartEvent) -> StopEvent:
        await self.signal.wait()
        return StopEvent(result="waited")


class Signals(Workflow):
    def __init__(self, signal: anyio.Event) -> None:
        super().__init__(timeout=None)
        self.signal = signal

    @step
    async def signal_it(self, ev: StartEvent) -> StopEvent:
        self.signal.set()
        return StopEvent(result="signalled")


# -- open_run ------------------------------------------------------------------------


@leak_checked
async def test_open_run_gives_the_result() -> None:
    with anyio.fail_after(5):
        async with Double().open_run(value=21) as handler:
            streamed = [event async for event in handler.stream_events()]
            assert await handler == 42
    assert streamed == [Progress(n=21), StopEvent(result=42)]


@leak_checked
async def test_cancelling_an_enclosing_scope_cancels_the_run() -> None:
    workflow = Sleeper()
    with anyio.fail_after(5):
        with anyio.CancelScope() as scope:
            async with workflow.open_run() as handler:
                async for event in handler.stream_events():
                    assert event == Progress(n=0)
                    scope.cancel()
                    await anyio.sleep_forever()
        assert scope.cancelled_caught  # the block exited through the scope, nothing else

        assert workflow.cleaned_up
        assert handler.is_done()
        rest = [event async for event in handler.stream_events()]
        with pytest.raises(WorkflowCancelledByUser):
            await handler
    assert rest == [WorkflowCancelledEvent()]


@leak_checked
async def test_cancelling_the_owning_task_group_cancels_the_run() -> None:
    workflow = Sleeper()

    async def serve(*, task_status: TaskStatus[WorkflowHandler]) -> None:
        async with workflow.open_run() as handler:
            task_status.started(handler)
            await handler

    with anyio.fail_after(5):
        async with anyio.create_task_group() as task_group:
            handler = await task_group.start(serve)
            await workflow.started.wait()
            task_group.cancel_scope.cancel()

        assert workflow.cleaned_up
        with pytest.raises(WorkflowCancelledByUser):
            await handler


@leak_checked
async def test_leaving_the_block_early_cancels_the_run_and_its_tasks() -> None:
    before = set(anyio.get_running_tasks())
    workflow = Sleeper()
    with anyio.fail_after(5):
        async with workflow.open_run() as handler:
            async for event in handler.stream_events():
                assert event == Progress(n=0)
                break

        # Leaving the block waited for the run's tasks: none is left, not even briefly.
        assert set(anyio.get_running_tasks()) == before
        assert workflow.cleaned_up
        assert handler.is_done()
        rest = [event async for event in handler.stream_events()]
        with pytest.raises(WorkflowCancelledByUser):
            await handler
    assert rest == [WorkflowCancelledEvent()]


@leak_checked
async def test_an_error_in_the_block_cancels_the_run_and_propagates() -> None:
    before = set(anyio.get_running_tasks())
    workflow = Sleeper()

    # Documented in docs/embedding.md: the block's exception comes out as raised, not
    # wrapped in the exception group of open_run's task group.
    async def fail_inside_the_block() -> None:
        async with workflow.open_run():
            await workflow.started.wait()
            raise KeyError("oops")

    with anyio.fail_after(5), pytest.raises(KeyError, match=r"^'oops'$"):
        await fail_inside_the_block()

    assert set(anyio.get_running_tasks()) == before
    assert workflow.cleaned_up


@leak_checked
async def test_open_run_resumes_a_context() -> None:
    class Ask(Workflow):
        @step
        async def ask(self, ev: StartEvent) -> InputRequiredEvent:
            return InputRequiredEvent(prefix="?")

        @step
        async def answer(self, ev: HumanResponseEvent) -> StopEvent:
            return StopEvent(result=ev.response)

    with anyio.fail_after(5):
        async with Ask().open_run() as handler:
            async for event in handler.stream_events():
                assert event == InputRequiredEvent(prefix="?")
                data = json.loads(json.dumps(handler.ctx.to_dict()))
                break

        workflow = Ask()
        async with workflow.open_run(ctx=Context.from_dict(workflow, data)) as handler:
            handler.ctx.send_event(HumanResponseEvent(response="resumed"))
            assert await handler == "resumed"


# -- several workflows at once -------------------------------------------------------


@leak_checked
async def test_two_workflows_side_by_side_in_one_task_group() -> None:
    signal = anyio.Event()
    results: dict[str, object] = {}

    async def serve(name: str, workflow: Workflow) -> None:
        async with workflow.open_run() as handler:
            results[name] = await handler

    with anyio.fail_after(5):
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(serve, "waiter", WaitsForSignal(signal))
            task_group.start_soon(serve, "signaller", Signals(signal))

    assert results == {"waiter": "waited", "signaller": "signalled"}


@leak_checked
async def test_two_detached_runs_from_one_task() -> None:
    signal = anyio.Event()
    with anyio.fail_after(5):
        waiter = WaitsForSignal(signal).run()
        signaller = Signals(signal).run()
        assert await waiter == "waited"
        assert await signaller == "signalled"


# -- detached runs and the event loop ------------------------------------------------


@leak_checked
async def test_a_failing_detached_run_reaches_only_its_handler() -> None:
    with anyio.fail_after(5):
        handler = Failing().run()
        with pytest.raises(ValueError, match=r"^step failed$"):
            await handler
        # The event loop and this task carry on.
        assert await Double().run(value=1) == 2


def run_on(backend: str, main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run ``main`` in a fresh event loop of ``backend``, with no test plugin involved."""
    if backend == "asyncio":
        return asyncio.run(main())
    return trio.run(main)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_failing_run_does_not_crash_a_bare_event_loop(backend: str) -> None:
    async def main() -> str:
        handler = Failing().run()
        with pytest.raises(ValueError, match=r"^step failed$"):
            await handler
        return "survived"

    assert run_on(backend, main) == "survived"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_unawaited_runs_end_with_the_event_loop(backend: str) -> None:
    failing_workflow, sleeping_workflow = Failing(), Sleeper()
    handlers: list[WorkflowHandler] = []

    async def main() -> str:
        handlers.append(failing_workflow.run())
        handlers.append(sleeping_workflow.run())
        await anyio.wait_all_tasks_blocked()
        return "main returned"

    assert run_on(backend, main) == "main returned"

    failing, sleeping = handlers
    assert failing.is_done()
    assert isinstance(failing.exception(), ValueError)
    assert sleeping.is_done()  # cancelled when the event loop shut down
    assert isinstance(sleeping.exception(), WorkflowCancelledByUser)
    assert sleeping_workflow.cleaned_up


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_unawaited_runs_leave_nothing_behind_in_a_bare_process(backend: str) -> None:
    path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(SCRIPTS / "unawaited_run.py"), backend],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        timeout=60,
        check=False,
    )

    # No "Task exception was never retrieved", no unclosed-resource warning, no crash.
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == "True ValueError\nTrue WorkflowCancelledByUser\nexited cleanly\n"


def test_run_outside_an_event_loop_says_to_call_it_from_async_code() -> None:
    with pytest.raises(
        WorkflowRuntimeError, match=r"^workflow\.run\(\) must be called from async code"
    ):
        Double().run(value=1)

"""Sync steps (``def``) after their event loop has gone.

Found by mutation testing (docs/mutation-testing.md), the guarantees are:

- ``ctx`` calls from a thread that anyio did not start (a ``threading.Thread`` of the
  user's) reach the run on its event loop, as calls from a sync step's thread do;
- a sync step whose thread outlives the event loop of its run (the loop closed while
  the step still ran, so the run never ended) gets a ``WorkflowRuntimeError`` naming the
  ``ctx`` call and saying why, not the event loop's own error, when it reaches for the run.
"""

from __future__ import annotations

import asyncio
import threading

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest

from flowkit import Context, Workflow, step
from flowkit.errors import WorkflowRuntimeError
from flowkit.events import Event, StartEvent, StopEvent


class Ping(Event):
    n: int


class Outlives(Workflow):
    """``stuck`` blocks in its thread until ``release``, then sends a Ping."""

    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.entered = threading.Event()
        self.release = threading.Event()
        self.left = threading.Event()
        self.late_error: BaseException | None = None

    @step
    def stuck(self, ctx: Context, ev: StartEvent) -> Ping | StopEvent:
        self.entered.set()
        self.release.wait(timeout=10)
        try:
            ctx.send_event(Ping(n=1))
        except BaseException as exc:
            self.late_error = exc
        self.left.set()
        return StopEvent()

    @step
    def answer(self, ev: Ping) -> StopEvent:
        return StopEvent(result=ev.n)


class Waiting(Workflow):
    @step
    async def start(self, ctx: Context, ev: StartEvent) -> StopEvent:
        answer = await ctx.wait_for_event(Ping)
        return StopEvent(result=answer.n)


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_a_thread_anyio_did_not_start_reaches_the_run_through_its_context() -> None:
    with anyio.fail_after(5):
        handler = Waiting().run()
        while not handler.ctx.statistics().waiting:
            await anyio.lowlevel.checkpoint()
        errors: list[BaseException] = []

        def answer() -> None:
            try:
                handler.ctx.send_event(Ping(n=7))
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=answer)
        thread.start()
        assert await handler == 7
        await anyio.to_thread.run_sync(thread.join, 5)
    assert errors == []


# asyncio only, and no async test: the test closes the loop itself while the run is still
# going (an anyio test's loop lives on after the test); trio has no loop to close this way.
def test_a_sync_step_that_outlives_its_event_loop_is_told_so_by_its_ctx_calls() -> None:
    workflow = Outlives()

    async def start_the_run() -> None:
        workflow.run()
        await anyio.to_thread.run_sync(workflow.entered.wait, 5)

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(start_the_run())
    finally:
        loop.close()  # the run's task is left pending: the run never ends
    workflow.release.set()
    assert workflow.left.wait(5)

    assert isinstance(workflow.late_error, WorkflowRuntimeError)
    assert str(workflow.late_error) == (
        "Cannot call 'send_event': the event loop of the run has ended. A sync step that "
        "outlives its run cannot reach the run any more."
    )

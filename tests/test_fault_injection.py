"""Fault injection (issue 8): guarantees that no other test would notice losing.

Each test breaks one documented promise's precondition on purpose (a wait that times
out and leaves the run with nothing to do, a bug injected into the engine, a step that
will not be cancelled, one workflow instance moved between event loops) and checks the
run still ends the documented way, on both backends.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import anyio
import pytest

from flowkit import Context, Workflow, step
from flowkit._engine.ledger import Ledger
from flowkit.errors import (
    FlowkitError,
    WorkflowCancelledByUser,
    WorkflowRuntimeError,
)
from flowkit.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
    WorkflowCancelledEvent,
    WorkflowFailedEvent,
)
from flowkit.retry_policy import retry_policy, stop_after_attempt, wait_fixed

leak_checked = pytest.mark.usefixtures("no_leaked_tasks")

IDLE = r"^Workflow '\w+' is idle and can never finish"


# --- the idle decision after a wait_for_event timeout -------------------------------------------


class Handoff(Event):
    pass


class GivesUpWaiting(Workflow):
    """Its only wait times out; the step carries on and the run has nothing left to do."""

    def __init__(self, then: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.then = then

    @step
    async def wait(self, ctx: Context, ev: StartEvent) -> Handoff | None:
        with contextlib.suppress(TimeoutError):
            await ctx.wait_for_event(Event, timeout=0.001)
        return Handoff() if self.then == "hand off" else None

    @step
    async def last(self, ev: Handoff) -> StopEvent | None:
        return None


@leak_checked
@pytest.mark.parametrize("then", ["return None", "hand off"])
async def test_a_run_whose_only_wait_timed_out_fails_as_idle(then: str) -> None:
    handler = GivesUpWaiting(then).run()
    with anyio.fail_after(5):
        streamed = [event async for event in handler.stream_events()]
        with pytest.raises(WorkflowRuntimeError, match=IDLE):
            await handler
    [terminal] = streamed
    assert isinstance(terminal, WorkflowFailedEvent)
    assert terminal.step_name == ("wait" if then == "return None" else "last")
    assert handler.ctx.statistics().waiting == ()


class WaitsTwiceInParallel(Workflow):
    @step(num_workers=2)
    async def wait(self, ctx: Context, ev: StartEvent | Handoff) -> Handoff | StopEvent | None:
        # StopEvent is declared (a workflow must have a way to end) but never returned.
        with contextlib.suppress(TimeoutError):
            await ctx.wait_for_event(HumanResponseEvent, timeout=0.001)
        return Handoff() if isinstance(ev, StartEvent) else None


@leak_checked
async def test_two_waits_timing_out_leave_the_count_of_open_work_right() -> None:
    # Two waits time out, one after the other: each gives back the one unit of work
    # it took, so the run still becomes idle exactly when the last step ends.
    handler = WaitsTwiceInParallel(disable_validation=True).run()
    with anyio.fail_after(5), pytest.raises(WorkflowRuntimeError, match=IDLE):
        await handler
    assert handler.ctx.statistics().step_runs == {"wait": 2}


# --- the internal-error guard -------------------------------------------------------------------


class Injected(BaseException):
    """A bug injected into the engine (a BaseException, the hardest case for a guard)."""


class Plain(Workflow):
    @step
    async def first(self, ev: StartEvent) -> Handoff:
        return Handoff()

    @step
    async def second(self, ev: Handoff) -> StopEvent:
        return StopEvent(result="done")


@pytest.mark.parametrize("error", [RuntimeError("injected"), Injected("injected")])
@pytest.mark.parametrize("where", ["complete", "take"])
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_bug_in_the_engine_ends_the_run_as_an_internal_error(
    error: BaseException, where: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Ledger, *args: Any) -> Any:
        raise error

    monkeypatch.setattr(Ledger, where, broken)

    async def main() -> list[Event]:
        handler = Plain().run()
        with anyio.fail_after(5):
            streamed = [event async for event in handler.stream_events()]
            with pytest.raises(WorkflowRuntimeError, match=r"^Internal error in flowkit") as caught:
                await handler
        assert caught.value.__cause__ is error
        assert "please file a bug report" in str(caught.value)
        assert handler.is_done()
        # No step failed: the terminal event names none, and none is counted as failed.
        assert handler.ctx.statistics().failed_step is None
        return streamed

    # The event loop survives (a bare trio.run would die of an escaped exception).
    [terminal] = anyio.run(main, backend=backend)
    assert isinstance(terminal, WorkflowFailedEvent)
    assert terminal.step_name == ""
    assert (terminal.attempts, terminal.elapsed_seconds) == (None, None)


# --- cancel_run running out its timeout ---------------------------------------------------------


class Stubborn(Workflow):
    """A step that shields itself from cancellation until it is let go."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.let_go = anyio.Event()
        self.inside = anyio.Event()
        self.finished = False

    @step
    async def hold(self, ev: StartEvent) -> StopEvent:
        with anyio.CancelScope(shield=True):
            self.inside.set()
            await self.let_go.wait()
        self.finished = True
        return StopEvent(result="too late")


@leak_checked
async def test_cancel_run_that_runs_out_its_timeout_leaves_a_cancelled_run() -> None:
    workflow = Stubborn()
    handler = workflow.run()
    with anyio.fail_after(5):
        await workflow.inside.wait()
    # The step will not end within the timeout. Whether cancel_run reports that by
    # raising or by returning, it must not claim the run is over.
    with contextlib.suppress(FlowkitError, TimeoutError):
        await handler.cancel_run(timeout=0.01)
    assert not handler.is_done()
    workflow.let_go.set()
    with anyio.fail_after(5), pytest.raises(WorkflowCancelledByUser):
        await handler
    assert workflow.finished  # the step ran to its end; its StopEvent changed nothing
    assert isinstance(handler.get_stop_event(), WorkflowCancelledEvent)
    # The cancelled run's context still resumes: the step runs again.
    again = Stubborn()
    again.let_go.set()
    data = json.loads(json.dumps(handler.ctx.to_dict()))
    with anyio.fail_after(5):
        assert await again.run(ctx=Context.from_dict(again, data)) == "too late"


# --- one workflow instance under each backend in turn -------------------------------------------


class Everything(Workflow):
    """Uses what keeps per-run resources: slots, the store's lock, retries, waits, streams."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(num_concurrent_runs=2, **kwargs)
        self.failures = 0

    @step(retry_policy=retry_policy(wait=wait_fixed(0), stop=stop_after_attempt(2)))
    async def start(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        if ctx.retry_info().retry_number == 0:
            self.failures += 1
            raise ValueError("first attempt fails")
        async with ctx.store.edit_state() as state:
            state["runs"] = state.get("runs", 0) + 1
        return InputRequiredEvent(prefix="name?")

    @step
    async def answer(self, ctx: Context, ev: HumanResponseEvent) -> StopEvent:
        confirm = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix="sure?"),
            requirements={"confirm": True},
            timeout=5,
        )
        return StopEvent(result=f"{ev.response}:{confirm.response}")


async def drive(workflow: Everything, ctx: Context[Any] | None = None) -> tuple[str, Context[Any]]:
    handler = workflow.run(ctx=ctx)
    with anyio.fail_after(5):
        async for event in handler.stream_events():
            if isinstance(event, InputRequiredEvent) and event.prefix == "name?":
                handler.ctx.send_event(HumanResponseEvent(response="Ada"))
            elif isinstance(event, InputRequiredEvent):
                handler.ctx.send_event(HumanResponseEvent(response="yes", confirm=True))
        result: str = await handler
    return result, handler.ctx


@pytest.mark.parametrize("backends", [("asyncio", "trio", "asyncio"), ("trio", "asyncio", "trio")])
def test_one_workflow_instance_runs_under_each_backend_in_turn(backends: tuple[str, ...]) -> None:
    workflow = Everything()
    contexts: list[Context[Any]] = []

    async def main() -> list[str]:
        results = []
        async with anyio.create_task_group() as tg:

            async def one() -> None:
                result, ctx = await drive(workflow)
                results.append(result)
                contexts.append(ctx)

            for _ in range(3):  # more runs than slots
                tg.start_soon(one)
        # A context finished under another event loop starts a new run with its store.
        result, _ = await drive(workflow, contexts[0])
        return [*results, result]

    for backend in backends:
        assert anyio.run(main, backend=backend) == ["Ada:yes"] * 4
    assert workflow.failures == 4 * len(backends)

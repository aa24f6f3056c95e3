"""How a run shares the event loop: a worker with a backlog yields every 32 deliveries.

A worker runs its step's queued deliveries back to back and yields to the event loop
between two of them once it has run 32 since it last did, or once a millisecond has
passed (docs/semantics.md). So steps that never suspend cannot starve the caller, the
stream's reader, a timeout or other runs; and a backlog of quick steps does not pay a
turn of the event loop for each of its events.

Each test watches a run from a task beside it that only yields, and records how far the
run had got each time that task ran. Between two of its turns, a worker can have run
twice on trio (which runs ready tasks in either order within one batch), so the tests
allow two yields' worth of deliveries between two observations.
"""

from __future__ import annotations

import itertools
import time

import anyio
import anyio.lowlevel
import pytest

from flowkit import Context, Workflow, step
from flowkit.errors import WorkflowCancelledByUser, WorkflowTimeoutError
from flowkit.events import Event, StartEvent, StopEvent
from flowkit.handler import WorkflowHandler

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

YIELD_EVERY = 32  # deliveries, as docs/semantics.md says


class Tick(Event):
    n: int


class Backlog(Workflow):
    """``spread`` queues ``total`` ticks at once; ``count`` runs them and never suspends."""

    def __init__(self, pause: float = 0.0, timeout: float | None = None) -> None:
        super().__init__(timeout=timeout)
        self.pause = pause
        self.done = 0

    @step
    async def spread(self, ctx: Context, ev: StartEvent) -> Tick | None:
        await ctx.store.set("total", ev.total)
        for n in range(ev.total):
            ctx.send_event(Tick(n=n))
        return None

    @step(num_workers=1)
    async def count(self, ev: Tick, ctx: Context) -> StopEvent | None:
        if self.pause:
            time.sleep(self.pause)  # noqa: ASYNC251 (busy that long, without an await)
        self.done += 1
        total = await ctx.store.get("total")  # an await that does not suspend
        return StopEvent(result=self.done) if self.done == total else None


async def watch(workflow: Backlog, handler: WorkflowHandler) -> list[int]:
    """How many ticks ``workflow`` had counted each time a task beside the run ran."""
    seen = [workflow.done]
    while not handler.is_done():
        await anyio.lowlevel.checkpoint()
        seen.append(workflow.done)
    return seen


def largest_step(seen: list[int]) -> int:
    return max(b - a for a, b in itertools.pairwise(seen))


async def test_a_backlog_of_steps_that_never_suspend_lets_other_tasks_run() -> None:
    workflow = Backlog()
    handler = workflow.run(total=20 * YIELD_EVERY)
    seen = await watch(workflow, handler)

    assert await handler == 20 * YIELD_EVERY
    assert seen[-1] == 20 * YIELD_EVERY
    # The task beside the run got a turn at least every two yields of the worker...
    assert largest_step(seen) <= 2 * YIELD_EVERY
    # ...so it saw the backlog being worked off, not only its start and end.
    assert len({n for n in seen if 0 < n < 20 * YIELD_EVERY}) >= 9
    # And the worker ran many deliveries back to back, not one per turn of the loop.
    # (Half the bound: a turn that took a millisecond, a slow machine's, ends sooner.)
    assert largest_step(seen) >= YIELD_EVERY // 2


async def test_a_slow_step_that_never_suspends_lets_other_tasks_run_after_each_event() -> None:
    # Each tick keeps the event loop busy for 2 ms, past the millisecond after which
    # the worker yields, though it has run far fewer than 32 ticks since it last did.
    workflow = Backlog(pause=0.002)
    handler = workflow.run(total=8)
    seen = await watch(workflow, handler)

    assert await handler == 8
    assert largest_step(seen) <= 2
    assert len({n for n in seen if 0 < n < 8}) >= 3


async def test_the_caller_cancels_a_run_whose_steps_never_suspend() -> None:
    workflow = Backlog()
    handler = workflow.run(total=10_000)
    while workflow.done == 0:
        await anyio.lowlevel.checkpoint()
    await handler.cancel_run()

    with pytest.raises(WorkflowCancelledByUser):
        await handler
    assert 0 < workflow.done < 10_000
    # What was not run is kept: the cancelled run resumes from its context.
    resumed = workflow.run(ctx=handler.ctx)
    assert await resumed == 10_000
    assert workflow.done == 10_000


async def test_a_timeout_reaches_a_run_whose_steps_never_suspend() -> None:
    # 1,000 ticks of 1 ms each cannot finish within the run's 50 ms.
    workflow = Backlog(pause=0.001, timeout=0.05)
    handler = workflow.run(total=1_000)

    with pytest.raises(WorkflowTimeoutError, match=r"^Operation timed out after 0\.05 seconds\."):
        await handler
    assert 0 < workflow.done < 1_000

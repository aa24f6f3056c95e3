"""The event stream from a run to its reader (``handler.stream_events()``).

Found by mutation testing (docs/mutation-testing.md), the guarantees are:

- while a reader iterates and nobody awaits the result, a step starts only while at
  most ``stream_buffer_size`` events are unread, and steps go on once the reader has
  brought the unread events down to half of that (not before, not later);
- without a reader the stream is unbounded: a late reader sees every event;
- an event written after the run ended is dropped: the terminal event stays last.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from flowkit import Context, Workflow, step
from flowkit.events import Event, StartEvent, StopEvent

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


class Tick(Event):
    n: int


class Progress(Event):
    n: int


class Started(Event):
    pass


class Producer(Workflow):
    """``fan_out`` streams Started, waits for ``go``, then queues ``total`` Ticks;
    ``produce`` (one worker) streams ``burst`` Progress events for the first and one for each other.
    """

    def __init__(self, total: int, burst: int = 1, **kwargs: Any) -> None:
        super().__init__(timeout=None, **kwargs)
        self.total = total
        self.burst = burst
        self.executions = 0
        self.go = anyio.Event()

    @step
    async def fan_out(self, ctx: Context[Any], ev: StartEvent) -> Tick | None:
        ctx.write_event_to_stream(Started())
        await self.go.wait()  # the reader is iterating from here on
        for n in range(self.total):
            ctx.send_event(Tick(n=n))
        return None

    @step(num_workers=1)
    async def produce(self, ctx: Context[Any], ev: Tick) -> StopEvent | None:
        self.executions += 1
        for _ in range(self.burst if ev.n == 0 else 1):
            ctx.write_event_to_stream(Progress(n=ev.n))
        return StopEvent(result=self.executions) if self.executions == self.total else None


async def test_a_reader_holds_steps_to_the_buffer_size_and_frees_them_at_half() -> None:
    workflow = Producer(total=20, stream_buffer_size=4)
    executions_at_each_read: list[int] = []
    with anyio.fail_after(5):
        handler = workflow.run()
        async for event in handler.stream_events():
            if isinstance(event, Started):
                workflow.go.set()
            await anyio.wait_all_tasks_blocked()  # let the step run as far as it may
            if isinstance(event, Progress):
                executions_at_each_read.append(workflow.executions)
        assert await handler == 20

    # A step starts while at most 4 events are unread, so it stops with 5 unread; the
    # steps go on when a read leaves 2 (4 // 2) unread, and run until 5 are unread again.
    # From the first read: 5 executed, 4 unread; the third read leaves 2.
    assert executions_at_each_read == [5, 5, 8, 8, 8, 11, 11, 11, 14, 14, 14, 17, 17, 17] + [20] * 6


async def test_the_default_buffer_size_is_10_000_unread_events() -> None:
    workflow = Producer(total=3, burst=10_000)
    with anyio.fail_after(5):
        handler = workflow.run()
        events = handler.stream_events()
        assert isinstance(await events.__anext__(), Started)
        workflow.go.set()
        await anyio.wait_all_tasks_blocked()
        # The first step left 10,000 unread: the next may start; it leaves 10,001: the
        # third waits for the reader.
        assert workflow.executions == 2
        read = [event async for event in events]
        assert await handler == 3
    assert len(read) == 10_003  # 10,002 Progress, then the StopEvent
    assert isinstance(read[-1], StopEvent)


async def test_without_a_reader_steps_run_on_and_a_late_reader_sees_every_event() -> None:
    workflow = Producer(total=20, stream_buffer_size=4)
    workflow.go.set()
    with anyio.fail_after(5):
        handler = workflow.run()
        await anyio.wait_all_tasks_blocked()
        assert workflow.executions == 20
        read = [event async for event in handler.stream_events()]
        assert await handler == 20
    assert [type(event) for event in read] == [Started] + [Progress] * 20 + [StopEvent]


async def test_an_event_written_after_the_run_ended_is_dropped() -> None:
    workflow = Producer(total=2)
    workflow.go.set()
    with anyio.fail_after(5):
        handler = workflow.run()
        assert await handler == 2
        unread = handler.ctx.to_dict()["stream"]
        handler.ctx.write_event_to_stream(Progress(n=99))
        # Neither a snapshot nor a late reader sees it: the StopEvent stays the last event.
        assert handler.ctx.to_dict()["stream"] == unread
        read = [event async for event in handler.stream_events()]
    assert len(unread) == 4
    assert [type(event) for event in read] == [Started, Progress, Progress, StopEvent]

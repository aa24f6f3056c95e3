"""Tests for flowkit.handler: awaiting a run, streaming its events, cancelling it."""

from __future__ import annotations

import inspect
import re
import warnings
from collections.abc import AsyncGenerator
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from anyio import TaskInfo
from hypothesis import given
from hypothesis import strategies as st

from flowkit import Context, Workflow, step
from flowkit.errors import WorkflowCancelledByUser, WorkflowRuntimeError
from flowkit.events import (
    Event,
    HumanResponseEvent,
    StartEvent,
    StopEvent,
    WorkflowCancelledEvent,
    WorkflowFailedEvent,
)
from flowkit.handler import WorkflowHandler

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


class Progress(Event):
    n: int


class Next(Event):
    index: int


class Gated(Workflow):
    """One step that waits for the test to open its gate."""

    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.started = anyio.Event()
        self.gate = anyio.Event()

    @step
    async def wait(self, ev: StartEvent) -> StopEvent:
        self.started.set()
        await self.gate.wait()
        return StopEvent(result="opened")


class Failing(Workflow):
    """Streams one event, then fails."""

    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.error = ValueError("boom")

    @step
    async def explode(self, ctx: Context[Any], ev: StartEvent) -> StopEvent:
        ctx.write_event_to_stream(Progress(n=1))
        raise self.error


class Sleeper(Workflow):
    """Streams one event, then sleeps until cancelled."""

    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.cleaned_up = False

    @step
    async def sleep(self, ctx: Context[Any], ev: StartEvent) -> StopEvent:
        ctx.write_event_to_stream(Progress(n=0))
        try:
            await anyio.sleep_forever()
        finally:
            self.cleaned_up = True
        return StopEvent(result="woke up")


class Writer(Workflow):
    """Writes ``chunks[i]`` to the stream in its i-th execution, each one starting the next."""

    @step
    async def write(self, ctx: Context[Any], ev: StartEvent | Next) -> Next | StopEvent:
        if isinstance(ev, StartEvent):
            await ctx.store.set("chunks", ev.chunks)
        index = ev.index if isinstance(ev, Next) else 0
        chunks: list[list[int]] = await ctx.store.get("chunks")
        if index == len(chunks):
            return StopEvent(result=sum(len(chunk) for chunk in chunks))
        for value in chunks[index]:
            ctx.write_event_to_stream(Progress(n=value))
            await anyio.lowlevel.checkpoint()
        return Next(index=index + 1)


async def settled(before: set[TaskInfo]) -> None:
    """Wait until every task started since ``before`` has ended."""
    with anyio.fail_after(5):
        while set(anyio.get_running_tasks()) - before:
            await anyio.lowlevel.checkpoint()


# -- starting and awaiting -----------------------------------------------------------


async def test_run_returns_a_handler_at_once() -> None:
    workflow = Gated()
    handler = workflow.run()

    assert isinstance(handler, WorkflowHandler)
    assert not inspect.iscoroutine(handler)
    assert not handler.is_done()
    with anyio.fail_after(5):
        await workflow.started.wait()
        assert not handler.is_done()
        workflow.gate.set()
        assert await handler == "opened"
    assert handler.is_done()


async def test_await_returns_the_stop_event_result() -> None:
    class Double(Workflow):
        @step
        async def double(self, ev: StartEvent) -> StopEvent:
            return StopEvent(result=ev.value * 2)

    with anyio.fail_after(5):
        assert await Double().run(value=21) == 42


class Summary(StopEvent):
    words: int


class Summarize(Workflow):
    @step
    async def summarize(self, ev: StartEvent) -> Summary:
        return Summary(words=len(ev.text.split()), result="short")


async def test_await_returns_a_stop_event_subclass_itself() -> None:
    with anyio.fail_after(5):
        handler = Summarize().run(text="three little words")
        result = await handler

    assert type(result) is Summary
    assert result == Summary(words=3, result="short")
    assert handler.get_stop_event() is result
    assert handler.result() is result


# -- the event stream ----------------------------------------------------------------


@given(chunks=st.lists(st.lists(st.integers(), max_size=5), max_size=8))
async def test_streamed_events_arrive_in_order_once_then_the_stop_event(
    chunks: list[list[int]],
) -> None:
    with anyio.fail_after(5):
        handler = Writer().run(chunks=chunks)
        streamed = [event async for event in handler.stream_events()]
        result = await handler

    written = [value for chunk in chunks for value in chunk]
    assert result == len(written)
    assert streamed == [*(Progress(n=value) for value in written), StopEvent(result=result)]


async def test_a_second_stream_after_consumption_raises() -> None:
    with anyio.fail_after(5):
        handler = Writer().run(chunks=[[1, 2]])
        assert [event async for event in handler.stream_events()] == [
            Progress(n=1),
            Progress(n=2),
            StopEvent(result=2),
        ]

        message = re.escape("All the streamed events have already been consumed.")
        with pytest.raises(WorkflowRuntimeError, match=f"^{message}"):
            async for _ in handler.stream_events():
                pass
        assert await handler == 2


async def test_breaking_out_of_the_stream_then_awaiting_works() -> None:
    with anyio.fail_after(5):
        handler = Writer().run(chunks=[[1, 2], [3]])
        async for event in handler.stream_events():
            assert event == Progress(n=1)
            break
        assert await handler == 3


async def test_stream_after_a_step_exception_ends_with_workflow_failed_event() -> None:
    workflow = Failing()
    with anyio.fail_after(5):
        handler = workflow.run()
        streamed = [event async for event in handler.stream_events()]
        with pytest.raises(ValueError, match=r"^boom$") as caught:
            await handler

    assert caught.value is workflow.error
    assert len(streamed) == 2
    assert streamed[0] == Progress(n=1)
    failed = streamed[1]
    assert isinstance(failed, WorkflowFailedEvent)
    assert (failed.step_name, failed.exception, failed.attempts) == (
        "explode",
        workflow.error,
        1,
    )
    assert handler.exception() is workflow.error
    assert handler.get_stop_event() is failed


# -- cancelling ----------------------------------------------------------------------


async def test_cancel_run_ends_the_stream_and_every_task() -> None:
    before = set(anyio.get_running_tasks())
    workflow = Sleeper()
    streamed: list[Event] = []
    with anyio.fail_after(5):
        handler = workflow.run()
        async for event in handler.stream_events():
            streamed.append(event)
            if event == Progress(n=0):
                await handler.cancel_run()
                assert (
                    workflow.cleaned_up
                )  # the step saw the cancellation before cancel_run returned
                assert handler.is_done()

        with pytest.raises(WorkflowCancelledByUser, match=r"^The run was cancelled\."):
            await handler
        await settled(before)

    assert streamed == [Progress(n=0), WorkflowCancelledEvent()]
    assert isinstance(handler.exception(), WorkflowCancelledByUser)
    assert handler.get_stop_event() == WorkflowCancelledEvent()
    assert set(anyio.get_running_tasks()) == before


async def test_cancel_run_before_the_run_starts() -> None:
    workflow = Sleeper()
    with anyio.fail_after(5):
        handler = workflow.run()
        await handler.cancel_run()
        streamed = [event async for event in handler.stream_events()]
        with pytest.raises(WorkflowCancelledByUser):
            await handler

    assert streamed == [WorkflowCancelledEvent()]
    assert not workflow.cleaned_up  # the step never started


async def test_cancel_run_on_a_finished_run_is_a_no_op() -> None:
    with anyio.fail_after(5):
        handler = Writer().run(chunks=[[7]])
        streamed = [event async for event in handler.stream_events()]
        assert await handler == 1

        await handler.cancel_run()

        assert await handler == 1
    assert streamed == [Progress(n=7), StopEvent(result=1)]
    assert handler.exception() is None
    assert handler.get_stop_event() == StopEvent(result=1)


class Shielded(Workflow):
    """``hold`` shields itself from cancellation until the test releases it."""

    def __init__(self, steps: int) -> None:
        super().__init__(timeout=None)
        self.steps = steps
        self.entered = 0
        self.all_entered = anyio.Event()
        self.release = anyio.Event()

    @step
    async def fan_out(self, ev: StartEvent, ctx: Context[Any]) -> Next | None:
        for index in range(self.steps):
            ctx.send_event(Next(index=index))
        return None

    @step(num_workers=4)
    async def hold(self, ev: Next) -> StopEvent:
        with anyio.CancelScope(shield=True):
            self.entered += 1
            if self.entered == self.steps:
                self.all_entered.set()
            await self.release.wait()
        await anyio.lowlevel.checkpoint()
        return StopEvent(result="released")


@pytest.mark.parametrize(("timeout", "steps"), [(0, 1), (0.01, 1), (0.01, 3)])
async def test_cancel_run_raises_timeout_error_when_a_step_outlives_the_timeout(
    timeout: float, steps: int
) -> None:
    workflow = Shielded(steps)
    with anyio.fail_after(5):
        handler = workflow.run()
        await workflow.all_entered.wait()
        with pytest.raises(
            TimeoutError,
            match=rf"^The run was cancelled, but a step task was still running {timeout} "
            r"seconds later: it shields itself from cancellation\. Await the handler",
        ):
            await handler.cancel_run(timeout=timeout)
        assert not handler.is_done()

        workflow.release.set()
        with pytest.raises(WorkflowCancelledByUser, match=r"^The run was cancelled\."):
            await handler
    assert handler.get_stop_event() == WorkflowCancelledEvent()
    # Now that every task has ended, cancelling again is a no-op that returns.
    await handler.cancel_run(timeout=0)


def _athrow_cases() -> dict[str, tuple[Any, ...]]:
    return {
        "instance": (ValueError("boom"),),
        "class": (ValueError,),
        "class and None": (ValueError, None),
        "class, None and None": (KeyError, None, None),
        "class and a value": (ValueError, "boom"),
        "class and an instance": (KeyError, KeyError("k")),
        "class and an instance of a subclass": (LookupError, KeyError("k")),
        "class and a tuple": (OSError, (2, "missing")),
        "a BaseException class": (KeyboardInterrupt, None),
        "not an exception": (42,),
        "a class that is not an exception": (int, None),
        "instance with a value": (ValueError("x"), "y"),
        "a traceback that is not one": (ValueError, None, "tb"),
    }


async def _throw(iterator: Any, args: tuple[Any, ...]) -> BaseException:
    with warnings.catch_warnings():
        # Python 3.12 deprecates athrow(type, value, tb) on its generators.
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            await iterator.athrow(*args)
        except BaseException as exc:  # KeyboardInterrupt too: it is the thrown value
            return exc
    raise AssertionError("athrow() returned")


@pytest.mark.parametrize("case", list(_athrow_cases()))
async def test_athrow_follows_the_async_generator_conventions(case: str) -> None:
    async def generator() -> AsyncGenerator[int, None]:
        yield 1
        yield 2

    async def finished(iterator: Any) -> bool:
        try:
            await iterator.__anext__()
        except StopAsyncIteration:
            return True
        return False

    python = generator()
    await python.__anext__()
    expected = await _throw(python, _athrow_cases()[case])
    python_finished = await finished(python)
    await python.aclose()

    args = _athrow_cases()[case]
    with anyio.fail_after(5):
        handler = Writer().run(chunks=[[1, 2]])
        stream = handler.stream_events()
        assert await stream.__anext__() == Progress(n=1)
        got = await _throw(stream, args)
        # Finished, unless the arguments were refused (TypeError): then it goes on.
        assert await finished(stream) is python_finished is not isinstance(got, TypeError)
        await stream.aclose()
        assert await handler == 2  # the run goes on without a reader

    assert (type(got), got.args) == (type(expected), expected.args)
    if isinstance(args[0], BaseException) and len(args) == 1:
        assert got is args[0]
    if len(args) > 1 and isinstance(args[1], BaseException):
        assert got is args[1]


# -- the handler's state -------------------------------------------------------------


async def test_handler_state_before_and_after_the_run() -> None:
    workflow = Gated()
    with anyio.fail_after(5):
        handler = workflow.run()
        await workflow.started.wait()

        assert not handler.is_done()
        with pytest.raises(WorkflowRuntimeError, match=r"^The run has not ended yet"):
            handler.result()
        assert handler.get_stop_event() is None
        assert handler.exception() is None

        workflow.gate.set()
        assert await handler == "opened"

    assert handler.is_done()
    assert handler.result() == "opened"
    assert handler.get_stop_event() == StopEvent(result="opened")
    assert handler.exception() is None


async def test_result_of_a_failed_run_raises_the_step_error() -> None:
    workflow = Failing()
    with anyio.fail_after(5):
        handler = workflow.run()
        with pytest.raises(ValueError, match=r"^boom$"):
            await handler

    with pytest.raises(ValueError, match=r"^boom$") as caught:
        handler.result()
    assert caught.value is workflow.error
    assert handler.exception() is workflow.error


async def test_run_id_is_given_or_unique() -> None:
    class Seen(Workflow):
        @step
        async def look(self, ev: StartEvent) -> StopEvent:
            return StopEvent(result=sorted(ev.keys()))

    workflow = Seen()
    with anyio.fail_after(5):
        named = workflow.run(run_id="run-1", topic="x")
        first = workflow.run()
        second = workflow.run()
        assert await named == ["topic"]  # run_id names the run; it is not a StartEvent field
        assert await first == []
        await second

    assert named.run_id == "run-1"
    assert isinstance(first.run_id, str)
    assert first.run_id
    assert len({named.run_id, first.run_id, second.run_id}) == 3


class Answered(Workflow):
    @step
    async def answer(self, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=f"got {ev.response}")

    @step
    async def start(self, ev: StartEvent) -> None:
        return None


@pytest.mark.parametrize("target", [None, "answer"])
async def test_handler_send_event(target: str | None) -> None:
    with anyio.fail_after(5):
        handler = Answered().run()
        await handler.send_event(HumanResponseEvent(response="yes"), step=target)
        assert await handler == "got yes"


async def test_str_and_repr_name_the_workflow_run_and_result() -> None:
    workflow = Gated()
    with anyio.fail_after(5):
        handler = workflow.run(run_id="abc")
        before = f"WorkflowHandler(workflow={workflow.workflow_name}, run_id=abc, result=None)"
        assert str(handler) == before
        assert repr(handler) == before
        workflow.gate.set()
        await handler

    # As llama-index-workflows prints it: the StopEvent shown with str(), i.e. its result.
    assert str(handler) == (
        f"WorkflowHandler(workflow={workflow.workflow_name}, run_id=abc, result=opened)"
    )


# -- backpressure --------------------------------------------------------------------


class Producer(Workflow):
    """Fans out ``total`` Ticks to one worker; each execution streams one Progress."""

    def __init__(self, total: int, buffer_size: int) -> None:
        super().__init__(timeout=None, stream_buffer_size=buffer_size)
        self.total = total
        self.executions = 0

    @step
    async def fan_out(self, ctx: Context[Any], ev: StartEvent) -> Next | None:
        for index in range(self.total):
            ctx.send_event(Next(index=index))
        return None

    @step(num_workers=1)
    async def produce(self, ctx: Context[Any], ev: Next) -> StopEvent | None:
        self.executions += 1
        ctx.write_event_to_stream(Progress(n=ev.index))
        await anyio.lowlevel.checkpoint()
        if self.executions == self.total:
            return StopEvent(result=self.executions)
        return None


class ParallelProducer(Producer):
    """The same, with four workers."""

    @step(num_workers=4)
    async def produce(self, ctx: Context[Any], ev: Next) -> StopEvent | None:
        return await Producer.produce(self, ctx, ev)


@pytest.mark.parametrize(("producer", "workers"), [(Producer, 1), (ParallelProducer, 4)])
async def test_steps_cannot_run_far_ahead_of_a_slow_reader(
    producer: type[Producer], workers: int
) -> None:
    buffer_size = 4
    workflow = producer(total=60, buffer_size=buffer_size)
    leads: list[int] = []
    with anyio.fail_after(5):
        handler = workflow.run()
        read = 0
        async for event in handler.stream_events():
            if isinstance(event, StopEvent):
                break
            read += 1
            await anyio.wait_all_tasks_blocked()  # let the producer run as far as it can
            leads.append(workflow.executions - read)
        assert await handler == 60

    assert read == 60
    assert max(leads) <= buffer_size + workers
    assert max(leads) >= buffer_size  # it did run ahead, up to the bound


async def test_a_reader_that_breaks_releases_the_steps() -> None:
    workflow = Producer(total=60, buffer_size=4)
    with anyio.fail_after(5):
        handler = workflow.run()
        async for _ in handler.stream_events():
            await anyio.wait_all_tasks_blocked()
            assert workflow.executions < 60  # held back by the reader
            break
        await anyio.wait_all_tasks_blocked()
        assert handler.is_done()  # nobody awaited it: leaving the loop was enough
        assert await handler == 60


async def test_awaiting_the_handler_while_reading_releases_the_steps() -> None:
    workflow = Producer(total=60, buffer_size=4)
    streamed: list[Event] = []
    with anyio.fail_after(5):
        handler = workflow.run()
        async for event in handler.stream_events():
            streamed.append(event)
            if len(streamed) == 1:
                assert await handler == 60  # the reader itself awaits, mid-stream

    assert streamed == [*(Progress(n=index) for index in range(60)), StopEvent(result=60)]


async def test_without_a_reader_every_event_is_kept_for_a_late_reader() -> None:
    workflow = Producer(total=60, buffer_size=4)
    with anyio.fail_after(5):
        handler = workflow.run()
        assert await handler == 60
        streamed = [event async for event in handler.stream_events()]

    assert streamed == [*(Progress(n=index) for index in range(60)), StopEvent(result=60)]


async def test_deprecated_done_cancelled_and_cancel_still_work() -> None:
    class Waits(Workflow):
        @step
        async def wait(self, ev: StartEvent) -> StopEvent:
            await anyio.sleep_forever()
            return StopEvent()

    handler = Waits(timeout=None).run()
    with pytest.warns(DeprecationWarning, match=r"^WorkflowHandler\.done\(\) is deprecated"):
        assert handler.done() is False
    with pytest.warns(DeprecationWarning, match=r"^WorkflowHandler\.cancel\(\) is deprecated"):
        handler.cancel()
    with anyio.fail_after(5), pytest.raises(WorkflowCancelledByUser):
        await handler
    with pytest.warns(DeprecationWarning, match=r"^WorkflowHandler\.cancelled\(\) is deprecated"):
        assert handler.cancelled() is True

"""Freezing a run at any point and resuming it gives the result of an uninterrupted run.

Hypothesis builds small workflows from a vocabulary (a fan-out to ``workers`` step
workers, an optional second stage, a fan-in with ``collect_events``, a human step
asking through InputRequiredEvent/HumanResponseEvent or ``ctx.wait_for_event``, and
store updates) and random inputs. Each example:

1. runs the workflow uninterrupted, answering every request for input, and checks
   the result against a model of the workflow;
2. runs it again, reads its stream, and after the i-th streamed event (or the i-th
   finished step execution, seen through ``StepStateChanged``) freezes it with
   ``ctx.to_dict()``, cancels it, stores the snapshot as JSON, restores it with
   ``Context.from_dict`` into a fresh workflow instance and resumes it, answering
   the pending requests the same way;
3. checks the resumed run returns the same result.

The workflows compute their results from event payloads and update the store
idempotently, so re-running the steps that were in progress (at-least-once) does
not change the result. Both halves run on the test's backend.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import anyio
import attrs
from fixtures.plain import assert_only_plain
from hypothesis import Phase, event, given, note, settings
from hypothesis import strategies as st

from flowkit import Context, Workflow, step
from flowkit.errors import WorkflowCancelledByUser
from flowkit.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StepState,
    StepStateChanged,
    StopEvent,
)
from flowkit.handler import WorkflowHandler

QUESTION = "total?"
# The profile's example count, without the explain phase: it reruns a failing
# example for tens of seconds, and this file must stay fast even while it fails.
quick_failures = settings(phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink])


# --- the vocabulary ------------------------------------------------------------------------


class Begin(StartEvent):
    numbers: list[int]


class Work(Event):
    index: int
    value: int


class Halfway(Event):
    index: int
    value: int


class Done(Event):
    index: int
    value: int


class Ask(InputRequiredEvent):
    key: str
    total: int


class Answer(HumanResponseEvent):
    key: str
    reply: int


@attrs.frozen
class Shape:
    """One workflow of the vocabulary.

    Attributes:
        workers: ``num_workers`` of the fan-out step.
        stages: 1 (Work -> Done) or 2 (Work -> Halfway -> Done).
        human: None, "input_required" (a step returns the request, another accepts
            the answer) or "wait_for_event" (the fan-in step waits for the answer).
        subclassed: The request and answer are Ask/Answer rather than the builtin
            InputRequiredEvent/HumanResponseEvent with extra fields.
        store_updates: Steps record what they saw in the store.
        stream_progress: Workers also write their Done to the stream.
        buffer_id: The collect_events buffer id, or None for the step's own.
    """

    workers: int
    stages: int
    human: str | None
    subclassed: bool
    store_updates: bool
    stream_progress: bool
    buffer_id: str | None


def first_stage(value: int) -> int:
    return value * 3 + 1


def second_stage(value: int) -> int:
    return value - 2


def human_reply(total: int) -> int:
    """What the human answers to a request for ``total``."""
    return total * 2 + 1


def model(shape: Shape, items: list[int]) -> dict[str, Any]:
    """The result the workflow of ``shape`` must return for ``items``."""
    values = [first_stage(x) for x in items]
    if shape.stages == 2:
        values = [second_stage(v) for v in values]
    result: dict[str, Any] = {"values": values}
    if shape.human is not None:
        result["reply"] = human_reply(sum(values))
    if shape.store_updates:
        result["seen"] = list(range(len(items)))
        result["input"] = items
    return result


def request(shape: Shape, total: int) -> InputRequiredEvent:
    if shape.subclassed:
        return Ask(key=QUESTION, total=total)
    return InputRequiredEvent(prompt="Confirm the total", key=QUESTION, total=total)


def answer_to(shape: Shape, asked: InputRequiredEvent) -> HumanResponseEvent:
    """The human's answer to ``asked``: the same for the first and the resumed run."""
    reply = human_reply(int(asked.total))
    if shape.subclassed:
        return Answer(key=str(asked.key), reply=reply)
    return HumanResponseEvent(key=str(asked.key), reply=reply)


@functools.cache
def workflow_class(shape: Shape) -> type[Workflow]:
    """The workflow class of ``shape``, built once per shape.

    Steps whose signature depends on the shape have their own names (``work`` or
    ``work_halfway``, ``decide`` or ``decide_builtin``...), so each class is valid.
    """

    async def record(ctx: Context[Any], index: int) -> None:
        if shape.store_updates:
            async with ctx.store.edit_state() as state:  # idempotent: a set union
                state["seen"] = sorted(set(state.get("seen", [])) | {index})

    def done(ctx: Context[Any], index: int, value: int) -> Done:
        finished = Done(index=index, value=value)
        if shape.stream_progress:
            ctx.write_event_to_stream(finished)
        return finished

    async def collect(ctx: Context[Any], ev: Done) -> list[int] | None:
        expected = [Done] * await ctx.store.get("count")
        batch = ctx.collect_events(ev, expected, buffer_id=shape.buffer_id)
        if batch is None:
            return None
        return [d.value for d in sorted(batch, key=lambda d: int(d.index))]

    async def finish(ctx: Context[Any], values: list[int], reply: int | None) -> StopEvent:
        result: dict[str, Any] = {"values": values}
        if reply is not None:
            result["reply"] = reply
        if shape.store_updates:
            result["seen"] = sorted(await ctx.store.get("seen"))
            result["input"] = await ctx.store.get("input")
        return StopEvent(result=result)

    class Generated(Workflow):
        def __init__(self, stream_buffer_size: int = 10_000) -> None:
            super().__init__(
                timeout=30,
                workflow_name=f"property {shape}",
                stream_buffer_size=stream_buffer_size,
            )
            # Ask and Answer may appear only in wait_for_event, which no step signature
            # names: a snapshot stores only registered event classes.
            self.serializer.register_type(Ask)
            self.serializer.register_type(Answer)

        @step
        async def start(self, ev: Begin, ctx: Context[Any]) -> Work | None:
            await ctx.store.set("count", len(ev.numbers))
            if shape.store_updates:
                await ctx.store.set("input", list(ev.numbers))
            for index, value in enumerate(ev.numbers):
                ctx.send_event(Work(index=index, value=value))
            return None

        if shape.stages == 1:

            @step(num_workers=shape.workers)
            async def work(self, ev: Work, ctx: Context[Any]) -> Done:
                await record(ctx, ev.index)
                return done(ctx, ev.index, first_stage(ev.value))

        else:

            @step(num_workers=shape.workers)
            async def work_halfway(self, ev: Work, ctx: Context[Any]) -> Halfway:
                await record(ctx, ev.index)
                return Halfway(index=ev.index, value=first_stage(ev.value))

            @step(num_workers=2)
            async def second(self, ev: Halfway, ctx: Context[Any]) -> Done:
                return done(ctx, ev.index, second_stage(ev.value))

        if shape.human is None:

            @step
            async def gather(self, ev: Done, ctx: Context[Any]) -> StopEvent | None:
                values = await collect(ctx, ev)
                return None if values is None else await finish(ctx, values, None)

        elif shape.human == "wait_for_event":

            @step
            async def gather_and_wait(self, ev: Done, ctx: Context[Any]) -> StopEvent | None:
                values = await collect(ctx, ev)
                if values is None:
                    return None
                answer = await ctx.wait_for_event(
                    Answer if shape.subclassed else HumanResponseEvent,
                    waiter_event=request(shape, sum(values)),
                    requirements={"key": QUESTION},
                )
                return await finish(ctx, values, int(answer.reply))

        else:

            @step
            async def gather_and_ask(
                self, ev: Done, ctx: Context[Any]
            ) -> Ask | InputRequiredEvent | None:
                values = await collect(ctx, ev)
                if values is None:
                    return None
                await ctx.store.set("values", values)
                return request(shape, sum(values))

            if shape.subclassed:

                @step
                async def decide(self, ev: Answer, ctx: Context[Any]) -> StopEvent:
                    return await finish(ctx, await ctx.store.get("values"), ev.reply)

            else:

                @step
                async def decide_builtin(
                    self, ev: HumanResponseEvent, ctx: Context[Any]
                ) -> StopEvent:
                    return await finish(ctx, await ctx.store.get("values"), int(ev.reply))

    return Generated


def shapes(humans: list[str | None]) -> st.SearchStrategy[Shape]:
    """Workflows of the vocabulary whose human step is one of ``humans``."""
    return st.builds(
        Shape,
        workers=st.integers(1, 3),
        stages=st.sampled_from([1, 2]),
        human=st.sampled_from(humans),
        subclassed=st.booleans(),
        store_updates=st.booleans(),
        stream_progress=st.booleans(),
        buffer_id=st.sampled_from([None, "fan-in"]),
    )


any_shape = shapes([None, "input_required", "wait_for_event"])


@attrs.frozen
class FreezePoint:
    """Where the second run is frozen.

    Attributes:
        position: Which counted event (modulo how many the first run streamed).
        on_steps: Count finished step executions (StepStateChanged NOT_RUNNING)
            instead of every streamed event.
        answer_first: When the counted event is a request, answer it before freezing
            (else it is answered only after the resume).
        buffer_size: The workflow's stream_buffer_size: 0 keeps the steps in step
            with the reader, so the freeze lands mid-run.
    """

    position: int
    on_steps: bool
    answer_first: bool
    buffer_size: int


freeze_points = st.builds(
    FreezePoint,
    position=st.integers(0, 200),
    on_steps=st.booleans(),
    answer_first=st.booleans(),
    buffer_size=st.sampled_from([0, 1, 10_000]),
)


def check_snapshot(data: dict[str, Any]) -> None:
    """The snapshot is plain JSON data and its deliveries are consistent."""
    assert_only_plain(data)
    json.dumps(data, allow_nan=False)
    active = data["queued"] + data["in_progress"]
    ids = [d["id"] for d in active]
    assert len(ids) == len(set(ids)), "a delivery is in two places"
    assert all(0 < i < data["next_id"] for i in ids)
    in_progress = {d["id"] for d in data["in_progress"]}
    for waiter in data["waiters"]:
        assert waiter["delivery_id"] in in_progress, waiter


# --- driving runs -------------------------------------------------------------------------------


def counts(streamed: Event, on_steps: bool) -> bool:
    """Whether ``streamed`` counts towards the freeze position."""
    if not on_steps:
        return not isinstance(streamed, StopEvent)
    return isinstance(streamed, StepStateChanged) and streamed.step_state is StepState.NOT_RUNNING


def make(shape: Shape, buffer_size: int) -> Workflow:
    generated: Any = workflow_class(shape)  # Generated takes stream_buffer_size
    workflow: Workflow = generated(stream_buffer_size=buffer_size)
    return workflow


async def run_uninterrupted(shape: Shape, items: list[int], point: FreezePoint) -> tuple[Any, int]:
    """The result of an uninterrupted run, and how many events of the freeze kind it streamed."""
    handler = workflow_class(shape)().run(start_event=Begin(numbers=items))
    counted = 0
    answered: set[str] = set()
    with anyio.fail_after(10):
        async for streamed in handler.stream_events(expose_internal=point.on_steps):
            counted += counts(streamed, point.on_steps)
            if isinstance(streamed, InputRequiredEvent) and streamed.key not in answered:
                answered.add(str(streamed.key))
                handler.ctx.send_event(answer_to(shape, streamed))
        return await handler, counted


async def answer_requests(
    shape: Shape, handler: WorkflowHandler, answered: set[str], expose_internal: bool
) -> Any:
    """Read the run's stream to its end, answering each request once; the result."""
    with anyio.fail_after(10):
        async for streamed in handler.stream_events(expose_internal=expose_internal):
            if isinstance(streamed, InputRequiredEvent) and streamed.key not in answered:
                answered.add(str(streamed.key))
                handler.ctx.send_event(answer_to(shape, streamed))
        return await handler


async def freeze_and_resume(
    shape: Shape, items: list[int], point: FreezePoint, position: int
) -> Any:
    """Run, freeze after the ``position``-th counted event, cancel, restore fresh, resume."""
    workflow = make(shape, point.buffer_size)
    handler = workflow.run(start_event=Begin(numbers=items))
    answered: set[str] = set()
    pending: list[InputRequiredEvent] = []
    snapshot: dict[str, Any] | None = None
    counted = 0
    with anyio.fail_after(10):
        async for streamed in handler.stream_events(expose_internal=point.on_steps):
            at_freeze = counts(streamed, point.on_steps) and counted == position
            counted += counts(streamed, point.on_steps)
            if isinstance(streamed, InputRequiredEvent) and streamed.key not in answered:
                if at_freeze and not point.answer_first:
                    pending.append(streamed)  # seen, not answered: answered after the resume
                else:
                    handler.ctx.send_event(answer_to(shape, streamed))
                answered.add(str(streamed.key))
            if at_freeze:
                snapshot = handler.ctx.to_dict()
                check_snapshot(snapshot)
                break
    if snapshot is None or snapshot["finished"]:
        # The run ended before the freeze point (it runs ahead of its reader).
        event("the run finished before the freeze")
        with anyio.fail_after(10):
            return await handler
    event("frozen mid-run")
    with anyio.fail_after(10):
        await handler.cancel_run()
    # Cancelled, even when an answer sent just before would have finished it.
    assert isinstance(handler.exception(), WorkflowCancelledByUser)
    stored = json.dumps(snapshot, allow_nan=False)
    note(f"snapshot: {stored}")

    fresh = make(shape, point.buffer_size)
    resumed = fresh.run(ctx=Context.from_dict(fresh, json.loads(stored)))
    for asked in pending:
        resumed.ctx.send_event(answer_to(shape, asked))
    return await answer_requests(shape, resumed, answered, point.on_steps)


# --- the property --------------------------------------------------------------------------------


@quick_failures
@given(
    shape=any_shape,
    items=st.lists(st.integers(-1000, 1000), min_size=1, max_size=5),
    point=freeze_points,
)
async def test_freeze_anywhere_then_resume_gives_the_uninterrupted_result(
    shape: Shape, items: list[int], point: FreezePoint
) -> None:
    expected = model(shape, items)
    uninterrupted, counted = await run_uninterrupted(shape, items, point)
    assert uninterrupted == expected
    position = point.position % max(counted, 1)
    note(f"freezing after counted event {position} of {counted}")

    assert await freeze_and_resume(shape, items, point, position) == expected


@quick_failures
@given(shape=any_shape, items=st.lists(st.integers(-1000, 1000), min_size=1, max_size=5))
async def test_freeze_as_soon_as_started_then_resume(shape: Shape, items: list[int]) -> None:
    # The earliest freeze: right after run() returned, before any step ran.
    workflow = workflow_class(shape)()
    handler = workflow.run(start_event=Begin(numbers=items))
    snapshot = json.loads(json.dumps(handler.ctx.to_dict()))
    await handler.cancel_run()
    # The StartEvent is queued: the snapshot is of a run, and resuming continues it
    # (rather than starting a new run that would need the StartEvent's fields again).
    assert [d["event"]["$type"] for d in snapshot["queued"]] == ["Begin"]
    fresh = workflow_class(shape)()
    resumed = fresh.run(ctx=Context.from_dict(fresh, snapshot))
    assert await answer_requests(shape, resumed, set(), False) == model(shape, items)


@quick_failures
@given(
    shape=shapes(["input_required", "wait_for_event"]),
    items=st.lists(st.integers(-1000, 1000), min_size=1, max_size=4),
    refreeze=st.integers(1, 3),
)
async def test_freezing_the_waiting_run_again_and_again_changes_nothing(
    shape: Shape, items: list[int], refreeze: int
) -> None:
    # A run waiting for a human is frozen, restored and resumed several times before
    # the answer comes; each hop goes through JSON into a fresh instance.
    workflow = workflow_class(shape)()
    handler = workflow.run(start_event=Begin(numbers=items))
    asked: InputRequiredEvent | None = None
    with anyio.fail_after(10):
        async for streamed in handler.stream_events():
            if isinstance(streamed, InputRequiredEvent):
                asked = streamed
                break
    assert asked is not None
    for _ in range(refreeze):
        await anyio.wait_all_tasks_blocked()
        snapshot = handler.ctx.to_dict()
        check_snapshot(snapshot)
        snapshot = json.loads(json.dumps(snapshot))
        await handler.cancel_run()
        fresh = workflow_class(shape)()
        handler = fresh.run(ctx=Context.from_dict(fresh, snapshot))
    handler.ctx.send_event(answer_to(shape, asked))
    assert await answer_requests(shape, handler, {str(asked.key)}, False) == model(shape, items)

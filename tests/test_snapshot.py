"""Snapshots: freeze a run with ``ctx.to_dict()`` at any moment, restore it, resume it.

Every test freezes a live run, stores the snapshot as JSON, restores it with
``Context.from_dict`` into a fresh workflow instance and resumes it with
``workflow.run(ctx=...)``; the tests check what comes out (results, streamed events,
which steps ran) on asyncio and on trio. Errors are checked by type, message and
``ContextSerdeError.path``.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as dt
import enum
import json
import sys
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
from fixtures.fixture_workflow import (
    ORDER_ID,
    PLACED_AT,
    RUN_ID,
    Address,
    Done,
    FixtureWorkflow,
    Priority,
    answer_audit,
    freeze_midway,
)
from fixtures.plain import assert_only_plain
from fixtures.versions import as_version_2

from flowkit import Context, Workflow, catch_error, step
from flowkit.context import JsonSerializer, PickleSerializer
from flowkit.errors import (
    ContextSerdeError,
    WorkflowCancelledByUser,
    WorkflowRuntimeError,
    WorkflowTimeoutError,
)
from flowkit.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StepFailedEvent,
    StopEvent,
    UnreconstructedException,
    WorkflowCancelledEvent,
    WorkflowTimedOutEvent,
)
from flowkit.handler import WorkflowHandler

FIXTURES = Path(__file__).parent / "fixtures"
SNAPSHOT_KEYS = {
    "format", "version", "workflow", "run_id", "is_running", "started", "finished",
    "elapsed", "next_id", "store", "queued", "in_progress", "collected", "waiters", "stream",
    "statistics",
}  # fmt: skip
# Keys a snapshot may lack (older snapshots do): their absence means the default.
OPTIONAL_KEYS = {"statistics"}


# --- helpers -------------------------------------------------------------------------------


def json_round_trip(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` through ``json.dumps`` (strict JSON, no custom encoder) and back."""
    loaded: dict[str, Any] = json.loads(json.dumps(data, allow_nan=False))
    return loaded


def freeze(handler: WorkflowHandler) -> dict[str, Any]:
    """Snapshot the run, check it is plain data, and store it as JSON text and back."""
    data = handler.ctx.to_dict()
    assert_only_plain(data)
    return json_round_trip(data)


def assert_same(got: object, expected: object, where: str = "$") -> None:
    """Equal values of the same types, recursively (1 == 1.0 and (1,) vs [1] do not pass)."""
    assert type(got) is type(expected), f"{type(got)} != {type(expected)} at {where}"
    if isinstance(expected, dict):
        assert isinstance(got, dict)
        assert list(got) == list(expected), f"keys differ at {where}"
        for key in expected:
            assert_same(got[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert isinstance(got, (list, tuple))
        assert len(got) == len(expected), f"lengths differ at {where}"
        for index, (a, b) in enumerate(zip(got, expected, strict=True)):
            assert_same(a, b, f"{where}[{index}]")
    elif isinstance(expected, Decimal):
        assert str(got) == str(expected), f"{got!r} != {expected!r} at {where}"
    else:
        assert got == expected, f"{got!r} != {expected!r} at {where}"
        if isinstance(expected, dt.datetime):
            assert isinstance(got, dt.datetime)
            assert got.tzinfo == expected.tzinfo, f"tzinfo differs at {where}"


def to_dict_or_error(ctx: Context[Any]) -> dict[str, Any] | ContextSerdeError:
    """``ctx.to_dict()``, or the ContextSerdeError it raised (any other exception escapes)."""
    try:
        return ctx.to_dict()
    except ContextSerdeError as exc:
        return exc


def from_dict_or_error(workflow: Workflow, data: Any) -> Context[Any] | ContextSerdeError:
    """``Context.from_dict()``, or the ContextSerdeError it raised (any other escapes)."""
    try:
        return Context.from_dict(workflow, data)
    except ContextSerdeError as exc:
        return exc


async def drain(handler: WorkflowHandler) -> list[Event]:
    """Every event the run streams, up to and including its terminal event."""
    return [event async for event in handler.stream_events()]


class Recorder:
    """Records what steps saw; a test can wait until enough has been recorded."""

    def __init__(self) -> None:
        self.seen: list[Any] = []
        self._changed = anyio.Event()

    def record(self, item: Any) -> None:
        self.seen.append(item)
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_for(self, count: int) -> None:
        with anyio.fail_after(5):
            while len(self.seen) < count:
                await self._changed.wait()


def deliveries(data: dict[str, Any], section: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = data[section]
    return found


# --- workflows -----------------------------------------------------------------------------


class Item(Event):
    n: int


class Counted(Event):
    n: int


class QueueWorkflow(Workflow):
    """``start`` sends ``count`` Items at once; ``consume`` (one worker) waits at a gate."""

    def __init__(self, *, gate_open: bool = False) -> None:
        super().__init__(timeout=30)
        self.gate = anyio.Event()
        if gate_open:
            self.gate.set()
        self.consumed = Recorder()
        self.started = Recorder()

    @step
    async def start(self, ev: StartEvent, ctx: Context[Any]) -> Item | None:
        self.started.record(ev.count)
        await ctx.store.set("count", ev.count)
        for n in range(ev.count):
            ctx.send_event(Item(n=n))
        return None

    @step(num_workers=1)
    async def consume(self, ev: Item) -> Counted:
        self.consumed.record(ev.n)
        await self.gate.wait()
        return Counted(n=ev.n)

    @step
    async def total(self, ev: Counted, ctx: Context[Any]) -> StopEvent | None:
        batch = ctx.collect_events(ev, [Counted] * await ctx.store.get("count"))
        if batch is None:
            return None
        return StopEvent(result=[e.n for e in batch])


async def queued_snapshot(count: int = 3) -> tuple[QueueWorkflow, dict[str, Any]]:
    """A snapshot of QueueWorkflow: Item 0 in progress, the others queued; the run cancelled."""
    workflow = QueueWorkflow()
    handler = workflow.run(count=count)
    await workflow.consumed.wait_for(1)
    await anyio.wait_all_tasks_blocked()
    data = freeze(handler)
    await handler.cancel_run()
    return workflow, data


class AskWorkflow(Workflow):
    """One step that asks a human with ``wait_for_event`` and greets the answer."""

    def __init__(self, timeout: float | None = 30) -> None:
        super().__init__(timeout=timeout)
        self.calls = Recorder()

    @step
    async def ask(self, ev: StartEvent, ctx: Context[Any]) -> StopEvent:
        self.calls.record(ev.get("who", "?"))
        answer = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prompt="name?", q="name"),
            requirements={"q": "name"},
        )
        return StopEvent(result=f"hello {answer.name}")


# --- the snapshot is plain data, with every part of the run ---------------------------------


async def test_to_dict_is_plain_json_data_holding_every_part_of_the_run() -> None:
    data = await freeze_midway()

    assert_only_plain(data)
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert set(data) == SNAPSHOT_KEYS
    assert data["format"] == "flowkit.context"
    assert data["version"] == 2
    assert data["workflow"] == "fixtures.fixture_workflow.FixtureWorkflow"
    assert data["run_id"] == RUN_ID
    assert data["is_running"] is True
    assert isinstance(data["elapsed"], float)
    assert data["elapsed"] > 0
    # The store, with its rich values tagged.
    assert data["store"]["order"]["id"] == {"$type": "uuid", "value": str(ORDER_ID)}
    assert data["store"]["ship_to"] == {
        "$type": "Address",
        "value": {"city": "Lyon", "zip_code": "69001"},
    }
    # Queued events, each naming its step: job 4 waits behind the two blocked workers.
    assert [(d["step"], d["event"]["$type"], d["event"]["index"]) for d in data["queued"]] == [
        ("work", "Job", 4)
    ]
    # In progress: the two blocked jobs, and the audit waiting for a human.
    in_progress = sorted(
        (d["step"], d["event"]["$type"], d["event"].get("index")) for d in data["in_progress"]
    )
    assert in_progress == [("audit", "Audit", None), ("work", "Job", 2), ("work", "Job", 3)]
    # The collect buffer of gather holds Done 0 and 1.
    assert list(data["collected"]) == ["gather"]
    assert sorted(d["event"]["index"] for d in data["collected"]["gather"]) == [0, 1]
    # The waiter, by event tag, with its requirements and the request it streamed.
    [waiter] = data["waiters"]
    assert waiter["step"] == "audit"
    assert waiter["event_type"] == "HumanResponseEvent"
    assert waiter["requirements"] == {"order_id": str(ORDER_ID)}
    assert waiter["resolved"] is None
    assert waiter["waiter_event"]["$type"] == "InputRequiredEvent"
    # Unread stream events: Done 0 and 1 and the audit request, nobody read them.
    assert sorted(e["$type"] for e in data["stream"]) == ["Done", "Done", "InputRequiredEvent"]
    # Delivery ids are unique across the sections.
    ids = [d["id"] for section in ("queued", "in_progress") for d in data[section]]
    assert len(ids) == len(set(ids))
    assert all(0 < i < data["next_id"] for i in ids)


async def test_to_dict_of_a_finished_run_is_plain_data() -> None:
    workflow = QueueWorkflow(gate_open=True)
    handler = workflow.run(count=2)
    with anyio.fail_after(5):
        assert await handler == [0, 1]
    data = handler.ctx.to_dict()
    assert_only_plain(data)
    assert data["finished"] is True
    assert data["is_running"] is False
    assert data["queued"] == data["in_progress"] == data["waiters"] == []


# --- freezing at any moment -----------------------------------------------------------------


async def test_snapshot_with_queued_events_leaves_the_live_run_undisturbed() -> None:
    workflow = QueueWorkflow()
    handler = workflow.run(count=10)
    await workflow.consumed.wait_for(1)
    await anyio.wait_all_tasks_blocked()

    data = freeze(handler)

    # Each Item is in the snapshot exactly once: Item 0 in progress, 1..9 queued in order.
    assert [d["event"]["n"] for d in deliveries(data, "in_progress")] == [0]
    assert [d["event"]["n"] for d in deliveries(data, "queued")] == list(range(1, 10))
    assert {d["step"] for d in data["queued"] + data["in_progress"]} == {"consume"}
    # The live run goes on as if nothing happened.
    workflow.gate.set()
    with anyio.fail_after(5):
        assert await handler == list(range(10))
    assert workflow.consumed.seen == list(range(10))

    # The snapshot resumes in a fresh instance to the same result.
    fresh = QueueWorkflow(gate_open=True)
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    with anyio.fail_after(5):
        assert await resumed == list(range(10))
    assert fresh.consumed.seen == list(range(10))
    assert fresh.started.seen == []  # resuming sends no new StartEvent


async def test_snapshot_taken_twice_is_the_same_and_changes_nothing() -> None:
    workflow = QueueWorkflow()
    handler = workflow.run(count=4)
    await workflow.consumed.wait_for(1)
    await anyio.wait_all_tasks_blocked()

    first = freeze(handler)
    second = freeze(handler)

    assert {k: v for k, v in first.items() if k != "elapsed"} == {
        k: v for k, v in second.items() if k != "elapsed"
    }
    assert second["elapsed"] >= first["elapsed"]
    await handler.cancel_run()


async def test_in_flight_event_runs_again_after_restore() -> None:
    workflow, data = await queued_snapshot(count=3)
    assert workflow.consumed.seen == [0]
    [in_flight] = data["in_progress"]
    assert in_flight["event"] == {"$type": "Item", "n": 0, "_data": {}}
    assert in_flight["attempts"] == 1

    fresh = QueueWorkflow(gate_open=True)
    handler = fresh.run(ctx=Context.from_dict(fresh, data))
    with anyio.fail_after(5):
        assert await handler == [0, 1, 2]
    # At-least-once: Item 0 ran in the frozen run and runs again, first.
    assert fresh.consumed.seen == [0, 1, 2]


async def test_restored_context_can_be_frozen_again_unchanged() -> None:
    _, data = await queued_snapshot(count=3)
    restored = Context.from_dict(QueueWorkflow(), data)
    again = restored.to_dict()
    assert_only_plain(again)
    assert again == data


# --- collect_events ----------------------------------------------------------------------------


class PartA(HumanResponseEvent):
    text: str


class PartB(HumanResponseEvent):
    text: str


class PartC(HumanResponseEvent):
    text: str


class CollectWorkflow(Workflow):
    """``gather`` collects one PartA, PartB and PartC sent by the caller, in that order."""

    def __init__(self, *, hold_batch: bool = False) -> None:
        super().__init__(timeout=30)
        self.calls = Recorder()
        self.batches = Recorder()
        self.hold_batch = hold_batch
        self.gate = anyio.Event()

    @step
    async def start(self, ev: StartEvent) -> None:
        return None

    @step
    async def gather(self, ev: PartA | PartB | PartC, ctx: Context[Any]) -> StopEvent | None:
        self.calls.record(type(ev).__name__)
        batch = ctx.collect_events(ev, [PartA, PartB, PartC])
        if batch is None:
            return None
        texts = [e.text for e in batch]
        self.batches.record(texts)
        if self.hold_batch:
            await self.gate.wait()
        return StopEvent(result=texts)


async def test_collect_buffer_survives_freeze_and_restore() -> None:
    workflow = CollectWorkflow()
    handler = workflow.run()
    handler.ctx.send_event(PartC(text="c"))
    handler.ctx.send_event(PartA(text="a"))
    await workflow.calls.wait_for(2)
    await anyio.wait_all_tasks_blocked()

    data = freeze(handler)
    await handler.cancel_run()

    assert list(data["collected"]) == ["gather"]
    assert [d["event"] for d in data["collected"]["gather"]] == [
        {"$type": "PartC", "text": "c", "_data": {}},
        {"$type": "PartA", "text": "a", "_data": {}},
    ]
    assert data["queued"] == data["in_progress"] == []

    fresh = CollectWorkflow()
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    resumed.ctx.send_event(PartB(text="b"))
    with anyio.fail_after(5):
        assert await resumed == ["a", "b", "c"]
    assert fresh.calls.seen == ["PartB"]


async def test_collect_batch_is_the_same_when_the_completing_step_runs_again() -> None:
    workflow = CollectWorkflow(hold_batch=True)
    handler = workflow.run()
    for part in (PartB(text="b"), PartA(text="a"), PartC(text="c")):
        handler.ctx.send_event(part)
    await workflow.batches.wait_for(1)  # the batch is complete; the step waits at its gate
    await anyio.wait_all_tasks_blocked()

    data = freeze(handler)
    await handler.cancel_run()

    [completing] = data["in_progress"]
    assert completing["step"] == "gather"

    fresh = CollectWorkflow()
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    with anyio.fail_after(5):
        assert await resumed == ["a", "b", "c"]
    # The execution that completed the batch ran again and got the same batch.
    assert fresh.batches.seen == [["a", "b", "c"]]


# --- waiters and the stream ----------------------------------------------------------------


async def test_pending_waiter_gets_the_answer_sent_right_after_resume() -> None:
    workflow = AskWorkflow()
    handler = workflow.run(who="first")
    events = handler.stream_events()
    with anyio.fail_after(5):
        request = await events.__anext__()
    assert isinstance(request, InputRequiredEvent)
    assert request.prompt == "name?"

    data = freeze(handler)
    await handler.cancel_run()

    [waiter] = data["waiters"]
    assert waiter["step"] == "ask"
    assert waiter["event_type"] == "HumanResponseEvent"
    assert waiter["requirements"] == {"q": "name"}
    assert data["stream"] == []  # the request was read before the freeze

    fresh = AskWorkflow()
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    resumed.ctx.send_event(HumanResponseEvent(q="name", name="Ada"))
    with anyio.fail_after(5):
        assert await resumed == "hello Ada"
    # The waiting step was in progress: it ran again from its top, once.
    assert fresh.calls.seen == ["first"]


async def test_unanswered_waiter_asks_again_after_resume() -> None:
    workflow = AskWorkflow()
    handler = workflow.run()
    events = handler.stream_events()
    with anyio.fail_after(5):
        await events.__anext__()
    data = freeze(handler)
    await handler.cancel_run()

    fresh = AskWorkflow()
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    streamed: list[Event] = []
    with anyio.fail_after(5):
        async for event in resumed.stream_events():
            streamed.append(event)
            if isinstance(event, InputRequiredEvent):
                # An answer that does not meet the requirements is not taken.
                resumed.ctx.send_event(HumanResponseEvent(q="age", name="Bob"))
                resumed.ctx.send_event(HumanResponseEvent(q="name", name="Eve"))
        assert await resumed == "hello Eve"
    assert [type(e) for e in streamed] == [InputRequiredEvent, StopEvent]
    assert streamed[0].prompt == "name?"


class Note(Event):
    text: str


class StreamWorkflow(Workflow):
    """``start`` streams two Notes; ``finish`` waits at a gate, streams a third, stops."""

    def __init__(self, *, gate_open: bool = False) -> None:
        super().__init__(timeout=30)
        self.gate = anyio.Event()
        if gate_open:
            self.gate.set()
        self.finishing = Recorder()

    @step
    async def start(self, ev: StartEvent, ctx: Context[Any]) -> Note:
        ctx.write_event_to_stream(Note(text="n0"))
        ctx.write_event_to_stream(Note(text="n1"))
        return Note(text="go")

    @step
    async def finish(self, ev: Note, ctx: Context[Any]) -> StopEvent:
        self.finishing.record(ev.text)
        await self.gate.wait()
        ctx.write_event_to_stream(Note(text="n2"))
        return StopEvent(result="done")


async def test_unread_stream_events_are_streamed_first_after_resume() -> None:
    workflow = StreamWorkflow()
    handler = workflow.run()
    await workflow.finishing.wait_for(1)
    await anyio.wait_all_tasks_blocked()

    data = freeze(handler)
    await handler.cancel_run()
    assert data["stream"] == [
        {"$type": "Note", "text": "n0", "_data": {}},
        {"$type": "Note", "text": "n1", "_data": {}},
    ]

    fresh = StreamWorkflow(gate_open=True)
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    with anyio.fail_after(5):
        streamed = await drain(resumed)
        assert await resumed == "done"
    assert streamed == [Note(text="n0"), Note(text="n1"), Note(text="n2"), StopEvent(result="done")]


class Progress(Event):
    """A progress event of a class that no step accepts or returns."""

    pct: int


class ProgressWorkflow(Workflow):
    """Streams a Progress, or stores one, then waits for a human."""

    @step
    async def start(self, ev: StartEvent, ctx: Context[Any]) -> StopEvent:
        if ev.get("store_it"):
            await ctx.store.set("last", Progress(pct=50))
        else:
            ctx.write_event_to_stream(Progress(pct=50))
        answer = await ctx.wait_for_event(HumanResponseEvent)
        return StopEvent(result=answer.get("ok"))


@pytest.mark.parametrize(("store_it", "section"), [(False, "$.stream"), (True, "$.store")])
async def test_event_of_a_class_no_step_names_is_a_serde_error_or_round_trips(
    store_it: bool, section: str
) -> None:
    # Streaming (or storing) events of an ad-hoc class is common. to_dict must either
    # keep them so that from_dict of the same workflow restores them, or refuse at
    # once with a ContextSerdeError naming the class; never write a snapshot that
    # its own workflow then cannot load.
    workflow = ProgressWorkflow()
    handler = workflow.run(store_it=store_it)
    await anyio.wait_all_tasks_blocked()
    data = to_dict_or_error(handler.ctx)
    await handler.cancel_run()
    if isinstance(data, ContextSerdeError):
        assert "Progress" in str(data)
        assert data.path is not None
        assert data.path.startswith(section)
    else:
        assert_only_plain(data)
        fresh = ProgressWorkflow()
        resumed = fresh.run(ctx=Context.from_dict(fresh, json_round_trip(data)))
        resumed.ctx.send_event(HumanResponseEvent(ok="yes"))
        with anyio.fail_after(5):
            streamed = await drain(resumed)
            assert await resumed == "yes"
        if store_it:
            assert await resumed.ctx.store.get("last") == Progress(pct=50)
        else:
            assert streamed[0] == Progress(pct=50)


class Approval(HumanResponseEvent):
    ok: bool


class UnnamedWaiterWorkflow(Workflow):
    """Waits for Approval, a class no step signature names."""

    @step
    async def start(self, ev: StartEvent, ctx: Context[Any]) -> StopEvent:
        answer = await ctx.wait_for_event(Approval)
        return StopEvent(result=answer.ok)


async def test_waiter_for_a_class_no_step_names_round_trips_unregistered() -> None:
    # The run records the classes it waits for: the snapshot lists them, and a fresh
    # instance finds them among the loaded Event subclasses.
    workflow = UnnamedWaiterWorkflow()
    handler = workflow.run()
    await anyio.wait_all_tasks_blocked()
    data = freeze(handler)
    await handler.cancel_run()
    assert data["event_classes"] == {"test_snapshot.Approval": "test_snapshot:Approval"}
    assert data["waiters"][0]["event_type"] == "test_snapshot.Approval"

    fresh = UnnamedWaiterWorkflow()
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    resumed.ctx.send_event(Approval(ok=True))
    with anyio.fail_after(5):
        assert await resumed is True


async def test_waiter_for_a_registered_class_no_step_names_round_trips() -> None:
    workflow = UnnamedWaiterWorkflow()
    workflow.serializer.register_type(Approval)
    handler = workflow.run()
    await anyio.wait_all_tasks_blocked()
    data = freeze(handler)
    await handler.cancel_run()
    [waiter] = data["waiters"]
    assert waiter["event_type"] == "Approval"

    fresh = UnnamedWaiterWorkflow()
    fresh.serializer.register_type(Approval)
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    resumed.ctx.send_event(Approval(ok=True))
    with anyio.fail_after(5):
        assert await resumed is True


async def test_restoring_a_tag_only_the_writer_registered_is_an_unknown_tag() -> None:
    workflow = UnnamedWaiterWorkflow()
    workflow.serializer.register_type(Approval)
    handler = workflow.run()
    await anyio.wait_all_tasks_blocked()
    data = freeze(handler)
    await handler.cancel_run()

    with pytest.raises(ContextSerdeError, match=r"^Unknown event tag 'Approval' at ") as caught:
        Context.from_dict(UnnamedWaiterWorkflow(), data)
    assert caught.value.path is not None
    assert caught.value.path.startswith("$.waiters[0]")


# --- store values ------------------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@attrs.define
class Point:
    x: int
    y: int


@attrs.frozen
class Segment:
    start: Point
    end: Point
    color: Color


@dataclasses.dataclass
class Label:
    name: str
    points: list[Point]
    when: dt.datetime


class Payload(Event):
    """An event whose fields are typed with rich types."""

    when: dt.datetime
    day: dt.date
    at: dt.time
    span: dt.timedelta
    ident: uuid.UUID
    amount: Decimal
    blob: bytes
    color: Color
    level: Level
    point: Point
    segment: Segment
    label: Label
    points: list[Point]
    labels: dict[str, Label]
    maybe: Point | None = None


def make_payload() -> Payload:
    when = dt.datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    return Payload(
        when=when,
        day=dt.date(2024, 2, 29),
        at=dt.time(12, 30, 15),
        span=dt.timedelta(days=1, seconds=1.5),
        ident=uuid.UUID("12345678-1234-5678-1234-567812345678"),
        amount=Decimal("10.10"),
        blob=b"\x00\xffbytes",
        color=Color.BLUE,
        level=Level.HIGH,
        point=Point(1, 2),
        segment=Segment(Point(0, 0), Point(3, 4), Color.RED),
        label=Label("l", [Point(5, 6)], when),
        points=[Point(7, 8), Point(9, 10)],
        labels={"k": Label("m", [], dt.datetime(2000, 1, 1))},
        maybe=Point(-1, -1),
        extra_tuple=(1, "two"),
        extra_when=dt.date(1999, 12, 31),
    )


def rich_values() -> dict[str, Any]:
    """A store of every kind of value a snapshot keeps, JSON or not."""
    return {
        "none": None,
        "flag": True,
        "count": 3,
        "ratio": 0.25,
        "text": "héllo ✓",
        "nested": {"a": [1, {"b": [2, (3, 4)], "c": {"d": None}}], "e": []},
        "tuple": (1, "x", (2.5, None)),
        "set": {1, 2, 3},
        "frozenset": frozenset({"a", "b"}),
        "int_keys": {1: "one", 2: "two"},
        "tuple_keys": {(1, 2): "pair"},
        "tagged_lookalike": {"$type": "pickle", "value": "bm90IGEgcGlja2xl"},
        "aware": dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc),
        "naive": dt.datetime(2024, 1, 2, 3, 4, 5),
        "date": dt.date(2024, 1, 2),
        "time": dt.time(3, 4, 5, 600),
        "timedelta": dt.timedelta(hours=-1, microseconds=5),
        "uuid": uuid.UUID("87654321-4321-8765-4321-876543218765"),
        "decimal": Decimal("3.14159265358979323846"),
        "decimal_scale": Decimal("1.10"),
        "bytes": b"\x00\x01\xfe\xff",
        "enum": Color.RED,
        "int_enum": Level.LOW,
        "attrs": Point(1, -1),
        "frozen_attrs": Segment(Point(0, 1), Point(2, 3), Color.BLUE),
        "dataclass": Label("lbl", [Point(4, 5)], dt.datetime(2020, 5, 5)),
        "list_of_attrs": [Point(1, 1), Point(2, 2)],
        "event": make_payload(),
        "start_event": StartEvent(topic="x", n=1),
        "stop_event": StopEvent(result={"inner": (1,)}),
    }


def register_rich_types(serializer: JsonSerializer) -> None:
    for klass in (Color, Level, Point, Segment, Label):
        serializer.register_type(klass)


class RichWorkflow(Workflow):
    """Waits for a human, then returns its whole store; its signatures name Payload."""

    def __init__(self, serializer: JsonSerializer | None = None) -> None:
        super().__init__(timeout=30, serializer=serializer)

    @step
    async def start(self, ev: StartEvent, ctx: Context[Any]) -> StopEvent | Payload:
        await ctx.wait_for_event(HumanResponseEvent)
        return StopEvent(result=dict(await ctx.store.get_state()))

    @step
    async def unused(self, ev: Payload) -> StopEvent:
        return StopEvent(result=ev)


def rich_by_register_type() -> RichWorkflow:
    workflow = RichWorkflow()
    assert isinstance(workflow.serializer, JsonSerializer)
    register_rich_types(workflow.serializer)
    return workflow


def rich_by_serializer_argument() -> RichWorkflow:
    serializer = JsonSerializer()
    register_rich_types(serializer)
    return RichWorkflow(serializer=serializer)


@pytest.mark.parametrize(
    "make_workflow",
    [rich_by_register_type, rich_by_serializer_argument],
    ids=["register_type", "serializer_argument"],
)
async def test_rich_store_values_survive_and_the_resumed_steps_see_them(
    make_workflow: Callable[[], RichWorkflow],
) -> None:
    workflow = make_workflow()
    handler = workflow.run()
    await anyio.wait_all_tasks_blocked()
    values = rich_values()
    for key, value in values.items():
        await handler.ctx.store.set(key, value)

    data = freeze(handler)
    await handler.cancel_run()

    # Tagged values keep their types; a user dict holding "$type" is not mistaken for one.
    store = data["store"]
    assert store["tuple"]["$type"] == "tuple"
    assert store["attrs"] == {"$type": "Point", "value": {"x": 1, "y": -1}}
    assert store["tagged_lookalike"] != values["tagged_lookalike"]
    restored = Context.from_dict(make_workflow(), data)
    for key, value in values.items():
        assert_same(await restored.store.get(key), value, f"$.store.{key}")

    fresh = make_workflow()
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    resumed.ctx.send_event(HumanResponseEvent())
    with anyio.fail_after(5):
        result = await resumed
    assert_same(result, values)


class PayloadWorkflow(Workflow):
    """``start`` returns a Payload; ``use`` waits at a gate and returns the payload it got."""

    def __init__(self, *, gate_open: bool = False) -> None:
        super().__init__(timeout=30)
        assert isinstance(self.serializer, JsonSerializer)
        register_rich_types(self.serializer)
        self.gate = anyio.Event()
        if gate_open:
            self.gate.set()
        self.used = Recorder()

    @step
    async def start(self, ev: StartEvent, ctx: Context[Any]) -> Payload:
        return make_payload()

    @step
    async def use(self, ev: Payload, ctx: Context[Any]) -> StopEvent:
        self.used.record(ev)
        await self.gate.wait()
        return StopEvent(result=ev)


async def test_event_fields_typed_with_rich_types_survive() -> None:
    workflow = PayloadWorkflow()
    handler = workflow.run()
    await workflow.used.wait_for(1)
    await anyio.wait_all_tasks_blocked()

    data = freeze(handler)
    await handler.cancel_run()

    [delivery] = data["in_progress"]
    event = delivery["event"]
    assert event["$type"] == "Payload"
    assert event["when"] == "2024-02-29T23:59:58.123456+02:00"  # ISO 8601
    assert event["ident"] == "12345678-1234-5678-1234-567812345678"
    assert event["amount"] == "10.10"
    assert event["blob"] == base64.b64encode(b"\x00\xffbytes").decode("ascii")
    assert event["color"] == "blue"
    assert event["segment"] == {
        "start": {"x": 0, "y": 0},
        "end": {"x": 3, "y": 4},
        "color": "red",
    }
    fresh = PayloadWorkflow(gate_open=True)
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    with anyio.fail_after(5):
        result = await resumed
    expected = make_payload()
    assert result == expected
    for field in attrs.fields(Payload):
        assert_same(getattr(result, field.name), getattr(expected, field.name), field.name)


class Opaque:
    """A class neither flowkit nor the tests register; picklable, compared by value."""

    def __init__(self, value: int = 1) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)


async def test_unregistered_value_in_the_store_names_its_type_and_path() -> None:
    workflow = QueueWorkflow()
    handler = workflow.run(count=1)
    await workflow.consumed.wait_for(1)
    await handler.ctx.store.set("outer", {"inner": Opaque()})
    try:
        with pytest.raises(ContextSerdeError, match=r"Opaque") as caught:
            handler.ctx.to_dict()
        assert caught.value.path == "$.store.outer.inner"
        assert "$.store.outer.inner" in str(caught.value)
        assert "register_type" in str(caught.value)
    finally:
        await handler.cancel_run()


async def test_unregistered_value_in_a_list_names_the_index() -> None:
    workflow = QueueWorkflow()
    handler = workflow.run(count=1)
    await workflow.consumed.wait_for(1)
    await handler.ctx.store.set("items", [1, {"deep": [Opaque()]}])
    try:
        with pytest.raises(ContextSerdeError, match=r"Opaque") as caught:
            handler.ctx.to_dict()
        assert caught.value.path == "$.store.items[1].deep[0]"
    finally:
        await handler.cancel_run()


async def test_unregistered_value_in_an_event_field_names_where_the_event_is() -> None:
    workflow = QueueWorkflow()
    handler = workflow.run(count=1)
    await workflow.consumed.wait_for(1)
    handler.ctx.send_event(Item(n=7, note=Opaque()))  # queued behind Item 0
    try:
        with pytest.raises(ContextSerdeError, match=r"Opaque") as caught:
            handler.ctx.to_dict()
        assert caught.value.path is not None
        assert caught.value.path.startswith("$.queued[0]"), caught.value.path
    finally:
        await handler.cancel_run()


class Boxed(Event):
    thing: Opaque


class BoxedWorkflow(Workflow):
    @step
    async def start(self, ev: StartEvent, ctx: Context[Any]) -> Boxed | None:
        ctx.send_event(Boxed(thing=Opaque(5)))
        await ctx.wait_for_event(HumanResponseEvent)
        return None

    @step
    async def use(self, ev: Boxed) -> StopEvent:
        return StopEvent(result=ev.thing.value)


async def test_event_field_typed_with_an_unsupported_class_never_leaks_into_the_snapshot() -> None:
    # cattrs passes objects of unknown classes through unchanged; the snapshot must
    # still be plain data, or to_dict must refuse with ContextSerdeError.
    workflow = BoxedWorkflow()
    handler = workflow.run()
    await anyio.wait_all_tasks_blocked()
    data = to_dict_or_error(handler.ctx)
    await handler.cancel_run()
    if isinstance(data, ContextSerdeError):
        assert "Opaque" in str(data)
    else:
        assert_only_plain(data)


async def test_deeply_nested_store_value_is_a_serde_error_or_round_trips() -> None:
    deep: list[Any] = []
    node = deep
    for _ in range(100_000):
        child: list[Any] = []
        node.append(child)
        node = child
    workflow = QueueWorkflow()
    handler = workflow.run(count=1)
    await workflow.consumed.wait_for(1)
    await handler.ctx.store.set("deep", deep)
    data = to_dict_or_error(handler.ctx)
    await handler.cancel_run()
    if isinstance(data, ContextSerdeError):
        assert data.path is not None
        assert data.path.startswith("$.store.deep")
    else:
        assert_only_plain(data)


# --- pickle ------------------------------------------------------------------------------------

UNPICKLED: list[str] = []


def _record_unpickle(tag: str) -> Tripwire:
    UNPICKLED.append(tag)
    return Tripwire(tag)


class Tripwire:
    """Records every unpickling of it in UNPICKLED."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def __reduce__(self) -> tuple[Callable[[str], Tripwire], tuple[str]]:
        return (_record_unpickle, (self.tag,))


async def test_pickle_serializer_stores_unregistered_values() -> None:
    workflow = QueueWorkflow()
    handler = workflow.run(count=1)
    await workflow.consumed.wait_for(1)
    await handler.ctx.store.set("opaque", Opaque(42))
    await handler.ctx.store.set("mixed", [Opaque(1), dt.date(2024, 1, 1)])

    data = json_round_trip(handler.ctx.to_dict(serializer=PickleSerializer()))
    await handler.cancel_run()

    assert_only_plain(data)
    assert data["store"]["opaque"]["$type"] == "pickle"
    restored = Context.from_dict(QueueWorkflow(), data, serializer=PickleSerializer())
    assert await restored.store.get("opaque") == Opaque(42)
    assert await restored.store.get("mixed") == [Opaque(1), dt.date(2024, 1, 1)]
    # Resuming with the restored context works as usual.
    fresh = QueueWorkflow(gate_open=True)
    resumed = fresh.run(ctx=Context.from_dict(fresh, data, serializer=PickleSerializer()))
    with anyio.fail_after(5):
        assert await resumed == [0]
    assert await resumed.ctx.store.get("opaque") == Opaque(42)


async def test_json_serializer_refuses_a_pickled_value_without_unpickling_it() -> None:
    workflow = QueueWorkflow()
    handler = workflow.run(count=1)
    await workflow.consumed.wait_for(1)
    await handler.ctx.store.set("trap", Tripwire("json"))
    data = json_round_trip(handler.ctx.to_dict(serializer=PickleSerializer()))
    await handler.cancel_run()
    assert UNPICKLED == []

    fresh = QueueWorkflow()
    with pytest.raises(ContextSerdeError, match=r"PickleSerializer") as caught:
        Context.from_dict(fresh, data)
    assert caught.value.path is not None
    assert caught.value.path.startswith("$.store")
    with pytest.raises(ContextSerdeError, match=r"PickleSerializer"):
        Context.from_dict(fresh, data, serializer=JsonSerializer())
    assert UNPICKLED == []
    assert fresh.consumed.seen == []

    # The same data loads with the PickleSerializer: the check above was not vacuous.
    Context.from_dict(fresh, data, serializer=PickleSerializer())
    assert UNPICKLED == ["json"]
    UNPICKLED.clear()


# --- the user's cattrs hooks --------------------------------------------------------------------


class Money:
    """A plain class with cattrs hooks: stored as "1250 EUR"."""

    def __init__(self, cents: int, currency: str) -> None:
        self.cents = cents
        self.currency = currency

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Money) and (other.cents, other.currency) == (
            self.cents,
            self.currency,
        )

    def __hash__(self) -> int:
        return hash((self.cents, self.currency))

    def __repr__(self) -> str:
        return f"Money({self.cents}, {self.currency!r})"


def _unstructure_money(money: Money) -> str:
    return f"{money.cents} {money.currency}"


def _structure_money(value: Any, _: Any) -> Money:
    cents, currency = str(value).split(" ")
    return Money(int(cents), currency)


class Priced(Event):
    price: Money
    history: list[Money]
    by_shop: dict[str, Money]


class PricedWorkflow(Workflow):
    """``start`` returns a Priced event; ``use`` waits at a gate and returns its prices."""

    def __init__(self, *, gate_open: bool = False) -> None:
        super().__init__(timeout=30)
        converter = self.serializer.converter
        converter.register_unstructure_hook(Money, _unstructure_money)
        converter.register_structure_hook(Money, _structure_money)
        self.gate = anyio.Event()
        if gate_open:
            self.gate.set()
        self.used = Recorder()

    @step
    async def start(self, ev: StartEvent) -> Priced:
        return Priced(
            price=Money(1250, "EUR"),
            history=[Money(1100, "EUR"), Money(990, "USD")],
            by_shop={"north": Money(1, "GBP")},
        )

    @step
    async def use(self, ev: Priced) -> StopEvent:
        self.used.record(ev.price)
        await self.gate.wait()
        return StopEvent(result=(ev.price, ev.history, ev.by_shop))


async def test_users_cattrs_hooks_are_used_for_typed_event_fields() -> None:
    workflow = PricedWorkflow()
    handler = workflow.run()
    await workflow.used.wait_for(1)
    await anyio.wait_all_tasks_blocked()
    data = freeze(handler)
    await handler.cancel_run()

    [delivery] = data["in_progress"]
    assert delivery["event"] == {
        "$type": "Priced",
        "price": "1250 EUR",
        "history": ["1100 EUR", "990 USD"],
        "by_shop": {"north": "1 GBP"},
        "_data": {},
    }
    fresh = PricedWorkflow(gate_open=True)
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    with anyio.fail_after(5):
        assert await resumed == (
            Money(1250, "EUR"),
            [Money(1100, "EUR"), Money(990, "USD")],
            {"north": Money(1, "GBP")},
        )


# --- the timeout budget -------------------------------------------------------------------------


async def test_elapsed_time_is_carried_by_the_snapshot() -> None:
    workflow = AskWorkflow()
    handler = workflow.run()
    await workflow.calls.wait_for(1)
    await anyio.wait_all_tasks_blocked()
    data = freeze(handler)
    await handler.cancel_run()
    assert data["elapsed"] > 0

    restored = Context.from_dict(AskWorkflow(), data)
    assert restored.to_dict()["elapsed"] == data["elapsed"]

    data["elapsed"] = 30.0
    fresh = AskWorkflow(timeout=60)
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    resumed.ctx.send_event(HumanResponseEvent(q="name", name="Ada"))
    with anyio.fail_after(5):
        assert await resumed == "hello Ada"
    assert resumed.ctx.to_dict()["elapsed"] >= 30.0


async def test_resumed_run_times_out_when_the_snapshot_used_the_whole_budget() -> None:
    workflow = AskWorkflow(timeout=5)
    handler = workflow.run()
    await workflow.calls.wait_for(1)
    data = freeze(handler)
    await handler.cancel_run()

    data["elapsed"] = 5.0
    fresh = AskWorkflow(timeout=5)
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    with anyio.fail_after(5):
        streamed = await drain(resumed)
        with pytest.raises(WorkflowTimeoutError, match=r"^Operation timed out after 5(\.0)? sec"):
            await resumed
    assert isinstance(streamed[-1], WorkflowTimedOutEvent)


# --- from_dict refuses bad data, naming what and where -----------------------------------------

Mutation = Callable[[dict[str, Any]], Any]


def _set(path: list[str | int], value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> dict[str, Any]:
        node: Any = data
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
        return data

    return mutate


def _delete(path: list[str | int]) -> Mutation:
    def mutate(data: dict[str, Any]) -> dict[str, Any]:
        node: Any = data
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]
        return data

    return mutate


def _replace(value: Any) -> Mutation:
    return lambda data: value


def _same_id_queued_and_in_progress(data: dict[str, Any]) -> dict[str, Any]:
    data["in_progress"][0]["id"] = data["queued"][0]["id"]
    return data


# (mutation, regular expression the message must match, the error's path)
BAD_SNAPSHOTS: dict[str, tuple[Mutation, str, str]] = {
    "unknown event tag": (
        _set(["queued", 0, "event", "$type"], "Approve"),
        r"Unknown event tag 'Approve'.*\$\.queued\[0\]",
        "$.queued[0].event",
    ),
    "unknown event tag in progress": (
        _set(["in_progress", 0, "event", "$type"], "Nope"),
        r"Unknown event tag 'Nope'",
        "$.in_progress[0].event",
    ),
    "non-str event tag": (
        _set(["queued", 0, "event", "$type"], 5),
        r"Unknown event tag 5",
        "$.queued[0].event",
    ),
    "event without tag": (
        _delete(["queued", 0, "event", "$type"]),
        r"Unknown event tag None",
        "$.queued[0].event",
    ),
    "missing event field": (
        _delete(["queued", 0, "event", "n"]),
        r"^Required field missing at ",
        "$.queued[0].event.n",
    ),
    "wrong-typed event field": (
        _set(["queued", 0, "event", "n"], {"not": "an int"}),
        r"^Expected an integer, found object \{'not': 'an int'\} at \$\.queued\[0\]\.event\.n\. ",
        "$.queued[0].event.n",
    ),
    "wrong-typed top-level field": (
        _set(["elapsed"], "soon"),
        r"^Expected a number, found string 'soon' at \$\.elapsed\. ",
        "$.elapsed",
    ),
    "section of the wrong type": (
        _set(["queued"], "none"),
        r".",
        "$.queued",
    ),
    "wrong version": (
        _set(["version"], 3),
        r"^Unsupported snapshot version 3: this flowkit reads versions 1 and 2 at \$\.version\. ",
        "$.version",
    ),
    "no version": (
        _delete(["version"]),
        r"^Unsupported snapshot version None",
        "$.version",
    ),
    "wrong format": (
        _set(["format"], "llama_index.context"),
        r"^Not a flowkit snapshot: its format is 'llama_index\.context', not 'flowkit\.context' ",
        "$.format",
    ),
    "not a dict (list)": (
        _replace([]),
        r"^A snapshot is a dict from ctx\.to_dict\(\), got list\.$",
        "$",
    ),
    "not a dict (None)": (
        _replace(None),
        r"^A snapshot is a dict from ctx\.to_dict\(\), got NoneType\.$",
        "$",
    ),
    "not a dict (JSON text)": (
        _replace('{"format": "flowkit.context"}'),
        r"got str",
        "$",
    ),
    "unknown top-level key": (
        _set(["surprise"], 1),
        r"surprise",
        "$",
    ),
    "unknown key in a delivery": (
        _set(["queued", 0, "priority"], 1),
        r"priority",
        "$.queued[0]",
    ),
    "unknown key in an event": (
        _set(["queued", 0, "event", "colour"], "red"),
        r"colour",
        "$.queued[0].event",
    ),
    "truncated: no next_id": (
        _delete(["next_id"]),
        r"^Required field missing at ",
        "$.next_id",
    ),
    "truncated: no store": (
        _delete(["store"]),
        r"^Required field missing at ",
        "$.store",
    ),
    "truncated: no queued": (
        _delete(["queued"]),
        r"^Required field missing at ",
        "$.queued",
    ),
    "truncated: delivery without step": (
        _delete(["in_progress", 0, "step"]),
        r"^Required field missing at ",
        "$.in_progress[0].step",
    ),
    "step the workflow lacks": (
        _set(["queued", 0, "step"], "vanished"),
        r"step 'vanished'.*Its steps are: consume, start, total\.",
        "$.queued[0]",
    ),
    "step the workflow lacks, in progress": (
        _set(["in_progress", 0, "step"], "vanished"),
        r"step 'vanished'",
        "$.in_progress[0]",
    ),
    "delivery id not below next_id": (
        _set(["queued", 0, "id"], 10_000),
        r"^Delivery id 10000 is not between 1 and next_id 5 at \$\.queued\[0\]\. ",
        "$.queued[0]",
    ),
    "delivery both queued and in progress": (
        _same_id_queued_and_in_progress,
        r"^Delivery id 3 is queued or in progress twice at \$\.in_progress\[0\]\. ",
        "$.in_progress[0]",
    ),
    "unknown value tag": (
        _set(["store", "thing"], {"$type": "Mystery", "value": {}}),
        r"Unknown value tag 'Mystery'",
        "$.store",
    ),
    "malformed tagged value": (
        _set(["store", "when"], {"$type": "datetime", "value": "yesterday"}),
        r"'datetime'",
        "$.store",
    ),
    "tagged value without value": (
        _set(["store", "when"], {"$type": "uuid"}),
        r"no 'value' key",
        "$.store",
    ),
}


@pytest.mark.parametrize("case", list(BAD_SNAPSHOTS))
async def test_from_dict_refuses_bad_snapshots_before_any_step_runs(case: str) -> None:
    mutate, message, path = BAD_SNAPSHOTS[case]
    _, data = await queued_snapshot(count=3)
    bad = mutate(copy.deepcopy(data))

    fresh = QueueWorkflow(gate_open=True)
    with pytest.raises(ContextSerdeError, match=message) as caught:
        Context.from_dict(fresh, bad)
    assert caught.value.path is not None
    assert caught.value.path.startswith(path), caught.value.path
    assert fresh.started.seen == fresh.consumed.seen == []

    # The workflow instance is unharmed: the intact snapshot still resumes.
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    with anyio.fail_after(5):
        assert await resumed == [0, 1, 2]


async def test_from_dict_refuses_a_waiter_of_a_step_the_workflow_lacks() -> None:
    workflow = AskWorkflow()
    handler = workflow.run()
    await workflow.calls.wait_for(1)
    data = freeze(handler)
    await handler.cancel_run()
    data["waiters"][0]["step"] = "gone"
    with pytest.raises(ContextSerdeError, match=r"waiter of step 'gone'") as caught:
        Context.from_dict(AskWorkflow(), data)
    assert caught.value.path == "$.waiters[0]"


async def test_from_dict_refuses_a_snapshot_of_another_workflow() -> None:
    _, data = await queued_snapshot(count=2)
    other = AskWorkflow()
    with pytest.raises(
        ContextSerdeError,
        match=r"^This snapshot is of workflow 'test_snapshot\.QueueWorkflow', "
        r"not 'test_snapshot\.AskWorkflow' at \$\.workflow\.",
    ) as caught:
        Context.from_dict(other, data)
    assert caught.value.path == "$.workflow"
    assert other.calls.seen == []


def nested_lists(depth: int) -> list[Any]:
    root: list[Any] = []
    node = root
    for _ in range(depth):
        child: list[Any] = []
        node.append(child)
        node = child
    return root


def nested_dicts(depth: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(depth):
        child: dict[str, Any] = {}
        node["a"] = child
        node = child
    return root


def nested_tuples(depth: int) -> dict[str, Any]:
    root: dict[str, Any] = {"$type": "tuple", "value": []}
    node = root
    for _ in range(depth):
        child: dict[str, Any] = {"$type": "tuple", "value": []}
        node["value"].append(child)
        node = child
    return root


@pytest.mark.parametrize(
    ("where", "make_deep"),
    [
        (["store", "deep"], lambda: nested_lists(100_000)),
        (["store", "deep"], lambda: nested_dicts(100_000)),
        (["store", "deep"], lambda: nested_tuples(100_000)),
        (["queued", 0, "event", "_data", "deep"], lambda: nested_lists(100_000)),
    ],
    ids=["store lists", "store dicts", "store tagged tuples", "event extra field"],
)
async def test_from_dict_of_deeply_nested_data_fails_cleanly_or_loads(
    where: list[str | int], make_deep: Callable[[], Any]
) -> None:
    _, data = await queued_snapshot(count=2)
    bad = _set(where, make_deep())(data)
    fresh = QueueWorkflow()
    restored = from_dict_or_error(fresh, bad)
    if isinstance(restored, ContextSerdeError):
        assert restored.path is not None
        assert restored.path.startswith("$")
    else:
        assert restored.is_running
    assert fresh.consumed.seen == []


@pytest.fixture
def modules_untouched() -> Iterator[None]:
    """Fail the test if the modules it names in data, or any module, got imported."""
    for name in ("wave", "tabnanny", "mailbox", "this"):
        assert name not in sys.modules, f"{name} is imported before the test: pick another"
    before = set(sys.modules)
    yield
    assert set(sys.modules) - before == set()


@pytest.mark.usefixtures("modules_untouched")
@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        (["queued", 0, "event", "$type"], "os.system", r"Unknown event tag 'os\.system'"),
        (["queued", 0, "event", "$type"], "builtins.eval", r"Unknown event tag 'builtins\.eval'"),
        (["queued", 0, "event", "$type"], "wave.Wave_read", r"Unknown event tag 'wave\.Wave_read'"),
        (
            ["store", "x"],
            {"$type": "tabnanny.check", "value": "/"},
            r"Unknown value tag 'tabnanny\.check'",
        ),
        (
            ["store", "x"],
            {"$type": "builtins.eval", "value": "__import__('this')"},
            r"Unknown value tag 'builtins\.eval'",
        ),
        (
            ["store", "x"],
            {"$type": "mailbox.Maildir", "value": {"dirname": "/tmp"}},
            r"Unknown value tag 'mailbox\.Maildir'",
        ),
    ],
)
async def test_from_dict_never_imports_a_module_named_in_the_data(
    where: list[str | int], value: Any, message: str
) -> None:
    _, data = await queued_snapshot(count=2)
    bad = _set(where, value)(data)
    with pytest.raises(ContextSerdeError, match=message):
        Context.from_dict(QueueWorkflow(), bad)


async def snapshot_with_failures(**exceptions: dict[str, Any]) -> dict[str, Any]:
    """A QueueWorkflow snapshot whose store holds StepFailedEvents with these exception data.

    flowkit writes the events; only their ``exception`` data is replaced.
    """
    workflow = QueueWorkflow()
    handler = workflow.run(count=2)
    await workflow.consumed.wait_for(1)
    for key in exceptions:
        await handler.ctx.store.set(
            key,
            StepFailedEvent(
                step_name="consume",
                input_event=Item(n=1),
                exception=RuntimeError("placeholder"),
                attempts=1,
                elapsed_seconds=0.5,
                failed_at=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
            ),
        )
    data = freeze(handler)
    await handler.cancel_run()
    for key, exception in exceptions.items():
        value = data["store"][key]["value"]
        assert value["exception"] == {"type": "builtins.RuntimeError", "message": "placeholder"}
        value["exception"] = exception
    return data


@pytest.mark.usefixtures("modules_untouched")
@pytest.mark.parametrize("name", ["wave.Error", "builtins.eval", "mailbox.Error", "os.system"])
async def test_exception_types_in_the_data_are_never_imported(name: str) -> None:
    data = await snapshot_with_failures(failure={"type": name, "message": "boom"})
    restored = Context.from_dict(QueueWorkflow(), data)
    failure = await restored.store.get("failure")
    # It comes back as a stand-in that keeps the name, and freezes to the same data.
    assert type(failure.exception) is UnreconstructedException
    assert failure.exception.original_type == name
    assert str(failure.exception) == "boom"
    assert restored.to_dict()["store"]["failure"] == data["store"]["failure"]


async def test_builtin_and_flowkit_exception_types_come_back_as_themselves() -> None:
    data = await snapshot_with_failures(
        value_error={"type": "builtins.ValueError", "message": "bad value"},
        timeout={"type": "flowkit.errors.WorkflowRuntimeError", "message": "stuck"},
        exit={"type": "builtins.SystemExit", "message": "0"},
    )
    fresh = QueueWorkflow(gate_open=True)
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    with anyio.fail_after(5):
        assert await resumed == [0, 1]
    value_error = (await resumed.ctx.store.get("value_error")).exception
    assert type(value_error) is ValueError
    assert str(value_error) == "bad value"
    runtime_error = (await resumed.ctx.store.get("timeout")).exception
    assert type(runtime_error) is WorkflowRuntimeError
    assert str(runtime_error) == "stuck"
    # SystemExit is no Exception subclass: never rebuilt, kept as a stand-in.
    exit_error = (await resumed.ctx.store.get("exit")).exception
    assert type(exit_error) is UnreconstructedException
    assert exit_error.original_type == "builtins.SystemExit"


class CatchWorkflow(Workflow):
    """``fragile`` fails; the @catch_error handler waits at a gate, then reports the failure."""

    def __init__(self, *, gate_open: bool = False) -> None:
        super().__init__(timeout=30)
        self.gate = anyio.Event()
        if gate_open:
            self.gate.set()
        self.recovering = Recorder()

    @step
    async def start(self, ev: StartEvent) -> Item:
        return Item(n=7, origin="start")

    @step
    async def fragile(self, ev: Item) -> StopEvent:
        raise ValueError(f"bad {ev.n}")

    @catch_error
    async def recover(self, ev: StepFailedEvent) -> StopEvent:
        self.recovering.record(ev.step_name)
        await self.gate.wait()
        return StopEvent(
            result=(ev.step_name, ev.input_event, type(ev.exception), str(ev.exception))
        )


async def test_pending_catch_error_handler_gets_the_failed_event_after_restore() -> None:
    workflow = CatchWorkflow()
    handler = workflow.run()
    await workflow.recovering.wait_for(1)
    await anyio.wait_all_tasks_blocked()
    data = freeze(handler)
    await handler.cancel_run()
    [delivery] = data["in_progress"]
    assert delivery["step"] == "recover"
    assert delivery["event"]["$type"] == "StepFailedEvent"

    fresh = CatchWorkflow(gate_open=True)
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    with anyio.fail_after(5):
        result = await resumed
    # The failed step's input event keeps its class and its fields, extra ones too.
    assert result == ("fragile", Item(n=7, origin="start"), ValueError, "bad 7")
    assert type(result[1]) is Item


# --- the committed fixture --------------------------------------------------------------------

EXPECTED_FIXTURE_RESULT: dict[str, Any] = {
    "labels": [
        "APPLE@Lyon:0.25",
        "PEAR@Lyon:1.25",
        "FIG@Lyon:2.25",
        "KIWI@Lyon:3.25",
        "PLUM@Lyon:4.25",
    ],
    "auditor": "Ada",
    "order": {
        "id": ORDER_ID,
        "placed_at": PLACED_AT,
        "items": ("apple", "pear", "fig", "kiwi", "plum"),
        "tags": {"fragile", "gift"},
        "total": Decimal("12.50"),
    },
    "ship_to": Address("Lyon", "69001"),
    "priority": Priority.HIGH,
}


def load_fixture(version: int = 1) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"snapshot_v{version}.json").read_text())
    return data


@pytest.mark.parametrize("version", [1, 2])
async def test_committed_snapshots_load_and_resume(version: int) -> None:
    # tests/fixtures/snapshot_v<N>.json were written once by make_snapshot_v<N>.py;
    # every later flowkit must keep loading them. Never regenerate one to make this
    # pass. Version 1 (event tag under "type") is read as it was written.
    data = load_fixture(version)
    assert data["version"] == version

    fresh = FixtureWorkflow()
    restored = Context.from_dict(fresh, data)
    assert_same(await restored.store.get("order"), EXPECTED_FIXTURE_RESULT["order"])
    again = restored.to_dict()
    assert again["version"] == 2
    expected = as_version_2(data) if version == 1 else data
    # The fixtures carry the older default name (the class's qualified name): they
    # restore, and freeze again under the default name now (module and qualified name).
    assert data["workflow"] == "FixtureWorkflow"
    assert again["workflow"] == "fixtures.fixture_workflow.FixtureWorkflow"
    assert {k: v for k, v in again.items() if k not in ("store", "workflow")} == {
        k: v for k, v in expected.items() if k not in ("store", "workflow")
    }

    resumed = fresh.run(ctx=restored)
    assert resumed.run_id == RUN_ID
    streamed: list[Event] = []
    with anyio.fail_after(5):
        async for event in resumed.stream_events():
            streamed.append(event)
            if (
                isinstance(event, InputRequiredEvent)
                and len([e for e in streamed if isinstance(e, InputRequiredEvent)]) == 1
            ):
                resumed.ctx.send_event(answer_audit("Ada"))
        result = await resumed
    assert_same(result, EXPECTED_FIXTURE_RESULT)
    # The file's unread events come first, as they were written.
    unread = [e["$type"] for e in expected["stream"]]
    assert [type(e).__name__ for e in streamed[: len(unread)]] == unread
    assert {e.index for e in streamed if isinstance(e, Done)} == {0, 1, 2, 3, 4}
    assert isinstance(streamed[-1], StopEvent)
    # Jobs 2 and 3 were in progress and 4 queued: each ran once more; 0 and 1 did not.
    assert sorted(fresh.worked) == [2, 3, 4]


@pytest.mark.parametrize("version", [1, 2])
async def test_committed_snapshots_resume_when_answered_right_away(version: int) -> None:
    fresh = FixtureWorkflow()
    resumed = fresh.run(ctx=Context.from_dict(fresh, load_fixture(version)))
    resumed.ctx.send_event(answer_audit("Grace"))
    with anyio.fail_after(5):
        result = await resumed
    assert result["auditor"] == "Grace"
    assert result["labels"] == EXPECTED_FIXTURE_RESULT["labels"]


async def test_live_fixture_run_matches_the_committed_snapshot_shape() -> None:
    # The committed file and a fresh freeze of the same run differ only in
    # run-dependent values, so the fixture keeps testing what flowkit writes today.
    live = await freeze_midway()
    committed = load_fixture(2)
    assert set(live) - OPTIONAL_KEYS == set(committed)
    assert live["version"] == committed["version"]
    for section in ("queued", "in_progress", "waiters", "stream"):
        assert len(live[section]) == len(committed[section]), section
    assert {k: len(v) for k, v in live["collected"].items()} == {
        k: len(v) for k, v in committed["collected"].items()
    }
    assert live["store"].keys() == committed["store"].keys()


# --- cancel_run ---------------------------------------------------------------------------------


class FanOutWorkflow(Workflow):
    """Three workers wait at a gate; ``finally`` records that each one ended."""

    def __init__(self) -> None:
        super().__init__(timeout=30)
        self.gate = anyio.Event()
        self.entered = Recorder()
        self.ended: list[int] = []

    @step
    async def start(self, ev: StartEvent, ctx: Context[Any]) -> Item | None:
        for n in range(3):
            ctx.send_event(Item(n=n))
        return None

    @step(num_workers=3)
    async def work(self, ev: Item) -> Counted:
        self.entered.record(ev.n)
        try:
            await self.gate.wait()
        finally:
            self.ended.append(ev.n)
        return Counted(n=ev.n)

    @step
    async def total(self, ev: Counted, ctx: Context[Any]) -> StopEvent | None:
        batch = ctx.collect_events(ev, [Counted] * 3)
        return None if batch is None else StopEvent(result=sorted(e.n for e in batch))


def flowkit_tasks() -> set[str]:
    return {t.name for t in anyio.get_running_tasks() if t.name and "flowkit" in t.name}


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_cancel_run_ends_every_step_task_and_the_stream() -> None:
    before = flowkit_tasks()
    workflow = FanOutWorkflow()
    handler = workflow.run()
    await workflow.entered.wait_for(3)
    await anyio.wait_all_tasks_blocked()
    assert flowkit_tasks() - before >= {"flowkit step work"}
    assert workflow.ended == []

    with anyio.fail_after(5):
        await handler.cancel_run()
    assert sorted(workflow.ended) == [0, 1, 2]
    assert handler.is_done()
    with anyio.fail_after(5):
        streamed = await drain(handler)
    assert [type(e) for e in streamed] == [WorkflowCancelledEvent]
    resumable = r"Its context can be resumed with workflow\.run\(ctx=\.\.\.\)\."
    with pytest.raises(WorkflowCancelledByUser, match=rf"^The run was cancelled\. {resumable}$"):
        await handler
    with anyio.fail_after(5):
        while flowkit_tasks() - before:
            await anyio.wait_all_tasks_blocked()
    assert flowkit_tasks() - before == set()
    # Cancelling again is a no-op.
    await handler.cancel_run()
    assert isinstance(handler.exception(), WorkflowCancelledByUser)


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_cancelled_context_resumes_like_its_snapshot() -> None:
    workflow = FanOutWorkflow()
    handler = workflow.run()
    await workflow.entered.wait_for(3)
    await anyio.wait_all_tasks_blocked()
    data = freeze(handler)
    await handler.cancel_run()
    with pytest.raises(WorkflowCancelledByUser):
        await handler

    # The cancelled context still holds its in-flight events, like the snapshot.
    assert handler.ctx.is_running
    after = handler.ctx.to_dict()
    assert sorted(d["event"]["n"] for d in after["in_progress"] + after["queued"]) == [0, 1, 2]
    assert sorted(d["event"]["n"] for d in data["in_progress"]) == [0, 1, 2]

    workflow.gate.set()
    again = workflow.run(ctx=handler.ctx)
    fresh = FanOutWorkflow()
    fresh.gate.set()
    restored = fresh.run(ctx=Context.from_dict(fresh, data))
    with anyio.fail_after(5):
        assert await again == [0, 1, 2]
        assert await restored == [0, 1, 2]
    assert sorted(fresh.entered.seen) == [0, 1, 2]


class AnswerFinishes(Workflow):
    """Asks a human; the answer's step returns StopEvent without ever awaiting."""

    def __init__(self) -> None:
        super().__init__(timeout=30)
        self.finished: list[str] = []

    @step
    async def start(self, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prompt="go?")

    @step
    async def done(self, ev: HumanResponseEvent) -> StopEvent:
        self.finished.append(str(ev.get("by")))
        return StopEvent(result="finished")


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_cancel_run_right_after_sending_an_event_cancels_the_run() -> None:
    # The answer is queued when cancel_run() is called: the run has not ended, so it
    # must end cancelled and stay resumable, with the answer still in it.
    workflow = AnswerFinishes()
    handler = workflow.run()
    with anyio.fail_after(5):
        async for streamed in handler.stream_events():
            assert isinstance(streamed, InputRequiredEvent)
            break
    handler.ctx.send_event(HumanResponseEvent(by="Ada"))
    with anyio.fail_after(5):
        await handler.cancel_run()
    with pytest.raises(WorkflowCancelledByUser):
        await handler
    assert handler.ctx.is_running
    data = freeze(handler)
    pending = data["queued"] + data["in_progress"]
    assert [d["event"]["$type"] for d in pending] == ["HumanResponseEvent"]

    fresh = AnswerFinishes()
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    with anyio.fail_after(5):
        assert await resumed == "finished"
    assert fresh.finished == ["Ada"]


async def test_cancel_run_on_a_restored_run_before_it_resumed_work() -> None:
    _, data = await queued_snapshot(count=3)
    fresh = QueueWorkflow()
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    await fresh.consumed.wait_for(1)
    with anyio.fail_after(5):
        await resumed.cancel_run()
        streamed = await drain(resumed)
    assert isinstance(streamed[-1], WorkflowCancelledEvent)
    with pytest.raises(WorkflowCancelledByUser):
        await resumed
    # And the twice-frozen context still resumes to the full result.
    again = json_round_trip(resumed.ctx.to_dict())
    last = QueueWorkflow(gate_open=True)
    final = last.run(ctx=Context.from_dict(last, again))
    with anyio.fail_after(5):
        assert await final == [0, 1, 2]


def test_committed_snapshot_has_the_documented_keys() -> None:
    # Keeps SNAPSHOT_KEYS above honest against the file flowkit itself wrote (before the
    # optional statistics key existed: it still loads, see test_statistics.py).
    assert set(load_fixture()) == SNAPSHOT_KEYS - OPTIONAL_KEYS


async def test_register_type_after_a_first_snapshot_is_picked_up() -> None:
    workflow = UnnamedWaiterWorkflow()
    handler = workflow.run()
    await anyio.wait_all_tasks_blocked()
    first = handler.ctx.to_dict()
    assert [w["event_type"] for w in first["waiters"]] == ["test_snapshot.Approval"]
    workflow.serializer.register_type(Approval)
    data = freeze(handler)
    await handler.cancel_run()
    assert [w["event_type"] for w in data["waiters"]] == ["Approval"]
    assert "event_classes" not in data  # registered: the registry knows it now

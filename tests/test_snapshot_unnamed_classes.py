"""Snapshots of event classes no step signature names: waited for, prompts, sent, streamed.

The run records the classes that enter it through the context; a snapshot lists the
ones the workflow's registry lacks under ``event_classes``, and a fresh instance finds
them among the loaded Event subclasses. Nothing named in the data is imported.

A class reached twice among them (two Event bases) is found once; a module or qualified
name with colons in it round-trips, the tag's ``.`` marking where the module ends (an
entry whose tag is not its name with one ``:`` made a ``.`` is malformed). Refused, by
full reason, path and advice: two classes of one name in a run (``to_dict``), a listed
name two loaded classes have, a malformed entry, a listed class not loaded (named by the
qualified name its tag marks).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
import pytest

from flowkit import Context, Workflow, step
from flowkit.context.serializers import PickleSerializer
from flowkit.errors import ContextSerdeError
from flowkit.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent
from flowkit.handler import WorkflowHandler


class Question(InputRequiredEvent):
    text: str


class Answer(HumanResponseEvent):
    text: str


class Opaque:
    """A value neither flowkit nor JSON knows: only a PickleSerializer stores it."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.n == self.n

    def __hash__(self) -> int:
        return self.n


class Interview(Workflow):
    """Asks a Question and waits for an Answer: neither is in a step signature."""

    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        answer = await ctx.wait_for_event(Answer, waiter_event=Question(text="name?"))
        return StopEvent(result=f"hello {answer.text}")


LISTED = {
    "test_snapshot_unnamed_classes.Answer": "test_snapshot_unnamed_classes:Answer",
    "test_snapshot_unnamed_classes.Question": "test_snapshot_unnamed_classes:Question",
}


async def frozen_while_asking(handler: WorkflowHandler, serializer: Any = None) -> dict[str, Any]:
    with anyio.fail_after(5):
        async for event in handler.stream_events():
            if isinstance(event, Question):
                break
    data: dict[str, Any] = json.loads(json.dumps(handler.ctx.to_dict(serializer)))
    await handler.cancel_run()
    return data


async def test_a_waiter_of_unnamed_classes_freezes_and_resumes_in_a_fresh_instance() -> None:
    data = await frozen_while_asking(Interview().run())
    assert data["event_classes"] == LISTED
    [waiter] = data["waiters"]
    assert waiter["event_type"] == "test_snapshot_unnamed_classes.Answer"
    assert waiter["waiter_event"]["$type"] == "test_snapshot_unnamed_classes.Question"

    fresh = Interview()
    restored = Context.from_dict(fresh, data)
    assert restored.to_dict() == data  # a restored context freezes the same again
    resumed = fresh.run(ctx=restored)
    with anyio.fail_after(5):
        async for event in resumed.stream_events():
            if isinstance(event, Question):  # asked again: the step runs from its top
                resumed.ctx.send_event(Answer(text="Ada"))
        assert await resumed == "hello Ada"


async def test_a_pickle_serializer_snapshots_unnamed_classes_too() -> None:
    serializer = PickleSerializer()
    workflow = Interview()
    handler = workflow.run()
    await handler.ctx.store.set("opaque", Opaque(7))
    data = await frozen_while_asking(handler, serializer)
    assert data["event_classes"] == LISTED
    assert data["store"]["opaque"]["$type"] == "pickle"

    fresh = Interview()
    restored = Context.from_dict(fresh, data, serializer=serializer)
    assert await restored.store.get("opaque") == Opaque(7)
    resumed = fresh.run(ctx=restored)
    resumed.ctx.send_event(Answer(text="Grace"))
    with anyio.fail_after(5):
        assert await resumed == "hello Grace"


class Base(Event):
    n: int = 0


class Sent(Base):
    """Sent by the caller; the step accepts its base class only."""


class Streamed(Event):
    note: str = ""


class Relay(Workflow):
    """Only the caller sends Base events: the graph check would refuse that."""

    def __init__(self) -> None:
        super().__init__(disable_validation=True)
        self.gate = anyio.Event()
        self.holding = anyio.Event()

    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> None:
        ctx.write_event_to_stream(Streamed(note="started"))

    @step(accept_event_subclasses=True, num_workers=1)
    async def handle(self, ev: Base) -> StopEvent:
        self.holding.set()
        await self.gate.wait()
        return StopEvent(result=(type(ev).__name__, ev.n))


async def test_caller_sent_and_streamed_events_of_unnamed_classes_round_trip() -> None:
    workflow = Relay()
    handler = workflow.run()
    handler.ctx.send_event(Sent(n=3))
    with anyio.fail_after(5):
        await workflow.holding.wait()
        await anyio.wait_all_tasks_blocked()
    data = json.loads(json.dumps(handler.ctx.to_dict()))
    await handler.cancel_run()
    assert data["event_classes"] == {
        "test_snapshot_unnamed_classes.Sent": "test_snapshot_unnamed_classes:Sent",
        "test_snapshot_unnamed_classes.Streamed": "test_snapshot_unnamed_classes:Streamed",
    }

    fresh = Relay()
    fresh.gate.set()
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    with anyio.fail_after(5):
        streamed = [e async for e in resumed.stream_events()]
        assert await resumed == ("Sent", 3)
    assert Streamed(note="started") in streamed  # unread when frozen: streamed on resume


def test_a_listed_class_that_is_not_loaded_is_refused_and_never_imported() -> None:
    data = Context(Interview()).to_dict()
    data["event_classes"] = {"wave.Error": "wave:Error"}
    assert "wave" not in sys.modules
    with pytest.raises(
        ContextSerdeError,
        match=r"^Event class wave:Error is not loaded at \$\.event_classes\.wave\.Error\. "
        r"flowkit never imports what a snapshot names: import the module that defines "
        r"Error before Context\.from_dict\(\), or register the class",
    ):
        Context.from_dict(Interview(), data)
    assert "wave" not in sys.modules


def test_a_malformed_listing_is_refused_with_its_path() -> None:
    data = Context(Interview()).to_dict()
    data["event_classes"] = {"test_snapshot_unnamed_classes.Answer": "elsewhere:Answer"}
    with pytest.raises(ContextSerdeError, match=r"^Malformed event class entry") as caught:
        Context.from_dict(Interview(), data)
    assert caught.value.path == "$.event_classes.test_snapshot_unnamed_classes.Answer"
    data["event_classes"] = ["test_snapshot_unnamed_classes:Answer"]
    with pytest.raises(ContextSerdeError, match=r"^The event classes must be an object"):
        Context.from_dict(Interview(), data)


class Narrated(Workflow):
    """Streams plain ``Event`` notes (the base class itself, in no signature), then waits."""

    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        ctx.write_event_to_stream(Event(note="asking"))
        answer = await ctx.wait_for_event(Answer, waiter_event=Question(text="name?"))
        ctx.write_event_to_stream(Event(note="answered"))
        return StopEvent(result=answer.text)


async def test_the_base_event_class_streamed_as_is_freezes_and_resumes() -> None:
    handler = Narrated().run()
    with anyio.fail_after(5):
        async for event in handler.stream_events():
            if isinstance(event, Question):
                break
    data: dict[str, Any] = json.loads(json.dumps(handler.ctx.to_dict()))
    await handler.cancel_run()
    assert "flowkit.events.Event" in data["event_classes"]

    fresh = Narrated()
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    resumed.ctx.send_event(Answer(text="ada"))
    notes: list[str] = []
    with anyio.fail_after(5):
        async for event in resumed.stream_events():
            if type(event) is Event:
                notes.append(event.note)
        assert await resumed == "ada"
    # The waiting step runs again from its top after a restore, so it streams "asking" again.
    assert notes == ["asking", "answered"]


def refusal(data: dict[str, Any]) -> ContextSerdeError:
    """The error ``Context.from_dict`` refuses ``data`` with, for an Interview."""
    with pytest.raises(ContextSerdeError) as caught:
        Context.from_dict(Interview(), data)
    return caught.value


def test_a_malformed_entry_is_refused_saying_what_an_entry_maps() -> None:
    data = Context(Interview()).to_dict()
    data["event_classes"] = {"test_snapshot_unnamed_classes.Answer": "elsewhere:Answer"}
    error = refusal(data)
    assert (error.reason, error.path, error.advice) == (
        "Malformed event class entry 'test_snapshot_unnamed_classes.Answer': 'elsewhere:Answer'",
        "$.event_classes.test_snapshot_unnamed_classes.Answer",
        "Each entry maps 'module.QualName' to 'module:QualName'.",
    )


class Left(Event):
    pass


class Right(Event):
    pass


class Both(Left, Right):
    """Reached twice among the loaded Event subclasses: through Left and through Right."""

    n: int = 0


class Renamed(Event):
    """A qualified name with colons in it: the first ``:`` of its name ends the module."""

    __qualname__ = "Renamed:Twice:Over"
    n: int = 0


class StreamsOne(Workflow):
    """Streams the event ``ev.make()`` builds (a class outside the registry); then stops."""

    def __init__(self) -> None:
        super().__init__(disable_validation=True)

    @step
    async def start(self, ctx: Context, ev: StartEvent) -> StopEvent:
        for make in ev.get("makes"):
            ctx.write_event_to_stream(make())
        return StopEvent(result="done")


async def frozen_after(*makes: Any) -> dict[str, Any]:
    handler = StreamsOne().run(makes=makes)
    with anyio.fail_after(5):
        assert await handler == "done"
    data: dict[str, Any] = json.loads(json.dumps(handler.ctx.to_dict()))
    return data


async def test_a_class_with_two_event_base_classes_is_found_once() -> None:
    data = await frozen_after(lambda: Both(n=2))
    assert data["event_classes"] == {
        "test_snapshot_unnamed_classes.Both": "test_snapshot_unnamed_classes:Both"
    }
    restored = Context.from_dict(StreamsOne(), data)
    assert restored.to_dict() == data


async def test_a_class_whose_qualified_name_holds_colons_round_trips() -> None:
    data = await frozen_after(lambda: Renamed(n=3))
    assert data["event_classes"] == {
        "test_snapshot_unnamed_classes.Renamed:Twice:Over": (
            "test_snapshot_unnamed_classes:Renamed:Twice:Over"
        )
    }
    restored = Context.from_dict(StreamsOne(), data)
    assert restored.to_dict() == data


def make_note() -> type[Event]:
    """A new class at each call, each named ``make_note.<locals>.Note``."""

    class Note(Event):
        text: str = ""

    return Note


FIRST_NOTE = make_note()
SECOND_NOTE = make_note()  # both stay loaded while this module is


async def test_two_classes_of_one_name_in_a_run_are_refused_by_to_dict() -> None:
    handler = StreamsOne().run(makes=[FIRST_NOTE, SECOND_NOTE])
    with anyio.fail_after(5):
        assert await handler == "done"
    with pytest.raises(ContextSerdeError) as caught:
        handler.ctx.to_dict()
    error = caught.value
    assert (error.reason, error.path, error.advice) == (
        "Cannot freeze the context: two event classes are named "
        "'test_snapshot_unnamed_classes:make_note.<locals>.Note'",
        None,
        "Define event classes at module level, so each has its own name.",
    )


async def test_a_listed_class_whose_name_two_loaded_classes_have_is_refused() -> None:
    data = await frozen_after(FIRST_NOTE)
    tag = "test_snapshot_unnamed_classes.make_note.<locals>.Note"
    assert data["event_classes"] == {tag: "test_snapshot_unnamed_classes:make_note.<locals>.Note"}
    with pytest.raises(ContextSerdeError) as caught:
        Context.from_dict(StreamsOne(), data)
    error = caught.value
    assert (error.reason, error.path, error.advice) == (
        "Event class test_snapshot_unnamed_classes:make_note.<locals>.Note is defined more "
        "than once",
        f"$.event_classes.{tag}",
        "flowkit never imports what a snapshot names: import the module that defines "
        "make_note.<locals>.Note before Context.from_dict(), or register the class with "
        "workflow.serializer.register_type(...).",
    )


class Placed(Event):
    """A module name with a colon in it: the tag's ``.`` marks where the module ends."""

    __module__ = "test_snapshot_unnamed_classes:placed"
    n: int = 0


async def test_a_class_whose_module_name_holds_a_colon_round_trips() -> None:
    data = await frozen_after(lambda: Placed(n=4))
    assert data["event_classes"] == {
        "test_snapshot_unnamed_classes:placed.Placed": "test_snapshot_unnamed_classes:placed:Placed"
    }
    restored = Context.from_dict(StreamsOne(), data)
    assert restored.to_dict() == data


@pytest.mark.parametrize(
    ("tag", "qualname"), [("wave.Error:Deep", "Error:Deep"), ("wave:Error.Deep", "Deep")]
)
def test_a_listed_class_not_loaded_is_named_by_the_qualified_name_its_tag_marks(
    tag: str, qualname: str
) -> None:
    data = Context(Interview()).to_dict()
    data["event_classes"] = {tag: "wave:Error:Deep"}
    error = refusal(data)
    assert (error.reason, error.path, error.advice) == (
        "Event class wave:Error:Deep is not loaded",
        f"$.event_classes.{tag}",
        "flowkit never imports what a snapshot names: import the module that defines "
        f"{qualname} before Context.from_dict(), or register the class with "
        "workflow.serializer.register_type(...).",
    )


@pytest.mark.parametrize(
    ("tag", "name"),
    [
        ("wave.Error", "wave.Error"),  # no ':' in the name
        ("wave:Error", "wave:Error"),  # no '.' for it in the tag
        ("wave-Error", "wave:Error"),  # another character for it
        ("wave.Error.", "wave:Error"),  # a tag longer than the name
        ("wave.Erro", "wave:Error"),  # a tag shorter than the name
        ("wave.Error", "wave:error"),  # differing past the ':'
        ("wave:Erro", "wave:Error"),  # a prefix of the name, no '.' at all
        ("wave.Error", 5),
        (5, "wave:Error"),  # a dict made by hand, not read from JSON
    ],
)
def test_an_entry_whose_tag_is_not_its_name_with_one_colon_made_a_dot_is_malformed(
    tag: Any, name: Any
) -> None:
    data = Context(Interview()).to_dict()
    data["event_classes"] = {tag: name}
    error = refusal(data)
    assert (error.reason, error.path) == (
        f"Malformed event class entry {tag!r}: {name!r}",
        f"$.event_classes.{tag}",
    )

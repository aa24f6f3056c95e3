"""What a snapshot promises about values typed ``Any`` (store entries, extra event fields).

The guarantees this file shows, each on a snapshot written by a real run (on asyncio
and trio), stored as JSON and changed by hand only where a test says so; every refusal
is a ContextSerdeError checked by its full message and ``path``:

- a dict of a subclass of ``dict`` (an ``OrderedDict``, a ``defaultdict``) is stored as
  a dict: as a plain object when its keys are strings, as ``pairs`` otherwise;
- a tagged value without a ``value`` key, data that is no JSON value, a malformed
  built-in value (a date, base64 bytes) and a tag nobody registered are refused saying
  which, at the path of the value;
- a registered attrs class read from something other than an object is refused in the
  words cattrs uses ("Invalid value for type, expected Point");
- a tag that is no string (a number, a list) is an unknown tag, never a TypeError;
- a registered plain class without a structure hook is refused on restore, saying so;
- an event of a class nobody registered, inside a registered value, is refused by
  ``to_dict`` naming the class and how to make it known;
- classes that share a name are tagged by module and qualified name;
- to_dict refuses a value it cannot store (with the JSON or the pickle serializer)
  naming its type at its path;
- the path into nested lists, dicts, pairs and tagged values names each index, key and
  ``value`` on the way;
- a value may nest 256 containers of any kinds (a store entry 255: the store is the first
  level): to_dict refuses one more level as nested
  too deeply, and whatever it writes from_dict reads back, even called far down a stack;
  a snapshot edited to nest one level more is refused as too deep; the levels inside a
  dict's key or value count alike, both ways;
- a ``pairs`` value (a dict whose keys are not all strings) holds ``[key, value]`` lists
  only: a pair of another length, or of another kind (a string of two, a tagged tuple),
  is refused naming its index, and a bad key is refused at its path.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import threading
from collections.abc import Callable
from typing import Any

import anyio
import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowkit import Context, Workflow, step
from flowkit.context import JsonSerializer, PickleSerializer
from flowkit.errors import ContextSerdeError
from flowkit.events import Event, StartEvent, StopEvent

DAMAGED = "The snapshot was changed after ctx.to_dict() wrote it; restore an unchanged copy."


@attrs.define
class Point:
    x: int
    y: int


class StoreWorkflow(Workflow):
    """Sets each of ``values`` in the store, then stops."""

    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__()
        self.values = values
        self.serializer.register_type(Point)

    @step
    async def start(self, ev: StartEvent, ctx: Context[Any]) -> StopEvent:
        for key, value in self.values.items():
            await ctx.store.set(key, value)
        return StopEvent(result="done")


async def stored(values: dict[str, Any]) -> dict[str, Any]:
    """The snapshot of a finished StoreWorkflow run that stored ``values``, through JSON."""
    handler = StoreWorkflow(values).run()
    assert await handler == "done"
    loaded: dict[str, Any] = json.loads(json.dumps(handler.ctx.to_dict()))
    return loaded


async def restored_store(data: dict[str, Any]) -> dict[str, Any]:
    """The store ``data`` restores to."""
    ctx = Context.from_dict(StoreWorkflow({}), data)
    return {key: await ctx.store.get(key) for key in data["store"]}


def refusal(data: dict[str, Any]) -> ContextSerdeError:
    """The ContextSerdeError ``Context.from_dict`` raises for ``data``."""
    with pytest.raises(ContextSerdeError) as caught:
        Context.from_dict(StoreWorkflow({}), data)
    return caught.value


async def test_dicts_of_dict_subclasses_are_stored_as_dicts() -> None:
    ordered = collections.OrderedDict([("b", 1), ("a", (2, 3))])
    counts: collections.defaultdict[int, int] = collections.defaultdict(int, {1: 2})
    data = await stored({"ordered": ordered, "counts": counts})
    assert data["store"]["ordered"] == {"b": 1, "a": {"$type": "tuple", "value": [2, 3]}}
    assert data["store"]["counts"] == {"$type": "pairs", "value": [[1, 2]]}
    store = await restored_store(data)
    assert store == {"ordered": {"b": 1, "a": (2, 3)}, "counts": {1: 2}}


UNREGISTERED = (
    "Values of other classes are restored only if registered; call "
    "serializer.register_type({tag}) on the workflow's serializer."
)
BAD_DATE = {"$type": "date", "value": "x"}
NESTED = [1, {"k": {"$type": "pairs", "value": [[1, {"$type": "tuple", "value": [BAD_DATE]}]]}}]
STORE_REFUSALS: dict[str, tuple[Any, str, str, str]] = {
    # name: (the stored value, reason, path, advice)
    "no value key": (
        {"$type": "tuple"},
        "Tagged value 'tuple' has no 'value' key.",
        "$.store['x']",
        DAMAGED,
    ),
    "malformed date": (
        {"$type": "date", "value": "yesterday"},
        "Malformed 'date' value: Invalid isoformat string: 'yesterday'.",
        "$.store['x'].value",
        DAMAGED,
    ),
    "bytes that are not base64": (
        {"$type": "bytes", "value": "@@@"},
        "Malformed 'bytes' value: Only base64 data is allowed.",
        "$.store['x'].value",
        DAMAGED,
    ),
    "bytes from a number": (
        {"$type": "bytes", "value": 5},
        "Malformed 'bytes' value: 'int' object has no attribute 'encode'.",
        "$.store['x'].value",
        DAMAGED,
    ),
    "timedelta from a string": (
        {"$type": "timedelta", "value": "x"},
        "Malformed 'timedelta' value: unsupported type for timedelta seconds component: str.",
        "$.store['x'].value",
        DAMAGED,
    ),
    "pairs of one": (
        {"$type": "pairs", "value": [[1]]},
        "Malformed 'pairs' value: element #0 is not a [key, value] list.",
        "$.store['x'].value",
        DAMAGED,
    ),
    "pairs of three after a good pair": (
        {"$type": "pairs", "value": [[1, 2], [3, 4, 5]]},
        "Malformed 'pairs' value: element #1 is not a [key, value] list.",
        "$.store['x'].value",
        DAMAGED,
    ),
    "a pair that is a string of two": (
        {"$type": "pairs", "value": ["ab"]},
        "Malformed 'pairs' value: element #0 is not a [key, value] list.",
        "$.store['x'].value",
        DAMAGED,
    ),
    "a pair that is a tuple": (
        {"$type": "pairs", "value": [[1, 2], {"$type": "tuple", "value": [3, 4]}]},
        "Malformed 'pairs' value: element #1 is not a [key, value] list.",
        "$.store['x'].value",
        DAMAGED,
    ),
    "a key that is a list": (
        {"$type": "pairs", "value": [[[1], 2]]},
        "Malformed 'pairs' value: unhashable type: 'list'.",
        "$.store['x'].value",
        DAMAGED,
    ),
    "a bad key in the second pair": (
        {"$type": "pairs", "value": [[1, 2], [BAD_DATE, 4]]},
        "Malformed 'date' value: Invalid isoformat string: 'x'.",
        "$.store['x'].value[1][0].value",
        DAMAGED,
    ),
    "tuple from a number": (
        {"$type": "tuple", "value": 5},
        "Malformed 'tuple' value: 'int' object is not iterable.",
        "$.store['x'].value",
        DAMAGED,
    ),
    "dict from a list": (
        {"$type": "dict", "value": [1]},
        "Malformed 'dict' value: 'list' object has no attribute 'items'.",
        "$.store['x'].value",
        DAMAGED,
    ),
    "event from a number": (
        {"$type": "event", "value": 1},
        "An event must be an object, found number",
        "$.store['x'].value",
        DAMAGED,
    ),
    "unregistered tag": (
        {"$type": "Nope", "value": 1},
        "Unknown value tag 'Nope'",
        "$.store['x']",
        UNREGISTERED.format(tag="Nope"),
    ),
    "tag that is no string": (
        {"$type": 5, "value": 1},
        "Unknown value tag 5",
        "$.store['x']",
        UNREGISTERED.format(tag=5),
    ),
    "tag that is a list": (
        {"$type": [1], "value": 1},
        "Unknown value tag [1]",
        "$.store['x']",
        UNREGISTERED.format(tag=[1]),
    ),
    "registered class from a list": (
        {"$type": "Point", "value": [1, 2]},
        "Invalid value for type, expected Point",
        "$.store['x'].value",
        DAMAGED,
    ),
    "registered class with a bad field": (
        {"$type": "Point", "value": {"x": "a", "y": 1}},
        "Expected an integer, found string 'a'",
        "$.store['x'].value.x",
        DAMAGED,
    ),
    "pickle without its serializer": (
        {"$type": "pickle", "value": "AAAA"},
        "Tagged value 'pickle' needs the serializer that wrote it (a PickleSerializer wrote "
        "this one); pass it to Context.from_dict(serializer=...).",
        "$.store['x']",
        DAMAGED,
    ),
    "deep in lists, dicts, pairs and tuples": (
        NESTED,
        "Malformed 'date' value: Invalid isoformat string: 'x'.",
        "$.store['x'][1]['k'].value[0][1].value[0].value",
        DAMAGED,
    ),
}


@pytest.mark.parametrize("case", list(STORE_REFUSALS))
async def test_a_bad_store_value_is_refused_saying_what_is_wrong_at_its_path(case: str) -> None:
    value, reason, path, advice = STORE_REFUSALS[case]
    data = await stored({"x": 1})
    data["store"]["x"] = value
    error = refusal(data)
    assert (error.reason, error.path, error.advice) == (reason, path, advice)


async def test_store_data_that_is_no_json_value_is_refused_naming_its_type() -> None:
    data = await stored({"x": 1})
    data["store"]["x"] = [(1, 2)]
    error = refusal(data)
    assert (error.reason, error.path, error.advice) == (
        "Expected JSON data, found a value of type tuple.",
        "$.store['x'][0]",
        DAMAGED,
    )


async def test_values_are_stored_under_the_tag_of_their_kind() -> None:
    lookalike = {"$type": "date", "value": 3}
    data = await stored({"lookalike": lookalike, "s": {3}, "f": frozenset({"a"}), "p": Point(1, 2)})
    assert data["store"] == {
        "lookalike": {"$type": "dict", "value": lookalike},
        "s": {"$type": "set", "value": [3]},
        "f": {"$type": "frozenset", "value": ["a"]},
        "p": {"$type": "Point", "value": {"x": 1, "y": 2}},
    }
    store = await restored_store(data)
    assert store == {"lookalike": lookalike, "s": {3}, "f": frozenset({"a"}), "p": Point(1, 2)}
    assert type(store["f"]) is frozenset


UNSTORABLE_ADVICE = (
    "Store JSON data, register the class with serializer.register_type(), or give it hooks "
    "on serializer.converter."
)


@pytest.mark.parametrize(
    "serializer", [JsonSerializer(), PickleSerializer()], ids=["json", "pickle"]
)
@pytest.mark.parametrize(
    ("value", "path"),
    [
        (threading.Lock(), "$.store.x"),
        ({"a": [threading.Lock()]}, "$.store.x.a[0]"),
        ({1: threading.Lock()}, "$.store.x[1]"),
    ],
    ids=["itself", "in a list in a dict", "under an int key"],
)
async def test_to_dict_refuses_a_value_it_cannot_store_naming_its_type_at_its_path(
    serializer: JsonSerializer, value: Any, path: str
) -> None:
    handler = StoreWorkflow({"x": value}).run()
    assert await handler == "done"
    with pytest.raises(ContextSerdeError) as caught:
        handler.ctx.to_dict(serializer)
    error = caught.value
    assert (error.reason, error.path, error.advice) == (
        "Cannot freeze the context: Value of type lock is not JSON-serializable",
        path,
        UNSTORABLE_ADVICE,
    )


class Inner:
    """Holds a second class named Point."""

    @attrs.define
    class Point:
        z: int


class Note(Event):
    text: str


class ClashWorkflow(StoreWorkflow):
    """Registers a second Point, and an event class (twice) that no step names."""

    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__(values)
        self.serializer.register_type(Inner.Point)
        self.serializer.register_type(Note)
        self.serializer.register_type(Note)


async def test_classes_that_share_a_name_are_tagged_by_module_and_qualified_name() -> None:
    handler = ClashWorkflow({"a": Point(1, 2), "b": Inner.Point(3), "n": Note(text="t")}).run()
    assert await handler == "done"
    data = json.loads(json.dumps(handler.ctx.to_dict()))
    assert data["store"] == {
        "a": {"$type": "test_values_guarantees.Point", "value": {"x": 1, "y": 2}},
        "b": {"$type": "test_values_guarantees.Inner.Point", "value": {"z": 3}},
        "n": {"$type": "event", "value": {"$type": "Note", "_data": {}, "text": "t"}},
    }
    assert "event_classes" not in data
    ctx = Context.from_dict(ClashWorkflow({}), data)
    assert [await ctx.store.get(key) for key in "abn"] == [
        Point(1, 2),
        Inner.Point(3),
        Note(text="t"),
    ]


async def test_an_unknown_event_tag_is_refused_saying_how_to_make_it_known() -> None:
    handler = ClashWorkflow({"n": Note(text="t")}).run()
    assert await handler == "done"
    data = json.loads(json.dumps(handler.ctx.to_dict()))
    data["store"]["n"]["value"]["$type"] = "Nope"
    with pytest.raises(ContextSerdeError) as caught:
        Context.from_dict(ClashWorkflow({}), data)
    error = caught.value
    assert (error.reason, error.path, error.advice) == (
        "Unknown event tag 'Nope'",
        "$.store['n'].value",
        "Event classes are restored only if one of the workflow's steps accepts or returns "
        "them; add Nope to a step signature, or register it with "
        "workflow.serializer.register_type(Nope).",
    )


class Money:
    """A plain class: users give it hooks on ``serializer.converter``."""

    def __init__(self, cents: int) -> None:
        self.cents = cents


class MoneyWorkflow(StoreWorkflow):
    """Registers Money with an unstructure hook, but no structure hook."""

    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__(values)
        self.serializer.register_type(Money)
        self.serializer.converter.register_unstructure_hook(Money, lambda money: money.cents)


async def test_a_registered_plain_class_without_a_structure_hook_is_refused_on_restore() -> None:
    handler = MoneyWorkflow({"m": Money(5)}).run()
    assert await handler == "done"
    data = json.loads(json.dumps(handler.ctx.to_dict()))
    assert data["store"] == {"m": {"$type": "Money", "value": 5}}
    with pytest.raises(ContextSerdeError) as caught:
        Context.from_dict(MoneyWorkflow({}), data)
    error = caught.value
    assert (error.reason, error.path, error.advice) == (
        f"Cannot restore a value of type {Money!r}: it has no structure hook",
        "$.store['m'].value",
        "Register one on serializer.converter.",
    )


class Stray(Event):
    """An event class no step names and nobody registers."""

    n: int


@attrs.define
class Box:
    event: Event


class BoxWorkflow(StoreWorkflow):
    """Registers Box, whose field holds any event."""

    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__(values)
        self.serializer.register_type(Box)


async def test_an_event_of_an_unknown_class_inside_a_stored_value_is_refused_naming_it() -> None:
    handler = BoxWorkflow({"b": Box(Stray(n=1))}).run()
    assert await handler == "done"
    with pytest.raises(ContextSerdeError) as caught:
        handler.ctx.to_dict()
    error = caught.value
    assert (error.reason, error.path, error.advice) == (
        "Cannot freeze the context: Event class Stray is not known to the workflow: only the "
        "event classes its steps accept or return, those registered, and those that entered "
        "the run through its context (sent, waited for, prompts, streamed) can be stored. "
        "Name Stray in a step signature, or register it with "
        "workflow.serializer.register_type(Stray)",
        "$.store.b.event",
        UNSTORABLE_ADVICE,
    )


@pytest.mark.parametrize("tag", [[1], 5, None], ids=["list", "number", "null"])
async def test_an_event_tag_that_is_no_string_is_an_unknown_tag(tag: Any) -> None:
    handler = ClashWorkflow({"n": Note(text="t")}).run()
    assert await handler == "done"
    data = json.loads(json.dumps(handler.ctx.to_dict()))
    data["store"]["n"]["value"]["$type"] = tag
    with pytest.raises(ContextSerdeError) as caught:
        Context.from_dict(ClashWorkflow({}), data)
    error = caught.value
    assert (error.reason, error.path) == (f"Unknown event tag {tag!r}", "$.store['n'].value")
    # The error keeps the tag and its kind as attributes (UnknownTagError is not public).
    assert (vars(error)["tag"], vars(error)["kind"]) == (tag, "event")


async def test_an_unknown_value_tag_is_an_unknown_tag_error_naming_tag_and_kind() -> None:
    data = await stored({"x": 1})
    data["store"]["x"] = {"$type": "Nope", "value": 1}
    error = refusal(data)
    assert (vars(error)["tag"], vars(error)["kind"]) == ("Nope", "value")


# -- how deep a value may nest ---------------------------------------------------------

NESTING_LIMIT = 256  # docs/pausing-and-resuming.md: a value may nest 256 containers
STORE_ENTRY_LIMIT = NESTING_LIMIT - 1  # the store's own dict counts as the first
TOO_DEEP = "The snapshot is nested too deeply to restore"


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


# Each wraps a value in one more container; the set kinds (and the dict key) only where the
# value inside is hashable, else a tuple (also one level).
WRAPS: dict[str, Any] = {
    "list": lambda v: [v],
    "dict": lambda v: {"k": v},
    "dict with a $type key": lambda v: {"$type": "x", "k": v},
    "pairs": lambda v: {1: v},
    "key of pairs": lambda v: {v: 1} if _hashable(v) else (v,),
    "tuple": lambda v: (v,),
    "set": lambda v: {v} if _hashable(v) else (v,),
    "frozenset": lambda v: frozenset([v]) if _hashable(v) else (v,),
}
LEAVES: dict[str, tuple[Any, int]] = {
    # name: (the innermost value, the levels it counts: a datetime is a tagged value)
    "number": (7, 0),
    "datetime": (dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone.utc), 1),
}


def _nest(pattern: list[str], depth: int, leaf: Any) -> Any:
    value = leaf
    for level in range(depth):
        value = WRAPS[pattern[level % len(pattern)]](value)
    return value


def _at_stack_depth(frames: int, call: Callable[[], Any]) -> Any:
    """``call()``, made ``frames`` calls further down the stack."""
    if frames == 0:
        return call()
    return _at_stack_depth(frames - 1, call)


@given(
    st.lists(st.sampled_from(sorted(WRAPS)), min_size=1, max_size=5),
    st.integers(STORE_ENTRY_LIMIT - 3, STORE_ENTRY_LIMIT + 2),
    st.sampled_from(sorted(LEAVES)),
    st.sampled_from(["asyncio", "trio"]),
)
def test_what_to_dict_writes_from_dict_reads_at_any_depth_up_to_the_limit(
    pattern: list[str], depth: int, leaf_name: str, backend: str
) -> None:
    leaf, leaf_levels = LEAVES[leaf_name]
    value = _nest(pattern, depth, leaf)

    async def finished() -> Context[Any]:
        handler = StoreWorkflow({"deep": value}).run()
        assert await handler == "done"
        return handler.ctx

    ctx = anyio.run(finished, backend=backend)
    if depth + leaf_levels > STORE_ENTRY_LIMIT:
        with pytest.raises(ContextSerdeError) as caught:
            ctx.to_dict()
        assert caught.value.reason == "Cannot freeze the context: a value is nested too deeply"
        assert caught.value.path is not None
        assert caught.value.path.startswith("$.store.deep")
        return

    data = json.loads(json.dumps(ctx.to_dict()))
    # Restored 250 calls further down the stack than this test: the limit leaves room.
    restored = _at_stack_depth(250, lambda: Context.from_dict(StoreWorkflow({}), data))

    async def read() -> Any:
        return await restored.store.get("deep")

    assert anyio.run(read, backend=backend) == value


@pytest.mark.parametrize("wrap", ["list", "tuple"])
async def test_a_snapshot_one_level_past_the_limit_is_refused_as_too_deep(wrap: str) -> None:
    data = await stored({"deep": _nest(["list"], STORE_ENTRY_LIMIT, 7)})
    assert await restored_store(data) == {"deep": _nest(["list"], STORE_ENTRY_LIMIT, 7)}

    innermost = data["store"]["deep"]
    for _ in range(STORE_ENTRY_LIMIT - 1):
        innermost = innermost[0]
    assert innermost == [7]
    innermost[0] = [7] if wrap == "list" else {"$type": "tuple", "value": [7]}
    error = refusal(data)
    path = ("$.store['deep']" + "[0]" * 20)[:45] + "..."
    assert (error.reason, error.path, error.advice) == (TOO_DEEP, path, None)


def _through_a_dict(where: str, levels: int) -> dict[Any, Any]:
    """A dict with an int key, whose key or value nests ``levels`` more containers."""
    if where == "key":
        return {_nest(["tuple"], levels, 7): 1}
    return {1: _nest(["list"], levels, 7)}


@pytest.mark.parametrize("where", ["key", "value"])
async def test_the_levels_inside_a_dict_key_or_value_count_towards_the_limit(where: str) -> None:
    at_the_limit = _through_a_dict(where, STORE_ENTRY_LIMIT - 1)
    data = await stored({"deep": at_the_limit})
    assert await restored_store(data) == {"deep": at_the_limit}

    handler = StoreWorkflow({"deep": _through_a_dict(where, STORE_ENTRY_LIMIT)}).run()
    assert await handler == "done"
    with pytest.raises(ContextSerdeError) as caught:
        handler.ctx.to_dict()
    assert caught.value.reason == "Cannot freeze the context: a value is nested too deeply"
    assert caught.value.path is not None
    assert caught.value.path.startswith("$.store.deep")

    text = json.dumps(data)
    assert text.count("[7]") == 1
    one_more = "[[7]]" if where == "value" else '[{"$type": "tuple", "value": [7]}]'
    error = refusal(json.loads(text.replace("[7]", one_more)))
    assert error.reason == TOO_DEEP
    assert error.path is not None
    assert error.path.startswith("$.store['deep'].value[0]" + ("[0]" if where == "key" else "[1]"))

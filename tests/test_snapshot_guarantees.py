"""What ``Context.from_dict`` and ``ctx.to_dict`` promise about a snapshot (format 2).

The guarantees this file shows, each on a snapshot written by a real run (on asyncio
and trio), stored as JSON and damaged by hand only where a test says so; every refusal
is a ContextSerdeError checked by its full message, ``reason``, ``path`` and ``advice``:

- a header this flowkit does not read (another format, a version other than the int 1
  or 2, another workflow's name, not a dict) is refused saying what to do instead;
- more than 5,000,000 events in all sections are refused before the snapshot is read;
  exactly 5,000,000 are not; a section that is not a list counts nothing;
- the edges a run can reach (the highest delivery id below ``next_id``, no attempt yet,
  a claim of its own id) restore and resume; just past them (an id equal to
  ``next_id``, an id 0, a waiter key of another delivery) is refused;
- a store that is no dict or state object is refused naming its type;
- an exception is ``{"type": str, "message": str}``: anything else (a list, a string,
  a non-str type or message) is refused, at the exception's path;
- an exception without ``message`` comes back with an empty message;
- an exception name that is neither a builtin nor in ``flowkit.errors`` (an unknown
  ``builtins`` name, a flowkit error's name under another module) comes back as an
  UnreconstructedException keeping the name, and freezes to the same data;
- an event that is no JSON object is refused naming the JSON type found instead;
- a malformed ``datetime`` field is refused naming the type, the value and the cause;
- a value of the wrong type is named by its JSON type (``array``, ``object``, ...), or
  by its Python type name when it is no JSON value at all;
- the wrong value is shown whole when its repr has at most 40 characters, otherwise
  as its first 37 characters and ``...``; cattrs' notes are not left on the error;
- what cattrs itself finds wrong (a missing field, a section of the wrong type) is told
  in its words, capitalized, at its path;
- a list (a section, a buffer, a list field) is read only from a list: an object or a
  string, which cattrs would read as its keys or characters, is refused in the same
  words as any other value that is not a list;
- an object (the statistics, a delivery, a waiter, a typed state, an attrs class or a
  dataclass in it) is read only from an object: a list or a string is refused in the
  words cattrs uses for null or a number there ("Invalid value for type, expected
  Delivery"), never as an "Unknown error";
- a bad value in the store is refused at a path naming its key, then the way into the
  entry (``$.store['failure'].value.failed_at``), or into a typed state's fields;
- errors carry their path even when the serializer's own converter was made with
  ``detailed_validation=False``;
- a plain class in a typed event field is stored and restored with the hooks the user
  registered by predicate on ``serializer.converter``; one without hooks is refused by
  ``to_dict`` at its path, never put into the snapshot as the object itself;
- ``to_dict`` names the path to an unstorable value inside dicts (int keys too), dict
  keys (``[key #1]``), sets (``[*]``), tuples and extra event fields, and to a value
  nested too deeply (cut short);
- ``from_dict`` refuses data nested too deeply for Python's recursion limit (in the
  store, an extra field, a typed field, an event tag, the header) saying so at its
  path, cut short the same way; no RecursionError escapes;
- a prompt still unread at the snapshot is matched to its own open waiter, past a waiter
  without a prompt or one already answered, and is not streamed again after the restore;
- an event class the serializer given to ``to_dict`` registered is not listed in the
  snapshot's ``event_classes``; with the workflow's own serializer, it is;
- a class registered after ``to_dict`` refused it is stored by the next ``to_dict``, also
  in a run that uses event classes outside the registry; runs of one workflow that use
  different such classes each freeze and restore with their own, and with the hooks the
  user registered on ``serializer.converter``; more such sets than the converters a
  workflow keeps (8) are no error.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import tracemalloc
from collections.abc import Callable
from typing import Any

import anyio
import attrs
import cattrs
import pytest
from fixtures.plain import assert_only_plain

from flowkit import Context, Workflow, step
from flowkit.context import JsonSerializer
from flowkit.errors import ContextSerdeError, WorkflowRuntimeError
from flowkit.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StepFailedEvent,
    StopEvent,
    UnreconstructedException,
)

DAMAGED = "The snapshot was changed after ctx.to_dict() wrote it; restore an unchanged copy."
EXCEPTION_FORMAT = "An exception must be {'type': str, 'message': str}"
FAILED_AT = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


class FailureRecordWorkflow(Workflow):
    """Keeps a StepFailedEvent in the store (``failure``) and streams another; then stops."""

    @step
    async def start(self, ev: StartEvent, ctx: Context[Any]) -> StopEvent:
        for keep in ("store", "stream"):
            failure = StepFailedEvent(
                step_name="start",
                input_event=StartEvent(),
                exception=RuntimeError(f"{keep} boom"),
                attempts=1,
                elapsed_seconds=0.5,
                failed_at=FAILED_AT,
            )
            if keep == "store":
                await ctx.store.set("failure", failure)
            else:
                ctx.write_event_to_stream(failure)
        return StopEvent(result="done")


async def finished_snapshot() -> dict[str, Any]:
    """A FailureRecordWorkflow snapshot after its run finished, through JSON."""
    workflow = FailureRecordWorkflow()
    handler = workflow.run()
    assert await handler == "done"
    data = handler.ctx.to_dict()
    assert_only_plain(data)
    loaded: dict[str, Any] = json.loads(json.dumps(data))
    assert loaded["stream"][0]["exception"] == {
        "type": "builtins.RuntimeError",
        "message": "stream boom",
    }
    assert loaded["store"]["failure"]["value"]["exception"] == {
        "type": "builtins.RuntimeError",
        "message": "store boom",
    }
    return loaded


def refusal(data: dict[str, Any]) -> ContextSerdeError:
    """The ContextSerdeError ``Context.from_dict`` raises for ``data``."""
    with pytest.raises(ContextSerdeError) as caught:
        Context.from_dict(FailureRecordWorkflow(), data)
    return caught.value


async def restored_exception(exception: Any) -> tuple[BaseException, dict[str, Any]]:
    """The stored failure's exception restored from ``exception`` data; the data frozen again."""
    data = await finished_snapshot()
    data["store"]["failure"]["value"]["exception"] = exception
    restored = Context.from_dict(FailureRecordWorkflow(), data)
    failure = await restored.store.get("failure")
    assert isinstance(failure, StepFailedEvent)
    return failure.exception, restored.to_dict()["store"]["failure"]["value"]["exception"]


# --- the header: what every snapshot starts with --------------------------------------------------

READS = "this flowkit reads versions 1 and 2"
MAX_EVENTS = 5_000_000  # the most events (queued, in progress, buffered, streamed, waiting)
NEWER = "Restore it with the flowkit release that wrote it, or a later one."
HEADER_REFUSALS: dict[str, tuple[str, Any, str, str, str]] = {
    # name: (key, value, reason, path, advice)
    "format of another library": (
        "format",
        "llama_index.context",
        "Not a flowkit snapshot: its format is 'llama_index.context', not 'flowkit.context'",
        "$.format",
        "Pass the dict returned by ctx.to_dict().",
    ),
    "version 3": ("version", 3, f"Unsupported snapshot version 3: {READS}", "$.version", NEWER),
    "version as a string": (
        "version",
        "2",
        f"Unsupported snapshot version '2': {READS}",
        "$.version",
        NEWER,
    ),
    "version as a float": (
        "version",
        2.0,
        f"Unsupported snapshot version 2.0: {READS}",
        "$.version",
        NEWER,
    ),
    "version as a boolean": (
        "version",
        True,
        f"Unsupported snapshot version True: {READS}",
        "$.version",
        NEWER,
    ),
    "another workflow": (
        "workflow",
        "billing.InvoiceWorkflow",
        "This snapshot is of workflow 'billing.InvoiceWorkflow', not "
        "'test_snapshot_guarantees.FailureRecordWorkflow'",
        "$.workflow",
        "Restore it with Context.from_dict() on an instance of the workflow that made it.",
    ),
}


@pytest.mark.parametrize("case", list(HEADER_REFUSALS))
async def test_a_header_this_flowkit_does_not_read_is_refused_with_reason_path_and_advice(
    case: str,
) -> None:
    key, value, reason, path, advice = HEADER_REFUSALS[case]
    data = await finished_snapshot()
    data[key] = value

    error = refusal(data)
    assert (error.reason, error.path, error.advice) == (reason, path, advice)
    assert str(error) == f"{reason} at {path}. {advice}"


async def test_a_list_is_refused_as_no_snapshot_naming_its_type() -> None:
    data = await finished_snapshot()
    with pytest.raises(ContextSerdeError) as caught:
        Context.from_dict(FailureRecordWorkflow(), [data])  # type: ignore[arg-type]
    assert (caught.value.path, caught.value.advice) == ("$", None)
    assert str(caught.value) == "A snapshot is a dict from ctx.to_dict(), got list."


def _sections(total: int) -> dict[str, Any]:
    """Sections holding ``total`` entries in all, in each section that counts (not events)."""
    fifth = total // 5
    return {
        "queued": [0] * (total - 4 * fifth),
        "in_progress": [0] * fifth,
        "stream": [0] * fifth,
        "waiters": [0] * fifth,
        "collected": {"a": [0] * (fifth // 2), "b": [0] * (fifth - fifth // 2), "c": None},
    }


async def test_more_than_five_million_events_are_refused_before_the_snapshot_is_read() -> None:
    data = await finished_snapshot()
    data.update(_sections(MAX_EVENTS + 1))
    data["event_classes"] = 5  # refused next, if the snapshot were read

    error = refusal(data)
    assert (error.path, error.advice) == ("$", None)
    assert str(error) == "The snapshot holds 5000001 events, more than the limit of 5000000."


async def test_five_million_events_are_within_the_limit() -> None:
    data = await finished_snapshot()
    data.update(_sections(MAX_EVENTS))
    # A section that is not a list counts nothing; what is wrong next is found next.
    data["stream"] = None
    data["queued"].extend([0] * (MAX_EVENTS // 5))
    data["event_classes"] = 5

    error = refusal(data)
    assert error.path == "$.event_classes"
    assert str(error) == (
        "The event classes must be an object of tag: 'module:QualName' at $.event_classes."
    )


# --- consistency: the edges of what is accepted ---------------------------------------------------


class AskWorkflow(Workflow):
    """Waits for a human's name, prompting for it; greets."""

    @step
    async def start(self, ev: StartEvent, ctx: Context[Any]) -> StopEvent:
        answer = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prompt="name?")
        )
        return StopEvent(result=f"hello {answer.name}")


async def waiting_snapshot() -> dict[str, Any]:
    """An AskWorkflow snapshot: delivery 1 of ``start`` in progress, its waiter "1:1"."""
    handler = AskWorkflow().run()
    with anyio.fail_after(5):
        await anyio.wait_all_tasks_blocked()
    data = handler.ctx.to_dict()
    await handler.cancel_run()
    loaded: dict[str, Any] = json.loads(json.dumps(data))
    assert loaded["next_id"] == 2
    assert [(d["id"], d["step"]) for d in loaded["in_progress"]] == [(1, "start")]
    assert [(w["key"], w["delivery_id"]) for w in loaded["waiters"]] == [("1:1", 1)]
    return loaded


async def test_edge_values_a_run_can_have_are_restored_and_resumed() -> None:
    data = await waiting_snapshot()
    # The highest id below next_id, no attempt yet, a claim of its own id.
    data["in_progress"][0].update(attempts=0, claimed_by=1)

    fresh = AskWorkflow()
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    resumed.ctx.send_event(HumanResponseEvent(name="Ada"))
    with anyio.fail_after(5):
        assert await resumed == "hello Ada"


EDGE_REFUSALS: dict[str, tuple[list[str | int], Any, str, str]] = {
    # name: (where, value, reason, path)
    "delivery id equal to next_id": (
        ["next_id"],
        1,
        "Delivery id 1 is not between 1 and next_id 1",
        "$.in_progress[0]",
    ),
    "delivery id 0": (
        ["in_progress", 0, "id"],
        0,
        "Delivery id 0 is not between 1 and next_id 2",
        "$.in_progress[0]",
    ),
    "waiter key of another delivery sharing its first digit": (
        ["waiters", 0, "key"],
        "11:1",
        "The waiter key '11:1' does not begin with its delivery id 1",
        "$.waiters[0].key",
    ),
}


@pytest.mark.parametrize("case", list(EDGE_REFUSALS))
async def test_values_just_past_the_edges_are_refused(case: str) -> None:
    where, value, reason, path = EDGE_REFUSALS[case]
    data = await waiting_snapshot()
    node: Any = data
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value

    with pytest.raises(ContextSerdeError) as caught:
        Context.from_dict(AskWorkflow(), data)
    assert (caught.value.reason, caught.value.path) == (reason, path)
    assert str(caught.value) == f"{reason} at {path}. {DAMAGED}"


@pytest.mark.parametrize(("store", "name"), [("text", "str"), ([1, 2], "list"), (5, "int")])
async def test_a_store_that_is_no_dict_or_state_object_is_refused_naming_its_type(
    store: Any, name: str
) -> None:
    data = await finished_snapshot()
    data["store"] = store

    error = refusal(data)
    reason = f"The store must be a dict or the workflow's state object, not {name}"
    assert (error.reason, error.path, error.advice) == (reason, "$.store", DAMAGED)
    assert str(error) == f"{reason} at $.store. {DAMAGED}"


# --- exceptions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exception",
    [
        pytest.param({"type": "builtins.ValueError", "message": 5}, id="message a number"),
        pytest.param({"type": "builtins.ValueError", "message": None}, id="message null"),
        pytest.param({"type": 5, "message": "boom"}, id="type a number"),
        pytest.param({"message": "boom"}, id="no type"),
        pytest.param(["builtins.ValueError", "boom"], id="a list"),
        pytest.param("builtins.ValueError: boom", id="a string"),
    ],
)
async def test_an_exception_that_is_not_a_type_and_message_string_is_refused_saying_its_form(
    exception: Any,
) -> None:
    data = await finished_snapshot()
    data["stream"][0]["exception"] = exception

    error = refusal(data)
    assert error.reason == EXCEPTION_FORMAT
    assert error.path == "$.stream[0].exception"
    assert str(error) == f"{EXCEPTION_FORMAT} at $.stream[0].exception. {DAMAGED}"


async def test_an_exception_without_a_message_comes_back_with_an_empty_message() -> None:
    exception, frozen = await restored_exception({"type": "builtins.ValueError"})
    assert type(exception) is ValueError
    assert exception.args == ("",)
    assert frozen == {"type": "builtins.ValueError", "message": ""}


async def test_an_unknown_builtins_name_comes_back_as_a_stand_in_keeping_the_name() -> None:
    exception, frozen = await restored_exception(
        {"type": "builtins.NoSuchError", "message": "boom"}
    )
    assert type(exception) is UnreconstructedException
    assert exception.original_type == "builtins.NoSuchError"
    assert str(exception) == "boom"
    assert frozen == {"type": "builtins.NoSuchError", "message": "boom"}


async def test_a_flowkit_error_name_under_another_module_is_not_taken_for_flowkit_s() -> None:
    exception, frozen = await restored_exception(
        {"type": "thirdparty.errors.WorkflowRuntimeError", "message": "boom"}
    )
    assert not isinstance(exception, WorkflowRuntimeError)
    assert type(exception) is UnreconstructedException
    assert exception.original_type == "thirdparty.errors.WorkflowRuntimeError"
    assert frozen == {"type": "thirdparty.errors.WorkflowRuntimeError", "message": "boom"}
    # The same name under flowkit.errors is flowkit's own class.
    exception, _ = await restored_exception(
        {"type": "flowkit.errors.WorkflowRuntimeError", "message": "boom"}
    )
    assert type(exception) is WorkflowRuntimeError


# --- events -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "found"),
    [
        pytest.param(["StopEvent"], "array", id="array"),
        pytest.param("StopEvent", "string", id="string"),
        pytest.param(None, "null", id="null"),
    ],
)
async def test_an_event_that_is_not_an_object_is_refused_naming_what_was_found(
    value: Any, found: str
) -> None:
    data = await finished_snapshot()
    data["stream"][1] = value

    error = refusal(data)
    assert error.reason == f"An event must be an object, found {found}"
    assert error.path == "$.stream[1]"
    assert str(error) == f"An event must be an object, found {found} at $.stream[1]. {DAMAGED}"


# --- typed fields -------------------------------------------------------------------------------


async def test_a_malformed_datetime_field_is_refused_naming_the_type_value_and_cause() -> None:
    data = await finished_snapshot()
    data["stream"][0]["failed_at"] = "yesterday"

    error = refusal(data)
    reason = "Malformed datetime value 'yesterday': Invalid isoformat string: 'yesterday'"
    assert error.reason == reason
    assert error.path == "$.stream[0].failed_at"
    assert str(error) == f"{reason} at $.stream[0].failed_at. {DAMAGED}"


# --- strict scalars: what the message shows of the wrong value -----------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        pytest.param([1], "array [1]", id="array"),
        pytest.param({"n": 1}, "object {'n': 1}", id="object"),
        pytest.param(None, "null None", id="null"),
        # No JSON value (from a hand-made dict, or a msgpack or YAML loader): its Python type.
        pytest.param(b"7", "bytes b'7'", id="bytes"),
        pytest.param((7,), "tuple (7,)", id="tuple"),
    ],
)
async def test_a_wrong_typed_value_is_named_by_its_json_type_or_else_its_python_type(
    value: Any, shown: str
) -> None:
    data = await finished_snapshot()
    data["next_id"] = value

    error = refusal(data)
    assert error.reason == f"Expected an integer, found {shown}"
    assert error.path == "$.next_id"
    assert str(error) == f"Expected an integer, found {shown} at $.next_id. {DAMAGED}"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param("x" * 37, repr("x" * 37), id="repr of 39 characters"),
        pytest.param("x" * 38, repr("x" * 38), id="repr of 40 characters"),
        pytest.param("x" * 39, "'" + "x" * 36 + "...", id="repr of 41 characters"),
        pytest.param("0123456789" * 10, "'" + "0123456789" * 3 + "012345...", id="long"),
    ],
)
async def test_a_wrong_value_is_shown_whole_up_to_40_characters_then_cut_to_37_and_dots(
    text: str, shown: str
) -> None:
    data = await finished_snapshot()
    bad = copy.deepcopy(data)
    bad["stream"][0]["attempts"] = text

    error = refusal(bad)
    assert error.reason == f"Expected an integer, found string {shown}"
    assert error.path == "$.stream[0].attempts"
    assert len(shown) <= 40
    # cattrs' notes (its own account of the path) are not left on the error's traceback.
    assert not hasattr(error, "__notes__")
    # The undamaged snapshot restores: only the value's type is wrong.
    assert Context.from_dict(FailureRecordWorkflow(), data).to_dict()["stream"] == data["stream"]


async def test_errors_keep_their_path_when_the_user_converter_skips_detailed_validation() -> None:
    # The snapshot converter is a copy of serializer.converter with detailed validation
    # on, whatever the user's converter says: the path is there either way.
    data = await finished_snapshot()
    data["stream"][0]["attempts"] = "1"
    serializer = JsonSerializer(cattrs.Converter(detailed_validation=False))

    with pytest.raises(ContextSerdeError) as caught:
        Context.from_dict(FailureRecordWorkflow(), data, serializer)
    assert caught.value.path == "$.stream[0].attempts"
    assert str(caught.value) == (
        f"Expected an integer, found string '1' at $.stream[0].attempts. {DAMAGED}"
    )


@pytest.mark.parametrize(
    ("damage", "reason", "path"),
    [
        pytest.param(
            lambda data: data["stream"][0].pop("attempts"),
            "Required field missing",
            "$.stream[0].attempts",
            id="missing field",
        ),
        pytest.param(
            lambda data: data.update(waiters=None),
            "Invalid value for type, expected list",
            "$.waiters",
            id="section not a list",
        ),
    ],
)
async def test_what_cattrs_finds_wrong_is_told_in_its_words_capitalized_at_its_path(
    damage: Callable[[dict[str, Any]], object], reason: str, path: str
) -> None:
    data = await finished_snapshot()
    damage(data)

    error = refusal(data)
    assert (error.reason, error.path, error.advice) == (reason, path, DAMAGED)
    assert str(error) == f"{reason} at {path}. {DAMAGED}"


NOT_A_LIST = "Invalid value for type, expected list"


@pytest.mark.parametrize(
    ("damage", "path"),
    [
        pytest.param(lambda data: data.update(waiters={}), "$.waiters", id="waiters an object"),
        pytest.param(lambda data: data.update(queued={"1": {}}), "$.queued", id="queued an object"),
        pytest.param(
            lambda data: data.update(in_progress=""), "$.in_progress", id="an empty string"
        ),
        pytest.param(lambda data: data.update(stream="ab"), "$.stream", id="stream a string"),
        pytest.param(
            lambda data: data.update(collected={"gather": {}}),
            "$.collected['gather']",
            id="a buffer an object",
        ),
    ],
)
async def test_a_list_is_read_only_from_a_list_never_from_another_iterable(
    damage: Callable[[dict[str, Any]], object], path: str
) -> None:
    data = await finished_snapshot()
    damage(data)

    error = refusal(data)
    assert (error.reason, error.path, error.advice) == (NOT_A_LIST, path, DAMAGED)
    assert str(error) == f"{NOT_A_LIST} at {path}. {DAMAGED}"


@pytest.mark.parametrize(
    ("damage", "expected", "path"),
    [
        pytest.param(
            lambda data: data.update(statistics=[]), "RunCounters", "$.statistics", id="a list"
        ),
        pytest.param(
            lambda data: data.update(statistics=""),
            "RunCounters",
            "$.statistics",
            id="an empty string",
        ),
        pytest.param(
            lambda data: data.update(statistics="step_runs"),
            "RunCounters",
            "$.statistics",
            id="a string naming a field",
        ),
        pytest.param(
            lambda data: data.update(statistics=None), "RunCounters", "$.statistics", id="null"
        ),
        pytest.param(
            lambda data: data["queued"].append([1, "start"]),
            "Delivery",
            "$.queued[0]",
            id="a delivery a list",
        ),
        pytest.param(
            lambda data: data["in_progress"].append("delivery"),
            "Delivery",
            "$.in_progress[0]",
            id="a delivery a string",
        ),
        pytest.param(
            lambda data: data["waiters"].append([]), "Waiter", "$.waiters[0]", id="a waiter a list"
        ),
    ],
)
async def test_an_object_is_read_only_from_an_object_never_from_a_list_or_a_string(
    damage: Callable[[dict[str, Any]], object], expected: str, path: str
) -> None:
    """The same words as for null or a number there, never cattrs' "Unknown error"."""
    data = await finished_snapshot()
    damage(data)

    error = refusal(data)
    reason = f"Invalid value for type, expected {expected}"
    assert (error.reason, error.path, error.advice) == (reason, path, DAMAGED)
    assert str(error) == f"{reason} at {path}. {DAMAGED}"


# --- the store: a path names the entry, then the way into it -------------------------------------


@pytest.mark.parametrize(
    ("damage", "reason", "path"),
    [
        pytest.param(
            lambda store: store["failure"]["value"].update(failed_at="yesterday"),
            "Malformed datetime value 'yesterday': Invalid isoformat string: 'yesterday'",
            "$.store['failure'].value.failed_at",
            id="a field of an event under a key",
        ),
        pytest.param(
            lambda store: store["failure"]["value"]["input_event"].update({"$type": "Nope"}),
            "Unknown event tag 'Nope'",
            "$.store['failure'].value.input_event",
            id="an event inside an event under a key",
        ),
        pytest.param(
            lambda store: store.update(notes={"days": [1, {"$type": "Nope", "value": 1}]}),
            "Unknown value tag 'Nope'",
            "$.store['notes']['days'][1]",
            id="a tagged value in a list in a dict",
        ),
        pytest.param(
            lambda store: store.update(
                pair={"$type": "tuple", "value": [1, {"$type": "Nope", "value": 1}]}
            ),
            "Unknown value tag 'Nope'",
            "$.store['pair'].value[1]",
            id="an item of a tuple",
        ),
    ],
)
async def test_a_bad_value_in_the_store_is_refused_at_a_path_naming_its_key(
    damage: Callable[[dict[str, Any]], object], reason: str, path: str
) -> None:
    data = await finished_snapshot()
    damage(data["store"])

    error = refusal(data)
    assert (error.reason, error.path) == (reason, path)
    assert str(error).startswith(f"{reason} at {path}. ")


@attrs.define
class Ledger:
    """A typed state."""

    opened: dt.datetime = FAILED_AT
    entries: list[int] = attrs.Factory(list)


class LedgerWorkflow(Workflow):
    @step
    async def start(self, ev: StartEvent, ctx: Context[Ledger]) -> StopEvent:
        async with ctx.store.edit_state() as ledger:
            ledger.entries.append(1)
        return StopEvent(result="done")


async def test_a_bad_field_of_a_typed_state_is_refused_at_its_path() -> None:
    handler = LedgerWorkflow().run()
    assert await handler == "done"
    data = json.loads(json.dumps(handler.ctx.to_dict()))
    data["store"]["value"]["entries"][0] = "1"

    with pytest.raises(ContextSerdeError) as caught:
        Context.from_dict(LedgerWorkflow(), data)
    assert caught.value.path == "$.store.value.entries[0]"
    assert str(caught.value) == (
        f"Expected an integer, found string '1' at $.store.value.entries[0]. {DAMAGED}"
    )


async def test_a_list_field_of_a_typed_state_is_read_only_from_a_list() -> None:
    handler = LedgerWorkflow().run()
    assert await handler == "done"
    data = json.loads(json.dumps(handler.ctx.to_dict()))
    data["store"]["value"]["entries"] = {"1": 1}

    with pytest.raises(ContextSerdeError) as caught:
        Context.from_dict(LedgerWorkflow(), data)
    assert caught.value.path == "$.store.value.entries"
    assert str(caught.value) == f"{NOT_A_LIST} at $.store.value.entries. {DAMAGED}"


@attrs.define
class Span:
    days: int = 1


@dataclasses.dataclass
class Tally:
    """A typed state that is a dataclass, holding an attrs class."""

    count: int = 0
    span: Span = dataclasses.field(default_factory=Span)


class TallyWorkflow(Workflow):
    @step
    async def start(self, ev: StartEvent, ctx: Context[Tally]) -> StopEvent:
        async with ctx.store.edit_state() as tally:
            tally.count += 1
        return StopEvent(result="done")


@pytest.mark.parametrize("value", [[], "", ["count", 1], 3, None])
@pytest.mark.parametrize(
    ("where", "expected", "path"),
    [
        pytest.param((), "Tally", "$.store.value", id="the state (a dataclass)"),
        pytest.param(("span",), "Span", "$.store.value.span", id="its field (an attrs class)"),
    ],
)
async def test_a_typed_state_and_its_fields_are_read_only_from_objects(
    value: Any, where: tuple[str, ...], expected: str, path: str
) -> None:
    handler = TallyWorkflow().run()
    assert await handler == "done"
    data = json.loads(json.dumps(handler.ctx.to_dict()))
    assert data["store"]["value"] == {"count": 1, "span": {"days": 1}}
    parent = data["store"]
    key = "value"
    for name in where:
        parent, key = parent[key], name
    parent[key] = value

    with pytest.raises(ContextSerdeError) as caught:
        Context.from_dict(TallyWorkflow(), data)
    reason = f"Invalid value for type, expected {expected}"
    assert (caught.value.reason, caught.value.path) == (reason, path)
    assert str(caught.value) == f"{reason} at {path}. {DAMAGED}"


# --- the user's classes in typed fields -----------------------------------------------------------


class Point:
    """A plain class the user gives cattrs hooks by predicate: stored as "x,y"."""

    def __init__(self, x: int, y: int) -> None:
        self.x = x
        self.y = y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (other.x, other.y) == (self.x, self.y)

    def __hash__(self) -> int:
        return hash((self.x, self.y))


class Bare:
    """A plain class nobody gave hooks."""


class Located(Event):
    where: Point


class Holder(Event):
    thing: Bare


def _structure_point(value: Any, _: Any) -> Point:
    x, y = str(value).split(",")
    return Point(int(x), int(y))


class HookedWorkflow(Workflow):
    """Stores a Located (its Point has hooks registered by predicate), or also a Holder."""

    def __init__(self, *, bare: bool = False) -> None:
        super().__init__(timeout=30)
        self.bare = bare
        self.serializer.register_type(Located)
        self.serializer.register_type(Holder)
        converter = self.serializer.converter
        converter.register_unstructure_hook_func(lambda t: t is Point, lambda p: f"{p.x},{p.y}")
        converter.register_structure_hook_func(lambda t: t is Point, _structure_point)

    @step
    async def start(self, ev: StartEvent, ctx: Context[Any]) -> StopEvent:
        await ctx.store.set("located", Located(where=Point(1, 2)))
        if self.bare:
            await ctx.store.set("holder", Holder(thing=Bare()))
        return StopEvent(result="done")


async def test_hooks_the_user_registers_by_predicate_store_and_restore_a_plain_class() -> None:
    handler = HookedWorkflow().run()
    assert await handler == "done"
    data = json.loads(json.dumps(handler.ctx.to_dict()))
    assert data["store"]["located"]["value"] == {"$type": "Located", "where": "1,2", "_data": {}}

    restored = Context.from_dict(HookedWorkflow(), data)
    located = await restored.store.get("located")
    assert located == Located(where=Point(1, 2))
    assert type(located.where) is Point


async def test_a_field_of_a_class_without_hooks_is_refused_by_to_dict_not_passed_on() -> None:
    handler = HookedWorkflow(bare=True).run()
    assert await handler == "done"

    with pytest.raises(ContextSerdeError) as caught:
        handler.ctx.to_dict()
    assert caught.value.path == "$.store.holder.thing"
    assert str(caught.value) == (
        "Cannot freeze the context: Value of type Bare is not JSON-serializable at "
        "$.store.holder.thing. Store JSON data, register the class with "
        "serializer.register_type(), or give it hooks on serializer.converter."
    )


# --- to_dict: where an unstorable value is -------------------------------------------------------


class Note(Event):
    text: str


def _nested(depth: int, leaf: Any, wrap: Callable[[Any], Any]) -> Any:
    value = leaf
    for _ in range(depth):
        value = wrap(value)
    return value


CANNOT = "Cannot freeze the context: Value of type Bare is not JSON-serializable"
STORE_IT = (
    "Store JSON data, register the class with serializer.register_type(), or give it hooks "
    "on serializer.converter."
)
UNSTORABLE: dict[str, tuple[Callable[[], Any], str, str]] = {
    # name: (what the step stores under "value", the error's path, its message)
    "a dict's int key": (lambda: {"a": [1, {7: Bare()}]}, "$.store.value.a[1][7]", CANNOT),
    "in a set": (lambda: {1, (2, Bare())}, "$.store.value[*][1]", CANNOT),
    "in a dict's key": (
        lambda: {"a": {1: 2, (3, Bare()): 4}},
        "$.store.value.a[key #1][1]",
        CANNOT,
    ),
    "in a tuple": (lambda: (1, 2, Bare()), "$.store.value[2]", CANNOT),
    "an event's extra field": (
        lambda: Note(text="t", extra=[Bare()]),
        "$.store.value.extra[0]",
        CANNOT,
    ),
    "dicts nested too deeply": (
        lambda: _nested(100_000, 1, lambda v: {"k": v}),
        # A path too long to show is cut 30 characters after its first index (or its 8th).
        ("$.store.value" + ".k" * 20)[:38] + "...",
        "Cannot freeze the context: a value is nested too deeply",
    ),
    "lists nested too deeply": (
        lambda: _nested(100_000, 1, lambda v: [v]),
        "$.store.value" + "[0]" * 10 + "...",
        "Cannot freeze the context: a value is nested too deeply",
    ),
    # 300 lists, each holding the one below twice: 2 ** 300 ways down, each list walked once.
    "a list shared at every level, nested too deeply": (
        lambda: _nested(300, 1, lambda v: [v, v]),
        "$.store.value" + "[0]" * 10 + "...",
        "Cannot freeze the context: a value is nested too deeply",
    ),
}


class StoreWorkflow(Workflow):
    """Stores what ``make`` makes under "value", streams a Note, then stops."""

    def __init__(self, make: Callable[[], Any]) -> None:
        super().__init__(timeout=30)
        self.make = make

    @step
    async def start(self, ev: StartEvent, ctx: Context[Any]) -> StopEvent:
        ctx.write_event_to_stream(Note(text="streamed"))
        await ctx.store.set("value", self.make())
        return StopEvent(result="done")


@pytest.mark.parametrize("case", list(UNSTORABLE))
async def test_to_dict_refuses_an_unstorable_value_naming_the_path_to_it(case: str) -> None:
    make, path, message = UNSTORABLE[case]
    handler = StoreWorkflow(make).run()
    assert await handler == "done"

    with pytest.raises(ContextSerdeError) as caught:
        handler.ctx.to_dict()
    assert caught.value.path == path
    if message == CANNOT:
        assert str(caught.value) == f"{message} at {path}. {STORE_IT}"
    else:
        assert str(caught.value) == f"{message} at {path}."


@pytest.mark.parametrize("wrap", ["list", "dict"])
async def test_naming_the_path_to_a_value_nested_far_too_deeply_takes_little_memory(
    wrap: str,
) -> None:
    deep = _nested(20_000, 1, (lambda v: [v]) if wrap == "list" else (lambda v: {"k": v}))
    handler = StoreWorkflow(lambda: deep).run()
    assert await handler == "done"

    tracemalloc.start()
    try:
        with pytest.raises(ContextSerdeError) as caught:
            handler.ctx.to_dict()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.reason == "Cannot freeze the context: a value is nested too deeply"
    # Cut 30 characters after the first index, or after the 8th character.
    if wrap == "list":
        assert caught.value.path == "$.store.value" + "[0]" * 10 + "..."
    else:
        assert caught.value.path == ("$.store.value" + ".k" * 20)[:38] + "..."
    # The walks that look for a cycle and for the path keep a small record per value:
    # a few megabytes here. A path string per value costs the square of the depth
    # (600 MB at this depth, 15 GB at 100,000).
    assert peak < 32 * 2**20


# --- from_dict: data nested too deeply -----------------------------------------------------------

TOO_DEEP = "The snapshot is nested too deeply to restore"
DEEP_LISTS = _nested(100_000, 1, lambda v: [v])
DEEP_DICTS = _nested(100_000, 1, lambda v: {"k": v})
NESTED_TOO_DEEPLY: dict[str, tuple[Callable[[dict[str, Any]], object], str]] = {
    # name: (damage, the error's path): a path too long to show is cut as to_dict cuts it
    "dicts in a store entry": (
        lambda data: data["store"].update(deep=DEEP_DICTS),
        ("$.store['deep']" + "['k']" * 20)[:45] + "...",
    ),
    "lists in a store entry": (
        lambda data: data["store"].update(deep=DEEP_LISTS),
        ("$.store['deep']" + "[0]" * 20)[:45] + "...",
    ),
    "an event's extra field": (
        lambda data: data["stream"][0]["_data"].update(x=DEEP_LISTS),
        ("$.stream[0]._data['x']" + "[0]" * 20)[:38] + "...",
    ),
    "a string field": (lambda data: data.update(run_id=DEEP_LISTS), "$.run_id"),
    "an event tag": (lambda data: data["stream"][1].update({"$type": DEEP_LISTS}), "$.stream[1]"),
    "the header's format": (lambda data: data.update(format=DEEP_LISTS), "$.format"),
    "the header's version": (lambda data: data.update(version=DEEP_DICTS), "$.version"),
}


@pytest.mark.parametrize("case", list(NESTED_TOO_DEEPLY))
async def test_data_nested_too_deeply_is_refused_saying_so_at_its_path(case: str) -> None:
    damage, path = NESTED_TOO_DEEPLY[case]
    data = await finished_snapshot()
    damage(data)

    error = refusal(data)
    assert (error.reason, error.path, error.advice) == (TOO_DEEP, path, None)
    assert str(error) == f"{TOO_DEEP} at {path}."


class StreamsDeepWorkflow(Workflow):
    """Keeps None in the store, then streams a Note whose extra field is nested too deeply."""

    @step
    async def start(self, ev: StartEvent, ctx: Context[Any]) -> StopEvent:
        await ctx.store.set("nothing", None)
        ctx.write_event_to_stream(Note(text="deep", extra=_nested(100_000, 1, lambda v: [v])))
        return StopEvent(result="done")


async def test_to_dict_names_a_value_nested_too_deeply_in_the_stream_not_a_none_before_it() -> None:
    handler = StreamsDeepWorkflow().run()
    assert await handler == "done"

    with pytest.raises(ContextSerdeError) as caught:
        handler.ctx.to_dict()
    # Cut 30 characters after the first index ("[0]" of the stream, at character 8).
    path = ("$.stream[0].extra" + "[0]" * 10)[:38] + "..."
    assert caught.value.path == path
    assert (
        str(caught.value) == f"Cannot freeze the context: a value is nested too deeply at {path}."
    )


def _self_containing_list() -> list[Any]:
    cycle: list[Any] = [1]
    cycle.append(cycle)
    return cycle


def _self_containing_dict() -> dict[str, Any]:
    inner: dict[str, Any] = {"y": []}
    inner["y"].append(inner)
    return {"x": inner}


class KeepsACycle(Workflow):
    """Keeps the value ``make`` returns in the store, or in a streamed Note's extra field."""

    def __init__(self, make: Callable[[], Any], where: str) -> None:
        super().__init__()
        self.make, self.where = make, where

    @step
    async def start(self, ev: StartEvent, ctx: Context[Any]) -> StopEvent:
        await ctx.store.set("plain", [1, [2]])
        if self.where == "store":
            await ctx.store.set("loop", self.make())
        else:
            ctx.write_event_to_stream(Note(text="loop", extra=self.make()))
        return StopEvent(result="done")


@pytest.mark.parametrize(
    ("make", "where", "path"),
    [
        (_self_containing_list, "store", "$.store.loop[1]"),
        (_self_containing_dict, "store", "$.store.loop.x.y[0]"),
        (_self_containing_list, "stream", "$.stream[0].extra[1]"),
    ],
    ids=["a list in the store", "a dict in the store", "an event's extra field"],
)
async def test_to_dict_names_a_value_that_contains_itself_where_it_does(
    make: Callable[[], Any], where: str, path: str
) -> None:
    handler = KeepsACycle(make, where).run()
    assert await handler == "done"

    with pytest.raises(ContextSerdeError) as caught:
        handler.ctx.to_dict()
    assert (caught.value.reason, caught.value.path, caught.value.advice) == (
        "Cannot freeze the context: a value contains itself",
        path,
        "A snapshot is JSON data, a tree: store a copy without the cycle.",
    )


class Hook(Event):
    """An event with a field no snapshot can hold: a function."""

    fn: Callable[[int], int]


class StreamsAHook(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        ctx.write_event_to_stream(Hook(fn=abs))
        return InputRequiredEvent(prefix="?")

    @step
    async def answer(self, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=ev.response)


async def test_an_event_class_with_a_field_no_snapshot_can_hold_is_named_by_to_dict() -> None:
    handler = StreamsAHook().run()
    async for event in handler.stream_events():
        if isinstance(event, InputRequiredEvent):
            break
    with pytest.raises(ContextSerdeError) as caught:
        handler.ctx.to_dict()
    await handler.cancel_run()
    assert str(caught.value) == (
        "Event class Hook has a field of type collections.abc.Callable[[int], int], which a "
        "snapshot cannot hold. Give the field a type of JSON values, dataclasses, attrs or "
        "pydantic models (or Any, stored by the serializer), or register cattrs hooks for it "
        "on the serializer's converter."
    )


# --- from_dict: a prompt still unread is not streamed again ---------------------------------------


class GoA(Event):
    pass


class GoB(Event):
    pass


class Half(Event):
    who: str


class BothAsk(Workflow):
    """``a`` starts ``b``, then each waits for its answer.

    Both prompt with an equal InputRequiredEvent, unless ``a_prompts`` is False.
    """

    def __init__(self, *, a_prompts: bool = True) -> None:
        super().__init__(timeout=30)
        self.a_prompts = a_prompts

    async def _answer(self, ctx: Context[Any], who: str, prompts: bool) -> Half:
        answer = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix="?") if prompts else None,
            requirements={"who": who},
        )
        return Half(who=answer.response)

    @step
    async def start(self, ev: StartEvent) -> GoA:
        return GoA()

    @step
    async def a(self, ev: GoA, ctx: Context[Any]) -> Half | GoB:
        if not await ctx.store.get("sent", default=False):  # not again when a runs again
            await ctx.store.set("sent", True)
            ctx.send_event(GoB())  # b asks after a: a's waiter comes first in the snapshot
        return await self._answer(ctx, "a", self.a_prompts)

    @step
    async def b(self, ev: GoB, ctx: Context[Any]) -> Half:
        return await self._answer(ctx, "b", True)

    @step
    async def finish(self, ev: Half, ctx: Context[Any]) -> StopEvent | None:
        halves = ctx.collect_events(ev, [Half, Half])
        if halves is None:
            return None
        return StopEvent(result=sorted(h.who for h in halves if isinstance(h, Half)))


async def both_asking(*, a_prompts: bool = True, answer_a: bool = False) -> dict[str, Any]:
    """A BothAsk snapshot with both waiting; with ``answer_a``, a's prompt read and answered."""
    handler = BothAsk(a_prompts=a_prompts).run()
    with anyio.fail_after(5):
        await anyio.wait_all_tasks_blocked()
        if answer_a:
            assert isinstance(await handler.stream_events().__anext__(), InputRequiredEvent)
            handler.ctx.send_event(HumanResponseEvent(response="a", who="a"))
    data: dict[str, Any] = json.loads(json.dumps(handler.ctx.to_dict()))
    await handler.cancel_run()
    assert [w["step"] for w in data["waiters"]] == ["a", "b"]
    return data


async def prompts_after_restore(
    data: dict[str, Any], answers: list[str], *, a_prompts: bool = True
) -> int:
    """How many prompts a BothAsk restored from ``data`` streams until it ends."""
    workflow = BothAsk(a_prompts=a_prompts)
    handler = workflow.run(ctx=Context.from_dict(workflow, data))
    with anyio.fail_after(5):
        await anyio.wait_all_tasks_blocked()  # both steps asked again
        for who in answers:
            handler.ctx.send_event(HumanResponseEvent(response=who, who=who))
        events = handler.stream_events()
        prompts = sum([isinstance(event, InputRequiredEvent) async for event in events])
        assert await handler == ["a", "b"]
    return prompts


async def test_two_equal_prompts_unread_at_the_snapshot_are_each_streamed_once() -> None:
    data = await both_asking()
    assert [e["_data"]["prefix"] for e in data["stream"]] == ["?", "?"]
    assert await prompts_after_restore(data, ["a", "b"]) == 2


async def test_a_prompt_is_matched_to_its_waiter_after_a_waiter_without_a_prompt() -> None:
    data = await both_asking(a_prompts=False)
    assert [e["_data"]["prefix"] for e in data["stream"]] == ["?"]
    assert await prompts_after_restore(data, ["a", "b"], a_prompts=False) == 1


async def test_an_answered_waiter_does_not_take_the_unread_prompt_of_another() -> None:
    # a's equal prompt was read and answered: the unread one is b's.
    data = await both_asking(answer_a=True)
    assert [w["resolved"] is not None for w in data["waiters"]] == [True, False]
    assert [e["_data"]["prefix"] for e in data["stream"]] == ["?"]
    assert await prompts_after_restore(data, ["b"]) == 1


# --- to_dict: event classes the serializer knows --------------------------------------------------


class Aside(Event):
    n: int


class StreamsAside(Workflow):
    """Streams an Aside, an event class no step accepts or returns; then stops."""

    @step
    async def start(self, ev: StartEvent, ctx: Context[Any]) -> StopEvent:
        ctx.write_event_to_stream(Aside(n=1))
        return StopEvent(result="done")


async def test_an_event_class_the_given_serializer_registered_is_not_listed_in_the_snapshot() -> (
    None
):
    workflow = StreamsAside()
    handler = workflow.run()
    assert await handler == "done"
    serializer = JsonSerializer()
    serializer.register_type(Aside)

    # The workflow's own serializer does not know Aside: the snapshot names its class.
    listed = handler.ctx.to_dict()
    assert listed["event_classes"] == {
        "test_snapshot_guarantees.Aside": "test_snapshot_guarantees:Aside"
    }
    # The serializer given to to_dict knows it: nothing to list.
    data = json.loads(json.dumps(handler.ctx.to_dict(serializer)))
    assert "event_classes" not in data
    restored = Context.from_dict(workflow, data, serializer)
    assert restored.to_dict(serializer)["stream"] == data["stream"]


@attrs.define
class Spot:
    x: int


class StreamsAsideKeepsSpot(Workflow):
    """Streams an Aside (an event class outside the registry), stores a Spot; then stops."""

    @step
    async def start(self, ev: StartEvent, ctx: Context[Any]) -> StopEvent:
        ctx.write_event_to_stream(Aside(n=1))
        await ctx.store.set("spot", Spot(x=1))
        return StopEvent(result="done")


async def test_a_class_registered_after_a_refused_to_dict_is_stored_by_the_next() -> None:
    workflow = StreamsAsideKeepsSpot()
    handler = workflow.run()
    assert await handler == "done"
    with pytest.raises(ContextSerdeError) as caught:
        handler.ctx.to_dict()
    assert caught.value.path == "$.store.spot"

    workflow.serializer.register_type(Spot)
    data = json.loads(json.dumps(handler.ctx.to_dict()))
    assert data["store"]["spot"]["value"] == {"x": 1}
    assert list(data["event_classes"]) == ["test_snapshot_guarantees.Aside"]
    restored = Context.from_dict(workflow, data)
    assert await restored.store.get("spot") == Spot(x=1)


class Remark(Event):
    text: str


class StreamsWhatItIsTold(Workflow):
    """Streams an Aside or a Remark (``kind``), event classes outside the registry."""

    @step
    async def start(self, ev: StartEvent, ctx: Context[Any]) -> StopEvent:
        ctx.write_event_to_stream(Aside(n=1) if ev.get("kind") == "aside" else Remark(text="r"))
        return StopEvent(result="done")


async def test_runs_of_one_workflow_with_other_event_classes_outside_the_registry_each_freeze() -> (
    None
):
    workflow = StreamsWhatItIsTold()
    for kind, name in (("aside", "Aside"), ("remark", "Remark"), ("aside", "Aside")):
        handler = workflow.run(kind=kind)
        assert await handler == "done"
        data = json.loads(json.dumps(handler.ctx.to_dict()))
        assert data["event_classes"] == {
            f"test_snapshot_guarantees.{name}": f"test_snapshot_guarantees:{name}"
        }
        restored = Context.from_dict(workflow, data)
        assert restored.to_dict()["stream"] == data["stream"]


class HookedAsideWorkflow(Workflow):
    """Stores a Located (its Point has hooks by predicate) and streams an Aside."""

    def __init__(self) -> None:
        super().__init__(timeout=30)
        self.serializer.register_type(Located)
        converter = self.serializer.converter
        converter.register_unstructure_hook_func(lambda t: t is Point, lambda p: f"{p.x},{p.y}")
        converter.register_structure_hook_func(lambda t: t is Point, _structure_point)

    @step
    async def start(self, ev: StartEvent, ctx: Context[Any]) -> StopEvent:
        ctx.write_event_to_stream(Aside(n=1))
        await ctx.store.set("located", Located(where=Point(1, 2)))
        return StopEvent(result="done")


async def test_the_user_s_hooks_serve_a_run_with_event_classes_outside_the_registry() -> None:
    handler = HookedAsideWorkflow().run()
    assert await handler == "done"
    data = json.loads(json.dumps(handler.ctx.to_dict()))
    assert list(data["event_classes"]) == ["test_snapshot_guarantees.Aside"]
    assert data["store"]["located"]["value"] == {"$type": "Located", "where": "1,2", "_data": {}}

    restored = Context.from_dict(HookedAsideWorkflow(), data)
    assert await restored.store.get("located") == Located(where=Point(1, 2))


class Memo(Event):
    pass


class Footnote(Event):
    pass


ASIDES: dict[str, Callable[[], Event]] = {
    "Aside": lambda: Aside(n=1),
    "Remark": lambda: Remark(text="r"),
    "Memo": Memo,
    "Footnote": Footnote,
}


class StreamsTheNamed(Workflow):
    """Streams one event of each class named in ``names``, all outside the registry."""

    @step
    async def start(self, ev: StartEvent, ctx: Context[Any]) -> StopEvent:
        for name in ev.get("names"):
            ctx.write_event_to_stream(ASIDES[name]())
        return StopEvent(result="done")


async def test_a_workflow_freezes_runs_with_many_sets_of_event_classes_outside_the_registry() -> (
    None
):
    # More sets than the converters a workflow keeps (8): the oldest is dropped, not an error.
    workflow = StreamsTheNamed()
    sets = [[name] for name in ASIDES] + [["Aside", other] for other in list(ASIDES)[1:]]
    sets += [["Remark", "Memo"], ["Memo", "Footnote"], list(ASIDES), ["Aside"]]
    for names in sets:
        handler = workflow.run(names=names)
        assert await handler == "done"
        data = json.loads(json.dumps(handler.ctx.to_dict()))
        listed = {f"test_snapshot_guarantees.{n}": f"test_snapshot_guarantees:{n}" for n in names}
        assert data["event_classes"] == listed
        restored = Context.from_dict(workflow, data)
        assert restored.to_dict()["stream"] == data["stream"]

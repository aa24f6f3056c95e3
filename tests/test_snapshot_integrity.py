"""Snapshots that are damaged, edited by hand, or hold fields named like the format's keys.

``Context.from_dict`` must refuse, with ``ContextSerdeError`` and its ``path``, any
snapshot whose parts do not fit together (a waiter, a buffered event or a delivery
that refers to nothing) or whose values have the wrong type (no coercion); and every
field name a user may declare must survive ``to_dict`` and ``from_dict``. Snapshots
come from real runs on asyncio and trio; only the damage is done by hand.
"""

from __future__ import annotations

import copy
import json
import keyword
import math
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from fixtures.plain import assert_only_plain
from hypothesis import given
from hypothesis import strategies as st

from flowkit import Context, Workflow, catch_error, step
from flowkit.errors import ContextSerdeError
from flowkit.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StepFailedEvent,
    StopEvent,
)

# --- a run with every part a snapshot has -----------------------------------------------------


class Ask(Event):
    pass


class Answered(Event):
    name: str


class PartA(Event):
    n: int


class PartB(Event):
    n: int


class Gathered(Event):
    ns: list[int]


class Slow(Event):
    n: int


class Slowed(Event):
    n: int


class MixedWorkflow(Workflow):
    """A waiter (``ask``), a collect buffer with a claimed batch (``gather``), a queue (``slow``).

    With ``hold``, ``gather`` (once its batch is complete) and ``slow`` wait at a gate
    that never opens, so a snapshot holds all of them at once.
    """

    def __init__(self, hold: bool = False) -> None:
        super().__init__(timeout=30)
        self.hold = hold
        self._gate: anyio.Event | None = None

    async def _wait(self) -> None:
        if self.hold:
            if self._gate is None:
                self._gate = anyio.Event()
            await self._gate.wait()

    @step
    async def start(self, ev: StartEvent, ctx: Context[Any]) -> Ask | PartA | PartB | Slow | None:
        for event in (Ask(), PartA(n=1), PartA(n=2), PartB(n=3), Slow(n=4), Slow(n=5)):
            ctx.send_event(event)
        return None

    @step
    async def ask(self, ev: Ask, ctx: Context[Any]) -> Answered:
        answer = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prompt="name?")
        )
        return Answered(name=answer.name)

    @step
    async def gather(self, ev: PartA | PartB, ctx: Context[Any]) -> Gathered | None:
        batch = ctx.collect_events(ev, [PartA, PartB])
        if batch is None:
            return None
        await self._wait()
        return Gathered(ns=[e.n for e in batch])

    @step(num_workers=1)
    async def slow(self, ev: Slow) -> Slowed:
        await self._wait()
        return Slowed(n=ev.n)

    @step
    async def finish(self, ev: Answered | Gathered | Slowed, ctx: Context[Any]) -> StopEvent | None:
        batch = ctx.collect_events(ev, [Answered, Gathered, Slowed, Slowed])
        if batch is None:
            return None
        answered, gathered, *slowed = batch
        return StopEvent(result=(answered.name, gathered.ns, sorted(e.n for e in slowed)))


EXPECTED = ("Ada", [1, 3], [4, 5])


async def mixed_snapshot() -> dict[str, Any]:
    """A MixedWorkflow snapshot holding every part, through JSON; the run is cancelled."""
    workflow = MixedWorkflow(hold=True)
    handler = workflow.run()
    with anyio.fail_after(5):
        await anyio.wait_all_tasks_blocked()
    data = handler.ctx.to_dict()
    await handler.cancel_run()
    assert_only_plain(data)
    loaded: dict[str, Any] = json.loads(json.dumps(data))
    return loaded


async def resume(data: dict[str, Any]) -> Any:
    """Restore ``data`` into a fresh MixedWorkflow, answer its question; the result."""
    workflow = MixedWorkflow()
    handler = workflow.run(ctx=Context.from_dict(workflow, data))
    handler.ctx.send_event(HumanResponseEvent(name="Ada"))
    with anyio.fail_after(5):
        return await handler


def delivery_of(data: dict[str, Any], step_name: str, section: str = "in_progress") -> int:
    """The index in ``section`` of the delivery of ``step_name``."""
    [index] = [i for i, d in enumerate(data[section]) if d["step"] == step_name]
    return index


async def test_the_mixed_snapshot_holds_every_part_and_resumes() -> None:
    data = await mixed_snapshot()
    gather = data["in_progress"][delivery_of(data, "gather")]
    assert [d["step"] for d in data["queued"]] == ["slow"]
    assert sorted(d["step"] for d in data["in_progress"]) == ["ask", "gather", "slow"]
    assert [(e["event"]["n"], e["claimed_by"]) for e in data["collected"]["gather"]] == [
        (1, gather["id"]),
        (2, None),
    ]
    assert gather["claimed_by"] == gather["id"]
    [waiter] = data["waiters"]
    assert waiter["delivery_id"] == data["in_progress"][delivery_of(data, "ask")]["id"]

    assert await resume(data) == EXPECTED


# --- consistency: every part refers to something that exists ------------------------------------

Damage = Callable[[dict[str, Any]], str]  # damages the snapshot in place; the expected path


def _live_id(data: dict[str, Any], step_name: str) -> int:
    section = (
        "in_progress" if any(d["step"] == step_name for d in data["in_progress"]) else "queued"
    )
    delivery_id: int = data[section][delivery_of(data, step_name, section)]["id"]
    return delivery_id


def waiter_without_its_execution(data: dict[str, Any]) -> str:
    del data["in_progress"][delivery_of(data, "ask")]
    return "$.waiters[0].delivery_id"


def waiter_of_a_finished_execution(data: dict[str, Any]) -> str:
    consumed = data["collected"]["gather"][1]["id"]  # PartA 2 was buffered: its execution ended
    data["waiters"][0]["delivery_id"] = consumed
    data["waiters"][0]["key"] = f"{consumed}:1"
    return "$.waiters[0].delivery_id"


def waiter_of_another_steps_execution(data: dict[str, Any]) -> str:
    other = _live_id(data, "slow")
    data["waiters"][0]["delivery_id"] = other
    data["waiters"][0]["key"] = f"{other}:1"
    return "$.waiters[0].delivery_id"


def waiter_key_of_another_execution(data: dict[str, Any]) -> str:
    data["waiters"][0]["key"] = f"{_live_id(data, 'slow')}:1"
    return "$.waiters[0].key"


def two_waiters_with_one_key(data: dict[str, Any]) -> str:
    data["waiters"].append(copy.deepcopy(data["waiters"][0]))
    return "$.waiters[1].key"


def buffered_event_claimed_by_nobody(data: dict[str, Any]) -> str:
    data["collected"]["gather"][1]["claimed_by"] = data["collected"]["gather"][1]["id"]
    return "$.collected['gather'][1].claimed_by"


def buffered_event_claimed_by_a_step_that_did_not_collect(data: dict[str, Any]) -> str:
    data["collected"]["gather"][0]["claimed_by"] = _live_id(data, "slow")
    return "$.collected['gather'][0].claimed_by"


def buffered_event_also_queued(data: dict[str, Any]) -> str:
    data["collected"]["gather"][1]["id"] = data["queued"][0]["id"]
    return "$.collected['gather'][1]"


def buffered_twice(data: dict[str, Any]) -> str:
    buffer = data["collected"]["gather"]
    buffer.append(copy.deepcopy(buffer[1]))
    return "$.collected['gather'][2]"


def buffered_id_from_the_future(data: dict[str, Any]) -> str:
    data["collected"]["gather"][1]["id"] = data["next_id"]
    return "$.collected['gather'][1]"


def delivery_claiming_another(data: dict[str, Any]) -> str:
    index = delivery_of(data, "slow")
    data["in_progress"][index]["claimed_by"] = data["queued"][0]["id"]
    return f"$.in_progress[{index}].claimed_by"


def delivery_queued_and_in_progress(data: dict[str, Any]) -> str:
    data["queued"][0]["id"] = data["in_progress"][0]["id"]
    return "$.in_progress[0]"


def negative_attempts(data: dict[str, Any]) -> str:
    data["in_progress"][0]["attempts"] = -1
    return "$.in_progress[0].attempts"


def running_flag_disagrees(data: dict[str, Any]) -> str:
    data["is_running"] = False
    return "$.is_running"


def finished_but_never_started(data: dict[str, Any]) -> str:
    data.update(started=False, finished=True, is_running=False)
    return "$.finished"


INCONSISTENT: dict[str, tuple[Damage, str]] = {
    "waiter without its step execution": (
        waiter_without_its_execution,
        r"^The waiter of step 'ask' belongs to delivery \d+, which is not a queued or "
        r"in-progress delivery of 'ask': nothing would ever wait on it at ",
    ),
    "waiter of a finished execution": (waiter_of_a_finished_execution, r"^The waiter of step"),
    "waiter of another step's execution": (waiter_of_another_steps_execution, r"^The waiter"),
    "waiter key of another execution": (
        waiter_key_of_another_execution,
        r"^The waiter key '\d+:1' does not begin with its delivery id \d+ at ",
    ),
    "two waiters with one key": (two_waiters_with_one_key, r"^Two waiters have the key '\d+:1'"),
    "buffered event claimed by nobody": (
        buffered_event_claimed_by_nobody,
        r"^Buffered event \d+ is claimed by delivery \d+, which is not a queued or in-progress "
        r"delivery that collected a batch at ",
    ),
    "buffered event claimed by a step that did not collect": (
        buffered_event_claimed_by_a_step_that_did_not_collect,
        r"^Buffered event \d+ is claimed by delivery",
    ),
    "buffered event also queued": (
        buffered_event_also_queued,
        r"^Delivery id \d+ is both buffered and queued or in progress at ",
    ),
    "buffered twice": (buffered_twice, r"^Delivery id \d+ is in buffer 'gather' twice at "),
    "buffered id from the future": (buffered_id_from_the_future, r"is not between 1 and next_id"),
    "delivery claiming another": (
        delivery_claiming_another,
        r"^Delivery \d+ claims \d+; a queued or in-progress delivery claims only its own id",
    ),
    "delivery queued and in progress": (
        delivery_queued_and_in_progress,
        r"^Delivery id \d+ is queued or in progress twice at ",
    ),
    "negative attempts": (negative_attempts, r"^attempts must be >= 0, not -1 at "),
    "running flag disagrees": (
        running_flag_disagrees,
        r"^is_running is False, but started is True and finished is False at ",
    ),
    "finished but never started": (
        finished_but_never_started,
        r"^The run is finished but never started at \$\.finished\. ",
    ),
}


@pytest.mark.parametrize("case", list(INCONSISTENT))
async def test_from_dict_refuses_snapshots_whose_parts_do_not_fit(case: str) -> None:
    damage, message = INCONSISTENT[case]
    data = await mixed_snapshot()
    bad = copy.deepcopy(data)
    path = damage(bad)

    with pytest.raises(ContextSerdeError, match=message) as caught:
        Context.from_dict(MixedWorkflow(), bad)
    assert caught.value.path == path
    assert str(caught.value).endswith(
        "The snapshot was changed after ctx.to_dict() wrote it; restore an unchanged copy."
    )
    # The intact snapshot still restores and resumes to its result.
    assert await resume(data) == EXPECTED


STEPS_ADVICE = (
    "Its steps are: ask, finish, gather, slow, start. Restore the snapshot with the workflow "
    "that wrote it."
)


@pytest.mark.parametrize(
    ("where", "reason", "path"),
    [
        pytest.param(
            ["queued", 0, "step"],
            "The snapshot has an event for step 'vanished', which the workflow does not have",
            "$.queued[0]",
            id="queued",
        ),
        pytest.param(
            ["collected", "gather", 1, "step"],
            "The snapshot has an event for step 'vanished', which the workflow does not have",
            "$.collected['gather'][1]",
            id="buffered",
        ),
        pytest.param(
            ["waiters", 0, "step"],
            "The snapshot has a waiter of step 'vanished', which the workflow does not have",
            "$.waiters[0]",
            id="waiter",
        ),
    ],
)
async def test_a_step_the_workflow_lacks_is_refused_naming_the_workflow_s_steps(
    where: list[str | int], reason: str, path: str
) -> None:
    data = await mixed_snapshot()
    node: Any = data
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = "vanished"

    with pytest.raises(ContextSerdeError) as caught:
        Context.from_dict(MixedWorkflow(), data)
    assert (caught.value.reason, caught.value.path, caught.value.advice) == (
        reason,
        path,
        STEPS_ADVICE,
    )
    assert str(caught.value) == f"{reason} at {path}. {STEPS_ADVICE}"


class CaughtCollector(Workflow):
    """``gather`` fails once its batch is complete; the @catch_error handler holds."""

    def __init__(self, hold: bool) -> None:
        super().__init__(timeout=30)
        self.hold = hold
        self._gate: anyio.Event | None = None

    @step
    async def start(self, ev: StartEvent, ctx: Context[Any]) -> PartA | PartB | None:
        for event in (PartA(n=1), PartA(n=2), PartB(n=3)):
            ctx.send_event(event)
        return None

    @step
    async def gather(self, ev: PartA | PartB, ctx: Context[Any]) -> StopEvent | None:
        if ctx.collect_events(ev, [PartA, PartB]) is None:
            return None
        raise ValueError("batch refused")

    @catch_error
    async def recover(self, ev: StepFailedEvent) -> StopEvent:
        if self.hold:
            self._gate = anyio.Event()
            await self._gate.wait()
        return StopEvent(result=f"{ev.step_name}: {ev.exception}")


async def test_a_batch_whose_step_failed_is_consumed_and_its_snapshot_restores() -> None:
    # A collecting step that fails for good, handled by @catch_error, consumed its
    # batch: the snapshot taken afterwards claims nothing for a delivery that is gone.
    workflow = CaughtCollector(hold=True)
    handler = workflow.run()
    with anyio.fail_after(5):
        await anyio.wait_all_tasks_blocked()
    data = json.loads(json.dumps(handler.ctx.to_dict()))
    await handler.cancel_run()
    assert [(e["event"]["n"], e["claimed_by"]) for e in data["collected"]["gather"]] == [(2, None)]

    fresh = CaughtCollector(hold=False)
    with anyio.fail_after(5):
        assert await fresh.run(ctx=Context.from_dict(fresh, data)) == "gather: batch refused"


# --- strictness: values of the wrong type are refused, never coerced ----------------------------


def _set(path: list[str | int], value: Any) -> Callable[[dict[str, Any]], None]:
    def damage(data: dict[str, Any]) -> None:
        node: Any = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return damage


WRONG_TYPES: dict[str, tuple[list[str | int], Any, str]] = {
    # name: (where, value, message up to " at <path>")
    "finished as a string": (["finished"], "false", "Expected a boolean (true or false), found"),
    "started as a number": (["started"], 1, "Expected a boolean (true or false), found number"),
    "is_running as a string": (["is_running"], "true", "Expected a boolean"),
    "elapsed as NaN": (["elapsed"], math.nan, "elapsed must be a finite number of seconds"),
    "elapsed infinite": (["elapsed"], math.inf, "elapsed must be a finite number of seconds"),
    "elapsed hugely negative": (["elapsed"], -1e300, "elapsed must be a finite number"),
    "elapsed negative": (["elapsed"], -0.5, "elapsed must be a finite number"),
    "elapsed as a string": (["elapsed"], "0.5", "Expected a number, found string '0.5'"),
    "elapsed as a boolean": (["elapsed"], True, "Expected a number, found boolean True"),
    "next_id as a string": (["next_id"], "7", "Expected an integer, found string '7'"),
    "next_id as a float": (["next_id"], 7.0, "Expected an integer, found number 7.0"),
    "next_id as a boolean": (["next_id"], True, "Expected an integer, found boolean True"),
    "next_id zero": (["next_id"], 0, "next_id must be >= 1, not 0"),
    "run_id as a number": (["run_id"], 5, "Expected a string, found number 5"),
    "run_id null": (["run_id"], None, "Expected a string, found null None"),
    "store as a string": (["store"], "text", "The store must be a dict or the workflow's state"),
    "store as a number": (["store"], 5, "The store must be a dict"),
    "store as a list": (["store"], [1, 2], "The store must be a dict"),
    "store null": (["store"], None, "The store must be a dict"),
    "delivery id as a string": (["queued", 0, "id"], "8", "Expected an integer, found string"),
    "attempts as a string": (["queued", 0, "attempts"], "0", "Expected an integer"),
    "attempts as a boolean": (["queued", 0, "attempts"], False, "Expected an integer"),
    "claim as a string": (["queued", 0, "claimed_by"], "8", "Expected an integer"),
    "step as a number": (["queued", 0, "step"], 5, "Expected a string, found number 5"),
    "event int field as a string": (["queued", 0, "event", "n"], "5", "Expected an integer"),
    "event int field as a boolean": (["queued", 0, "event", "n"], True, "Expected an integer"),
    "event int field as a float": (["queued", 0, "event", "n"], 5.0, "Expected an integer"),
    "buffered event field": (["collected", "gather", 0, "event", "n"], "1", "Expected an integer"),
    "waiter key as a number": (["waiters", 0, "key"], 5, "Expected a string, found number 5"),
}


def _path_text(path: list[str | int]) -> str:
    text = "$"
    for index, key in enumerate(path):
        if isinstance(key, int) or (index > 0 and path[index - 1] == "collected"):
            text += f"[{key!r}]"
        else:
            text += f".{key}"
    return text


@pytest.mark.parametrize("case", list(WRONG_TYPES))
async def test_from_dict_refuses_wrong_types_without_coercing(case: str) -> None:
    where, value, message = WRONG_TYPES[case]
    data = await mixed_snapshot()
    bad = copy.deepcopy(data)
    _set(where, value)(bad)

    with pytest.raises(ContextSerdeError) as caught:
        Context.from_dict(MixedWorkflow(), bad)
    assert caught.value.path == _path_text(where)
    assert str(caught.value).startswith(message), str(caught.value)
    assert f" at {caught.value.path}. " in str(caught.value)


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (["store"], {}),
        (["elapsed"], 0),
        (["elapsed"], 0.0),
        (["queued", 0, "claimed_by"], None),
        (["collected", "gather", 1, "id"], 1),
    ],
)
async def test_well_typed_edge_values_are_accepted(where: list[str | int], value: Any) -> None:
    # A float field takes an int (JSON has one number type); null is a valid claim; 1 is
    # the lowest delivery id, here of a buffered event (delivery 1, of ``start``, ended).
    data = await mixed_snapshot()
    _set(where, value)(data)
    restored = Context.from_dict(MixedWorkflow(), data)
    assert restored.to_dict()["elapsed"] == data["elapsed"]


# --- versions -------------------------------------------------------------------------------------


def as_version_1(v2: Any) -> Any:
    """A version 2 snapshot as version 1 wrote it: the event tag under ``type``."""
    if isinstance(v2, list):
        return [as_version_1(item) for item in v2]
    if not isinstance(v2, dict):
        return v2
    renamed = {
        ("type" if key == "$type" else key): (value if key == "store" else as_version_1(value))
        for key, value in v2.items()
    }
    return {**renamed, "version": 1} if "format" in v2 else renamed


async def test_version_1_snapshots_are_read_and_frozen_again_as_version_2() -> None:
    data = await mixed_snapshot()
    v1 = as_version_1(data)
    assert v1["queued"][0]["event"]["type"] == "Slow"

    restored = Context.from_dict(MixedWorkflow(), v1)
    assert restored.to_dict() == data
    assert await resume(v1) == EXPECTED


@pytest.mark.parametrize(
    ("version", "damage", "message", "path"),
    [
        (1, ["queued", 0, "event", "$type"], r"^Unexpected key '\$type' in a version 1 event at ",
         "$.queued[0].event"),
        (1, ["queued", 0, "event", "type"], r"^Unknown event tag 'Nope' at ", "$.queued[0].event"),
        (2, ["queued", 0, "event", "type"], r"^Extra fields found \(type\) at ",
         "$.queued[0].event"),
        (3, None, r"^Unsupported snapshot version 3: this flowkit reads versions 1 and 2 at ",
         "$.version"),
        (0, None, r"^Unsupported snapshot version 0: ", "$.version"),
    ],
)  # fmt: skip
async def test_each_version_is_read_with_its_own_tag_key(
    version: int, damage: list[str | int] | None, message: str, path: str
) -> None:
    data = await mixed_snapshot()
    bad = as_version_1(data) if version == 1 else {**data, "version": version}
    if damage is not None:
        _set(damage, "Nope")(bad)
    with pytest.raises(ContextSerdeError, match=message) as caught:
        Context.from_dict(MixedWorkflow(), bad)
    assert caught.value.path == path


# --- errors carry their path as data ----------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "tag", "path"),
    [
        (["queued", 0, "event", "$type"], "Evil. tag @ $.store", "$.queued[0].event"),
        (["stream", 0, "$type"], "A. B. C", "$.stream[0]"),
        (["waiters", 0, "event_type"], "x @ $.y. z", "$.waiters[0].event_type"),
        (["store", "v"], {"$type": "Odd. name @ $.q", "value": {}}, "$.store['v']"),
    ],
)
async def test_error_paths_and_messages_survive_tags_that_look_like_messages(
    where: list[str | int], tag: Any, path: str
) -> None:
    data = await mixed_snapshot()
    _set(where, tag)(data)
    with pytest.raises(ContextSerdeError) as caught:
        Context.from_dict(MixedWorkflow(), data)
    error = caught.value
    shown = tag["$type"] if isinstance(tag, dict) else tag
    kind = "value" if isinstance(tag, dict) else "event"
    assert (error.path, error.reason) == (path, f"Unknown {kind} tag {shown!r}")
    assert str(error) == f"Unknown {kind} tag {shown!r} at {path}. {error.advice}"


# --- every field name round-trips ---------------------------------------------------------------


class Clash(Event):
    """Fields named like the keys of the snapshot format."""

    type: str = "default"
    format: str = ""
    version: int = 0
    id: int = 0
    step: str = ""
    event: str = ""
    value: int = 0
    message: str = ""
    key: str = ""


class Typed(Event):
    """A required field named ``type``: restoring cannot fall back to a default."""

    type: str
    n: int


class ClashWorkflow(Workflow):
    def __init__(self, hold: bool) -> None:
        super().__init__(timeout=30)
        self.hold = hold
        self.seen: list[Event] = []
        self._gate: anyio.Event | None = None

    @step
    async def start(self, ev: StartEvent, ctx: Context[Any]) -> Clash | Typed | None:
        ctx.write_event_to_stream(CLASH)
        await ctx.store.set("typed", TYPED)
        ctx.send_event(CLASH)
        ctx.send_event(TYPED)
        return None

    @step(num_workers=1)
    async def take(self, ev: Clash | Typed, ctx: Context[Any]) -> StopEvent | None:
        if self.hold:
            self._gate = anyio.Event()
            await self._gate.wait()
        self.seen.append(ev)
        if len(self.seen) < 2:
            return None
        return StopEvent(result=await ctx.store.get("typed"))


CLASH = Clash(
    type="mine", format="f", version=7, id=3, step="s", event="e", value=9, message="m", key="k"
)
TYPED = Typed(type="required", n=1, extra="kept")


async def test_fields_named_like_the_formats_keys_round_trip() -> None:
    workflow = ClashWorkflow(hold=True)
    handler = workflow.run()
    with anyio.fail_after(5):
        await anyio.wait_all_tasks_blocked()
    data = json.loads(json.dumps(handler.ctx.to_dict()))
    await handler.cancel_run()
    assert data["in_progress"][0]["event"]["type"] == "mine"
    assert data["queued"][0]["event"]["type"] == "required"

    fresh = ClashWorkflow(hold=False)
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    streamed = []
    with anyio.fail_after(5):
        async for event in resumed.stream_events():
            streamed.append(event)
        result = await resumed
    assert fresh.seen == [CLASH, TYPED]
    assert result == TYPED
    assert result.extra == "kept"
    assert streamed[0] == CLASH


# Every key the snapshot format uses, at any level.
FORMAT_KEYS = [
    "format", "version", "workflow", "run_id", "is_running", "started", "finished", "elapsed",
    "next_id", "store", "queued", "in_progress", "collected", "waiters", "stream", "id", "step",
    "event", "attempts", "claimed_by", "key", "delivery_id", "event_type", "requirements",
    "waiter_event", "resolved", "type", "message", "value", "result",
]  # fmt: skip
RESERVED = {"_data"}  # Event's own attribute holding extra fields

field_names = st.sampled_from(FORMAT_KEYS) | st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
field_values = st.integers(-(2**40), 2**40) | st.text(max_size=8) | st.booleans() | st.none()


def make_event_class(names: list[str]) -> type[Event]:
    annotations = dict.fromkeys(names, Any)
    klass: type[Event] = type("Drawn", (Event,), {"__annotations__": annotations})
    return klass


class Holder(Workflow):
    @step
    async def start(self, ev: StartEvent) -> StopEvent:
        return StopEvent()


@given(
    st.dictionaries(
        field_names.filter(lambda n: not keyword.iskeyword(n) and n not in RESERVED),
        field_values,
        min_size=1,
        max_size=6,
    ),
    st.sampled_from(["asyncio", "trio"]),
)
def test_any_field_name_round_trips(fields: dict[str, Any], backend: str) -> None:
    klass = make_event_class(list(fields))
    event = klass(**fields)

    async def main() -> None:
        workflow = Holder()
        workflow.serializer.register_type(klass)
        ctx: Context[Any] = Context(workflow)
        await ctx.store.set("event", event)
        await ctx.store.set("events", [event, {"nested": event}])
        data = json.loads(json.dumps(ctx.to_dict()))
        restored = Context.from_dict(workflow, data)
        got = await restored.store.get("event")
        assert type(got) is klass
        assert {name: getattr(got, name) for name in fields} == fields
        assert await restored.store.get("events") == [event, {"nested": event}]

    anyio.run(main, backend=backend)

"""Fuzzing ``Context.from_dict`` with mutated valid snapshots.

Real snapshots (the committed v1 and v2 fixtures, a live freeze of the same
workflow, and two freezes of a small workflow with every kind of tagged value) are
mutated by Hypothesis: a key deleted anywhere, a value replaced by JSON of another
type or by the same value in another JSON type ("false" for false, "7" or 7.0 for 7),
a number made NaN, infinite or negative, an id swapped for another id of the
snapshot, tags renamed, lists truncated or duplicated, extra keys inserted, values
nested deeply.

``from_dict`` must return a Context or raise ContextSerdeError naming where, and
never import a module. A returned Context must freeze again (or refuse with
ContextSerdeError) keeping every typed value of the input as it was (nothing
coerced), with a consistent run (finite elapsed time, a dict store, waiters and
claims that refer to live deliveries), and, run on asyncio or trio, end with a result
or a documented error, never with an internal error, a crash or a hang: a run that
can only wait must be waiting in a step that is running.

These tests are synchronous: ``from_dict`` needs no event loop, and each run of a
restored context gets its own ``anyio.run`` on the backend Hypothesis draws.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import enum
import functools
import json
import math
import sys
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
from fixtures.fixture_workflow import FixtureWorkflow, answer_audit, freeze_midway
from fixtures.plain import assert_only_plain
from fixtures.versions import as_version_2
from hypothesis import event, given, note
from hypothesis import strategies as st

from flowkit import Context, Workflow, step
from flowkit.errors import (
    ContextSerdeError,
    FlowkitError,
    WorkflowCancelledByUser,
    WorkflowRuntimeError,
)
from flowkit.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StepFailedEvent,
    StopEvent,
    WorkflowFailedEvent,
)

FIXTURES = Path(__file__).parent / "fixtures"
Path_ = tuple[str | int, ...]


# --- a small workflow with every kind of tagged value ---------------------------------------


class Shade(enum.Enum):
    DARK = "dark"
    LIGHT = "light"


@attrs.define
class Spot:
    x: int
    shade: Shade


class Token(Event):
    n: int
    when: dt.datetime
    spots: list[Spot]


class Tally(Event):
    n: int


class FuzzWorkflow(Workflow):
    """Fan-out of three Tokens to ``relay`` (two workers), fan-in in ``tally``.

    Args:
        hold: "relay" makes relay wait on Token 2; "tally" makes tally wait once it
            has its batch. A gate that is never opened; None for a free run.
    """

    def __init__(self, hold: str | None = None) -> None:
        super().__init__(timeout=60)
        for klass in (Shade, Spot):
            self.serializer.register_type(klass)
        self.hold = hold
        self._gate: anyio.Event | None = None  # made in the run: no event loop needed here

    async def _wait(self) -> None:
        if self._gate is None:
            self._gate = anyio.Event()
        await self._gate.wait()

    @step
    async def start(self, ev: StartEvent, ctx: Context[Any]) -> Token | None:
        for key, value in store_values().items():
            await ctx.store.set(key, value)
        for n in range(3):
            ctx.send_event(
                Token(
                    n=n,
                    when=dt.datetime(2024, 1, 1 + n),
                    spots=[Spot(n, Shade.DARK)],
                    note=f"token {n}",
                )
            )
        return None

    @step(num_workers=2)
    async def relay(self, ev: Token) -> Tally:
        if self.hold == "relay" and ev.n == 2:
            await self._wait()
        return Tally(n=ev.n)

    @step
    async def tally(self, ev: Tally, ctx: Context[Any]) -> StopEvent | None:
        batch = ctx.collect_events(ev, [Tally] * 3)
        if batch is None:
            return None
        if self.hold == "tally":
            await self._wait()
        return StopEvent(result=sorted(e.n for e in batch))


def store_values() -> dict[str, Any]:
    """One value of every kind the value codec tags."""
    return {
        "tuple": (1, (2, "3")),
        "set": {1, 2},
        "frozenset": frozenset({"a"}),
        "pairs": {1: "one", (2, 3): "pair"},
        "escaped": {"$type": "tuple", "value": [1]},
        "datetime": dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc),
        "date": dt.date(2024, 5, 6),
        "time": dt.time(7, 8, 9),
        "timedelta": dt.timedelta(seconds=90),
        "uuid": uuid.UUID("00000000-0000-4000-8000-000000000001"),
        "decimal": Decimal("1.50"),
        "bytes": b"\x00\x01",
        "spot": Spot(3, Shade.LIGHT),
        "shade": Shade.DARK,
        "event": Tally(n=9, extra=[1, {"deep": (2,)}]),
        "failure": StepFailedEvent(
            step_name="relay",
            input_event=Tally(n=1),
            exception=ValueError("bad"),
            attempts=2,
            elapsed_seconds=0.5,
            failed_at=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
        ),
        "nested": {"a": [1, 2.5, None, True, "x", {"b": []}]},
    }


async def freeze_fuzz_workflow(hold: str) -> dict[str, Any]:
    """A snapshot of FuzzWorkflow held at ``hold``; the run is cancelled afterwards."""
    workflow = FuzzWorkflow(hold=hold)
    handler = workflow.run()
    with anyio.fail_after(5):
        await anyio.wait_all_tasks_blocked()
    data = handler.ctx.to_dict()
    await handler.cancel_run()
    return data


# --- the snapshots to mutate --------------------------------------------------------------------


@attrs.frozen
class Base:
    """A valid snapshot, and how to make a fresh instance of the workflow that wrote it."""

    name: str
    data: dict[str, Any]
    make_workflow: Callable[[], Workflow]


BASE_COUNT = 5


@functools.cache
def bases() -> tuple[Base, ...]:
    """The valid snapshots, made once per session (each through JSON, as stored)."""
    made = [
        Base(
            f"committed v{v} fixture",
            json.loads((FIXTURES / f"snapshot_v{v}.json").read_text()),
            FixtureWorkflow,
        )
        for v in (1, 2)
    ]
    made += [
        Base("live fixture freeze", anyio.run(freeze_midway), FixtureWorkflow),
        Base("fuzz held in relay", anyio.run(freeze_fuzz_workflow, "relay"), FuzzWorkflow),
        Base("fuzz held in tally", anyio.run(freeze_fuzz_workflow, "tally"), FuzzWorkflow),
    ]
    assert len(made) == BASE_COUNT
    for base in made:
        assert_only_plain(base.data)
        # Each base restores: the fuzzing starts from valid data. This also makes
        # flowkit build its converters before any import is watched.
        Context.from_dict(base.make_workflow(), base.data)
    return tuple(made)


def all_paths(data: Any) -> list[Path_]:
    """Every path into ``data`` (the root excluded), walked iteratively."""
    found: list[Path_] = []
    stack: list[tuple[Path_, Any]] = [((), data)]
    while stack:
        path, node = stack.pop()
        children: list[tuple[str | int, Any]] = []
        if isinstance(node, dict):
            children = list(node.items())
        elif isinstance(node, list):
            children = list(enumerate(node))
        for key, child in children:
            found.append((*path, key))
            stack.append(((*path, key), child))
    return found


def get_at(data: Any, path: Path_) -> Any:
    node = data
    for key in path:
        node = node[key]
    return node


def set_at(data: Any, path: Path_, value: Any) -> Any:
    """``data`` with the value at ``path`` replaced (the root itself when path is empty)."""
    if not path:
        return value
    get_at(data, path[:-1])[path[-1]] = value
    return data


# --- mutations ---------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)


def _json_containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)


json_values = st.recursive(json_scalars, _json_containers, max_leaves=8)

TAG_KEYS = {"type", "$type", "event_type"}
INTERESTING_TAGS = [
    # other tags of the same workflows, so that a renamed event may still structure
    "Job", "Done", "Audit", "Audited", "Token", "Tally", "Spot", "Shade", "Address",
    "Priority", "StartEvent", "StopEvent", "InputRequiredEvent", "HumanResponseEvent",
    "StepFailedEvent", "WorkflowFailedEvent", "WorkflowCancelledEvent", "UnhandledEvent",
    # value codec tags
    "tuple", "set", "frozenset", "pairs", "dict", "datetime", "date", "time", "timedelta",
    "uuid", "decimal", "bytes", "event", "pickle",
    # names that an importing loader would import
    "os.system", "builtins.eval", "subprocess.Popen", "wave.Error", "tabnanny.check",
    "test_snapshot_fuzz.Token", "fixtures.fixture_workflow.Job", "flowkit.events.Event",
    "builtins.ValueError", "flowkit.errors.WorkflowRuntimeError", "",
]  # fmt: skip
ANY_TYPED = {"store", "_data", "requirements", "result"}
ID_KEYS = {"id", "delivery_id", "claimed_by", "next_id"}
BAD_NUMBERS = [math.nan, math.inf, -math.inf, -1e300, -1, -0.5, 2**70]


def same_value_other_type(value: Any) -> list[Any]:
    """``value`` written in other JSON types, as a coercing reader would accept it."""
    if isinstance(value, bool):
        return [str(value).lower(), str(value), int(value), float(value)]
    if isinstance(value, int):
        return [str(value), float(value), bool(value)]
    if isinstance(value, float):
        return [str(value), repr(value)] + ([int(value)] if value.is_integer() else [])
    if isinstance(value, str):
        return [int(value)] if value.isdigit() else [[value], {"value": value}]
    if value is None:
        return ["null", "None", 0, False]
    return [json.dumps(value)]


def is_typed(path: Path_) -> bool:
    """Whether ``path`` is outside data typed ``Any``."""
    return not any(key in ANY_TYPED for key in path[:-1]) and path[-1] not in ANY_TYPED


NEVER_IMPORTED = ("wave", "tabnanny", "subprocess_fake", "mailbox")


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def nest(value: Any, depth: int, shape: str) -> Any:
    """``value`` wrapped ``depth`` times, iteratively."""
    for _ in range(depth):
        if shape == "list":
            value = [value]
        elif shape == "dict":
            value = {"a": value}
        else:
            value = {"$type": shape, "value": [value]}
    return value


@st.composite
def mutation(draw: st.DrawFn, data: Any) -> tuple[str, Any]:
    """One mutation of ``data`` (a deep copy is changed): its description and the result.

    Half the time it stays inside data typed ``Any`` (the store, extra fields, waiter
    requirements), where a change is more often still a loadable snapshot.
    """
    paths = all_paths(data)
    loose = [p for p in paths if any(key in ANY_TYPED for key in p[:-1])]
    stay_loose = draw(st.booleans())
    if loose and stay_loose:
        paths = loose
    keyed = [p for p in paths if isinstance(p[-1], str)]
    indexed = [p for p in paths if isinstance(p[-1], int)]
    typed_leaves = [
        p for p in paths if is_typed(p) and not isinstance(get_at(data, p), (dict, list))
    ]
    numbers = [p for p in typed_leaves if type(get_at(data, p)) in (int, float)]
    ids = [p for p in typed_leaves if p[-1] in ID_KEYS and type(get_at(data, p)) is int]
    kinds = ["replace", "rename tag", "nest"]
    kinds += ["retype"] if typed_leaves else []
    kinds += ["bad number"] if numbers else []
    kinds += ["swap id"] if len(ids) > 1 else []
    kinds += ["delete"] if keyed else []
    kinds += ["truncate", "duplicate"] if indexed else []
    kinds += ["extra key"] if any(isinstance(get_at(data, p), dict) for p in [(), *paths]) else []
    kind = draw(st.sampled_from(kinds))
    if kind == "delete":
        path = draw(st.sampled_from(keyed))
        parent = get_at(data, path[:-1])
        del parent[path[-1]]
    elif kind == "replace":
        path = draw(st.sampled_from([(), *paths]))
        old = get_at(data, path)
        new = draw(json_values.filter(lambda v: json_type(v) != json_type(old)))
        data = set_at(data, path, new)
    elif kind == "retype":
        path = draw(st.sampled_from(typed_leaves))
        data = set_at(data, path, draw(st.sampled_from(same_value_other_type(get_at(data, path)))))
    elif kind == "bad number":
        path = draw(st.sampled_from(numbers))
        data = set_at(data, path, draw(st.sampled_from(BAD_NUMBERS)))
    elif kind == "swap id":
        path, other = draw(st.lists(st.sampled_from(ids), min_size=2, max_size=2, unique=True))
        data = set_at(data, path, get_at(data, other))
    elif kind == "rename tag":
        candidates = [p for p in paths if p[-1] in TAG_KEYS] or paths
        path = draw(st.sampled_from(candidates))
        data = set_at(data, path, draw(st.sampled_from(INTERESTING_TAGS) | st.text(max_size=8)))
    elif kind == "truncate":
        path = draw(st.sampled_from(indexed))[:-1]  # a non-empty list
        target = get_at(data, path)
        del target[draw(st.integers(0, len(target) - 1)) :]
    elif kind == "duplicate":
        path = draw(st.sampled_from(indexed))
        parent = get_at(data, path[:-1])
        parent.insert(path[-1], copy.deepcopy(parent[path[-1]]))
    elif kind == "extra key":
        candidates = [p for p in [(), *paths] if isinstance(get_at(data, p), dict)]
        path = draw(st.sampled_from(candidates))
        key = draw(st.sampled_from(["$type", "value", "type", "_data", "id", "step"]) | st.text())
        get_at(data, path)[key] = draw(json_values)
    else:
        path = draw(st.sampled_from(paths))
        depth = draw(st.integers(1, 3) | st.integers(500, 5_000))
        shape = draw(st.sampled_from(["list", "dict", "tuple", "set"]))
        data = set_at(data, path, nest(get_at(data, path), depth, shape))
        if depth > 3:
            kind = "deep nest"
    return f"{kind} at {path}", data


@st.composite
def mutated_snapshots(draw: st.DrawFn) -> tuple[Base, list[str], Any]:
    """A base snapshot with one to three mutations applied."""
    base = draw(st.sampled_from(bases()))
    data: Any = copy.deepcopy(base.data)
    done: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        if not isinstance(data, (dict, list)) or not all_paths(data):
            break
        description, data = draw(mutation(data))
        done.append(description)
        if description.startswith("deep"):
            break  # the paths into deep data are too many to list again
    return base, done, data


# --- checks ---------------------------------------------------------------------------------


def restore(workflow: Workflow, data: Any) -> Context[Any] | ContextSerdeError:
    """``Context.from_dict``: a Context, or its ContextSerdeError; checks no module got imported.

    Any other exception escapes and fails the test.
    """
    for name in NEVER_IMPORTED:
        assert name not in sys.modules
    before = set(sys.modules)
    outcome: Context[Any] | ContextSerdeError
    try:
        outcome = Context.from_dict(workflow, data)
    except ContextSerdeError as exc:
        outcome = exc
    assert set(sys.modules) - before == set()
    if isinstance(outcome, ContextSerdeError):
        assert isinstance(outcome.path, str), f"no path in {outcome!r}"
        assert outcome.path.startswith("$"), outcome.path
        assert str(outcome), "empty message"
    return outcome


def freeze_again(ctx: Context[Any], restored_from: Any = None) -> None:
    """A restored context freezes again to plain JSON, or refuses with ContextSerdeError.

    Frozen again, it keeps every typed value of ``restored_from`` (nothing was coerced
    or dropped) and describes a consistent run.
    """
    try:
        data = ctx.to_dict()
    except ContextSerdeError:
        return
    assert_only_plain(data)
    json.dumps(data, allow_nan=False)
    if restored_from is not None:
        expected = as_version_2(restored_from) if restored_from["version"] == 1 else restored_from
        if expected.get("workflow") == "FixtureWorkflow":
            # The committed fixtures carry the older default name (the class's qualified
            # name); they restore, and are frozen again under the module-qualified name.
            expected = {**expected, "workflow": data["workflow"]}
        assert_kept(expected, data)
    assert_consistent(data)


def assert_kept(given: Any, frozen: Any) -> None:
    """Every typed value of ``given`` is in ``frozen``, at the same path, with the same JSON type.

    Keys ``given`` lacks may have been filled with defaults; data typed ``Any`` is
    compared by the value codec's own tests, not here. Walks iteratively (deep data).
    """
    stack: list[tuple[Any, Any, str]] = [(given, frozen, "$")]
    while stack:
        want, got, where = stack.pop()
        if isinstance(want, dict):
            assert isinstance(got, dict), f"{where}: {got!r}"
            for key, value in want.items():
                if key in ANY_TYPED:
                    continue
                if key not in got and where == "$.collected" and value == []:
                    continue  # an empty collect buffer is not written
                assert key in got, f"{where}.{key} was dropped"
                stack.append((value, got[key], f"{where}.{key}"))
        elif isinstance(want, list):
            assert isinstance(got, list), f"{where}: {got!r}"
            assert len(got) == len(want), f"{where}: {got!r}"
            stack.extend(
                (a, b, f"{where}[{i}]") for i, (a, b) in enumerate(zip(want, got, strict=True))
            )
        else:
            assert json_type(want) == json_type(got), f"{where}: {want!r} became {got!r}"
            assert want == got, f"{where}: {want!r} became {got!r}"


def assert_consistent(data: dict[str, Any]) -> None:
    """What a snapshot of a live run always satisfies."""
    assert math.isfinite(data["elapsed"]), data["elapsed"]
    assert data["elapsed"] >= 0, data["elapsed"]
    assert type(data["store"]) is dict
    assert data["is_running"] == (data["started"] and not data["finished"])
    live = {d["id"]: d for section in ("queued", "in_progress") for d in data[section]}
    assert len(live) == len(data["queued"]) + len(data["in_progress"]), "duplicate ids"
    assert all(0 < i < data["next_id"] for i in live)
    for waiter in data["waiters"]:
        assert waiter["delivery_id"] in live, f"stale waiter {waiter}"
        assert live[waiter["delivery_id"]]["step"] == waiter["step"], waiter
    for buffer in data["collected"].values():
        for item in buffer:
            assert item["id"] not in live
            claimer = item["claimed_by"]
            assert claimer is None or live[claimer]["claimed_by"] == claimer, item


async def run_restored(workflow: Workflow, ctx: Context[Any]) -> tuple[str, BaseException | None]:
    """Resume ``ctx``: answer every request, cancel the run if it can only wait; the outcome."""
    refused: WorkflowRuntimeError | None = None
    try:
        handler = workflow.run(ctx=ctx)
    except WorkflowRuntimeError as exc:
        refused = exc
    if refused is not None:
        # A snapshot that says its run finished (or never started) starts a new run,
        # documented: that needs the StartEvent's fields, which nobody passes here.
        assert not ctx.is_running
        assert str(refused).startswith("Failed creating a start event"), refused
        return "new run needs a start event", refused
    handler.ctx.send_event(answer_audit())
    terminal: list[Event] = []

    async def read_stream() -> None:
        async for streamed in handler.stream_events():
            terminal[:] = [streamed]
            if isinstance(streamed, InputRequiredEvent) and not handler.is_done():
                # The run may have ended since it asked: then sending is refused, documented.
                with contextlib.suppress(WorkflowRuntimeError):
                    handler.ctx.send_event(answer_audit())

    with anyio.fail_after(10):
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(read_stream)
            while not handler.is_done():
                await anyio.wait_all_tasks_blocked()
                if not handler.is_done():  # it waits for input nobody will send
                    assert_waiting_in_a_running_step(handler.ctx.to_dict())
                    await handler.cancel_run()
        try:
            await handler
        except BaseException as exc:
            return _classify(exc, terminal, workflow), exc
    return "result", None


def assert_waiting_in_a_running_step(live: dict[str, Any]) -> None:
    """A run that can only wait is waiting in a step that runs, never on a stale waiter."""
    running = {d["id"]: d["step"] for d in live["in_progress"]}
    assert not live["queued"], "blocked with events queued"
    for waiter in live["waiters"]:
        assert running.get(waiter["delivery_id"]) == waiter["step"], f"stale waiter {waiter}"


def _classify(exc: BaseException, terminal: list[Event], workflow: Workflow) -> str:
    """Name a documented way for a run to fail, or fail the test."""
    assert "Internal error in flowkit" not in str(exc), f"flowkit crashed: {exc!r}"
    [last] = terminal
    if isinstance(exc, FlowkitError):
        if isinstance(exc, WorkflowCancelledByUser):
            return "cancelled (waiting for input)"
        return type(exc).__name__
    # Any other exception must be a step's own, raised on corrupt but well-typed data.
    assert isinstance(last, WorkflowFailedEvent), f"{exc!r} with terminal event {last!r}"
    assert last.step_name in workflow._blueprint().graph.steps, last
    assert last.attempts is not None
    return "step failed"


# --- the tests ----------------------------------------------------------------------------------


@given(mutated_snapshots(), st.sampled_from(["asyncio", "trio"]))
def test_mutated_snapshot_restores_or_is_refused_cleanly(
    case: tuple[Base, list[str], Any], backend: str
) -> None:
    base, mutations, data = case
    note(f"{base.name}: {mutations}")
    workflow = base.make_workflow()
    restored = restore(workflow, data)
    if isinstance(restored, ContextSerdeError):
        event("refused")
        return
    event("restored")
    freeze_again(restored, data)
    outcome, _ = anyio.run(run_restored, workflow, restored, backend=backend)
    event(f"ran: {outcome}")


@given(st.sampled_from(list(range(BASE_COUNT))), json_values)
def test_arbitrary_json_is_refused_cleanly(index: int, data: Any) -> None:
    base = bases()[index]
    restored = restore(base.make_workflow(), data)
    assert isinstance(restored, ContextSerdeError)


@given(
    st.sampled_from(list(range(BASE_COUNT))),
    st.sampled_from(["store", "queued", "in_progress", "stream", "waiters", "collected"]),
    st.integers(10_000, 100_000),
    st.sampled_from(["list", "dict", "tuple", "set"]),
)
def test_deeply_nested_sections_are_refused_or_restored(
    index: int, section: str, depth: int, shape: str
) -> None:
    base = bases()[index]
    data = copy.deepcopy(base.data)
    data[section] = nest(data[section], depth, shape)
    restored = restore(base.make_workflow(), data)
    if not isinstance(restored, ContextSerdeError):
        freeze_again(restored)


@given(
    st.sampled_from(list(range(BASE_COUNT))),
    st.sampled_from(INTERESTING_TAGS) | st.text(max_size=20),
)
def test_renamed_event_tags_never_import_and_restore_only_known_classes(
    index: int, tag: str
) -> None:
    base = bases()[index]
    workflow = base.make_workflow()
    paths = [p for p in all_paths(base.data) if p[-1] == "type" and len(p) > 1]
    for path in paths:
        data = copy.deepcopy(base.data)
        set_at(data, path, tag)
        restored = restore(workflow, data)
        if isinstance(restored, ContextSerdeError):
            continue
        # Restored: the tag named a class the workflow knows, or a tagged value.
        frozen = restored.to_dict()
        json.dumps(frozen)


LISTED_NAMES = [
    # loaded Event subclasses (found), and names an importing loader would import
    "fixtures.fixture_workflow:Job", "flowkit.events:StopEvent", "test_snapshot_fuzz:Token",
    "wave:Error", "tabnanny:check", "mailbox:Mailbox", "subprocess_fake:Popen", "os:system",
    "builtins:eval", "flowkit.events:Event", "fixtures.fixture_workflow:Nope", ":", "",
]  # fmt: skip
listed_entries = st.sampled_from(LISTED_NAMES).map(lambda n: (n.replace(":", ".", 1), n)) | (
    st.tuples(st.sampled_from(INTERESTING_TAGS) | st.text(max_size=8), json_values)
)


@given(st.sampled_from(list(range(BASE_COUNT))), st.lists(listed_entries, max_size=3))
def test_listed_event_classes_are_found_loaded_or_refused_never_imported(
    index: int, entries: list[tuple[str, Any]]
) -> None:
    # A snapshot lists the event classes outside the workflow's registry under
    # "event_classes"; restoring only looks among loaded Event subclasses.
    base = bases()[index]
    data = {**copy.deepcopy(base.data), "event_classes": dict(entries)}
    restored = restore(base.make_workflow(), data)
    if not isinstance(restored, ContextSerdeError):
        freeze_again(restored)


@pytest.mark.parametrize("shape", ["list", "dict", "tuple"])
def test_what_from_dict_accepts_to_dict_can_freeze_again(shape: str) -> None:
    # Decoding and encoding recurse to different depths: a store value nested just
    # shallow enough to load must not make the restored context unfreezable.
    [base] = [b for b in bases() if b.name == "fuzz held in relay"]
    for depth in range(25, 1000, 25):
        data = copy.deepcopy(base.data)
        data["store"]["deep"] = nest(1, depth, shape)
        restored = restore(base.make_workflow(), data)
        if isinstance(restored, ContextSerdeError):
            continue
        try:
            frozen = restored.to_dict()
        except ContextSerdeError:
            continue
        assert json.loads(json.dumps(frozen))["store"]["deep"] == data["store"]["deep"], depth


def test_the_bases_restore_and_run_to_their_results() -> None:
    # The fuzzing starts from snapshots that are valid: each resumes to its result.
    for base in bases():
        workflow = base.make_workflow()
        restored = restore(workflow, copy.deepcopy(base.data))
        assert not isinstance(restored, ContextSerdeError), restored
        for backend in ("asyncio", "trio"):
            ctx = Context.from_dict(workflow, copy.deepcopy(base.data))
            outcome, error = anyio.run(run_restored, workflow, ctx, backend=backend)
            assert (outcome, error) == ("result", None), (base.name, backend)


def test_unanswered_human_inputs_end_in_cancellation_not_a_hang() -> None:
    # The runner above cancels a run that can only wait; check it on a real waiter.
    class Waits(Workflow):
        @step
        async def ask(self, ev: StartEvent, ctx: Context[Any]) -> StopEvent:
            await ctx.wait_for_event(HumanResponseEvent, requirements={"never": True})
            return StopEvent(result=None)

    async def main() -> None:
        workflow = Waits()
        handler = workflow.run()
        await anyio.wait_all_tasks_blocked()
        data = handler.ctx.to_dict()
        await handler.cancel_run()
        outcome, error = await run_restored(workflow, Context.from_dict(workflow, data))
        assert outcome == "cancelled (waiting for input)"
        assert isinstance(error, WorkflowCancelledByUser)

    for backend in ("asyncio", "trio"):
        anyio.run(main, backend=backend)

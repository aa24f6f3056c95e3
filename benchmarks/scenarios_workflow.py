"""The scenarios written once on the workflows API, run on flowkit and on llama-index-workflows.

:func:`build_flows` takes a library (``flowkit`` or ``workflows``, see :func:`load_lib`) and
defines every scenario's events and workflow classes on it, so both engines run the very
same code. The ``trial_*`` coroutines drive one trial each; :func:`trials` binds them to a
built :class:`Flows`. Each trial checks its own result and raises :class:`ScenarioError`
when it is wrong.

No ``from __future__ import annotations`` here: the step decorators read the annotations,
which name classes local to :func:`build_flows`, so they must be evaluated where they stand.
"""
# mypy: disable-error-code="valid-type,misc,untyped-decorator,no-any-return,attr-defined"

import functools
import importlib
import json
import sys
import time
import types
from dataclasses import dataclass
from typing import Any

import anyio

from benchmarks.trial import MemoryTrace, Stopwatch, Trial, TrialFn, TrialOptions, check

CHAIN_STEPS = 10
FANOUT_WORKERS = 8


@dataclass(frozen=True)
class Lib:
    """The public names a scenario needs, taken from one workflows-API package."""

    package: str
    version: str
    Workflow: Any
    Context: Any
    step: Any
    Event: Any
    StartEvent: Any
    StopEvent: Any
    InputRequiredEvent: Any
    HumanResponseEvent: Any


def load_lib(package: str, dist: str) -> Lib:
    """Import ``package`` (``"flowkit"`` or ``"workflows"``) by its public module paths.

    Raises ImportError (or AttributeError) when the package is missing or incomplete.
    """
    from importlib import metadata

    root = importlib.import_module(package)
    events = importlib.import_module(f"{package}.events")
    try:
        version = metadata.version(dist)
    except metadata.PackageNotFoundError:
        version = str(getattr(root, "__version__", "source tree"))
    return Lib(
        package=package,
        version=version,
        Workflow=root.Workflow,
        Context=root.Context,
        step=root.step,
        Event=events.Event,
        StartEvent=events.StartEvent,
        StopEvent=events.StopEvent,
        InputRequiredEvent=events.InputRequiredEvent,
        HumanResponseEvent=events.HumanResponseEvent,
    )


@dataclass(frozen=True)
class Flows:
    """The workflow and event classes of every scenario, built on one library."""

    lib: Lib
    Chain: Any
    Events: Any
    Fanout: Any
    Backlog: Any
    Stream: Any
    Hitl: Any
    HitlRun: Any
    Snapshot: Any
    Parked: Any
    Tick: Any
    Ask: Any
    Answer: Any
    Filled: Any


def build_flows(lib: Lib) -> Flows:
    """Define every scenario's workflows on ``lib``; identical code for every library."""
    Workflow, Context, step = lib.Workflow, lib.Context, lib.step
    Event, StartEvent, StopEvent = lib.Event, lib.StartEvent, lib.StopEvent
    InputRequiredEvent, HumanResponseEvent = lib.InputRequiredEvent, lib.HumanResponseEvent

    # -- chain: StartEvent -> E1 -> ... -> E9 -> StopEvent, ten steps ------------------------
    class ChainStart(StartEvent):
        x: int

    class E1(Event):
        x: int

    class E2(Event):
        x: int

    class E3(Event):
        x: int

    class E4(Event):
        x: int

    class E5(Event):
        x: int

    class E6(Event):
        x: int

    class E7(Event):
        x: int

    class E8(Event):
        x: int

    class E9(Event):
        x: int

    class Chain(Workflow):
        @step
        async def s0(self, ev: ChainStart) -> E1:
            return E1(x=ev.x + 1)

        @step
        async def s1(self, ev: E1) -> E2:
            return E2(x=ev.x + 1)

        @step
        async def s2(self, ev: E2) -> E3:
            return E3(x=ev.x + 1)

        @step
        async def s3(self, ev: E3) -> E4:
            return E4(x=ev.x + 1)

        @step
        async def s4(self, ev: E4) -> E5:
            return E5(x=ev.x + 1)

        @step
        async def s5(self, ev: E5) -> E6:
            return E6(x=ev.x + 1)

        @step
        async def s6(self, ev: E6) -> E7:
            return E7(x=ev.x + 1)

        @step
        async def s7(self, ev: E7) -> E8:
            return E8(x=ev.x + 1)

        @step
        async def s8(self, ev: E8) -> E9:
            return E9(x=ev.x + 1)

        @step
        async def s9(self, ev: E9) -> StopEvent:
            return StopEvent(result=ev.x + 1)

    # -- events: one step sends n events to a counting step ----------------------------------
    class EventsStart(StartEvent):
        n: int

    class Item(Event):
        i: int
        n: int

    class Events(Workflow):
        @step
        async def produce(self, ctx: Context, ev: EventsStart) -> Item | None:
            for i in range(ev.n):
                ctx.send_event(Item(i=i, n=ev.n))
            return None

        @step(num_workers=1)
        async def consume(self, ctx: Context, ev: Item) -> StopEvent | None:
            seen = await ctx.store.get("seen", default=0) + 1
            await ctx.store.set("seen", seen)
            if seen == ev.n:
                return StopEvent(result=seen)
            return None

    # -- fanout: n events to 8 workers, fan-in with collect_events ---------------------------
    class FanoutStart(StartEvent):
        n: int

    class Work(Event):
        i: int
        n: int

    class Done(Event):
        i: int
        n: int

    class Fanout(Workflow):
        @step
        async def spread(self, ctx: Context, ev: FanoutStart) -> Work | None:
            for i in range(ev.n):
                ctx.send_event(Work(i=i, n=ev.n))
            return None

        @step(num_workers=FANOUT_WORKERS)
        async def work(self, ev: Work) -> Done:
            return Done(i=ev.i * 2, n=ev.n)

        @step(num_workers=1)
        async def gather(self, ctx: Context, ev: Done) -> StopEvent | None:
            done = ctx.collect_events(ev, [Done] * ev.n)
            if done is None:
                return None
            return StopEvent(result=[len(done), sum(d.i for d in done)])

    # -- backlog: n Left events wait for their n Right partners ------------------------------
    class BacklogStart(StartEvent):
        n: int

    class Left(Event):
        i: int
        n: int

    class Right(Event):
        i: int
        n: int

    class Backlog(Workflow):
        @step
        async def send(self, ctx: Context, ev: BacklogStart) -> Left | Right | None:
            for i in range(ev.n):
                ctx.send_event(Left(i=i, n=ev.n))
            for i in range(ev.n):
                ctx.send_event(Right(i=i, n=ev.n))
            return None

        @step(num_workers=1)
        async def pair(self, ctx: Context, ev: Left | Right) -> StopEvent | None:
            batch = ctx.collect_events(ev, [Left, Right])
            if batch is None:
                return None
            left, right = batch
            pairs = await ctx.store.get("pairs", default=0) + (left.i == right.i)
            await ctx.store.set("pairs", pairs)
            if left.i == ev.n - 1:
                return StopEvent(result=pairs)
            return None

    # -- stream: n events written to the stream, read by the caller --------------------------
    class StreamStart(StartEvent):
        n: int

    class Tick(Event):
        i: int

    class Stream(Workflow):
        @step
        async def emit(self, ctx: Context, ev: StreamStart) -> StopEvent:
            for i in range(ev.n):
                ctx.write_event_to_stream(Tick(i=i))
            return StopEvent(result=ev.n)

    # -- hitl: n InputRequiredEvent -> HumanResponseEvent round trips in one run --------------
    class Ask(InputRequiredEvent):
        i: int
        n: int

    class Answer(HumanResponseEvent):
        i: int
        n: int

    class HitlStart(StartEvent):
        n: int

    class Hitl(Workflow):
        @step
        async def begin(self, ev: HitlStart) -> Ask:
            return Ask(i=0, n=ev.n)

        @step
        async def reply(self, ev: Answer) -> Ask | StopEvent:
            if ev.i + 1 == ev.n:
                return StopEvent(result=ev.n)
            return Ask(i=ev.i + 1, n=ev.n)

    # -- hitl_run: the incumbent docs' shape, one wait_for_event round trip per run ----------
    class HitlRunStart(StartEvent):
        x: int

    class HitlRun(Workflow):
        @step
        async def ask(self, ctx: Context, ev: HitlRunStart) -> StopEvent:
            answer = await ctx.wait_for_event(
                Answer, waiter_event=Ask(i=ev.x, n=1), waiter_id="question", timeout=None
            )
            return StopEvent(result=answer.i)

    # -- snapshot: a run holding n queued events and n // 10 store keys ----------------------
    class SnapshotStart(StartEvent):
        n: int
        n_keys: int

    class Held(Event):
        i: int
        n: int

    class Filled(Event):
        n: int

    class Snapshot(Workflow):
        """``drain`` (one worker) blocks on ``gate`` so ``fill``'s events queue up behind it."""

        def __init__(self, gate: Any, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.gate = gate

        @step
        async def fill(self, ctx: Context, ev: SnapshotStart) -> Held | None:
            await ctx.store.set("keys", ev.n_keys)
            for k in range(ev.n_keys):
                await ctx.store.set(f"k{k}", k)
            for i in range(ev.n):
                ctx.send_event(Held(i=i, n=ev.n))
            ctx.write_event_to_stream(Filled(n=ev.n))
            return None

        @step(num_workers=1)
        async def drain(self, ctx: Context, ev: Held) -> StopEvent | None:
            await self.gate.wait()
            seen = await ctx.store.get("seen", default=0) + 1
            await ctx.store.set("seen", seen)
            if seen < ev.n:
                return None
            keys = await ctx.store.get("keys")
            last = await ctx.store.get(f"k{keys - 1}")
            return StopEvent(result=[seen, keys, last])

    # -- parked: each run asks once and waits for the answer ---------------------------------
    class ParkedStart(StartEvent):
        x: int

    class Parked(Workflow):
        @step
        async def begin(self, ev: ParkedStart) -> Ask:
            return Ask(i=ev.x, n=1)

        @step
        async def finish(self, ev: Answer) -> StopEvent:
            return StopEvent(result=ev.i)

    _publish(lib, dict(locals()))
    return Flows(
        lib=lib,
        Chain=Chain,
        Events=Events,
        Fanout=Fanout,
        Backlog=Backlog,
        Stream=Stream,
        Hitl=Hitl,
        HitlRun=HitlRun,
        Snapshot=Snapshot,
        Parked=Parked,
        Tick=Tick,
        Ask=Ask,
        Answer=Answer,
        Filled=Filled,
    )


def _publish(lib: Lib, names: dict[str, Any]) -> None:
    """Make the classes :func:`build_flows` defined importable as ``benchmarks.flows_<package>.X``.

    A snapshot names its event classes by ``module.name`` and ``Context.from_dict`` imports
    them back; classes local to a function cannot be imported, so they get a module of their
    own (one per library, since each library builds its own classes).
    """
    module = types.ModuleType(f"{__package__}.flows_{lib.package}")
    for name, value in names.items():
        if isinstance(value, type) and value.__module__ == __name__:
            value.__module__ = module.__name__
            value.__qualname__ = name
            setattr(module, name, value)
    sys.modules[module.__name__] = module


# -- trials: one timed trial each; n is the scenario's size -----------------------------------


async def trial_chain(flows: Flows, n: int, opts: TrialOptions) -> Trial:
    """n sequential runs of the ten-step chain."""
    wf = flows.Chain(timeout=None)
    with Stopwatch() as sw:
        for x in range(n):
            result = await wf.run(x=x)
            check(result == x + CHAIN_STEPS, f"chain run {x}: got {result!r}")
    return Trial({"total": sw.seconds})


async def trial_events(flows: Flows, n: int, opts: TrialOptions) -> Trial:
    """One run: a step sends n events, a one-worker step counts them in the store."""
    wf = flows.Events(timeout=None)
    with Stopwatch() as sw:
        result = await wf.run(n=n)
    check(result == n, f"events: counted {result!r}, sent {n}")
    return Trial({"total": sw.seconds})


async def trial_fanout(flows: Flows, n: int, opts: TrialOptions) -> Trial:
    """One run: n events to an 8-worker step, gathered with collect_events."""
    wf = flows.Fanout(timeout=None)
    with Stopwatch() as sw:
        result = await wf.run(n=n)
    check(result == [n, n * (n - 1)], f"fanout: got {result!r}")
    return Trial({"total": sw.seconds})


async def trial_backlog(flows: Flows, n: int, opts: TrialOptions) -> Trial:
    """One run: n Left events wait in a collect buffer for their n Right partners."""
    wf = flows.Backlog(timeout=None)
    with Stopwatch() as sw:
        result = await wf.run(n=n)
    check(result == n, f"backlog: {result!r} of {n} pairs matched oldest first")
    return Trial({"total": sw.seconds})


async def trial_stream(flows: Flows, n: int, opts: TrialOptions) -> Trial:
    """One run writes n events to the stream; the caller reads them all."""
    wf = flows.Stream(timeout=None)
    tick = flows.Tick
    count = 0
    with Stopwatch() as sw:
        handler = wf.run(n=n)
        async for ev in handler.stream_events():
            if isinstance(ev, tick):
                check(ev.i == count, f"stream: event {ev.i} arrived as number {count}")
                count += 1
        result = await handler
    check(count == n and result == n, f"stream: read {count}, result {result!r}, wrote {n}")
    return Trial({"total": sw.seconds})


async def trial_hitl(flows: Flows, n: int, opts: TrialOptions) -> Trial:
    """One run, n InputRequiredEvent -> HumanResponseEvent round trips through the caller."""
    wf = flows.Hitl(timeout=None)
    ask, answer = flows.Ask, flows.Answer
    asked = 0
    with Stopwatch() as sw:
        handler = wf.run(n=n)
        async for ev in handler.stream_events():
            if isinstance(ev, ask):
                check(ev.i == asked, f"hitl: question {ev.i} arrived as number {asked}")
                asked += 1
                handler.ctx.send_event(answer(i=ev.i, n=ev.n))
        result = await handler
    check(asked == n and result == n, f"hitl: {asked} questions, result {result!r}, want {n}")
    return Trial({"total": sw.seconds})


async def trial_hitl_run(flows: Flows, n: int, opts: TrialOptions) -> Trial:
    """n sequential runs, each one wait_for_event round trip (the incumbent docs' shape)."""
    wf = flows.HitlRun(timeout=None)
    ask, answer = flows.Ask, flows.Answer
    with Stopwatch() as sw:
        for x in range(n):
            handler = wf.run(x=x)
            async for ev in handler.stream_events():
                if isinstance(ev, ask):
                    handler.ctx.send_event(answer(i=ev.i + 1, n=1))
            result = await handler
            check(result == x + 1, f"hitl_run {x}: got {result!r}")
    return Trial({"total": sw.seconds})


async def trial_snapshot(flows: Flows, n: int, opts: TrialOptions) -> Trial:
    """Pause a run on n queued events and n // 10 store keys; time to_dict and from_dict.

    Untimed: building the paused run and finishing it (which checks its count). With
    ``opts.verify`` the snapshot is also restored into a fresh run and finished, which must
    process all n events and still see the store keys.
    """
    keys = max(1, n // 10)
    gate, filled = anyio.Event(), anyio.Event()
    wf = flows.Snapshot(gate=gate, timeout=None)
    handler = wf.run(n=n, n_keys=keys)

    async def read_stream() -> None:
        async for ev in handler.stream_events():
            if isinstance(ev, flows.Filled):
                filled.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(read_stream)
        await filled.wait()
        await anyio.sleep(0.01)  # let the engine file the last sends
        with Stopwatch() as to_dict:
            data = handler.ctx.to_dict()
        with Stopwatch() as dumps:
            text = json.dumps(data)
        loaded = json.loads(text)
        with Stopwatch() as from_dict:
            restored = flows.lib.Context.from_dict(wf, loaded)
        gate.set()

    want = [n, keys, keys - 1]
    result = await handler
    check(result == want, f"snapshot: paused run finished with {result!r}, want {want}")
    if opts.verify:
        again = flows.Snapshot(gate=gate, timeout=None)
        result = await again.run(ctx=flows.lib.Context.from_dict(again, json.loads(text)))
        check(result == want, f"snapshot: restored run finished with {result!r}, want {want}")
    del restored
    return Trial(
        {"to_dict": to_dict.seconds, "json_dumps": dumps.seconds, "from_dict": from_dict.seconds},
        {"json_bytes": float(len(text.encode()))},
    )


async def trial_parked(flows: Flows, n: int, opts: TrialOptions) -> Trial:
    """n runs at once, each parked on an InputRequiredEvent; then answer all, collect all.

    Each run has a reader task iterating ``handler.stream_events()`` (it is what answers).
    Timed: ``total``, from releasing the answers to the last result; ``start``, from the
    first ``run()`` to the last run parked. With ``opts.trace_memory`` the extra
    ``bytes_per_run`` is the traced memory held per parked run, its reader included.
    """
    wf = flows.Parked(timeout=None)
    ask, answer = flows.Ask, flows.Answer
    go = anyio.Event()
    all_parked = anyio.Event()
    parked = 0
    results: list[int] = []

    async def reader(handler: Any) -> None:
        nonlocal parked
        async for ev in handler.stream_events():
            if isinstance(ev, ask):
                parked += 1
                if parked == n:
                    all_parked.set()
                await go.wait()
                handler.ctx.send_event(answer(i=ev.i + 1, n=1))
        results.append(await handler)

    extra: dict[str, float] = {}
    memory = MemoryTrace(opts.trace_memory)
    begin = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for x in range(n):
            tg.start_soon(reader, wf.run(x=x))
        await all_parked.wait()
        parked_in = time.perf_counter() - begin
        if memory.enabled:
            extra["bytes_per_run"] = memory.held() / n
            memory.stop()
        start = time.perf_counter()
        go.set()  # the task group's exit waits for every reader: that is the timed part
    seconds = time.perf_counter() - start
    check(len(results) == n, f"parked: {len(results)} results for {n} runs")
    check(sum(results) == n * (n + 1) // 2, "parked: wrong answers came back")
    return Trial({"total": seconds, "start": parked_in}, extra)


TRIALS = {
    "chain": trial_chain,
    "events": trial_events,
    "curve": trial_events,
    "fanout": trial_fanout,
    "backlog": trial_backlog,
    "stream": trial_stream,
    "hitl": trial_hitl,
    "hitl_run": trial_hitl_run,
    "snapshot": trial_snapshot,
    "parked": trial_parked,
}


def trials(flows: Flows) -> dict[str, TrialFn]:
    """Every scenario's trial bound to ``flows``."""
    return {name: functools.partial(fn, flows) for name, fn in TRIALS.items()}

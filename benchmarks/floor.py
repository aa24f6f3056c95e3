"""The scenarios hand-written on AnyIO: the least any engine of this shape can cost.

Same shape as a workflow engine on structured concurrency: a run is a task group with one
task per step (``num_workers`` tasks for a step with several workers), each step fed by an
unbounded memory object stream, and one more stream carrying what the caller reads (the
event stream and the stop event). Events are small slotted dataclasses; the store is a
dict. No validation, no routing table, no serialisation framework: what is left is the
cost of the tasks, the streams and the scheduler, which flowkit cannot go below.
Each trial checks its result exactly as the workflow version does.
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from benchmarks.scenarios_workflow import CHAIN_STEPS, FANOUT_WORKERS
from benchmarks.trial import MemoryTrace, Stopwatch, Trial, TrialFn, TrialOptions, check

Send = MemoryObjectSendStream[Any]
Receive = MemoryObjectReceiveStream[Any]


@dataclass(slots=True)
class Ev:
    """Any event with an integer payload (chain steps, items, ticks)."""

    x: int


@dataclass(slots=True)
class Item:
    i: int
    n: int


@dataclass(slots=True)
class Ask:
    i: int
    n: int


@dataclass(slots=True)
class Answer:
    i: int
    n: int


@dataclass(slots=True)
class Stop:
    result: Any


@contextmanager
def _streams(count: int) -> Iterator[list[tuple[Send, Receive]]]:
    """``count`` unbounded memory object streams, all closed on exit."""
    with ExitStack() as stack:
        pairs = []
        for _ in range(count):
            send, receive = anyio.create_memory_object_stream[Any](math.inf)
            stack.enter_context(send)
            stack.enter_context(receive)
            pairs.append((send, receive))
        yield pairs


async def _step(inbox: Receive, handle: Callable[[Any], Awaitable[None]]) -> None:
    """A step's worker: feed every event of its inbox to ``handle``."""
    async for ev in inbox:
        await handle(ev)


# -- chain ----------------------------------------------------------------------------------


async def _chain_once(x: int) -> int:
    with _streams(CHAIN_STEPS + 1) as s:

        async def worker(inbox: Receive, out: Send) -> None:
            async for ev in inbox:
                out.send_nowait(Ev(ev.x + 1))

        async with anyio.create_task_group() as tg:
            for k in range(CHAIN_STEPS):
                tg.start_soon(worker, s[k][1], s[k + 1][0])
            s[0][0].send_nowait(Ev(x))
            stop = await s[CHAIN_STEPS][1].receive()
            tg.cancel_scope.cancel()
    return int(stop.x)


async def trial_chain(n: int, opts: TrialOptions) -> Trial:
    with Stopwatch() as sw:
        for x in range(n):
            result = await _chain_once(x)
            check(result == x + CHAIN_STEPS, f"chain run {x}: got {result!r}")
    return Trial({"total": sw.seconds})


# -- events ---------------------------------------------------------------------------------


async def _events_once(n: int) -> int:
    store: dict[str, Any] = {}
    with _streams(3) as ((start, start_in), (items, items_in), (out, out_in)):

        async def produce(ev: Ev) -> None:
            for i in range(ev.x):
                items.send_nowait(Item(i, ev.x))

        async def consume(ev: Item) -> None:
            seen = store.get("seen", 0) + 1
            store["seen"] = seen
            if seen == ev.n:
                out.send_nowait(Stop(seen))

        async with anyio.create_task_group() as tg:
            tg.start_soon(_step, start_in, produce)
            tg.start_soon(_step, items_in, consume)
            start.send_nowait(Ev(n))
            stop = await out_in.receive()
            tg.cancel_scope.cancel()
    return int(stop.result)


async def trial_events(n: int, opts: TrialOptions) -> Trial:
    with Stopwatch() as sw:
        result = await _events_once(n)
    check(result == n, f"events: counted {result!r}, sent {n}")
    return Trial({"total": sw.seconds})


# -- fanout ---------------------------------------------------------------------------------


async def _fanout_once(n: int) -> list[int]:
    collected: list[Item] = []
    with _streams(4) as ((start, start_in), (work, work_in), (done, done_in), (out, out_in)):

        async def spread(ev: Ev) -> None:
            for i in range(ev.x):
                work.send_nowait(Item(i, ev.x))

        async def worker(ev: Item) -> None:
            done.send_nowait(Item(ev.i * 2, ev.n))

        async def gather(ev: Item) -> None:
            collected.append(ev)
            if len(collected) == ev.n:
                out.send_nowait(Stop([len(collected), sum(d.i for d in collected)]))

        async with anyio.create_task_group() as tg:
            tg.start_soon(_step, start_in, spread)
            for _ in range(FANOUT_WORKERS):
                tg.start_soon(_step, work_in, worker)
            tg.start_soon(_step, done_in, gather)
            start.send_nowait(Ev(n))
            stop = await out_in.receive()
            tg.cancel_scope.cancel()
    return list(stop.result)


async def trial_fanout(n: int, opts: TrialOptions) -> Trial:
    with Stopwatch() as sw:
        result = await _fanout_once(n)
    check(result == [n, n * (n - 1)], f"fanout: got {result!r}")
    return Trial({"total": sw.seconds})


# -- backlog --------------------------------------------------------------------------------


async def trial_backlog(n: int, opts: TrialOptions) -> Trial:
    """N lefts then N rights through one stream; a one-task step pairs them oldest first."""
    with Stopwatch() as sw, _streams(2) as ((items, items_in), (out, out_in)):
        lefts: deque[Item] = deque()
        rights: deque[Item] = deque()
        matched = 0

        async def pair(ev: tuple[str, Item]) -> None:
            nonlocal matched
            kind, item = ev
            (lefts if kind == "L" else rights).append(item)
            if lefts and rights:
                left, right = lefts.popleft(), rights.popleft()
                matched += left.i == right.i
                if left.i == n - 1:
                    out.send_nowait(Stop(matched))

        async with anyio.create_task_group() as tg:
            tg.start_soon(_step, items_in, pair)
            for i in range(n):
                items.send_nowait(("L", Item(i, n)))
            for i in range(n):
                items.send_nowait(("R", Item(i, n)))
            stop = await out_in.receive()
            tg.cancel_scope.cancel()
    check(stop.result == n, f"backlog: {stop.result!r} of {n} pairs matched")
    return Trial({"total": sw.seconds})


# -- stream ---------------------------------------------------------------------------------


async def trial_stream(n: int, opts: TrialOptions) -> Trial:
    count = 0
    with Stopwatch() as sw, _streams(2) as ((start, start_in), (out, out_in)):

        async def emit(ev: Ev) -> None:
            for i in range(ev.x):
                out.send_nowait(Ev(i))
            out.send_nowait(Stop(ev.x))

        async with anyio.create_task_group() as tg:
            tg.start_soon(_step, start_in, emit)
            start.send_nowait(Ev(n))
            async for ev in out_in:
                if isinstance(ev, Stop):
                    result = ev.result
                    break
                check(ev.x == count, f"stream: event {ev.x} arrived as number {count}")
                count += 1
            tg.cancel_scope.cancel()
    check(count == n and result == n, f"stream: read {count}, result {result!r}, wrote {n}")
    return Trial({"total": sw.seconds})


# -- hitl -----------------------------------------------------------------------------------


async def trial_hitl(n: int, opts: TrialOptions) -> Trial:
    asked = 0
    streams = _streams(3)
    with Stopwatch() as sw, streams as ((start, start_in), (answers, answers_in), (out, out_in)):

        async def begin(ev: Ev) -> None:
            out.send_nowait(Ask(0, ev.x))

        async def reply(ev: Answer) -> None:
            out.send_nowait(Stop(ev.n) if ev.i + 1 == ev.n else Ask(ev.i + 1, ev.n))

        async with anyio.create_task_group() as tg:
            tg.start_soon(_step, start_in, begin)
            tg.start_soon(_step, answers_in, reply)
            start.send_nowait(Ev(n))
            async for ev in out_in:
                if isinstance(ev, Stop):
                    result = ev.result
                    break
                check(ev.i == asked, f"hitl: question {ev.i} arrived as number {asked}")
                asked += 1
                answers.send_nowait(Answer(ev.i, ev.n))
            tg.cancel_scope.cancel()
    check(asked == n and result == n, f"hitl: {asked} questions, result {result!r}, want {n}")
    return Trial({"total": sw.seconds})


async def _hitl_run_once(x: int) -> int:
    with _streams(3) as ((start, start_in), (waiter, waiter_in), (out, out_in)):

        async def ask(ev: Ev) -> None:
            out.send_nowait(Ask(ev.x, 1))
            answer = await waiter_in.receive()
            out.send_nowait(Stop(answer.i))

        async with anyio.create_task_group() as tg:
            tg.start_soon(_step, start_in, ask)
            start.send_nowait(Ev(x))
            async for ev in out_in:
                if isinstance(ev, Stop):
                    result = int(ev.result)
                    break
                waiter.send_nowait(Answer(ev.i + 1, 1))
            tg.cancel_scope.cancel()
    return result


async def trial_hitl_run(n: int, opts: TrialOptions) -> Trial:
    with Stopwatch() as sw:
        for x in range(n):
            result = await _hitl_run_once(x)
            check(result == x + 1, f"hitl_run {x}: got {result!r}")
    return Trial({"total": sw.seconds})


# -- snapshot -------------------------------------------------------------------------------


@dataclass
class _SnapshotState:
    """A run's state as an engine would keep it to be able to save it."""

    store: dict[str, Any]
    pending: deque[Item]  # events queued for ``drain``
    in_progress: list[Item]  # the event ``drain`` holds while it waits

    def to_dict(self) -> dict[str, Any]:
        def encode(ev: Item) -> dict[str, Any]:
            return {"type": "Item", "i": ev.i, "n": ev.n}

        return {
            "store": dict(self.store),
            "queues": {"drain": [encode(ev) for ev in [*self.in_progress, *self.pending]]},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> _SnapshotState:
        types = {"Item": Item}
        pending = deque(
            types[d["type"]](**{k: v for k, v in d.items() if k != "type"})
            for d in data["queues"]["drain"]
        )
        return cls(store=dict(data["store"]), pending=pending, in_progress=[])


async def _drain(state: _SnapshotState, gate: anyio.Event, wakeup: anyio.Event) -> list[int]:
    """``drain``'s single worker: wait at the gate, then count every queued event."""
    await wakeup.wait()
    while True:
        check(bool(state.pending), f"snapshot: queue ran dry at {state.store.get('seen')}")
        ev = state.pending.popleft()
        state.in_progress.append(ev)
        await gate.wait()
        state.in_progress.pop()
        seen = state.store.get("seen", 0) + 1
        state.store["seen"] = seen
        if seen == ev.n:
            keys = state.store["keys"]
            return [seen, keys, state.store[f"k{keys - 1}"]]
        await anyio.lowlevel.checkpoint()


async def trial_snapshot(n: int, opts: TrialOptions) -> Trial:
    keys = max(1, n // 10)
    state = _SnapshotState(store={}, pending=deque(), in_progress=[])
    gate, wakeup, filled = anyio.Event(), anyio.Event(), anyio.Event()
    results: list[list[int]] = []

    async def run(state: _SnapshotState) -> None:
        results.append(await _drain(state, gate, wakeup))

    async def fill() -> None:
        state.store["keys"] = keys
        for k in range(keys):
            state.store[f"k{k}"] = k
        for i in range(n):
            state.pending.append(Item(i, n))
        wakeup.set()
        filled.set()

    want = [n, keys, keys - 1]
    async with anyio.create_task_group() as tg:
        tg.start_soon(run, state)
        tg.start_soon(fill)
        await filled.wait()
        await anyio.sleep(0.01)
        with Stopwatch() as to_dict:
            data = state.to_dict()
        with Stopwatch() as dumps:
            text = json.dumps(data)
        loaded = json.loads(text)
        with Stopwatch() as from_dict:
            restored = _SnapshotState.from_dict(loaded)
        gate.set()
    check(results == [want], f"snapshot: paused run finished with {results!r}, want {want}")
    if opts.verify:
        restored_wakeup = anyio.Event()
        restored_wakeup.set()
        again = await _drain(restored, gate, restored_wakeup)
        check(again == want, f"snapshot: restored run finished with {again!r}, want {want}")
    return Trial(
        {"to_dict": to_dict.seconds, "json_dumps": dumps.seconds, "from_dict": from_dict.seconds},
        {"json_bytes": float(len(text.encode()))},
    )


# -- parked ---------------------------------------------------------------------------------


class _ParkedRun:
    """One run of ``begin -> Ask ... Answer -> finish -> Stop``, and its handler's side."""

    def __init__(self, stack: ExitStack) -> None:
        self.start, start_in = stack.enter_context(_stream_pair())
        self.answers, answers_in = stack.enter_context(_stream_pair())
        self.out, self.out_in = stack.enter_context(_stream_pair())
        self.start_in, self.answers_in = start_in, answers_in

    async def run(self) -> None:
        async def begin(ev: Ev) -> None:
            self.out.send_nowait(Ask(ev.x, 1))

        async def finish(ev: Answer) -> None:
            self.out.send_nowait(Stop(ev.i))
            tg.cancel_scope.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(_step, self.start_in, begin)
            tg.start_soon(_step, self.answers_in, finish)


@contextmanager
def _stream_pair() -> Iterator[tuple[Send, Receive]]:
    with _streams(1) as pairs:
        yield pairs[0]


async def trial_parked(n: int, opts: TrialOptions) -> Trial:
    go, all_parked = anyio.Event(), anyio.Event()
    parked = 0
    results: list[int] = []

    async def reader(r: _ParkedRun) -> None:
        nonlocal parked
        async for ev in r.out_in:
            if isinstance(ev, Stop):
                results.append(ev.result)
                break
            parked += 1
            if parked == n:
                all_parked.set()
            await go.wait()
            r.answers.send_nowait(Answer(ev.i + 1, 1))

    extra: dict[str, float] = {}
    memory = MemoryTrace(opts.trace_memory)
    with ExitStack() as stack:
        begin = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for x in range(n):
                r = _ParkedRun(stack)
                tg.start_soon(r.run)
                r.start.send_nowait(Ev(x))
                tg.start_soon(reader, r)
            await all_parked.wait()
            parked_in = time.perf_counter() - begin
            if memory.enabled:
                extra["bytes_per_run"] = memory.held() / n
                memory.stop()
            start = time.perf_counter()
            go.set()
        seconds = time.perf_counter() - start
    check(len(results) == n, f"parked: {len(results)} results for {n} runs")
    check(sum(results) == n * (n + 1) // 2, "parked: wrong answers came back")
    return Trial({"total": seconds, "start": parked_in}, extra)


TRIALS: dict[str, TrialFn] = {
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

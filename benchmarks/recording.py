"""``python -m benchmarks.recording``: what recording a run's path costs (issue: drawings).

A run counts each step call and each event that enters it (``Context.statistics()``, the
drawings of a run's path). This times exactly the engine's counting calls on a counter
set of the usual size, and sets them beside the whole per-event and per-step cost of
flowkit measured in the same process (the ``events`` and ``chain`` workloads), so the
share of a step that recording takes is visible.
"""

from __future__ import annotations

import argparse
import statistics
import time
import timeit
from collections.abc import Sequence
from types import SimpleNamespace
from typing import cast

import anyio

from flowkit import Context, Workflow, step
from flowkit._engine.ledger import Ledger
from flowkit._engine.state import RunCounters
from flowkit.events import Event, StartEvent, StopEvent


class Item(Event):
    n: int


def _counting_cost(reps: int) -> tuple[float, float]:
    """Seconds per counted event and per counted step call, with the engine's own methods."""
    # The counting methods read only ``self.state.counters``: a stand-in ledger holds them.
    holder = cast(Ledger, SimpleNamespace(state=SimpleNamespace(counters=RunCounters())))
    for name in ("produce", "consume", "ask", "answer"):  # a counter set of the usual size
        holder.state.counters.step_runs[name] = 1
    event = Item(n=1)
    per_event = min(timeit.repeat(lambda: Ledger.count_event(holder, event), number=reps, repeat=5))
    per_step = min(
        timeit.repeat(lambda: Ledger.count_retry(holder, "consume"), number=reps, repeat=5)
    )
    return per_event / reps, per_step / reps


async def _per_event(n: int, backend_reps: int) -> float:
    samples = []
    for _ in range(backend_reps):
        workflow = Counting()
        start = time.perf_counter()
        await workflow.run(n=n)
        samples.append((time.perf_counter() - start) / n)
    return statistics.median(samples)


class Counting(Workflow):
    """N events through one step: each is one routed event and one step call."""

    @step
    async def produce(self, ctx: Context, ev: StartEvent) -> Item | None:
        await ctx.store.set("left", ev.n)
        for i in range(ev.n):
            ctx.send_event(Item(n=i))
        return None

    @step(num_workers=1)
    async def consume(self, ctx: Context, ev: Item) -> StopEvent | None:
        left = await ctx.store.get("left") - 1
        await ctx.store.set("left", left)
        return StopEvent(result=ev.n) if left == 0 else None


def main(argv: Sequence[str] | None = None) -> int:
    """Print the cost of recording beside the cost of an event and a step call."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.recording")
    parser.add_argument("--events", type=int, default=20_000, help="events per run")
    parser.add_argument("--reps", type=int, default=5, help="runs per backend")
    args = parser.parse_args(argv)
    per_event, per_step = _counting_cost(200_000)
    print("Recording a run's path (counters kept by the engine), per counted item:")
    print(f"  count an event:     {per_event * 1e9:6.0f} ns")
    print(f"  count a step call:  {per_step * 1e9:6.0f} ns")
    for backend in ("asyncio", "trio"):
        whole = anyio.run(_per_event, args.events, args.reps, backend=backend)
        # Each event of this workload is counted once as an event and once as a step call.
        share = (per_event + per_step) / whole
        print(
            f"  {backend:7s}: an event routed and its step called cost {whole * 1e6:.2f} µs; "
            f"recording is {(per_event + per_step) * 1e6:.3f} µs of it ({share:.1%})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

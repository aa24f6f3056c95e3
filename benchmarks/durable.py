"""``python -m benchmarks.durable``: durable runs on SQLite and PostgreSQL beside a raw floor.

For each store, N runs of the seed workflow (asks for a number, returns the answer):

* ``park``: start a run and drive it until it is parked (``DurableRuns.run``), per run;
* ``answer``: record an answer to a parked run by id (``send_event``), per run;
* ``resume``: resume an answered run by id and drive it to the end (``resume``), per run:
  median and p99;
* ``workers``: N answered runs finished by 4 worker processes (``DurableRuns.work``): runs/s;
* ``bytes``: bytes on disk per parked run (SQLite: the file; PostgreSQL: the tables).

The floor does the same with the raw driver and nothing else: a park is one ``INSERT`` of the
same snapshot JSON; an answer one ``UPDATE``; a resume is one ``SELECT`` + one ``UPDATE`` in
one transaction; a floor worker
claims with one ``SELECT`` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) + one ``UPDATE``. Target:
flowkit/floor <= 3. PostgreSQL needs ``--postgres URL`` or ``$FLOWKIT_TEST_POSTGRES_URL``;
without one it is skipped with a message.

The floor runs no workflow, so beside it the table shows the engine alone: the same park and
resume of the same workflow in memory (``open_run`` until it asks, ``ctx.to_dict()``;
``Context.from_dict``, the answer, run to the end), no store. ``flowkit/(floor+engine)`` is
then what the durable layer costs over a raw queue plus the engine (information; the target
stays flowkit/floor).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import anyio
import anyio.to_thread
import psycopg

from benchmarks.durable_floor import Floor
from flowkit import Context, Workflow, step
from flowkit.durable import DurableRuns
from flowkit.events import (
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
    WorkflowIdleEvent,
)
from flowkit.store import RunStatus

LIMIT = 3.0
WORKERS = 4


class AskNumber(Workflow):
    @step
    async def ask(self, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prefix="Enter a number: ")

    @step
    async def answer(self, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=ev.response)


# -- measuring ----------------------------------------------------------------------------------


def p99(samples: Sequence[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def disk_bytes(url: str, tables: Sequence[str]) -> int:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        return path.stat().st_size
    total = 0
    with psycopg.connect(url) as pg:
        for table in tables:
            row = pg.execute("SELECT pg_total_relation_size(%s)", [table]).fetchone()
            assert row is not None
            total += int(row[0])
    return total


async def measure_flowkit(url: str, n: int) -> dict[str, float]:
    out: dict[str, float] = {}
    async with DurableRuns(AskNumber, url) as runs:
        start = time.perf_counter()
        ids = [(await runs.run()).run_id for _ in range(n)]
        out["park_us"] = (time.perf_counter() - start) / n * 1e6
        out["bytes"] = disk_bytes(url, ["flowkit_runs", "flowkit_inbox"]) / n
        start = time.perf_counter()
        for i, run_id in enumerate(ids):
            await runs.send_event(run_id, HumanResponseEvent(response=str(i)))
        out["answer_us"] = (time.perf_counter() - start) / n * 1e6
        samples = []
        for i, run_id in enumerate(ids):
            t0 = time.perf_counter()
            record = await runs.resume(run_id)
            samples.append(time.perf_counter() - t0)
            assert (record.status, record.result) == (RunStatus.COMPLETED, str(i)), record
        out["resume_median_us"] = statistics.median(samples) * 1e6
        out["resume_p99_us"] = p99(samples) * 1e6
        ids = [(await runs.run()).run_id for _ in range(n)]  # parked, then answered: untimed
        for i, run_id in enumerate(ids):
            await runs.send_event(run_id, HumanResponseEvent(response=str(i)))
    out["workers_runs_per_s"] = n / run_workers(url, "flowkit")
    async with DurableRuns(AskNumber, url) as runs:
        finished = await runs.list(RunStatus.COMPLETED, limit=10 * n)
        assert len(finished) == 2 * n, f"{len(finished)} of {2 * n} runs completed"
    return out


async def measure_floor(url: str, n: int, snapshot: str) -> dict[str, float]:
    floor = Floor(url)
    out: dict[str, float] = {}
    ids = [uuid.uuid4().hex for _ in range(n)]
    # Like flowkit, an async app must not block its event loop on the database: each
    # transaction runs in a worker thread.
    start = time.perf_counter()
    for run_id in ids:
        await anyio.to_thread.run_sync(floor.park, run_id, snapshot)
    out["park_us"] = (time.perf_counter() - start) / n * 1e6
    out["bytes"] = disk_bytes(url, ["floor_runs"]) / n
    start = time.perf_counter()
    for i, run_id in enumerate(ids):
        await anyio.to_thread.run_sync(floor.answer, run_id, str(i))
    out["answer_us"] = (time.perf_counter() - start) / n * 1e6
    samples = []
    for run_id in ids:
        t0 = time.perf_counter()
        await anyio.to_thread.run_sync(floor.resume, run_id)
        samples.append(time.perf_counter() - t0)
    out["resume_median_us"] = statistics.median(samples) * 1e6
    out["resume_p99_us"] = p99(samples) * 1e6
    for i in range(n):
        floor.park(uuid.uuid4().hex, snapshot, "answered", str(i))
    out["workers_runs_per_s"] = n / run_workers(url, "floor")
    assert floor.count("completed") == 2 * n
    floor.close()
    return out


async def measure_engine(n: int) -> dict[str, float]:
    """The engine alone: park and resume the same workflow in memory, no store."""
    workflow = AskNumber()
    snapshot: dict[str, object] = {}
    start = time.perf_counter()
    for _ in range(n):
        async with workflow.open_run(run_id=uuid.uuid4().hex) as handler:
            async for event in handler.stream_events(expose_internal=True):
                if isinstance(event, WorkflowIdleEvent):
                    snapshot = handler.ctx.to_dict()
                    await handler.cancel_run()
                    break
    out = {"park_us": (time.perf_counter() - start) / n * 1e6}
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        ctx = Context.from_dict(workflow, snapshot)
        async with workflow.open_run(ctx=ctx) as handler:
            handler.ctx.send_event(HumanResponseEvent(response=str(i)))
            async for _ in handler.stream_events(expose_internal=True):
                pass
            assert await handler == str(i)
        samples.append(time.perf_counter() - t0)
    out["resume_median_us"] = statistics.median(samples) * 1e6
    out["resume_p99_us"] = p99(samples) * 1e6
    return out


def run_workers(url: str, impl: str) -> float:
    """Seconds for WORKERS processes to finish every answered run (timed from 'go')."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "benchmarks.durable", "--worker", impl, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(WORKERS)
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    start = time.perf_counter()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.close()
    for proc in procs:
        proc.wait()
        assert proc.returncode == 0
    return time.perf_counter() - start


def worker_main(impl: str, url: str) -> None:
    if impl == "floor":
        floor = Floor(url)
        print("ready", flush=True)
        sys.stdin.readline()
        floor.work()
        floor.close()
        return

    async def work() -> None:
        async with DurableRuns(AskNumber, url) as runs:
            await runs.store.list(limit=1)  # connect before 'go'
            print("ready", flush=True)
            await anyio.to_thread.run_sync(sys.stdin.readline)
            await runs.work(concurrency=4, until_idle=True, poll=0.01)

    anyio.run(work)


def parked_snapshot(url: str) -> str:
    async def one() -> str:
        async with DurableRuns(AskNumber, url) as runs:
            run_id = (await runs.run()).run_id
            assert (await runs.get(run_id)).status is RunStatus.WAITING
        return run_id

    anyio.run(one)
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            row = conn.execute("SELECT snapshot FROM flowkit_runs").fetchone()
        conn.close()
    else:
        with psycopg.connect(url) as pg:
            row = pg.execute("SELECT snapshot FROM flowkit_runs").fetchone()
    assert row is not None
    return str(row[0])


def fresh_postgres(base: str) -> str:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


def drop_postgres(url: str, base: str) -> None:
    schema = url.rsplit("%3D", 1)[1]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


METRICS = (
    ("park_us", "park one run", "µs", False),
    ("answer_us", "record an answer by id", "µs", False),
    ("resume_median_us", "resume one by id, median", "µs", False),
    ("resume_p99_us", "resume one by id, p99", "µs", False),
    ("workers_runs_per_s", f"{WORKERS} worker processes", "runs/s", True),
    ("bytes", "bytes per parked run", "B", False),
)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.durable", description=__doc__.split("\n")[0]
    )
    p.add_argument(
        "--size", type=int, default=10_000, help="parked runs per measurement (default 10,000)"
    )
    p.add_argument("--stores", default="sqlite,postgres", help="comma-separated: sqlite,postgres")
    p.add_argument("--postgres", default=os.environ.get("FLOWKIT_TEST_POSTGRES_URL"), metavar="URL")
    p.add_argument("--json", metavar="PATH", help="also write the results here")
    p.add_argument("--worker", nargs=2, metavar=("IMPL", "URL"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker_main(*args.worker)
        return 0
    results: dict[str, dict[str, dict[str, float]]] = {}
    for store in args.stores.split(","):
        if store == "postgres" and not args.postgres:
            print(
                "postgres: skipped (no server: pass --postgres URL or set "
                "FLOWKIT_TEST_POSTGRES_URL)"
            )
            continue
        print(f"{store}: {args.size:,} runs ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            urls = (
                [f"sqlite:///{tmp}/{name}.db" for name in ("flowkit", "floor", "snap")]
                if store == "sqlite"
                else [fresh_postgres(args.postgres) for _ in range(3)]
            )
            try:
                snapshot = parked_snapshot(urls[2])
                results[store] = {
                    "flowkit": anyio.run(measure_flowkit, urls[0], args.size),
                    "floor": anyio.run(measure_floor, urls[1], args.size, snapshot),
                    "engine": anyio.run(measure_engine, args.size),
                }
            finally:
                if store == "postgres":
                    for url in urls:
                        drop_postgres(url, args.postgres)
    misses = 0
    print(
        "\n| store | metric | flowkit | floor | flowkit/floor | target "
        "| engine alone | flowkit/(floor+engine) |"
        "\n|---|---|---:|---:|---:|---|---:|---:|"
    )
    for store, pair in results.items():
        for key, label, unit, higher_is_better in METRICS:
            fk, fl = pair["flowkit"][key], pair["floor"][key]
            ratio = fl / fk if higher_is_better else fk / fl
            status = "PASS" if ratio <= LIMIT else "MISS"
            misses += status == "MISS"
            engine = pair["engine"].get(key)
            fair = (
                f"{engine:,.0f} {unit} | {fk / (fl + engine):.2f}"
                if engine is not None
                else "- | -"
            )
            print(
                f"| {store} | {label} | {fk:,.0f} {unit} | {fl:,.0f} {unit} | {ratio:.2f} "
                f"| <= {LIMIT:g} {status} | {fair} |"
            )
    if args.json:
        Path(args.json).write_text(json.dumps({"size": args.size, "results": results}, indent=2))
    print(f"\n{misses} MISS" if misses else "\nall PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fault tests with real worker processes: killed workers, competing workers, a restarted server.

Workers are ``flowkit worker`` processes (asyncio); the test process drives and checks the
store on both backends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import pytest

from flowkit.durable import DurableRuns
from flowkit.events import HumanResponseEvent
from flowkit.store import RunStatus, RunStore

from .apps import registry
from .conftest import execute_raw

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.durable.apps:registry"
COMPETING_RUNS = int(os.environ.get("FLOWKIT_TEST_COMPETING_RUNS", "1000"))


@contextmanager
def workers(
    store_url: str, count: int, *, lease: float = 1.0, env: dict[str, str] | None = None
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` worker processes; stopped with SIGTERM at the end (they must exit 0)."""
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flowkit.cli",
                "worker",
                "--app",
                APP,
                "--store",
                store_url,
                "--lease",
                str(lease),
                "--concurrency",
                "8",
                "--poll",
                "0.1",
                "--quiet",
            ],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stderr=subprocess.PIPE,
        )
        for _ in range(count)
    ]
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.communicate(timeout=30)  # also closes its stderr pipe
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                raise


def assert_stopped_cleanly(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err.decode()[-2000:]
        assert b"Traceback" not in err, err.decode()[-2000:]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 60) -> None:
    """Wait until ``check()`` holds (another process makes it true); fail after ``timeout``."""
    with anyio.fail_after(timeout):
        for _ in iter(int, 1):
            if await check():
                return
            await anyio.sleep(0.1)


async def count(store: RunStore, status: RunStatus) -> int:
    return len(await store.list(status, limit=1_000_000))


async def test_a_killed_worker_s_run_is_finished_by_another_process(
    store_url: str, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.touch()
    async with DurableRuns(registry, store_url) as runs:
        run_id = (await runs.start("CrashableFlow")).run_id

        async def checkpointed_in_second_step() -> bool:
            record = await runs.get(run_id)
            return bool(record.events) and "second" in marks.read_text()

        env = {"FLOWKIT_TEST_MARKS": str(marks)}
        with workers(store_url, 1, env={**env, "FLOWKIT_TEST_HANG": "1"}) as (doomed,):
            await eventually(checkpointed_in_second_step)
            doomed.kill()  # SIGKILL: no chance to release anything
            doomed.communicate()
        assert (await runs.get(run_id)).status is RunStatus.RUNNING
        with workers(store_url, 1, env=env) as rescuers:
            await eventually(lambda: _is(runs, run_id, RunStatus.COMPLETED))
            assert_stopped_cleanly(rescuers)
        record = await runs.get(run_id)
    assert (record.result, record.finish_count) == ("done", 1)
    # The first step finished before the checkpoint: it ran once. The second was in
    # progress when the worker died: it ran again (at-least-once).
    assert marks.read_text().split() == ["first", "second", "second"]
    assert [e["data"] for e in record.events] == [{"note": "first done"}]


async def _is(runs: DurableRuns, run_id: str, status: RunStatus) -> bool:
    return (await runs.get(run_id)).status is status


async def test_four_workers_complete_every_answered_run_exactly_once(store_url: str) -> None:
    async with DurableRuns(registry, store_url) as runs:
        with workers(store_url, 4) as procs:
            ids = [
                (await runs.start("HumanInTheLoopWorkflow")).run_id for _ in range(COMPETING_RUNS)
            ]
            await eventually(lambda: _all(runs.store, RunStatus.WAITING), timeout=120)
            for n, run_id in enumerate(ids):
                await runs.send_event(run_id, HumanResponseEvent(response=str(n)))
            await eventually(lambda: _all(runs.store, RunStatus.COMPLETED), timeout=120)
            assert_stopped_cleanly(procs)
        records = await runs.list(limit=1_000_000)
    assert len(records) == COMPETING_RUNS
    assert {r.run_id: r.result for r in records} == {i: str(n) for n, i in enumerate(ids)}
    assert {r.finish_count for r in records} == {1}
    assert {r.status for r in records} == {RunStatus.COMPLETED}


async def _all(store: RunStore, status: RunStatus) -> bool:
    return await count(store, status) == COMPETING_RUNS


async def test_torn_and_foreign_rows_do_not_stop_a_worker(store_url: str) -> None:
    async with DurableRuns(registry, store_url) as runs:
        good = (await runs.start("HumanInTheLoopWorkflow")).run_id
        torn = (await runs.start("HumanInTheLoopWorkflow")).run_id
        answered = (await runs.run("HumanInTheLoopWorkflow")).run_id
        execute_raw(
            store_url, "UPDATE flowkit_runs SET start_kwargs = '{\"a\": ' WHERE run_id = ?", (torn,)
        )
        execute_raw(
            store_url,
            "INSERT INTO flowkit_runs (run_id, workflow, status, created_at, updated_at) "
            "VALUES ('alien', 'AlienFlow', 'running', 0, 0), ('odd', 'CountingFlow', 'odd', 0, 0)",
        )
        await runs.store.send(answered, {"type": "Mystery", "data": {}})
        with workers(store_url, 1) as procs:
            await eventually(lambda: _is(runs, good, RunStatus.WAITING))
            await eventually(lambda: _is(runs, torn, RunStatus.FAILED))
            await eventually(lambda: _is(runs, answered, RunStatus.FAILED))
            assert procs[0].poll() is None
            assert_stopped_cleanly(procs)
        torn_record, answered_record = await runs.get(torn), await runs.get(answered)
        assert (await runs.get("alien")).status is RunStatus.RUNNING  # not this app's: untouched
    assert torn_record.error is not None
    assert (
        f"Run {torn!r} in the store cannot be read: its start arguments cannot be parsed as JSON"
        in (torn_record.error)
    )
    assert answered_record.error is not None
    assert answered_record.error.startswith(
        "Inbox event 1 cannot be delivered: Event class 'Mystery' is not registered"
    )


async def test_a_restarted_postgres_server_costs_retries_not_runs(
    postgres_store_url: str,
) -> None:
    data, binaries = (
        os.environ.get("FLOWKIT_TEST_POSTGRES_DATA"),
        os.environ.get("FLOWKIT_TEST_POSTGRES_BIN"),
    )
    if not data or not binaries:
        if os.environ.get("CI") == "true":
            pytest.fail("set FLOWKIT_TEST_POSTGRES_DATA and _BIN (.ci/postgres.sh does)")
        pytest.skip("restarting PostgreSQL needs the cluster started by .ci/postgres.sh")
    url, total = postgres_store_url, 30
    async with DurableRuns(registry, url) as runs:
        with workers(url, 2, lease=3.0) as procs:
            ids = [(await runs.start("HumanInTheLoopWorkflow")).run_id for _ in range(total)]
            await eventually(lambda: _count_is(runs.store, RunStatus.WAITING, total))
            for n, run_id in enumerate(ids[: total // 2]):
                await runs.send_event(run_id, HumanResponseEvent(response=str(n)))
            await _pg_ctl(binaries, data, "stop", "-m", "fast")
            try:
                await anyio.sleep(3)  # the database is away for a few seconds
            finally:
                await anyio.run_process([str(ROOT / ".ci" / "postgres.sh")])
            for n, run_id in enumerate(ids[total // 2 :], start=total // 2):
                await runs.send_event(run_id, HumanResponseEvent(response=str(n)))
            await eventually(lambda: _count_is(runs.store, RunStatus.COMPLETED, total), 90)
            assert [p.poll() for p in procs] == [None, None]
            assert_stopped_cleanly(procs)
        records = await runs.list(limit=total)
    assert {r.run_id: r.result for r in records} == {i: str(n) for n, i in enumerate(ids)}
    assert {r.finish_count for r in records} == {1}


async def _pg_ctl(binaries: str, data: str, *args: str) -> None:
    command = [f"{binaries}/pg_ctl", "-D", data, "-w", *args]
    if os.getuid() == 0:
        command = ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(command)]
    await anyio.run_process(command)


async def _count_is(store: RunStore, status: RunStatus, expected: int) -> bool:
    return await count(store, status) == expected

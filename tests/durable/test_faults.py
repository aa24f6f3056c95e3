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

from flowkit.events import HumanResponseEvent
from flowkit.store import RunStatus, RunStore, open_store
from flowkit.durable import DurableRuns

from .apps import registry
from .conftest import require_postgres

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

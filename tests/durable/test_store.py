"""Run stores: the conformance checks on both stores, URLs, migrations, torn and foreign rows."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import anyio.to_thread
import psycopg
import pytest

from flowkit.store import (
    Claim,
    CorruptRunError,
    PostgresRunStore,
    Progress,
    RunRecord,
    RunStatus,
    SQLiteRunStore,
    StoreError,
    open_store,
    store_url,
)
from flowkit.testing import check_run_store

from .conftest import postgres_schema_url, require_postgres


async def test_store_conforms(make_store_url: Callable[[], str]) -> None:
    await check_run_store(lambda: open_store(make_store_url()))


def test_urls_name_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWKIT_STORE", raising=False)
    assert store_url() == "sqlite:///flowkit-runs.db"
    monkeypatch.setenv("FLOWKIT_STORE", "sqlite:///elsewhere.db")
    assert store_url() == "sqlite:///elsewhere.db"
    assert store_url("sqlite:///given.db") == "sqlite:///given.db"
    relative = open_store("sqlite:///runs.db")
    assert isinstance(relative, SQLiteRunStore)
    assert relative.path == Path("runs.db")
    absolute = open_store("sqlite:////var/tmp/runs.db")
    assert isinstance(absolute, SQLiteRunStore)
    assert absolute.path == Path("/var/tmp/runs.db")
    assert isinstance(open_store("postgresql://u@localhost/db"), PostgresRunStore)
    assert open_store("postgresql://u:secret@db:5432/x").url == "postgresql://u:***@db:5432/x"
    with pytest.raises(StoreError, match=r"^Unknown store URL 'mysql://x': use sqlite:///"):
        open_store("mysql://x")
    with pytest.raises(StoreError, match="names no file"):
        open_store("sqlite:///")


async def test_schema_is_created_once_and_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    async with SQLiteRunStore(path) as store:
        await store.create("a", "Flow", {})
    async with SQLiteRunStore(path) as store:
        assert [r.run_id for r in await store.list()] == ["a"]
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE flowkit_schema SET version = 99")
    async with SQLiteRunStore(path) as store:
        with pytest.raises(StoreError, match=r"schema version 99, newer than this flowkit"):
            await store.list()


async def test_torn_and_foreign_rows_are_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    async with SQLiteRunStore(path) as store:
        await store.create("torn", "Flow", {})
        await store.create("foreign", "Flow", {})
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE flowkit_runs SET snapshot = '{\"format\": ' WHERE run_id = 'torn'")
        conn.execute("UPDATE flowkit_runs SET status = 'paused' WHERE run_id = 'foreign'")
    async with SQLiteRunStore(path) as store:
        with pytest.raises(CorruptRunError, match=r"^Run 'foreign' .* unknown status 'paused'"):
            await store.get("foreign")
        with pytest.raises(
            CorruptRunError, match=r"^Run 'torn' .* its snapshot cannot be parsed as JSON"
        ):
            await store.claim(30.0)
        # The torn run is failed, so no worker claims it again.
        record = await store.get("torn")
        assert record.status is RunStatus.FAILED
        assert record.error is not None
        assert "snapshot cannot be parsed as JSON" in record.error
        assert await store.claim(30.0) is None
        assert json.loads(json.dumps(record.to_json()))["status"] == "failed"
        # Both can be deleted, so that listings work again.
        with pytest.raises(CorruptRunError, match="'foreign'"):
            await store.list()
        await store.delete("foreign")
        await store.delete("torn")
        assert await store.list() == []


async def test_the_thread_only_sqlite_store_conforms(tmp_path: Path) -> None:
    count = iter(range(1_000))
    await check_run_store(lambda: SQLiteRunStore(tmp_path / f"{next(count)}.db", inline=False))


async def test_the_thread_only_postgres_store_conforms(request: pytest.FixtureRequest) -> None:
    make_url = postgres_schema_url(require_postgres(), request)
    await check_run_store(lambda: PostgresRunStore(make_url(), inline=False))


async def test_sqlite_never_waits_for_a_lock_on_the_event_loop(tmp_path: Path) -> None:
    """A transaction that cannot take the write lock at once waits in a worker thread: the
    event loop runs on, and the transaction completes once the lock is free."""
    path = tmp_path / "runs.db"
    async with SQLiteRunStore(path) as store:
        await store.create("first", "Flow", {})  # migrated; the next ones may run inline
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        created: list[str] = []

        async def create() -> None:
            created.append((await store.create("second", "Flow", {})).run_id)

        with anyio.fail_after(10):  # a loop blocked on the lock would never get here
            async with anyio.create_task_group() as tg:
                tg.start_soon(create)
                await anyio.wait_all_tasks_blocked()  # create() waits, and not on this thread
                assert created == []
                other.rollback()
        other.close()
        assert created == ["second"]
        assert [r.run_id for r in await store.list()] == ["first", "second"]


async def test_sqlite_checkpoints_the_log_off_the_event_loop(tmp_path: Path) -> None:
    """Transactions on the loop never checkpoint; the store's checkpoint thread does, so the
    write-ahead log does not grow with the number of transactions."""
    path = tmp_path / "runs.db"
    wal = anyio.Path(f"{path}-wal")
    store = SQLiteRunStore(path)
    store.checkpoint_every = 100
    async with store:
        await store.create("warm", "Flow", {})
        big = {"text": "x" * 4000}  # a page or two per run
        for i in range(2_000):
            await store.create(f"run-{i}", "Flow", big)
        # Without checkpoints the log would hold every page written: about 30 MB.
        assert (await wal.stat()).st_size < 16 * 1024 * 1024
        assert len(await store.list(limit=20_000)) == 2_001


async def test_a_sqlite_store_works_again_after_it_is_closed(tmp_path: Path) -> None:
    store = SQLiteRunStore(tmp_path / "runs.db")
    store.checkpoint_every = 2  # the checkpoint thread runs, is shut down, and runs again
    for round_ in range(2):
        async with store:
            for i in range(5):
                await store.create(f"run-{round_}-{i}", "Flow", {})
    async with store:
        assert len(await store.list()) == 10


@contextlib.contextmanager
def _row_locked(url: str, run_id: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """Another program's open transaction holding the row of ``run_id`` locked (its
    ``rollback()`` frees it)."""
    with psycopg.connect(url) as other:
        other.execute("SELECT 1 FROM flowkit_runs WHERE run_id = %s FOR UPDATE", [run_id])
        try:
            yield other
        finally:
            other.rollback()


async def test_postgres_waits_for_a_row_lock_on_the_socket_not_in_a_thread(
    postgres_store_url: str,
) -> None:
    """A park, claim, renewal or finish runs from the event loop, which waits on the socket
    (no worker thread) and runs on meanwhile; a second call while the first waits takes a
    worker thread. Both complete once the lock is free."""
    async with PostgresRunStore(postgres_store_url) as store:
        first = await store.create_claimed("first", "Flow", {}, lease=60)
        second = await store.create_claimed("second", "Flow", {}, lease=60)
        threads = anyio.to_thread.current_default_thread_limiter()
        finished: list[RunStatus] = []

        async def finish(claim: Claim) -> None:
            record = await store.finish(
                claim.record.run_id, claim.token, RunStatus.COMPLETED, events=[], result=1
            )
            finished.append(record.status)

        with _row_locked(postgres_store_url, "first") as other, anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(finish, first)
                await anyio.wait_all_tasks_blocked()
                assert finished == []
                assert threads.statistics().borrowed_tokens == 0  # waiting on the socket
                await finish(second)  # the loop's connection is busy: a worker thread
                assert finished == [RunStatus.COMPLETED]
                other.rollback()
        assert finished == [RunStatus.COMPLETED, RunStatus.COMPLETED]
        records = await store.list()
        assert [(r.run_id, r.status, r.result) for r in records] == [
            ("first", RunStatus.COMPLETED, 1),
            ("second", RunStatus.COMPLETED, 1),
        ]


async def test_a_cancelled_postgres_call_still_completes_its_statement(
    postgres_store_url: str,
) -> None:
    """A statement that started runs to its end, as it would in a worker thread; the caller
    is cancelled after it, and the store keeps working."""
    async with PostgresRunStore(postgres_store_url) as store:
        claim = await store.create_claimed("run", "Flow", {}, lease=60)
        caller = anyio.CancelScope()
        order: list[str] = []

        async def finish() -> None:
            with caller:
                try:
                    await store.finish("run", claim.token, RunStatus.FAILED, events=[], error="x")
                finally:
                    order.append("call returned")

        with _row_locked(postgres_store_url, "run") as other, anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(finish)
                await anyio.wait_all_tasks_blocked()
                caller.cancel()
                await anyio.wait_all_tasks_blocked()  # still waiting for its statement
                order.append("lock freed")
                other.rollback()
        assert order == ["lock freed", "call returned"]
        record = await store.get("run")
        assert (record.status, record.error, record.finish_count) == (RunStatus.FAILED, "x", 1)
        assert (await store.create_claimed("next", "Flow", {}, lease=60)).record.owner


async def test_postgres_connections_killed_by_the_server_cost_a_retry(
    postgres_store_url: str,
) -> None:
    """The server ends every connection of the store (an administrator, a failover): the
    next calls reconnect, on the loop's connection and in the pool, and lose nothing."""
    async with PostgresRunStore(postgres_store_url) as store:
        for i in range(2):
            await store.create_claimed(f"warm-{i}", "Flow", {}, lease=60)
        with psycopg.connect(postgres_store_url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'"
            ).fetchone()
        assert killed is not None
        assert killed[0] >= 2  # the loop's connection and the pool's
        claims = [await store.create_claimed(f"run-{i}", "Flow", {}, lease=60) for i in range(3)]
        for claim in claims:
            progress = Progress({"format": 2}, 0, [{"type": "Asked"}], "Your answer?")
            record = await store.park(claim.record.run_id, claim.token, progress)
            assert isinstance(record, RunRecord)
            assert (record.status, record.prompt) == (RunStatus.WAITING, "Your answer?")
        waiting = await store.list(RunStatus.WAITING)
        assert [r.run_id for r in waiting] == ["run-0", "run-1", "run-2"]


async def test_the_same_key_sent_at_the_same_moment_is_recorded_once(
    make_store_url: Callable[[], str],
) -> None:
    """Eight tasks send one response with one idempotency key at once (on PostgreSQL, one on
    the loop's connection and the others in worker threads): one send records it."""
    async with open_store(make_store_url()) as store:
        claim = await store.create_claimed("run", "Flow", {}, lease=60)
        parked = await store.park("run", claim.token, Progress({}, 0, [], "Your answer?"))
        assert isinstance(parked, RunRecord)
        recorded: list[bool] = []

        async def send() -> None:
            recorded.append(await store.send("run", {"response": "42"}, "answer-1"))

        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(send)
        assert sorted(recorded) == [False] * 7 + [True]
        claimed = await store.claim(60, run_id="run")
        assert claimed is not None
        assert [(e.number, e.event) for e in claimed.inbox] == [(1, {"response": "42"})]

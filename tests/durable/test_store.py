"""Run stores: the conformance checks on both stores, URLs, migrations, torn and foreign rows."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from flowkit.store import (
    CorruptRunError,
    PostgresRunStore,
    RunStatus,
    SQLiteRunStore,
    StoreError,
    open_store,
    store_url,
)
from flowkit.testing import check_run_store


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

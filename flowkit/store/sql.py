"""The run store's logic in SQL, written once for SQLite and PostgreSQL.

Each public method runs one short transaction in a worker thread (``anyio.to_thread``), so
the event loop never waits on the database. A subclass supplies the connection, the
placeholder style, the row-lock clauses and which errors are worth retrying.
"""

from __future__ import annotations

import abc
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

import anyio
import anyio.to_thread

from .base import FINISHED, Claim, InboxEvent, Progress, RunRecord, RunStatus, RunStore
from .errors import (
    CorruptRunError,
    LeaseLostError,
    RunFinishedError,
    RunNotFinishedError,
    RunNotFoundError,
    StoreError,
    StoreUnavailableError,
)
from .schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["Cursor", "SqlRunStore"]

_T = TypeVar("_T")

_RECORD = (
    "run_id, workflow, status, prompt, events, result, error, owner, cancel_requested, "
    "created_at, updated_at, finish_count"
)
_FINISHED_SQL = "('completed', 'failed', 'cancelled')"


class Cursor(Protocol):
    """The part of a DB-API cursor the store uses."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: Any, params: Sequence[Any] = ..., /) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


def _loads(run_id: str, what: str, text: Any) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise CorruptRunError(run_id, f"its {what} cannot be parsed as JSON ({exc})") from None


def _record(row: Sequence[Any]) -> RunRecord:
    run_id = str(row[0])
    try:
        status = RunStatus(row[2])
    except ValueError:
        raise CorruptRunError(run_id, f"unknown status {row[2]!r}") from None
    events = _loads(run_id, "event list", row[4])
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise CorruptRunError(run_id, "its event list is not a list of objects")
    result = _loads(run_id, "result", row[5])
    return RunRecord(
        run_id=run_id,
        workflow=str(row[1]),
        status=status,
        prompt=row[3],
        events=tuple(events),
        result=result["value"] if isinstance(result, dict) and "value" in result else None,
        error=row[6],
        owner=row[7],
        cancel_requested=bool(row[8]),
        created_at=float(row[9]),
        updated_at=float(row[10]),
        finish_count=int(row[11]),
    )


class SqlRunStore(RunStore):
    """A :class:`RunStore` over a SQL database reached through a DB-API driver.

    Args:
        retry_for: How long (seconds) to keep retrying when the database is unreachable
            before raising ``StoreUnavailableError``.
    """

    placeholder = "?"
    lock_row = ""  # appended to a SELECT that precedes an UPDATE of the same row
    skip_locked = ""  # appended to the SELECT that picks a run to claim

    def __init__(self, url: str, *, retry_for: float = 30.0) -> None:
        self.url = url
        self.retry_for = retry_for
        self._migrated = False

    # -- what a database supplies ------------------------------------------------------

    @abc.abstractmethod
    def transaction(self) -> AbstractContextManager[Cursor]:
        """A cursor in a write transaction, committed on success, rolled back on error."""

    @abc.abstractmethod
    def is_transient(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the database is (briefly) unreachable or busy: retry."""

    def lock_schema(self, cur: Cursor) -> None:
        """Keep two processes from migrating at once (inside the migration's transaction)."""

    def notify(self, cur: Cursor) -> None:
        """Tell waiting workers that a run has work (inside the transaction that gave it)."""

    def close_sync(self) -> None:
        """Close the connections (in a worker thread)."""

    # -- plumbing ----------------------------------------------------------------------

    def sql(self, text: str) -> str:
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    async def call(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run ``fn(cursor, *args)`` in one transaction in a worker thread, retrying outages."""
        return await anyio.to_thread.run_sync(self._call_sync, fn, args)

    def _call_sync(self, fn: Callable[..., _T], args: tuple[Any, ...]) -> _T:
        deadline = time.monotonic() + self.retry_for
        delay = 0.05
        while True:
            try:
                if not self._migrated:
                    self._migrate()
                with self.transaction() as cur:
                    return fn(cur, *args)
            except StoreError:
                raise
            except Exception as exc:
                if not self.is_transient(exc):
                    raise StoreError(f"Run store {self.url}: {type(exc).__name__}: {exc}") from exc
                if time.monotonic() >= deadline:
                    raise StoreUnavailableError(
                        f"Run store {self.url} is unreachable; retried for {self.retry_for:g} "
                        f"seconds. Last error: {type(exc).__name__}: {exc}"
                    ) from exc
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _migrate(self) -> None:
        with self.transaction() as cur:
            self.lock_schema(cur)
            cur.execute("CREATE TABLE IF NOT EXISTS flowkit_schema (version INTEGER NOT NULL)")
            cur.execute("SELECT version FROM flowkit_schema")
            row = cur.fetchone()
            version = 0 if row is None else int(row[0])
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"Run store {self.url} has schema version {version}, newer than this "
                    f"flowkit knows ({SCHEMA_VERSION}). Upgrade flowkit in this process."
                )
            for statements in MIGRATIONS[version:]:
                for statement in statements:
                    cur.execute(statement)
            if row is None:
                cur.execute(self.sql("INSERT INTO flowkit_schema (version) VALUES (?)"), [0])
            cur.execute(self.sql("UPDATE flowkit_schema SET version = ?"), [SCHEMA_VERSION])
        self._migrated = True

    def _select_record(self, cur: Cursor, run_id: str) -> RunRecord:
        cur.execute(self.sql(f"SELECT {_RECORD} FROM flowkit_runs WHERE run_id = ?"), [run_id])
        row = cur.fetchone()
        if row is None:
            raise RunNotFoundError(run_id)
        return _record(row)

    def _inbox_after(self, cur: Cursor, run_id: str, after: int) -> tuple[InboxEvent, ...]:
        cur.execute(
            self.sql(
                "SELECT number, event FROM flowkit_inbox WHERE run_id = ? AND number > ? "
                "ORDER BY number"
            ),
            [run_id, after],
        )
        events = []
        for number, text in cur.fetchall():
            event = _loads(run_id, f"inbox event {number}", text)
            if not isinstance(event, dict):
                raise CorruptRunError(run_id, f"inbox event {number} is not an object")
            events.append(InboxEvent(int(number), event))
        return tuple(events)

    def _write_progress(self, cur: Cursor, run_id: str, token: str, p: Progress) -> int:
        cur.execute(
            self.sql(
                "UPDATE flowkit_runs SET snapshot = ?, inbox_cursor = ?, events = ?, prompt = ?, "
                "updated_at = ? WHERE run_id = ? AND owner = ? AND status = 'running'"
            ),
            [
                json.dumps(p.snapshot),
                p.inbox_cursor,
                json.dumps(list(p.events), default=repr),
                p.prompt,
                time.time(),
                run_id,
                token,
            ],
        )
        return cur.rowcount

    # -- the interface -------------------------------------------------------------------

    async def aclose(self) -> None:
        await anyio.to_thread.run_sync(self.close_sync)

    async def create(self, run_id: str, workflow: str, start: Mapping[str, Any]) -> RunRecord:
        text = json.dumps(dict(start))

        def create(cur: Cursor) -> RunRecord:
            now = time.time()
            cur.execute(
                self.sql(
                    "INSERT INTO flowkit_runs (run_id, workflow, status, start_kwargs, "
                    "created_at, updated_at) VALUES (?, ?, 'running', ?, ?, ?)"
                ),
                [run_id, workflow, text, now, now],
            )
            self.notify(cur)
            return RunRecord(run_id, workflow, RunStatus.RUNNING, created_at=now, updated_at=now)

        return await self.call(create)

    async def create_claimed(
        self, run_id: str, workflow: str, start: Mapping[str, Any], lease: float
    ) -> Claim:
        text = json.dumps(dict(start))
        token = uuid.uuid4().hex

        def create(cur: Cursor) -> Claim:
            now = time.time()
            cur.execute(
                self.sql(
                    "INSERT INTO flowkit_runs (run_id, workflow, status, start_kwargs, owner, "
                    "lease_until, claims, created_at, updated_at) "
                    "VALUES (?, ?, 'running', ?, ?, ?, 1, ?, ?)"
                ),
                [run_id, workflow, text, token, now + lease, now, now],
            )
            record = RunRecord(
                run_id, workflow, RunStatus.RUNNING, owner=token, created_at=now, updated_at=now
            )
            return Claim(record, token, dict(start), None, ())

        return await self.call(create)

    async def get(self, run_id: str) -> RunRecord:
        return await self.call(self._select_record, run_id)

    async def list(
        self, status: RunStatus | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[RunRecord]:
        def select(cur: Cursor) -> list[RunRecord]:
            where, params = ("WHERE status = ?", [status.value]) if status else ("", [])
            cur.execute(
                self.sql(
                    f"SELECT {_RECORD} FROM flowkit_runs {where} "
                    "ORDER BY created_at, run_id LIMIT ? OFFSET ?"
                ),
                [*params, limit, offset],
            )
            return [_record(row) for row in cur.fetchall()]

        return await self.call(select)

    async def send(
        self, run_id: str, event: Mapping[str, Any], idempotency_key: str | None = None
    ) -> bool:
        text = json.dumps(dict(event))

        def send(cur: Cursor) -> bool:
            cur.execute(
                self.sql(
                    f"SELECT status, inbox_count FROM flowkit_runs WHERE run_id = ?{self.lock_row}"
                ),
                [run_id],
            )
            row = cur.fetchone()
            if row is None:
                raise RunNotFoundError(run_id)
            if idempotency_key is not None:
                cur.execute(
                    self.sql(
                        "SELECT 1 FROM flowkit_inbox WHERE run_id = ? AND idempotency_key = ?"
                    ),
                    [run_id, idempotency_key],
                )
                if cur.fetchone() is not None:
                    return False
            if row[0] in {s.value for s in FINISHED}:
                raise RunFinishedError(run_id, row[0])
            number = int(row[1]) + 1
            now = time.time()
            cur.execute(
                self.sql(
                    "INSERT INTO flowkit_inbox (run_id, number, idempotency_key, event, "
                    "created_at) VALUES (?, ?, ?, ?, ?)"
                ),
                [run_id, number, idempotency_key, text, now],
            )
            cur.execute(
                self.sql(
                    "UPDATE flowkit_runs SET inbox_count = ?, status = 'running', updated_at = ? "
                    "WHERE run_id = ?"
                ),
                [number, now, run_id],
            )
            self.notify(cur)
            return True

        return await self.call(send)

    async def claim(
        self, lease: float, run_id: str | None = None, workflows: Sequence[str] | None = None
    ) -> Claim | None:
        def claim(cur: Cursor) -> Claim | CorruptRunError | None:
            now = time.time()
            where = "status = 'running' AND (owner IS NULL OR lease_until < ?)"
            params: list[Any] = [now]
            if run_id is not None:
                where += " AND run_id = ?"
                params.append(run_id)
            if workflows is not None:
                where += f" AND workflow IN ({', '.join('?' for _ in workflows)})"
                params.extend(workflows)
            cur.execute(
                self.sql(
                    f"SELECT run_id FROM flowkit_runs WHERE {where} "
                    f"ORDER BY updated_at LIMIT 1{self.skip_locked}"
                ),
                params,
            )
            row = cur.fetchone()
            if row is None:
                return None
            chosen = str(row[0])
            token = uuid.uuid4().hex
            cur.execute(
                self.sql(
                    "UPDATE flowkit_runs SET owner = ?, lease_until = ?, claims = claims + 1 "
                    "WHERE run_id = ?"
                ),
                [token, now + lease, chosen],
            )
            cur.execute(
                self.sql(
                    "SELECT start_kwargs, snapshot, inbox_cursor FROM flowkit_runs WHERE run_id = ?"
                ),
                [chosen],
            )
            start_text, snapshot_text, cursor = cur.fetchone()
            try:
                record = self._select_record(cur, chosen)
                start = _loads(chosen, "start arguments", start_text)
                snapshot = _loads(chosen, "snapshot", snapshot_text)
                if not isinstance(start, dict) or not isinstance(snapshot, (dict, type(None))):
                    raise CorruptRunError(chosen, "its snapshot or start arguments are not objects")
                inbox = self._inbox_after(cur, chosen, int(cursor))
            except CorruptRunError as exc:
                # Fail the row so that no worker claims it again; report it after committing.
                cur.execute(
                    self.sql(
                        "UPDATE flowkit_runs SET status = 'failed', error = ?, owner = NULL, "
                        "lease_until = NULL, finish_count = finish_count + 1 WHERE run_id = ?"
                    ),
                    [str(exc), chosen],
                )
                return exc
            return Claim(record, token, start, snapshot, inbox)

        outcome = await self.call(claim)
        if isinstance(outcome, CorruptRunError):
            raise outcome
        return outcome

    async def renew(
        self, run_id: str, token: str, lease: float, progress: Progress | None, after: int = 0
    ) -> tuple[tuple[InboxEvent, ...], bool]:
        def renew(cur: Cursor) -> tuple[tuple[InboxEvent, ...], bool]:
            if progress is not None and not self._write_progress(cur, run_id, token, progress):
                raise LeaseLostError(run_id)
            cur.execute(
                self.sql(
                    "UPDATE flowkit_runs SET lease_until = ? "
                    "WHERE run_id = ? AND owner = ? AND status = 'running'"
                ),
                [time.time() + lease, run_id, token],
            )
            if not cur.rowcount:
                raise LeaseLostError(run_id)
            cur.execute(
                self.sql("SELECT cancel_requested FROM flowkit_runs WHERE run_id = ?"), [run_id]
            )
            cancel = bool(cur.fetchone()[0])
            return self._inbox_after(cur, run_id, after), cancel

        return await self.call(renew)

    async def park(
        self, run_id: str, token: str, progress: Progress
    ) -> RunRecord | tuple[InboxEvent, ...]:
        def park(cur: Cursor) -> RunRecord | tuple[InboxEvent, ...]:
            cur.execute(
                self.sql(
                    "SELECT inbox_count, cancel_requested FROM flowkit_runs "
                    f"WHERE run_id = ? AND owner = ? AND status = 'running'{self.lock_row}"
                ),
                [run_id, token],
            )
            row = cur.fetchone()
            if row is None:
                raise LeaseLostError(run_id)
            if int(row[0]) > progress.inbox_cursor:
                self._write_progress(cur, run_id, token, progress)
                return self._inbox_after(cur, run_id, progress.inbox_cursor)
            status, finished = ("cancelled", 1) if row[1] else ("waiting", 0)
            cur.execute(
                self.sql(
                    "UPDATE flowkit_runs SET snapshot = ?, inbox_cursor = ?, events = ?, "
                    "prompt = ?, updated_at = ?, status = ?, owner = NULL, lease_until = NULL, "
                    "finish_count = finish_count + ? WHERE run_id = ?"
                ),
                [
                    json.dumps(progress.snapshot),
                    progress.inbox_cursor,
                    json.dumps(list(progress.events), default=repr),
                    progress.prompt,
                    time.time(),
                    status,
                    finished,
                    run_id,
                ],
            )
            return self._select_record(cur, run_id)

        return await self.call(park)

    async def finish(
        self,
        run_id: str,
        token: str,
        status: RunStatus,
        *,
        events: Sequence[Mapping[str, Any]],
        result: Any = None,
        error: str | None = None,
    ) -> RunRecord:
        if status not in FINISHED:
            raise ValueError(f"finish() takes a final status, not {status.value!r}")
        result_text = None if status is not RunStatus.COMPLETED else _dump_result(result)
        events_text = json.dumps(list(events), default=repr)

        def finish(cur: Cursor) -> RunRecord:
            cur.execute(
                self.sql(
                    "UPDATE flowkit_runs SET status = ?, owner = NULL, lease_until = NULL, "
                    "snapshot = NULL, events = ?, result = ?, error = ?, updated_at = ?, "
                    "finish_count = finish_count + 1 "
                    "WHERE run_id = ? AND owner = ? AND status = 'running'"
                ),
                [status.value, events_text, result_text, error, time.time(), run_id, token],
            )
            if not cur.rowcount:
                raise LeaseLostError(run_id)
            return self._select_record(cur, run_id)

        return await self.call(finish)

    async def release(self, run_id: str, token: str) -> None:
        def release(cur: Cursor) -> None:
            cur.execute(
                self.sql(
                    "UPDATE flowkit_runs SET owner = NULL, lease_until = NULL "
                    "WHERE run_id = ? AND owner = ?"
                ),
                [run_id, token],
            )
            self.notify(cur)

        await self.call(release)

    async def cancel(self, run_id: str) -> RunRecord:
        def cancel(cur: Cursor) -> RunRecord:
            cur.execute(
                self.sql(
                    "SELECT status, owner, lease_until FROM flowkit_runs "
                    f"WHERE run_id = ?{self.lock_row}"
                ),
                [run_id],
            )
            row = cur.fetchone()
            if row is None:
                raise RunNotFoundError(run_id)
            status, owner, lease_until = row
            if status in {s.value for s in FINISHED}:
                raise RunFinishedError(run_id, status)
            now = time.time()
            if status == "waiting" or owner is None or (lease_until or 0) < now:
                cur.execute(
                    self.sql(
                        "UPDATE flowkit_runs SET status = 'cancelled', owner = NULL, "
                        "lease_until = NULL, snapshot = NULL, updated_at = ?, "
                        "finish_count = finish_count + 1 WHERE run_id = ?"
                    ),
                    [now, run_id],
                )
            else:
                cur.execute(
                    self.sql("UPDATE flowkit_runs SET cancel_requested = 1 WHERE run_id = ?"),
                    [run_id],
                )
            return self._select_record(cur, run_id)

        return await self.call(cancel)

    async def delete(self, run_id: str) -> None:
        def delete(cur: Cursor) -> None:
            record = self._select_record(cur, run_id)
            if record.status not in FINISHED:
                raise RunNotFinishedError(run_id, record.status.value)
            cur.execute(self.sql("DELETE FROM flowkit_inbox WHERE run_id = ?"), [run_id])
            cur.execute(self.sql("DELETE FROM flowkit_runs WHERE run_id = ?"), [run_id])

        await self.call(delete)

    async def wait_for_work(self, timeout: float) -> None:
        await anyio.sleep(timeout)


def _dump_result(result: Any) -> str:
    """The result as ``{"value": ...}``; a value JSON cannot hold is stored as its repr."""
    try:
        return json.dumps({"value": result})
    except (TypeError, ValueError):
        return json.dumps({"value": repr(result)})

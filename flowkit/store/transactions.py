"""The plumbing of the SQL run stores: each call one transaction, in a worker thread (or on
the calling thread where the database can never make it wait), retried through outages, on a
schema migrated on first use; and how a row becomes a ``RunRecord``.

A subclass supplies the connection, the placeholder style, the row-lock clauses, which
errors are worth retrying and whether a transaction may run on the calling thread
(``sqlite.py``, ``postgres.py``); ``sql.py`` holds the operations.
"""

from __future__ import annotations

import abc
import contextlib
import json
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Generic, Protocol, TypeVar

import anyio.to_thread
import attrs

from .base import InboxEvent, Progress, RunRecord, RunStatus
from .errors import CorruptRunError, RunNotFoundError, StoreError, StoreUnavailableError
from .schema import MIGRATIONS, SCHEMA_VERSION

__all__ = [
    "RECORD_COLUMNS",
    "Cursor",
    "Inline",
    "Rows",
    "SqlTransactions",
    "dump_result",
    "inbox_from_rows",
    "load_column",
    "record_from_row",
]

_T = TypeVar("_T")

RECORD_COLUMNS = (
    "run_id, workflow, status, prompt, events, result, error, owner, cancel_requested, "
    "created_at, updated_at, finish_count"
)


class Cursor(Protocol):
    """The part of a DB-API cursor the store uses."""

    @property
    def rowcount(self) -> int: ...

    @property
    def description(self) -> Sequence[Any] | None: ...

    def execute(self, sql: Any, params: Sequence[Any] = ..., /) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


def load_column(run_id: str, what: str, text: Any) -> Any:
    """A JSON column of a run; CorruptRunError if it cannot be parsed."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise CorruptRunError(run_id, f"its {what} cannot be parsed as JSON ({exc})") from None


def record_from_row(row: Sequence[Any]) -> RunRecord:
    """The record a row of ``RECORD_COLUMNS`` holds; CorruptRunError if it is not readable."""
    run_id = str(row[0])
    try:
        status = RunStatus(row[2])
    except ValueError:
        raise CorruptRunError(run_id, f"unknown status {row[2]!r}") from None
    events = load_column(run_id, "event list", row[4])
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise CorruptRunError(run_id, "its event list is not a list of objects")
    result = load_column(run_id, "result", row[5])
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


@attrs.frozen
class Rows:
    """What one statement returned: its rows (``RETURNING`` or ``SELECT``) and row count."""

    rows: list[tuple[Any, ...]]
    rowcount: int


def _fetch(cur: Cursor, sql: str, params: Sequence[Any]) -> Rows:
    cur.execute(sql, params)
    rows = [tuple(row) for row in cur.fetchall()] if cur.description is not None else []
    return Rows(rows, cur.rowcount)


@attrs.frozen
class Inline(Generic[_T]):
    """What a transaction run on the calling thread returned."""

    value: _T


class SqlTransactions:
    """Transactions on a SQL database reached through a DB-API driver.

    Args:
        retry_for: How long (seconds) to keep retrying when the database is unreachable
            before raising ``StoreUnavailableError``.
    """

    placeholder = "?"
    # UPDATE ... RETURNING and data-modifying WITH: one round trip where SELECTs would follow.
    returning = False
    lock_row = ""  # appended to a SELECT that precedes an UPDATE of the same row
    skip_locked = ""  # appended to the SELECT that picks a run to claim

    def __init__(self, url: str, *, retry_for: float = 30.0) -> None:
        self.url = url
        self.retry_for = retry_for
        self._migrated = False

    # -- what a database supplies ------------------------------------------------------

    @abc.abstractmethod
    def transaction(self, atomic: bool = True) -> AbstractContextManager[Cursor]:
        """A cursor in a write transaction, committed on success, rolled back on error.

        With ``atomic=False`` the caller's statements are each complete on their own, and a
        database may run them without a transaction around them (fewer round trips).
        """

    @abc.abstractmethod
    def is_transient(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the database is (briefly) unreachable or busy: retry."""

    def is_conflict(self, exc: BaseException) -> bool:
        """Whether ``exc`` is a unique-constraint violation."""
        return False

    def lock_schema(self, cur: Cursor) -> None:
        """Keep two processes from migrating at once (inside the migration's transaction)."""

    def notify(self, cur: Cursor) -> None:
        """Tell waiting workers that a run has work (inside the transaction that gave it)."""

    def close_sync(self) -> None:
        """Close the connections (in a worker thread)."""

    # -- plumbing ----------------------------------------------------------------------

    def sql(self, text: str) -> str:
        """``text`` with its ``?`` placeholders in the driver's style."""
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    async def call(self, fn: Callable[..., _T], *args: Any, atomic: bool = True) -> _T:
        """Run ``fn(cursor, *args)`` in one transaction, retrying outages.

        All of it runs in one trip to a worker thread, unless the database can run it on
        the calling thread without waiting (:meth:`inline_transaction`). ``atomic=False``:
        see :meth:`transaction`.
        """
        if self._migrated:
            done = self._run_inline(fn, args)
            if done is not None:
                return done.value
        return await anyio.to_thread.run_sync(self._call_sync, fn, args, atomic)

    async def fetch(self, sql: str, params: Sequence[Any]) -> Rows:
        """Run one statement as a transaction of its own, retrying outages; what it returned.

        On the event loop's thread where the database can do that without making the loop
        wait (:meth:`fetch_on_loop`), else as :meth:`call` does.
        """
        if self._migrated:
            rows = await self.fetch_on_loop(sql, params)
            if rows is not None:
                return rows
        return await self.call(_fetch, sql, params, atomic=False)

    async def fetch_on_loop(self, sql: str, params: Sequence[Any]) -> Rows | None:
        """Run one statement from the event loop, waiting on its socket, or return None (run it
        in a worker thread) if that cannot be done now. A statement that fails here must
        change nothing: the caller runs it again. The default never can."""
        return None

    def inline_transaction(self) -> AbstractContextManager[Cursor | None]:
        """A write transaction on the calling thread, or None (use a worker thread) if taking
        it could wait: on another writer's lock, the network, or a flush to disk.

        A database reached over a network always could: the default is always None.
        """
        return contextlib.nullcontext()

    def _run_inline(self, fn: Callable[..., _T], args: tuple[Any, ...]) -> Inline[_T] | None:
        try:
            with self.inline_transaction() as cur:
                if cur is None:
                    return None
                value = fn(cur, *args)
        except StoreError:
            raise
        except Exception as exc:
            if self.is_transient(exc):
                return None  # rolled back; a worker thread retries it
            raise self._failure(exc) from exc
        return Inline(value)

    def _failure(self, exc: Exception) -> StoreError:
        return StoreError(f"Run store {self.url}: {type(exc).__name__}: {exc}")

    def _call_sync(self, fn: Callable[..., _T], args: tuple[Any, ...], atomic: bool) -> _T:
        deadline = time.monotonic() + self.retry_for
        delay = 0.05
        while True:
            try:
                if not self._migrated:
                    self._migrate()
                with self.transaction(atomic) as cur:
                    return fn(cur, *args)
            except StoreError:
                raise
            except Exception as exc:
                if not self.is_transient(exc):
                    raise self._failure(exc) from exc
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
        cur.execute(
            self.sql(f"SELECT {RECORD_COLUMNS} FROM flowkit_runs WHERE run_id = ?"), [run_id]
        )
        row = cur.fetchone()
        if row is None:
            raise RunNotFoundError(run_id)
        return record_from_row(row)

    def _update_record(
        self, cur: Cursor, run_id: str, update: str, params: Sequence[Any]
    ) -> RunRecord | None:
        """Run ``update`` (of the row of ``run_id``) and return the row as it is now, or
        ``None`` if it changed no row: one round trip where the database has RETURNING."""
        if self.returning:
            cur.execute(self.sql(f"{update} RETURNING {RECORD_COLUMNS}"), params)
            row = cur.fetchone()
            return None if row is None else record_from_row(row)
        cur.execute(self.sql(update), params)
        return self._select_record(cur, run_id) if cur.rowcount else None

    def _inbox_after(self, cur: Cursor, run_id: str, after: int) -> tuple[InboxEvent, ...]:
        cur.execute(
            self.sql(
                "SELECT number, event FROM flowkit_inbox WHERE run_id = ? AND number > ? "
                "ORDER BY number"
            ),
            [run_id, after],
        )
        return inbox_from_rows(run_id, cur.fetchall())

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


def inbox_from_rows(run_id: str, rows: Sequence[Sequence[Any]]) -> tuple[InboxEvent, ...]:
    """The inbox events that ``(number, event JSON)`` rows hold; CorruptRunError if one is
    not readable."""
    events = []
    for number, text in rows:
        event = load_column(run_id, f"inbox event {number}", text)
        if not isinstance(event, dict):
            raise CorruptRunError(run_id, f"inbox event {number} is not an object")
        events.append(InboxEvent(int(number), event))
    return tuple(events)


def dump_result(result: Any) -> str:
    """The result as ``{"value": ...}``; a value JSON cannot hold is stored as its repr."""
    try:
        return json.dumps({"value": result})
    except (TypeError, ValueError):
        return json.dumps({"value": repr(result)})

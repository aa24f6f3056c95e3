"""A PostgreSQL connection that the event loop drives itself: one statement at a time, sent
and read through libpq's non-blocking calls, waiting on the socket with AnyIO.

A trip to a worker thread and back (100-200 µs on a busy 2-core machine) costs more than a
statement on a nearby server (40-50 µs), and a durable park or resume makes two.
psycopg's own async connection serves asyncio only; this serves asyncio and trio alike,
through psycopg's documented libpq layer (``psycopg.pq``).

It runs a statement only when it can start at once, and only returns a result that is
complete: while another task uses the connection, before it is open, or when the statement
fails or the connection breaks, :meth:`LoopConnection.fetch` returns ``None`` and the store
runs the statement in a worker thread as before (that path retries outages and raises the
store's errors). A statement is one autocommit transaction, so a failed one changed nothing.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import anyio.to_thread

from .transactions import Rows

try:
    import psycopg
    from psycopg import pq
    from psycopg.conninfo import make_conninfo
except ImportError:  # pragma: no cover - the store checks for psycopg before making one
    psycopg = None  # type: ignore[assignment]

__all__ = ["LoopConnection"]

_logger = logging.getLogger("flowkit.store")


_TEXT_OIDS = frozenset({19, 25, 1042, 1043, 2278})  # name, text, char, varchar, void
_LOADERS: dict[int, Callable[[str], Any]] = {
    16: lambda text: text == "t",  # bool
    20: int,  # int8
    21: int,  # int2
    23: int,  # int4
    700: float,  # float4
    701: float,  # float8
    114: json.loads,  # json
    3802: json.loads,  # jsonb
}
# Parameter types, as psycopg sends them: a string untyped (the server infers it from where
# it goes), numbers typed.
_INT8, _FLOAT8, _UNKNOWN = 20, 701, 0


def _encode(params: Sequence[Any]) -> tuple[list[bytes | None], list[int]] | None:
    """Parameters as libpq text values and their types; None if one is of another kind."""
    values: list[bytes | None] = []
    types: list[int] = []
    for value in params:
        if value is None or isinstance(value, str):
            values.append(None if value is None else value.encode())
            types.append(_UNKNOWN)
        elif isinstance(value, int) and not isinstance(value, bool):
            values.append(str(value).encode())
            types.append(_INT8)
        elif isinstance(value, float) and math.isfinite(value):
            values.append(repr(value).encode())
            types.append(_FLOAT8)
        else:
            return None
    return values, types


def _rows(result: pq.abc.PGresult) -> Rows:
    loaders = []
    for column in range(result.nfields):
        oid = result.ftype(column)
        loaders.append(None if oid in _TEXT_OIDS else _LOADERS.get(oid))
    rows = []
    for row in range(result.ntuples):
        values: list[Any] = []
        for column, load in enumerate(loaders):
            raw = result.get_value(row, column)
            text = None if raw is None else raw.decode()
            values.append(text if text is None or load is None else load(text))
        rows.append(tuple(values))
    return Rows(rows, result.command_tuples or 0)


class LoopConnection:
    """One connection to the server at ``conninfo``, used from the event loop's thread.

    Args:
        conninfo: A libpq connection string or URL.
        timeout: Seconds a statement may take before the connection is dropped (the caller
            then runs it in a worker thread, where it is retried).
    """

    def __init__(self, conninfo: str, *, timeout: float) -> None:
        self._conninfo = make_conninfo(conninfo, client_encoding="UTF8")
        self._timeout = timeout
        self._pgconn: pq.abc.PGconn | None = None
        self._lock = threading.Lock()  # held while a statement runs, or while closing
        self._connect_after = 0.0  # after a failed connection attempt, retry from this time

    async def fetch(self, sql: str, params: Sequence[Any]) -> Rows | None:
        """Run one statement (``%s`` placeholders) and return what it returned, or None if it
        did not run here to a result (see the module docstring)."""
        encoded = _encode(params)
        if encoded is None or not self._lock.acquire(blocking=False):
            return None
        try:
            # A statement that started runs to its end, as it would in a worker thread: a
            # cancelled caller waits for it, so the connection is never left mid-statement.
            with anyio.CancelScope(shield=True, deadline=anyio.current_time() + self._timeout):
                pgconn = self._pgconn or await self._connect()
                if pgconn is None:
                    return None
                rows = await self._run(pgconn, _numbered(sql), *encoded)
                if rows is not None or self._idle():
                    return rows
            self._drop()  # timed out or broken mid-statement
            return None
        except psycopg.Error:  # the connection broke
            self._drop()
            return None
        finally:
            self._lock.release()

    def close(self) -> None:
        """Close the connection (from any thread; it waits for a statement that is running)."""
        with self._lock:
            self._drop()

    async def _connect(self) -> pq.abc.PGconn | None:
        if time.monotonic() < self._connect_after:
            return None
        try:
            pgconn = await anyio.to_thread.run_sync(pq.PGconn.connect, self._conninfo.encode())
        except psycopg.Error:
            pgconn = None
        if pgconn is None or pgconn.status != pq.ConnStatus.OK:
            if pgconn is not None:
                pgconn.finish()
            self._connect_after = time.monotonic() + 1.0
            return None
        try:  # an event loop that cannot wait on a socket (Windows' proactor) never can
            await anyio.wait_writable(pgconn.socket)
        except NotImplementedError:
            pgconn.finish()
            self._connect_after = math.inf
            return None
        pgconn.nonblocking = 1
        pgconn.notice_handler = _log_notice
        self._pgconn = pgconn
        return pgconn

    @staticmethod
    async def _run(
        pgconn: pq.abc.PGconn, sql: bytes, values: list[bytes | None], types: list[int]
    ) -> Rows | None:
        """Send the statement and read all its results; None if it failed."""
        fd = pgconn.socket
        pgconn.send_query_params(sql, values, types)
        while pgconn.flush():
            await anyio.wait_writable(fd)
        rows: Rows | None = None
        failed = False
        while True:
            pgconn.consume_input()
            while pgconn.is_busy():
                await anyio.wait_readable(fd)
                pgconn.consume_input()
            result = pgconn.get_result()
            if result is None:
                return None if failed else rows
            if result.status in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
                rows = _rows(result)
            else:
                failed = True

    def _idle(self) -> bool:
        pgconn = self._pgconn
        return (
            pgconn is not None
            and pgconn.status == pq.ConnStatus.OK
            and pgconn.transaction_status == pq.TransactionStatus.IDLE
        )

    def _drop(self) -> None:
        if self._pgconn is not None:
            self._pgconn.finish()
            self._pgconn = None


def _log_notice(result: pq.abc.PGresult) -> None:
    message = result.error_message.decode(errors="replace").strip()
    _logger.info("PostgreSQL: %s", message)


def _numbered(sql: str) -> bytes:
    """``%s`` placeholders as libpq's ``$1, $2, ...``."""
    parts = sql.split("%s")
    out = [parts[0]]
    for number, part in enumerate(parts[1:], start=1):
        out.append(f"${number}{part}")
    return "".join(out).encode()

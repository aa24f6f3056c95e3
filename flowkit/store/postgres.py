"""The shared run store: PostgreSQL through psycopg 3 and a ``psycopg_pool`` connection pool.

Workers pick runs with ``SELECT ... FOR UPDATE SKIP LOCKED``, so many processes on many
machines claim different runs without waiting on each other, and ``NOTIFY flowkit_runs``
wakes idle workers when a run gets work. A restarted server costs retries: a broken
connection is dropped by the pool and the transaction runs again. The one-statement
operations on a run (create, send, claim, renew, park, finish) run from the event loop
itself when they can (``postgres_loop.py``); everything else runs in worker threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio.to_thread

from .errors import StoreError
from .postgres_loop import LoopConnection
from .sql import SqlRunStore
from .transactions import Cursor, Rows

try:
    import psycopg
    import psycopg_pool
except ImportError:  # pragma: no cover - exercised only without the extra
    psycopg = None  # type: ignore[assignment]  # checked in PostgresRunStore.__init__
    psycopg_pool = None  # type: ignore[assignment]  # checked with psycopg

__all__ = ["PostgresRunStore"]


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


_CHANNEL = "flowkit_runs"


class PostgresRunStore(SqlRunStore):
    """A run store in the PostgreSQL database at ``url`` (tables created on first use).

    Args:
        url: A ``postgresql://`` connection URL.
        max_connections: The pool's size.
        retry_for: How long to retry while the server is unreachable.
        inline: False to run every statement in a worker thread. By default the statement of
            a create, send, claim, renewal, park or finish runs from the event loop itself, on a
            connection of its own, waiting on its socket (a worker thread when that
            connection is busy).

    Raises:
        StoreError: psycopg is not installed.
    """

    placeholder = "%s"
    returning = True
    lock_row = " FOR UPDATE"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(
        self,
        url: str,
        *,
        max_connections: int = 8,
        retry_for: float = 30.0,
        inline: bool = True,
    ) -> None:
        if psycopg is None:
            raise StoreError(
                "The PostgreSQL run store needs psycopg. Install it with: "
                "pip install 'flowkit[postgres]'"
            )
        # Messages and logs show the URL without its password.
        super().__init__(_without_password(url), retry_for=retry_for)
        self._conninfo = url
        self._pool = psycopg_pool.ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            open=False,
            # No ping per checkout: a connection broken by a server restart fails its first
            # statement, the pool drops it, and the call is retried (``is_transient``).
            kwargs={"autocommit": True},
        )
        self._opened = False
        self._open_lock = threading.Lock()
        # The one-statement operations run from the event loop on a connection of their own
        # when it is free: no trip to a worker thread.
        self.inline = inline
        self._loop_connection = LoopConnection(url, timeout=retry_for)
        self._listener: psycopg.Connection[Any] | None = None
        self._listen_lock = threading.Lock()

    @contextmanager
    def transaction(self, atomic: bool = True) -> Iterator[Cursor]:
        if not self._opened:
            with self._open_lock:
                if not self._opened:
                    self._pool.open(wait=False)
                    self._opened = True
        with self._pool.connection(timeout=self.retry_for) as conn:
            if not atomic:  # autocommit: each statement one round trip, no BEGIN / COMMIT
                with conn.cursor() as cur:
                    yield cur
                return
            with conn.transaction(), conn.cursor() as cur:
                yield cur

    async def fetch_on_loop(self, sql: str, params: Sequence[Any]) -> Rows | None:
        if not self.inline:
            return None
        return await self._loop_connection.fetch(sql, params)

    def is_transient(self, exc: BaseException) -> bool:
        return isinstance(exc, (psycopg.OperationalError, psycopg_pool.PoolTimeout))

    def is_conflict(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg.errors.UniqueViolation)

    def lock_schema(self, cur: Cursor) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(4242170001)")

    def notify(self, cur: Cursor) -> None:
        cur.execute(f"NOTIFY {_CHANNEL}")

    def close_sync(self) -> None:
        self._loop_connection.close()
        with self._listen_lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
        if self._opened:
            self._pool.close()
            self._opened = False

    def _listen_sync(self, timeout: float) -> None:
        with self._listen_lock:
            try:
                if self._listener is None or self._listener.closed:
                    self._listener = psycopg.connect(self._conninfo, autocommit=True)
                    self._listener.execute(f"LISTEN {_CHANNEL}")
                for _ in self._listener.notifies(timeout=timeout, stop_after=1):
                    pass
            except psycopg.OperationalError:
                # The server went away: wait here instead of spinning, then reconnect.
                if self._listener is not None:
                    self._listener.close()
                self._listener = None
                threading.Event().wait(timeout)

    async def wait_for_work(self, timeout: float) -> None:
        await anyio.to_thread.run_sync(self._listen_sync, min(timeout, 1.0))

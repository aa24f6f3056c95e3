"""The embedded run store: one SQLite file in WAL mode, shared by the processes of one machine.

Writers take the database lock up front (``BEGIN IMMEDIATE``), so two processes never both
read a run as free and then both claim it; readers are not blocked (WAL).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from .sql import SqlRunStore
from .transactions import Cursor

__all__ = ["SQLiteRunStore"]


class SQLiteRunStore(SqlRunStore):
    """A run store in the SQLite file at ``path`` (created on first use).

    A transaction runs on the calling (event loop) thread when it can take the write lock at
    once, and in a worker thread when another connection holds it. On the loop it costs the
    CPU time of its statements (tens of microseconds, less than a trip to a thread) and never
    waits: its connection does not wait for locks, and it does not checkpoint the write-ahead
    log (which writes to and flushes the database file): the store's own checkpoint thread
    does that, every ``checkpoint_every`` such transactions, while transactions go on.

    Args:
        path: The database file.
        retry_for: How long to retry while the file is locked by another process.
        inline: False to run every transaction in a worker thread.
    """

    # Transactions on the event loop's thread after which the checkpoint thread runs. A
    # checkpoint holds writers back for a moment (they go to a worker thread and wait):
    # rare enough to stay out of the 99th percentile, and the log stays near SQLite's own
    # default size (a few MB: its autocheckpoint runs every 1,000 pages).
    checkpoint_every = 1000

    def __init__(self, path: str | Path, *, retry_for: float = 30.0, inline: bool = True) -> None:
        super().__init__(f"sqlite:///{path}", retry_for=retry_for)
        self.path = Path(path)
        self.inline = inline
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        # The connection of the transactions on the calling thread (opened by a worker
        # thread, with the schema); its lock is only ever tried, never waited for.
        self._inline_lock = threading.Lock()
        self._inline: sqlite3.Connection | None = None
        self._since_checkpoint = 0
        self._checkpointer: ThreadPoolExecutor | None = None  # made on first use
        self._checkpointing: Future[None] | None = None

    def _open(self, timeout: float) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            if self.path.parent != Path() and not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            # One connection, used by one worker thread at a time (the lock below).
            self._connection = self._open(self.retry_for)
        return self._connection

    @contextmanager
    def transaction(self, atomic: bool = True) -> Iterator[Cursor]:
        # Always BEGIN IMMEDIATE: it costs no round trip here, and takes the write lock first.
        with self._lock:
            yield from _immediate(self._connect())
        if self.inline and self._inline is None and self._migrated:
            self._open_inline()

    def _open_inline(self) -> None:
        """Open the calling thread's connection (in a worker thread: opening reads the file)."""
        try:
            conn = self._open(0.0)  # a lock held elsewhere: fail at once, never wait
            conn.execute("PRAGMA wal_autocheckpoint=0")
        except sqlite3.Error:
            return  # the next transaction in a worker thread tries again
        with self._inline_lock:
            self._inline = conn

    @contextmanager
    def inline_transaction(self) -> Iterator[Cursor | None]:
        conn = self._inline
        checkpointing = self._checkpointing
        if (
            conn is None
            # While the checkpoint runs, this process's writers wait for it in worker
            # threads (it holds their lock): the loop's writes would starve it.
            or (checkpointing is not None and not checkpointing.done())
            or not self._inline_lock.acquire(blocking=False)
        ):
            yield None
            return
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:  # another connection writes: don't wait for it
                yield None
                return
            yield from _immediate(conn, begun=True)
            self._since_checkpoint += 1
            if self._since_checkpoint >= self.checkpoint_every and (
                self._checkpointing is None or self._checkpointing.done()
            ):
                self._since_checkpoint = 0
                if self._checkpointer is None:
                    self._checkpointer = ThreadPoolExecutor(1, "flowkit-sqlite-checkpoint")
                self._checkpointing = self._checkpointer.submit(self._checkpoint)
        finally:
            self._inline_lock.release()

    def _checkpoint(self) -> None:
        """Copy the write-ahead log into the database file, so that it starts over.

        RESTART holds writers back while it runs: a transaction on the loop does not wait
        for it (it cannot take the lock, so it runs in a worker thread instead).
        """
        with self._lock:
            self._connect().execute("PRAGMA wal_checkpoint(RESTART)")

    def is_transient(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)

    def close_sync(self) -> None:
        checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            checkpointer.shutdown(wait=True)
        with self._lock, self._inline_lock:
            for conn in (self._connection, self._inline):
                if conn is not None:
                    conn.close()
            self._connection = self._inline = None


def _immediate(conn: sqlite3.Connection, *, begun: bool = False) -> Iterator[Cursor]:
    """A cursor in a ``BEGIN IMMEDIATE`` transaction of ``conn``: committed if the ``with``
    body returns, rolled back if it raises."""
    cur = conn.cursor()
    if not begun:
        cur.execute("BEGIN IMMEDIATE")
    try:
        yield cur
    except BaseException:
        conn.rollback()
        raise
    else:
        conn.commit()
    finally:
        cur.close()

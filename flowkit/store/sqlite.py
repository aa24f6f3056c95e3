"""The embedded run store: one SQLite file in WAL mode, shared by the processes of one machine.

Writers take the database lock up front (``BEGIN IMMEDIATE``), so two processes never both
read a run as free and then both claim it; readers are not blocked (WAL).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .sql import SqlRunStore
from .transactions import Cursor

__all__ = ["SQLiteRunStore"]


class SQLiteRunStore(SqlRunStore):
    """A run store in the SQLite file at ``path`` (created on first use).

    Args:
        path: The database file.
        retry_for: How long to retry while the file is locked by another process.
    """

    def __init__(self, path: str | Path, *, retry_for: float = 30.0) -> None:
        super().__init__(f"sqlite:///{path}", retry_for=retry_for)
        self.path = Path(path)
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            if self.path.parent != Path() and not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            # One connection, used by one worker thread at a time (the lock below).
            conn = sqlite3.connect(
                self.path, timeout=self.retry_for, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._connection = conn
        return self._connection

    @contextmanager
    def transaction(self, atomic: bool = True) -> Iterator[Cursor]:
        # Always BEGIN IMMEDIATE: it costs no round trip here, and takes the write lock first.
        with self._lock:
            conn = self._connect()
            cur = conn.cursor()
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

    def is_transient(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)

    def close_sync(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

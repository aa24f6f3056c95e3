"""The floor of the durable-run benchmark: the same work with the raw database driver only.

A park is one ``INSERT``; an answer one ``UPDATE``; a resume one ``SELECT`` + one ``UPDATE`` in
one transaction; a worker claims with one ``SELECT`` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL)
+ one ``UPDATE``. SQLite runs in WAL mode with ``synchronous=NORMAL``, as flowkit's store does.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

import psycopg

FINISH = "UPDATE floor_runs SET status = 'completed', result = ?, snapshot = NULL WHERE run_id = ?"
CLAIM = "SELECT run_id, snapshot, answer FROM floor_runs WHERE status = 'answered' LIMIT 1"
FLOOR_TABLE = (
    "CREATE TABLE IF NOT EXISTS floor_runs (run_id TEXT PRIMARY KEY, status TEXT NOT NULL, "
    "snapshot TEXT, answer TEXT, result TEXT)"
)


class Floor:
    """One connection; each call one transaction, as a hand-written durable queue would do."""

    def __init__(self, url: str) -> None:
        self.pg = not url.startswith("sqlite:///")
        self.mark = "%s" if self.pg else "?"
        self.conn: Any
        if self.pg:
            self.conn = psycopg.connect(url)
        else:
            # Four worker processes compete for the write lock: wait for it as long as
            # flowkit's store does (sqlite3's default, 5 s, starves one of them at 10,000 runs).
            self.conn = sqlite3.connect(
                url.removeprefix("sqlite:///"),
                timeout=30.0,
                isolation_level=None,
                check_same_thread=False,
            )
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
        self.tx(lambda cur: cur.execute(FLOOR_TABLE))

    def tx(self, fn: Callable[[Any], Any]) -> Any:
        if self.pg:
            with self.conn.transaction(), self.conn.cursor() as cur:
                return fn(cur)
        cur = self.conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            out = fn(cur)
        except BaseException:
            self.conn.rollback()
            raise
        self.conn.commit()
        return out

    def sql(self, text: str) -> str:
        return text.replace("?", self.mark)

    def park(
        self, run_id: str, snapshot: str, status: str = "waiting", answer: str | None = None
    ) -> None:
        self.tx(
            lambda cur: cur.execute(
                self.sql(
                    "INSERT INTO floor_runs (run_id, status, snapshot, answer) VALUES (?, ?, ?, ?)"
                ),
                [run_id, status, snapshot, answer],
            )
        )

    def answer(self, run_id: str, answer: str) -> None:
        query = self.sql("UPDATE floor_runs SET status = 'answered', answer = ? WHERE run_id = ?")
        self.tx(lambda cur: cur.execute(query, [answer, run_id]))

    def resume(self, run_id: str) -> None:
        def resume(cur: Any) -> None:
            lock = " FOR UPDATE" if self.pg else ""
            query = f"SELECT snapshot, answer FROM floor_runs WHERE run_id = ?{lock}"
            cur.execute(self.sql(query), [run_id])
            snapshot, answer = cur.fetchone()
            json.loads(snapshot)
            cur.execute(self.sql(FINISH), [json.dumps(answer), run_id])

        self.tx(resume)

    def work(self) -> int:
        done = 0
        lock = " FOR UPDATE SKIP LOCKED" if self.pg else ""

        def one(cur: Any) -> bool:
            cur.execute(CLAIM + lock)
            row = cur.fetchone()
            if row is None:
                return False
            json.loads(row[1])
            cur.execute(
                self.sql(FINISH),
                [json.dumps(row[2]), row[0]],
            )
            return True

        while self.tx(one):
            done += 1
        return done

    def count(self, status: str) -> int:
        return int(
            self.tx(
                lambda cur: (
                    cur.execute(
                        self.sql("SELECT count(*) FROM floor_runs WHERE status = ?"), [status]
                    ),
                    cur.fetchone()[0],
                )[1]
            )
        )

    def close(self) -> None:
        self.conn.close()

"""The run store's operations in SQL, written once for SQLite and PostgreSQL.

Each method runs one short transaction, in one trip to a worker thread or on the calling thread
where that can never wait (see ``transactions.py``), so the event loop never waits on the
database. Writes of a run's owner
name its lease token. The hot paths (claim, park, finish, renew) are single statements where
the database allows (``UPDATE ... RETURNING`` on PostgreSQL, run without BEGIN / COMMIT: one
round trip); SQLite runs the same steps as a few statements in one ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import anyio

from .base import FINISHED, Claim, InboxEvent, Progress, RunRecord, RunStatus, RunStore
from .errors import (
    CorruptRunError,
    LeaseLostError,
    RunFinishedError,
    RunNotFinishedError,
    RunNotFoundError,
)
from .transactions import (
    RECORD_COLUMNS,
    Cursor,
    SqlTransactions,
    dump_result,
    inbox_from_rows,
    load_column,
    record_from_row,
)

# Queue an event: bump the run's inbox count and insert the event under that number, unless
# the idempotency key was seen; wake the workers (PostgreSQL: a data-modifying WITH).
_SEND_NOW = (
    "WITH run AS (UPDATE flowkit_runs SET inbox_count = inbox_count + 1, status = 'running', "
    "updated_at = ? WHERE run_id = ? AND status IN ('running', 'waiting') AND NOT EXISTS "
    "(SELECT 1 FROM flowkit_inbox WHERE run_id = ? AND idempotency_key = ?) "
    "RETURNING inbox_count), "
    "queued AS (INSERT INTO flowkit_inbox (run_id, number, idempotency_key, event, created_at) "
    "SELECT ?, inbox_count, ?, ?, ? FROM run RETURNING number) "
    "SELECT number, pg_notify('flowkit_runs', '') FROM queued"
)
# What a claim reads: the record, then (from _CLAIM_START) what to resume from.
_CLAIM_COLUMNS = f"{RECORD_COLUMNS}, start_kwargs, snapshot, inbox_cursor, inbox_count"
_CLAIM_START = RECORD_COLUMNS.count(",") + 1
# The inbox after the checkpoint as a JSON array of [number, event text] (PostgreSQL).
_INBOX_JSON = (
    "(SELECT json_agg(json_build_array(i.number, i.event) ORDER BY i.number) "
    "FROM flowkit_inbox i WHERE i.run_id = flowkit_runs.run_id "
    "AND i.number > flowkit_runs.inbox_cursor)"
)

__all__ = ["SqlRunStore"]


class SqlRunStore(SqlTransactions, RunStore):
    """A :class:`RunStore` over a SQL database reached through a DB-API driver.

    Args:
        url: The store's URL (for messages).
        retry_for: How long (seconds) to keep retrying when the database is unreachable
            before raising ``StoreUnavailableError``.
    """

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

        return await self.call(create, atomic=False)

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

        return await self.call(create, atomic=False)

    async def get(self, run_id: str) -> RunRecord:
        return await self.call(self._select_record, run_id)

    async def list(
        self, status: RunStatus | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[RunRecord]:
        def select(cur: Cursor) -> list[RunRecord]:
            where, params = ("WHERE status = ?", [status.value]) if status else ("", [])
            cur.execute(
                self.sql(
                    f"SELECT {RECORD_COLUMNS} FROM flowkit_runs {where} "
                    "ORDER BY created_at, run_id LIMIT ? OFFSET ?"
                ),
                [*params, limit, offset],
            )
            return [record_from_row(row) for row in cur.fetchall()]

        return await self.call(select)

    async def send(
        self, run_id: str, event: Mapping[str, Any], idempotency_key: str | None = None
    ) -> bool:
        text = json.dumps(dict(event))

        def send_now(cur: Cursor) -> bool:
            # The common case in one statement: the run waits or runs and the key is new.
            now = time.time()
            try:
                cur.execute(
                    self.sql(_SEND_NOW),
                    [now, run_id, run_id, idempotency_key, run_id, idempotency_key, text, now],
                )
            except Exception as exc:
                if self.is_conflict(exc):  # the same key, sent at the same moment
                    return False
                raise
            return cur.fetchone() is not None

        if self.returning and await self.call(send_now, atomic=False):
            return True
        # Anything else (no such run, finished, the key seen before) in one transaction.

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
            token = uuid.uuid4().hex
            where = "status = 'running' AND (owner IS NULL OR lease_until < ?)"
            params: list[Any] = [now]
            if run_id is not None:
                where += " AND run_id = ?"
                params.append(run_id)
            if workflows is not None:
                where += f" AND workflow IN ({', '.join('?' for _ in workflows)})"
                params.extend(workflows)
            # By id: that row, through the primary key. Else the oldest first, in the order of
            # the (status, created_at) index: no sort of every running run per claim.
            order = "" if run_id is not None else " ORDER BY created_at"
            pick = f"SELECT run_id FROM flowkit_runs WHERE {where}{order} LIMIT 1"
            take = "UPDATE flowkit_runs SET owner = ?, lease_until = ?, claims = claims + 1"
            if self.returning:
                # One statement (one round trip): pick, take, and read the row and its inbox.
                cur.execute(
                    self.sql(
                        f"{take} WHERE run_id = ({pick}{self.skip_locked}) "
                        f"RETURNING {_CLAIM_COLUMNS}, {_INBOX_JSON}"
                    ),
                    [token, now + lease, *params],
                )
                row = cur.fetchone()
                if row is None:
                    return None
                inbox_rows = row[-1] or []
            else:
                cur.execute(self.sql(pick), params)
                picked = cur.fetchone()
                if picked is None:
                    return None
                cur.execute(self.sql(f"{take} WHERE run_id = ?"), [token, now + lease, picked[0]])
                cur.execute(
                    self.sql(f"SELECT {_CLAIM_COLUMNS} FROM flowkit_runs WHERE run_id = ?"),
                    [picked[0]],
                )
                row = cur.fetchone()
                inbox_rows = []
            chosen = str(row[0])
            try:
                record = record_from_row(row)
                start = load_column(chosen, "start arguments", row[_CLAIM_START])
                snapshot = load_column(chosen, "snapshot", row[_CLAIM_START + 1])
                if not isinstance(start, dict) or not isinstance(snapshot, (dict, type(None))):
                    raise CorruptRunError(chosen, "its snapshot or start arguments are not objects")
                cursor, count = int(row[_CLAIM_START + 2]), int(row[_CLAIM_START + 3])
                if self.returning:
                    inbox = inbox_from_rows(chosen, inbox_rows)
                else:
                    inbox = self._inbox_after(cur, chosen, cursor) if count > cursor else ()
            except CorruptRunError as exc:
                # Fail the row so that no worker claims it again; report it after committing.
                cur.execute(
                    self.sql(
                        "UPDATE flowkit_runs SET status = 'failed', error = ?, owner = NULL, "
                        "lease_until = NULL, finish_count = finish_count + 1 "
                        "WHERE run_id = ? AND owner = ?"
                    ),
                    [str(exc), chosen, token],
                )
                return exc
            return Claim(record, token, start, snapshot, inbox)

        outcome = await self.call(claim, atomic=not self.returning)
        if isinstance(outcome, CorruptRunError):
            raise outcome
        return outcome

    async def renew(
        self, run_id: str, token: str, lease: float, progress: Progress | None, after: int = 0
    ) -> tuple[tuple[InboxEvent, ...], bool]:
        def renew(cur: Cursor) -> tuple[tuple[InboxEvent, ...], bool]:
            sets, written = self._progress_sets(progress)
            update = (
                f"UPDATE flowkit_runs SET {sets}lease_until = ? "
                "WHERE run_id = ? AND owner = ? AND status = 'running'"
            )
            params = [*written, time.time() + lease, run_id, token]
            if self.returning:
                cur.execute(self.sql(f"{update} RETURNING cancel_requested, inbox_count"), params)
                row = cur.fetchone()
            else:
                cur.execute(self.sql(update), params)
                row = None
                if cur.rowcount:
                    cur.execute(
                        self.sql(
                            "SELECT cancel_requested, inbox_count FROM flowkit_runs "
                            "WHERE run_id = ?"
                        ),
                        [run_id],
                    )
                    row = cur.fetchone()
            if row is None:
                raise LeaseLostError(run_id)
            inbox = self._inbox_after(cur, run_id, after) if int(row[1]) > after else ()
            return inbox, bool(row[0])

        return await self.call(renew, atomic=False)

    def _progress_sets(self, p: Progress | None) -> tuple[str, Sequence[Any]]:
        """The ``SET`` assignments (each followed by ``, ``) that write a checkpoint."""
        if p is None:
            return "", ()
        return (
            "snapshot = ?, inbox_cursor = ?, events = ?, prompt = ?, updated_at = ?, ",
            (
                json.dumps(p.snapshot),
                p.inbox_cursor,
                json.dumps(list(p.events), default=repr),
                p.prompt,
                time.time(),
            ),
        )

    async def park(
        self, run_id: str, token: str, progress: Progress
    ) -> RunRecord | tuple[InboxEvent, ...]:
        sets, written = self._progress_sets(progress)

        def park_now(cur: Cursor) -> RunRecord | None:
            # Parked (or cancelled, if asked) in one statement unless events arrived.
            return self._update_record(
                cur,
                run_id,
                f"UPDATE flowkit_runs SET {sets}"
                "status = CASE WHEN cancel_requested <> 0 THEN 'cancelled' ELSE 'waiting' END, "
                "finish_count = finish_count + CASE WHEN cancel_requested <> 0 THEN 1 ELSE 0 END, "
                "owner = NULL, lease_until = NULL "
                "WHERE run_id = ? AND owner = ? AND status = 'running' AND inbox_count <= ?",
                [*written, run_id, token, progress.inbox_cursor],
            )

        def park_or_deliver(cur: Cursor) -> RunRecord | tuple[InboxEvent, ...]:
            cur.execute(
                self.sql(
                    "SELECT inbox_count FROM flowkit_runs "
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
            parked = park_now(cur)
            assert parked is not None  # the row is locked and matches
            return parked

        parked = await self.call(park_now, atomic=False)
        return parked if parked is not None else await self.call(park_or_deliver)

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
        result_text = None if status is not RunStatus.COMPLETED else dump_result(result)
        events_text = json.dumps(list(events), default=repr)

        def finish(cur: Cursor) -> RunRecord:
            record = self._update_record(
                cur,
                run_id,
                "UPDATE flowkit_runs SET status = ?, owner = NULL, lease_until = NULL, "
                "snapshot = NULL, events = ?, result = ?, error = ?, updated_at = ?, "
                "finish_count = finish_count + 1 "
                "WHERE run_id = ? AND owner = ? AND status = 'running'",
                [status.value, events_text, result_text, error, time.time(), run_id, token],
            )
            if record is None:
                raise LeaseLostError(run_id)
            return record

        return await self.call(finish, atomic=False)

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

        await self.call(release, atomic=False)

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
            cur.execute(self.sql("SELECT status FROM flowkit_runs WHERE run_id = ?"), [run_id])
            row = cur.fetchone()
            if row is None:
                raise RunNotFoundError(run_id)
            # A row with a status flowkit does not know (another program's) may be deleted.
            if row[0] in (RunStatus.RUNNING.value, RunStatus.WAITING.value):
                raise RunNotFinishedError(run_id, row[0])
            cur.execute(self.sql("DELETE FROM flowkit_inbox WHERE run_id = ?"), [run_id])
            cur.execute(self.sql("DELETE FROM flowkit_runs WHERE run_id = ?"), [run_id])

        await self.call(delete)

    async def wait_for_work(self, timeout: float) -> None:
        await anyio.sleep(timeout)

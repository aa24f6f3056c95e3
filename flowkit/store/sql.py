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
import attrs

from .base import FINISHED, Claim, InboxEvent, Progress, RunRecord, RunStatus, RunStore
from .errors import (
    CorruptRunError,
    LeaseLostError,
    RunFinishedError,
    RunNotFinishedError,
    RunNotFoundError,
    StoreError,
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


def _claim_from_row(row: Sequence[Any], token: str) -> Claim:
    """The claim a row of ``_CLAIM_COLUMNS`` holds, without its inbox; CorruptRunError if
    the row is not readable."""
    chosen = str(row[0])
    record = record_from_row(row)
    start = load_column(chosen, "start arguments", row[_CLAIM_START])
    snapshot = load_column(chosen, "snapshot", row[_CLAIM_START + 1])
    if not isinstance(start, dict) or not isinstance(snapshot, (dict, type(None))):
        raise CorruptRunError(chosen, "its snapshot or start arguments are not objects")
    return Claim(record, token, start, snapshot, ())


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

        now = time.time()
        await self.fetch(
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

        if self.returning:
            # The common case in one statement: the run waits or runs and the key is new.
            now = time.time()
            params = [now, run_id, run_id, idempotency_key, run_id, idempotency_key, text, now]
            try:
                if (await self.fetch(self.sql(_SEND_NOW), params)).rows:
                    return True
            except StoreError as exc:
                if exc.__cause__ is None or not self.is_conflict(exc.__cause__):
                    raise
                # The same key, sent at the same moment: the transaction below says so.
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
        if not self.returning:
            outcome = await self.call(self._claim_in_steps, pick, take, params, token, lease)
        else:
            # One statement (one round trip): pick, take, and read the row and its inbox.
            found = await self.fetch(
                self.sql(
                    f"{take} WHERE run_id = ({pick}{self.skip_locked}) "
                    f"RETURNING {_CLAIM_COLUMNS}, {_INBOX_JSON}"
                ),
                [token, now + lease, *params],
            )
            if not found.rows:
                return None
            row = found.rows[0]
            try:
                claim = _claim_from_row(row, token)
                inbox = inbox_from_rows(claim.record.run_id, row[-1] or [])
                outcome = attrs.evolve(claim, inbox=inbox)
            except CorruptRunError as exc:
                outcome = exc
                await self.call(self._fail_claimed, exc, token, atomic=False)
        if isinstance(outcome, CorruptRunError):
            raise outcome
        return outcome

    def _claim_in_steps(
        self, cur: Cursor, pick: str, take: str, params: Sequence[Any], token: str, lease: float
    ) -> Claim | CorruptRunError | None:
        """A claim where the database has no ``UPDATE ... RETURNING`` (in one transaction)."""
        cur.execute(self.sql(pick), params)
        picked = cur.fetchone()
        if picked is None:
            return None
        cur.execute(self.sql(f"{take} WHERE run_id = ?"), [token, time.time() + lease, picked[0]])
        cur.execute(
            self.sql(f"SELECT {_CLAIM_COLUMNS} FROM flowkit_runs WHERE run_id = ?"), [picked[0]]
        )
        row = cur.fetchone()
        try:
            claim = _claim_from_row(row, token)
            cursor, count = int(row[_CLAIM_START + 2]), int(row[_CLAIM_START + 3])
            if count > cursor:
                claim = attrs.evolve(claim, inbox=self._inbox_after(cur, str(row[0]), cursor))
            return claim
        except CorruptRunError as exc:
            self._fail_claimed(cur, exc, token)
            return exc

    def _fail_claimed(self, cur: Cursor, exc: CorruptRunError, token: str) -> None:
        """Fail a claimed row that cannot be read, so that no worker claims it again."""
        cur.execute(
            self.sql(
                "UPDATE flowkit_runs SET status = 'failed', error = ?, owner = NULL, "
                "lease_until = NULL, finish_count = finish_count + 1 "
                "WHERE run_id = ? AND owner = ?"
            ),
            [str(exc), exc.run_id, token],
        )

    async def renew(
        self, run_id: str, token: str, lease: float, progress: Progress | None, after: int = 0
    ) -> tuple[tuple[InboxEvent, ...], bool]:
        sets, written = self._progress_sets(progress)
        update = (
            f"UPDATE flowkit_runs SET {sets}lease_until = ? "
            "WHERE run_id = ? AND owner = ? AND status = 'running'"
        )
        params = [*written, time.time() + lease, run_id, token]
        if self.returning:
            found = await self.fetch(
                self.sql(f"{update} RETURNING cancel_requested, inbox_count"), params
            )
            row: Sequence[Any] | None = found.rows[0] if found.rows else None
        else:
            row = await self.call(self._update_and_read, run_id, update, params, atomic=False)
        if row is None:
            raise LeaseLostError(run_id)
        inbox = await self.call(self._inbox_after, run_id, after) if int(row[1]) > after else ()
        return inbox, bool(row[0])

    def _update_and_read(
        self, cur: Cursor, run_id: str, update: str, params: Sequence[Any]
    ) -> Sequence[Any] | None:
        cur.execute(self.sql(update), params)
        if not cur.rowcount:
            return None
        cur.execute(
            self.sql("SELECT cancel_requested, inbox_count FROM flowkit_runs WHERE run_id = ?"),
            [run_id],
        )
        row: Sequence[Any] | None = cur.fetchone()
        return row

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

        # Parked (or cancelled, if asked) in one statement unless events arrived.
        park_now = (
            f"UPDATE flowkit_runs SET {sets}"
            "status = CASE WHEN cancel_requested <> 0 THEN 'cancelled' ELSE 'waiting' END, "
            "finish_count = finish_count + CASE WHEN cancel_requested <> 0 THEN 1 ELSE 0 END, "
            "owner = NULL, lease_until = NULL "
            "WHERE run_id = ? AND owner = ? AND status = 'running' AND inbox_count <= ?"
        )
        park_params = [*written, run_id, token, progress.inbox_cursor]

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
            parked = self._update_record(cur, run_id, park_now, park_params)
            assert parked is not None  # the row is locked and matches
            return parked

        parked = await self._update(run_id, park_now, park_params)
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

        record = await self._update(
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

    async def _update(self, run_id: str, update: str, params: Sequence[Any]) -> RunRecord | None:
        """Run ``update`` (of the row of ``run_id``) on its own; the row as it is now, or
        ``None`` if it changed no row: one statement where the database has RETURNING."""
        if not self.returning:
            return await self.call(self._update_record, run_id, update, params, atomic=False)
        found = await self.fetch(self.sql(f"{update} RETURNING {RECORD_COLUMNS}"), params)
        return record_from_row(found.rows[0]) if found.rows else None

    async def wait_for_work(self, timeout: float) -> None:
        await anyio.sleep(timeout)

"""The run store's operations in SQL, written once for SQLite and PostgreSQL.

Each method runs one short transaction in a worker thread (see ``transactions.py``), so the
event loop never waits on the database. Writes of a run's owner name its lease token.
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
    load_column,
    record_from_row,
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
                start = load_column(chosen, "start arguments", start_text)
                snapshot = load_column(chosen, "snapshot", snapshot_text)
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
        result_text = None if status is not RunStatus.COMPLETED else dump_result(result)
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

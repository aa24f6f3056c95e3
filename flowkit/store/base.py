"""What a run store is: the records it holds and :class:`RunStore`, the interface of every store.

A store holds one row per durable run (its workflow's name, status, owner and lease, last
snapshot, the events it streamed so far, its prompt, result or error) and an inbox of events
sent to it. Stores differ only in the database under them (``sqlite.py``, ``postgres.py``);
``flowkit.testing`` checks that one behaves as this module says.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import attrs

__all__ = [
    "FINISHED",
    "Claim",
    "InboxEvent",
    "Progress",
    "RunRecord",
    "RunStatus",
    "RunStore",
]


class RunStatus(str, enum.Enum):
    """Where a durable run is: ``running`` has work to do (queued, answered, or being driven)."""

    RUNNING = "running"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})


@attrs.frozen
class RunRecord:
    """One durable run as the store holds it (without its snapshot).

    Attributes:
        run_id: The run's id.
        workflow: The name of its workflow (``Workflow.workflow_name``).
        status: Where it is.
        prompt: The text of the last ``InputRequiredEvent`` it streamed, if any.
        events: The events it streamed so far, as ``{"type": ..., "data": {...}}`` dicts.
        result: Its result as JSON data (``None`` unless completed).
        error: Why it failed (``None`` unless failed).
        owner: The lease holder's token while a process drives it.
        cancel_requested: A cancel waits for the process that owns it.
        created_at: When it was started (seconds since the epoch).
        updated_at: When its row last changed.
        finish_count: How many times it was finished (1 once finished; never more).
    """

    run_id: str
    workflow: str
    status: RunStatus
    prompt: str | None = None
    events: tuple[Mapping[str, Any], ...] = ()
    result: Any = None
    error: str | None = None
    owner: str | None = None
    cancel_requested: bool = False
    created_at: float = 0.0
    updated_at: float = 0.0
    finish_count: int = 0

    def to_json(self) -> dict[str, Any]:
        """The record as the JSON object every ``--json`` output of ``flowkit runs`` prints."""
        return {
            "run_id": self.run_id,
            "workflow": self.workflow,
            "status": self.status.value,
            "prompt": self.prompt,
            "result": self.result,
            "error": self.error,
            "events": list(self.events),
            "cancel_requested": self.cancel_requested,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@attrs.frozen
class InboxEvent:
    """An event sent to a run, kept in the store until a snapshot includes it.

    Attributes:
        number: Its position in the run's inbox (1, 2, ...; no gaps).
        event: The event as JSON data: ``{"type": class name, "data": {...fields}}``.
    """

    number: int
    event: Mapping[str, Any]


@attrs.frozen
class Claim:
    """What a process gets when it claims a run: the lease token and what to resume from.

    Attributes:
        record: The run.
        token: The lease token: every write of the owner names it, so a process whose lease
            expired cannot write.
        start: The StartEvent's keyword arguments (for a run that never ran).
        snapshot: The last checkpoint (``ctx.to_dict()``), or ``None`` for a run that never ran.
        inbox: The events sent since that checkpoint, in order.
    """

    record: RunRecord
    token: str
    start: Mapping[str, Any]
    snapshot: Mapping[str, Any] | None
    inbox: tuple[InboxEvent, ...]


@attrs.frozen
class Progress:
    """A checkpoint the owner writes: the snapshot and what it covers.

    Attributes:
        snapshot: ``ctx.to_dict()`` of the live run.
        inbox_cursor: The number of the last inbox event sent into the run before the snapshot.
        events: Every event the run streamed so far.
        prompt: The run's prompt.
    """

    snapshot: Mapping[str, Any]
    inbox_cursor: int
    events: Sequence[Mapping[str, Any]]
    prompt: str | None


class RunStore(abc.ABC):
    """A database of durable runs; every method is safe to call from any task or process.

    No database call makes the event loop wait (asyncio or trio): they run in worker threads,
    or on the loop's thread where the database can never make them wait (SQLite's store).
    Use a store as an async context manager, or call :meth:`aclose` when done.
    """

    url: str

    async def __aenter__(self) -> RunStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Close the store's connections."""

    @abc.abstractmethod
    async def create(self, run_id: str, workflow: str, start: Mapping[str, Any]) -> RunRecord:
        """Add a new run with status ``running``, to be started with the StartEvent ``start``."""

    @abc.abstractmethod
    async def create_claimed(
        self, run_id: str, workflow: str, start: Mapping[str, Any], lease: float
    ) -> Claim:
        """Add a new run as :meth:`create` does, already claimed by the caller for ``lease``."""

    @abc.abstractmethod
    async def get(self, run_id: str) -> RunRecord:
        """The run with this id. Raises RunNotFoundError, CorruptRunError."""

    @abc.abstractmethod
    async def list(
        self, status: RunStatus | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[RunRecord]:
        """Runs (of ``status``, or all), oldest first, a page at a time."""

    @abc.abstractmethod
    async def send(
        self, run_id: str, event: Mapping[str, Any], idempotency_key: str | None = None
    ) -> bool:
        """Queue ``event`` in the run's inbox; wake the run if it waits.

        Returns:
            True if queued; False if an event with the same ``idempotency_key`` already was.

        Raises:
            RunNotFoundError: No such run.
            RunFinishedError: The run has finished.
        """

    @abc.abstractmethod
    async def claim(
        self, lease: float, run_id: str | None = None, workflows: Sequence[str] | None = None
    ) -> Claim | None:
        """Take the lease on a run that has work (``run_id``, or any of ``workflows``).

        A run has work when its status is ``running`` and nobody holds a live lease on it.
        Returns ``None`` when there is none.
        """

    @abc.abstractmethod
    async def renew(
        self, run_id: str, token: str, lease: float, progress: Progress | None, after: int = 0
    ) -> tuple[tuple[InboxEvent, ...], bool]:
        """Extend the lease and write ``progress`` if given.

        Returns:
            The inbox events numbered above ``after``, and whether a cancel was requested.

        Raises:
            LeaseLostError: Another process owns the run now.
        """

    @abc.abstractmethod
    async def park(
        self, run_id: str, token: str, progress: Progress
    ) -> RunRecord | tuple[InboxEvent, ...]:
        """Park the run (status ``waiting``, lease released) and return its record, unless
        events arrived after ``progress.inbox_cursor``: then keep the lease and return them.

        A run whose cancel was requested is cancelled instead of parked.

        Raises:
            LeaseLostError: Another process owns the run now.
        """

    @abc.abstractmethod
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
        """End the run with a final status, once. Raises LeaseLostError."""

    @abc.abstractmethod
    async def release(self, run_id: str, token: str) -> None:
        """Give the lease up without finishing (the run keeps its last checkpoint)."""

    @abc.abstractmethod
    async def cancel(self, run_id: str) -> RunRecord:
        """Cancel the run now if nobody drives it, else ask its owner to.

        Raises RunNotFoundError, RunFinishedError."""

    @abc.abstractmethod
    async def delete(self, run_id: str) -> None:
        """Delete a finished run (or a row of unknown status) and its inbox.

        Raises:
            RunNotFoundError: No such run.
            RunNotFinishedError: It is running or waiting: cancel it first.
        """

    @abc.abstractmethod
    async def wait_for_work(self, timeout: float) -> None:
        """Return when a run may have work (sooner than ``timeout`` if the store can tell)."""

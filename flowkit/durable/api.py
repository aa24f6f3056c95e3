"""Durable runs from Python: start, answer, drive, list, show, cancel and delete runs by id.

Examples:
    >>> async def main() -> None:
    ...     async with DurableRuns(HumanInTheLoopWorkflow, "sqlite:///runs.db") as runs:
    ...         record = await runs.run(topic="x")        # drives it until it parks
    ...         await runs.send_event(record.run_id, HumanResponseEvent(response="42"))
    ...         record = await runs.resume(record.run_id)  # here, or in any other process
"""

from __future__ import annotations

import uuid
from types import TracebackType
from typing import Any

from ..events import Event
from ..store import RunRecord, RunStatus, RunStore, open_store
from ..workflow import Workflow
from .driver import drive
from .registry import as_registry, encode_event
from .worker import work

__all__ = ["DEFAULT_LEASE", "DurableRuns"]

DEFAULT_LEASE = 30.0


class DurableRuns:
    """Durable runs of the workflows in ``app``, kept in ``store``.

    Use it as an async context manager (it closes the store at the end). Every method works
    on asyncio and trio; no database call makes the event loop wait.

    Args:
        app: A Workflow class or instance, a list of them, or a :class:`WorkflowRegistry`
            (needed to send event classes other than ``HumanResponseEvent``).
        store: A :class:`RunStore` or a store URL; by default ``$FLOWKIT_STORE``, else
            ``sqlite:///flowkit-runs.db``.
        lease: Seconds a process owns a run without renewing; it renews every third of it.
            A process that dies holding a run delays it by at most this long.
    """

    def __init__(
        self,
        app: object,
        store: RunStore | str | None = None,
        *,
        lease: float = DEFAULT_LEASE,
    ) -> None:
        if not lease > 0:
            raise ValueError(f"lease must be a number of seconds > 0, got {lease!r}")
        self.registry = as_registry(app)
        self.store = store if isinstance(store, RunStore) else open_store(store)
        self.lease = lease

    async def __aenter__(self) -> DurableRuns:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.store.aclose()

    async def start(self, workflow: str | Workflow | None = None, **kwargs: Any) -> RunRecord:
        """Record a new run (status ``running``) for a worker to drive; nothing runs here.

        Args:
            workflow: The workflow's name (or the workflow); optional when the app has one.
            **kwargs: Fields of its StartEvent; JSON values only.

        Raises:
            UnknownWorkflowError: The app has no such workflow.
            TypeError: A keyword argument is not a JSON value.
        """
        chosen = self._workflow(workflow)
        run_id = str(kwargs.pop("run_id", None) or uuid.uuid4())
        return await self.store.create(run_id, chosen.workflow_name, kwargs)

    def _workflow(self, workflow: str | Workflow | None) -> Workflow:
        if workflow is None:
            return self.registry.default_workflow()
        name = workflow.workflow_name if isinstance(workflow, Workflow) else workflow
        return self.registry.workflow(name)

    async def run(self, workflow: str | Workflow | None = None, **kwargs: Any) -> RunRecord:
        """Start a run and drive it here until it finishes or parks; return its record."""
        chosen = self._workflow(workflow)
        run_id = str(kwargs.pop("run_id", None) or uuid.uuid4())
        claim = await self.store.create_claimed(run_id, chosen.workflow_name, kwargs, self.lease)
        outcome = await drive(self.store, self.registry, claim, self.lease)
        return outcome if outcome is not None else await self.store.get(run_id)

    async def resume(self, run_id: str) -> RunRecord:
        """Drive the run here until it finishes or parks, if it has work and nobody owns it.

        Returns its record afterwards (unchanged when there was nothing to do, or when another
        process owns it).

        Raises:
            RunNotFoundError: No such run.
            UnknownWorkflowError: Its workflow is not in this app.
        """
        claim = await self.store.claim(self.lease, run_id=run_id)
        if claim is not None:
            outcome = await drive(self.store, self.registry, claim, self.lease)
            if outcome is not None:
                return outcome
        return await self.store.get(run_id)

    async def send_event(
        self, run_id: str, event: Event, *, idempotency_key: str | None = None
    ) -> bool:
        """Record ``event`` for the run; whichever process claims the run next delivers it.

        Args:
            run_id: The run.
            event: A ``HumanResponseEvent`` or an event class of the registry.
            idempotency_key: Sending again with the same key does nothing.

        Returns:
            False if an event with this ``idempotency_key`` was already recorded, else True.

        Raises:
            RunNotFoundError: No such run.
            RunFinishedError: The run completed, failed or was cancelled.
            UnknownEventError: The event's class is not registered.
        """
        self.registry.check_event(event)
        return await self.store.send(run_id, encode_event(event), idempotency_key)

    async def get(self, run_id: str) -> RunRecord:
        """The run's record: status, prompt, streamed events, result or error."""
        return await self.store.get(run_id)

    async def list(
        self, status: RunStatus | str | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[RunRecord]:
        """Runs (with ``status``, or all), oldest first, one page at a time."""
        chosen = RunStatus(status) if status is not None else None
        return await self.store.list(chosen, limit=limit, offset=offset)

    async def cancel(self, run_id: str) -> RunRecord:
        """Cancel the run; if a process drives it now, that process stops it within a third of
        its lease. Raises RunNotFoundError, RunFinishedError."""
        return await self.store.cancel(run_id)

    async def delete(self, run_id: str) -> None:
        """Delete a finished run. Raises RunNotFoundError, RunNotFinishedError."""
        await self.store.delete(run_id)

    async def work(
        self, *, concurrency: int = 1, poll: float = 0.5, until_idle: bool = False
    ) -> int:
        """Be a worker: claim and drive runs until cancelled (see :func:`work`)."""
        return await work(
            self.store,
            self.registry,
            lease=self.lease,
            concurrency=concurrency,
            poll=poll,
            until_idle=until_idle,
        )

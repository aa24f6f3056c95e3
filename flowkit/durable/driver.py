"""Drive one claimed run: resume it, feed it its inbox, keep the lease, then park or finish it.

The owner checkpoints the run (``ctx.to_dict()``) each time it renews its lease and when the
run goes quiet. Every write names the lease token, so a process that lost its lease (it was
paused or cut off longer than the lease) cannot write over the process that took the run over.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import AsyncIterator, Mapping
from typing import Any

import anyio
import attrs

from ..context import Context
from ..errors import WorkflowCancelledByUser
from ..events import Event, InternalDispatchEvent, StopEvent
from ..handler import WorkflowHandler
from ..store import (
    Claim,
    InboxEvent,
    LeaseLostError,
    Progress,
    RunRecord,
    RunStatus,
    RunStore,
    StoreUnavailableError,
)
from .parking import prompt_of, waits_only_on_outside_input
from .registry import WorkflowRegistry, describe_event

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

__all__ = ["drive"]

_logger = logging.getLogger("flowkit.durable")


@attrs.define
class _Drive:
    """What the owner of one run keeps while it drives it."""

    store: RunStore
    registry: WorkflowRegistry
    claim: Claim
    lease: float
    handler: WorkflowHandler | None = None
    events: list[Mapping[str, Any]] = attrs.Factory(list)
    prompt: str | None = None
    sent: int = 0  # the number of the last inbox event sent into the run
    lost: bool = False
    cancel_requested: bool = False
    failure: str | None = None

    @property
    def run_id(self) -> str:
        return self.claim.record.run_id

    async def progress(self) -> Progress | None:
        """A checkpoint of the run now; if it cannot be taken, fail the run and return None."""
        assert self.handler is not None
        try:
            snapshot = self.handler.ctx.to_dict()
        except Exception as exc:
            self.failure = f"The run cannot be checkpointed: {type(exc).__name__}: {exc}"
            await self.handler.cancel_run()
            return None
        return Progress(snapshot, self.sent, list(self.events), self.prompt)

    async def deliver(self, inbox: tuple[InboxEvent, ...]) -> None:
        assert self.handler is not None
        for item in inbox:
            if item.number <= self.sent or self.handler.is_done():
                continue
            try:
                event = self.registry.decode_event(item.event)
            except Exception as exc:
                self.failure = f"Inbox event {item.number} cannot be delivered: {exc}"
                await self.handler.cancel_run()
                return
            self.handler.ctx.send_event(event)
            self.sent = item.number

    async def keep_lease(self) -> None:
        """Renew the lease (with a checkpoint); deliver what arrived; stop on a lost lease."""
        assert self.handler is not None
        progress = None if self.failure else await self.progress()
        try:
            inbox, cancel = await self.store.renew(
                self.run_id, self.claim.token, self.lease, progress, self.sent
            )
        except LeaseLostError:
            _logger.warning("lost the lease on run %s; stopping it here", self.run_id)
            self.lost = True
            await self.handler.cancel_run()
            return
        except StoreUnavailableError as exc:
            _logger.warning("cannot renew the lease on run %s: %s", self.run_id, exc)
            return
        await self.deliver(inbox)
        if cancel and not self.cancel_requested:
            self.cancel_requested = True
            await self.handler.cancel_run()

    async def follow(self) -> RunRecord | None:
        """Read the run's stream until it parks or ends; write the outcome."""
        handler = self.handler
        assert handler is not None
        stream = handler.stream_events(expose_internal=True)
        # The lease is renewed while the reader waits for the run's next event: a deadline on
        # the reads (not a task of its own: a drive is mostly this loop, and short), one scope
        # for all the reads until the run goes quiet or the lease needs renewing.
        renew_at = anyio.current_time() + self.lease / 3
        while True:
            quiet = False
            with anyio.CancelScope(deadline=renew_at) as wait:
                quiet = await self.read_until_quiet(stream)
            if wait.cancelled_caught:  # the read is cancel-safe: no event was lost
                await self.keep_lease()
                renew_at = math.inf if self.lost else anyio.current_time() + self.lease / 3
                continue
            if not quiet:
                break
            if self.lost or self.failure or self.cancel_requested:
                continue
            progress = await self.progress()
            if progress is None:
                continue
            parked = await self.store.park(self.run_id, self.claim.token, progress)
            if isinstance(parked, tuple):
                await self.deliver(parked)
                continue
            await handler.cancel_run()
            return parked
        return await self.end(handler)

    async def read_until_quiet(self, stream: AsyncIterator[Event]) -> bool:
        """Record the events the run streams; True once it waits only on outside input, False
        at the end of the stream. Its only wait is for the next event."""
        while True:
            try:
                event = await stream.__anext__()
            except StopAsyncIteration:
                return False
            if waits_only_on_outside_input(event):
                return True
            if not isinstance(event, (InternalDispatchEvent, StopEvent)):
                self.record(event)

    def record(self, event: Event) -> None:
        self.events.append(describe_event(event))
        prompt = prompt_of(event)
        if prompt is not None:
            self.prompt = prompt

    async def end(self, handler: WorkflowHandler) -> RunRecord | None:
        if self.lost:
            return None
        result: Any = None
        error: str | None = self.failure
        status = RunStatus.FAILED if error else RunStatus.COMPLETED
        try:
            result = await handler
        except WorkflowCancelledByUser:
            if not error:
                status = RunStatus.CANCELLED
        except Exception as exc:
            status, error = RunStatus.FAILED, error or f"{type(exc).__name__}: {exc}"
        return await self.store.finish(
            self.run_id,
            self.claim.token,
            status,
            events=self.events,
            result=result if status is RunStatus.COMPLETED else None,
            error=error,
        )


async def drive(
    store: RunStore, registry: WorkflowRegistry, claim: Claim, lease: float
) -> RunRecord | None:
    """Drive the claimed run in this task until it parks or finishes.

    Returns:
        Its record afterwards, or ``None`` if the lease was lost (another process has it).

    If this task is cancelled (a worker shutting down), the run is checkpointed and its lease
    released, so another process continues it at once.
    """
    record = claim.record
    state = _Drive(store, registry, claim, lease, events=list(record.events), prompt=record.prompt)
    try:
        workflow = registry.workflow(record.workflow)
    except Exception as exc:
        await store.release(record.run_id, claim.token)
        raise exc from None
    if record.cancel_requested:
        return await store.finish(
            record.run_id, claim.token, RunStatus.CANCELLED, events=state.events
        )
    try:
        ctx = None if claim.snapshot is None else Context.from_dict(workflow, dict(claim.snapshot))
    except Exception as exc:
        return await store.finish(
            record.run_id,
            claim.token,
            RunStatus.FAILED,
            events=state.events,
            error=f"Its checkpoint cannot be restored: {type(exc).__name__}: {exc}",
        )
    start = {} if ctx is not None else {"run_id": record.run_id, **claim.start}
    try:
        async with workflow.open_run(ctx=ctx, **start) as handler:
            state.handler = handler
            await state.deliver(claim.inbox)
            return await state.follow()
    except (LeaseLostError, BaseExceptionGroup) as exc:
        # anyio's task groups wrap what the block raises: unwrap a lost lease.
        if isinstance(exc, BaseExceptionGroup):
            _, rest = exc.split(LeaseLostError)
            if rest is not None:
                raise
        _logger.warning("lost the lease on run %s before writing its outcome", record.run_id)
        return None
    except anyio.get_cancelled_exc_class():
        with anyio.CancelScope(shield=True):
            await _hand_back(state)
        raise


async def _hand_back(state: _Drive) -> None:
    """Checkpoint and release a run this process stops driving before it parked or ended."""
    if state.handler is None or state.lost:
        return
    try:
        progress = await state.progress()
        await state.store.renew(state.run_id, state.claim.token, state.lease, progress)
        await state.store.release(state.run_id, state.claim.token)
    except Exception as exc:
        _logger.warning("could not hand back run %s (its lease will expire): %s", state.run_id, exc)

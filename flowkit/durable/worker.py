"""A worker: claim runs that have work (new, answered, or whose owner died) and drive them.

Up to ``concurrency`` runs are driven at once, each in its own task. A worker never stops on a
run's error or a database outage: it logs it and goes on. Cancelling the worker checkpoints the
runs it drives and releases their leases.
"""

from __future__ import annotations

import logging

import anyio

from ..store import Claim, CorruptRunError, RunStore, StoreError
from .driver import drive
from .registry import WorkflowRegistry

__all__ = ["work"]

_logger = logging.getLogger("flowkit.durable")


async def work(
    store: RunStore,
    registry: WorkflowRegistry,
    *,
    lease: float,
    concurrency: int = 1,
    poll: float = 0.5,
    until_idle: bool = False,
) -> int:
    """Claim and drive runs until cancelled (or, with ``until_idle``, until none has work).

    Args:
        store: Where the runs are.
        registry: The workflows this worker may drive; runs of other workflows are left alone.
        lease: Seconds a claim lasts without renewal.
        concurrency: How many runs to drive at once.
        poll: How long to wait between looks when no run has work.
        until_idle: Return once no run has work and none is being driven here.

    Returns:
        How many runs this worker drove to a park or an end.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency!r}")
    names = sorted(registry.workflows)
    done = 0
    in_flight = 0
    freed = anyio.Event()

    async def drive_one(claim_run_id: str, claim: Claim) -> None:
        nonlocal done, in_flight
        try:
            record = await drive(store, registry, claim, lease)
            if record is not None:
                done += 1
                _logger.info("run %s (%s): %s", record.run_id, record.workflow, record.status.value)
        except StoreError as exc:
            _logger.error("run %s: %s", claim_run_id, exc)
        except Exception:
            _logger.exception("run %s: unexpected error while driving it", claim_run_id)
        finally:
            in_flight -= 1
            freed.set()

    async with anyio.create_task_group() as tg:
        while True:
            if in_flight >= concurrency:
                await freed.wait()
                freed = anyio.Event()
                continue
            try:
                claim = await store.claim(lease, workflows=names)
            except CorruptRunError as exc:
                _logger.error("%s", exc)
                continue
            except StoreError as exc:
                _logger.error("cannot claim a run: %s", exc)
                await anyio.sleep(poll)
                continue
            if claim is None:
                if until_idle and in_flight == 0:
                    break
                with anyio.move_on_after(poll):
                    if in_flight:
                        await freed.wait()
                        freed = anyio.Event()
                    else:
                        await store.wait_for_work(poll)
                continue
            in_flight += 1
            tg.start_soon(drive_one, claim.record.run_id, claim, name="flowkit durable run")
    return done

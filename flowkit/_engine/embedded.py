"""Run a workflow in a task group of the caller's (``Workflow.open_run``)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from .run import Run

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup


@asynccontextmanager
async def open_in_task_group(run: Run, name: str) -> AsyncIterator[None]:
    """Execute ``run`` in a task group that is a child of the current task, for the block.

    Leaving the block cancels the run if it has not ended and waits for its tasks. An
    exception raised in the block cancels the run and propagates unchanged, not wrapped
    in an exception group: the run's own task never raises, so a group can only hold
    what the block raised.
    """
    try:
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(run.execute, name=name)
            try:
                yield
            finally:
                run.cancel()
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise

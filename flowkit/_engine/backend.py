"""The only module that touches asyncio or trio: start a run with no task group around it.

``workflow.run()`` is synchronous and returns a handler at once, so the run cannot be
a child of the caller's task group (``Workflow.open_run`` is the structured form for
that). Each backend has its own way to start a task nobody awaits; both are here,
side by side. So are the backend's own checkpoint and event class, which the engine
uses on its hot paths instead of AnyIO's wrappers around them.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from ..errors import WorkflowRuntimeError

_NOT_ASYNC = (
    "workflow.run() must be called from async code running under asyncio or trio; "
    "wrap it in an async function and start it with asyncio.run(main()) or trio.run(main)."
)

# asyncio keeps only weak references to tasks: hold each detached run until it ends.
_detached: set[Any] = set()


def current_backend() -> str:
    """Name the event loop running the current task: "asyncio" or "trio".

    Raises:
        WorkflowRuntimeError: No asyncio loop or trio run is active in this thread.
    """
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return "asyncio"
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            pass
        else:
            return "trio"
    raise WorkflowRuntimeError(_NOT_ASYNC)


def native_checkpoint() -> Callable[[], Awaitable[None]]:
    """The running backend's own checkpoint, for loops that yield once per event.

    It is what ``anyio.lowlevel.checkpoint()`` runs (``asyncio.sleep(0)``, or
    ``trio.lowlevel.checkpoint()``) without looking the backend up on every call.

    Raises:
        WorkflowRuntimeError: Called outside asyncio or trio.
    """
    if current_backend() == "asyncio":
        import asyncio

        return functools.partial(asyncio.sleep, 0)
    import trio

    return trio.lowlevel.checkpoint


class Wakeup(Protocol):
    """An event the engine waits on to wake a task: the backend's own event."""

    def set(self) -> None:
        """Wake the task that waits, now or when it comes to wait."""

    def wait(self) -> Awaitable[object]:
        """Wait until ``set()`` is called."""


def native_event_class() -> Callable[[], Wakeup]:
    """The running backend's own event class, for the engine's wake-ups.

    An ``anyio.Event`` wraps it: a wake-up through the backend's own ``asyncio.Event``
    or ``trio.Event`` costs one object and one coroutine fewer, and a run that waits
    holds them until it is woken. Each wake-up is a new event that is waited on at
    once, so the one difference (``anyio.Event.wait()`` on an event already set
    yields; ``asyncio.Event.wait()`` does not) never arises.

    Raises:
        WorkflowRuntimeError: Called outside asyncio or trio.
    """
    if current_backend() == "asyncio":
        import asyncio

        return asyncio.Event
    import trio

    return trio.Event


def start_detached(run: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
    """Start ``run()`` as a task that no task group owns.

    ``run`` must catch its own exceptions: on trio an exception escaping a system
    task crashes the whole ``trio.run``. The task ends when ``run`` returns, or is
    cancelled when the event loop shuts down (``asyncio.run`` returning, or the main
    trio task ending).

    Raises:
        WorkflowRuntimeError: Called outside asyncio or trio.
    """
    backend = current_backend()
    if backend == "asyncio":
        import asyncio

        task = asyncio.get_running_loop().create_task(run(), name=name)
        _detached.add(task)
        task.add_done_callback(_detached.discard)
    else:
        import trio

        trio.lowlevel.spawn_system_task(run, name=name)

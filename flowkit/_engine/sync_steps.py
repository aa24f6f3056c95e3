"""Sync steps: run a ``def`` step in a worker thread, and bring its ``ctx`` calls to the loop.

A step written as ``def`` is called through ``anyio.to_thread.run_sync`` with
``abandon_on_cancel=True``: the event loop goes on while it runs, and cancelling the
run (``cancel_run()``, the run's timeout, the loop shutting down) does not wait for
the thread. Python cannot stop a thread, so an abandoned step runs on to its end in
the background; what it returns is dropped, and the ``ctx`` calls it still makes fail
because the run has ended.

The run's state belongs to the event loop's thread. ``Context`` calls that change or
read it (``send_event``, ``write_event_to_stream``, ``collect_events``, ``to_dict``,
``statistics``) check the calling thread with :func:`foreign_loop` and, from any other
thread, run on the loop through :func:`call_on_loop`, as calls of the calling thread's step (so
a step's ``collect_events`` still knows its step). Coroutine methods
(``ctx.store.get`` and the like) are awaited on the loop with ``anyio.from_thread.run``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import attrs

from ..errors import WorkflowRuntimeError
from .worker import Execution, current_execution

_T = TypeVar("_T")


@attrs.define(eq=False)
class LoopHandle:
    """The event loop a run runs on: its thread, and the token to reach it from others."""

    thread: int
    token: anyio.lowlevel.EventLoopToken

    @classmethod
    def current(cls) -> LoopHandle:
        """The loop of the calling task."""
        return cls(threading.get_ident(), anyio.lowlevel.current_token())


def foreign_loop(loop: LoopHandle | None, done: anyio.Event) -> LoopHandle | None:
    """``loop`` if the calling thread is another thread than its own, else None.

    None also when the run has not started on a loop yet, or has ended (``done``):
    its state no longer changes, so any thread may read it, and a call that would
    change it fails without touching it.
    """
    if loop is None or loop.thread == threading.get_ident() or done.is_set():
        return None
    return loop


def call_on_loop(loop: LoopHandle, func: Callable[..., _T], *args: Any) -> _T:
    """Call ``func(*args)`` on ``loop``'s thread and return its result (or raise its error).

    Blocks the calling thread until the loop ran it.

    Raises:
        WorkflowRuntimeError: The event loop has ended (an abandoned step outlived it).
    """
    execution = current_execution.get()
    try:
        return anyio.from_thread.run_sync(_as_step, execution, func, args, token=loop.token)
    except anyio.RunFinishedError:
        raise WorkflowRuntimeError(
            f"Cannot call {getattr(func, '__name__', func)!r}: the event loop of the run has "
            "ended. A sync step that outlives its run cannot reach the run any more."
        ) from None


def _as_step(execution: Execution | None, func: Callable[..., _T], args: tuple[Any, ...]) -> _T:
    """Call ``func`` on the loop as a call from the step ``execution`` (collect_events asks)."""
    token = current_execution.set(execution)
    try:
        return func(*args)
    finally:
        current_execution.reset(token)


class ThreadCall:
    """One call of a sync step, handed to a worker thread and emptied once it returned.

    A worker thread drops its references to the call it ran only after it reported
    the result to the loop, so for a moment the finished step (its workflow, its
    context, the exception it raised) would still be reachable from the thread. The
    thread gets this object instead, and the loop empties it as soon as it has the
    outcome.
    """

    __slots__ = ("args", "error", "func", "result")

    def __init__(self, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.func: Callable[..., Any] | None = func
        self.args = args
        self.result: Any = None
        self.error: BaseException | None = None

    def __call__(self) -> None:
        assert self.func is not None
        try:
            self.result = self.func(*self.args)
        except BaseException as exc:  # re-raised on the loop by run_in_thread
            self.error = exc


async def run_in_thread(func: Callable[..., Any], *args: Any) -> Any:
    """``func(*args)`` in a worker thread, abandoned (left to finish alone) on cancellation.

    Raises:
        BaseException: What ``func`` raised.
    """
    call = ThreadCall(func, args)
    await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
    result, error = call.result, call.error
    call.func = call.result = call.error = None
    call.args = ()
    if error is not None:
        try:
            raise error
        finally:
            del error  # the traceback holds this frame: break the cycle
    return result


def not_in_sync_step(method: str) -> WorkflowRuntimeError:
    """The error for an async-only ``ctx`` call made from a sync step's thread."""
    return WorkflowRuntimeError(
        f"ctx.{method}() cannot be used in a sync step: it pauses the step, and a step "
        f"written as 'def' runs in a worker thread. Declare the step 'async def' to "
        f"call 'await ctx.{method}(...)'."
    )

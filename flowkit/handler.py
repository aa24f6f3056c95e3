"""WorkflowHandler: await a run's result, stream its events, cancel it."""

from __future__ import annotations

import warnings
from collections.abc import AsyncGenerator, Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio

from .errors import WorkflowRuntimeError
from .events import Event, InternalDispatchEvent, StopEvent, WorkflowCancelledEvent

if TYPE_CHECKING:
    from ._engine.run import Run
    from .context import Context

__all__ = ["WorkflowHandler"]


def _deprecated(message: str) -> None:
    warnings.warn(f"{message}. It will be removed in a future release.", DeprecationWarning, 3)


class _EventIterator(AsyncGenerator[Event, None]):
    """What ``stream_events()`` returns; breaking out of it is always safe.

    It is not a Python async generator, so it needs no finalization by the event loop:
    dropping it (a ``break``) releases the run's writers at once.
    """

    def __init__(self, handler: WorkflowHandler, expose_internal: bool) -> None:
        self._handler = handler
        self._run = handler._run
        self._expose_internal = expose_internal
        self._finished = False
        if expose_internal:
            self._run.expose_internal = True

    async def __anext__(self) -> Event:
        if self._finished:
            raise StopAsyncIteration
        stream = self._run.stream
        stream.reading = True
        try:
            while True:
                try:
                    event = await stream.receive()
                except anyio.EndOfStream:
                    self._finish()
                    raise StopAsyncIteration from None
                if isinstance(event, InternalDispatchEvent) and not self._expose_internal:
                    continue
                outcome = self._run.outcome
                if outcome is not None and event is outcome.event:
                    self._finish()
                return event
        except BaseException:
            stream.reading = False
            raise

    async def asend(self, value: None) -> Event:
        """The next event (an async generator's ``asend``; the value is ignored)."""
        return await self.__anext__()

    async def athrow(self, typ: Any, val: Any = None, tb: Any = None, /) -> Event:
        """Stop reading and raise the given exception here, as an async generator's athrow.

        ``athrow(exc)`` raises ``exc``; ``athrow(ExcType)`` and ``athrow(ExcType, None)``
        raise ``ExcType()``; ``athrow(ExcType, value)`` raises ``value`` if it is an
        ExcType, else ``ExcType(value)`` (``ExcType(*value)`` for a tuple); ``tb`` becomes
        the traceback. The iterator is finished afterwards, unless the arguments were
        refused.

        Raises:
            TypeError: The arguments name no exception, as for a generator.
        """
        exc = _thrown(typ, val, tb)  # arguments naming no exception leave the stream open
        self._release()
        self._finished = True
        raise exc

    async def aclose(self) -> None:
        """Stop reading (as ``contextlib.aclosing`` does); the run goes on."""
        self._release()

    def _release(self) -> None:
        run = self.__dict__.get("_run")
        if run is not None:
            run.stream.reading = False
            run.stream.release_writers()

    def _finish(self) -> None:
        self._finished = True
        self._handler._all_events_consumed = True
        self._run.stream.reading = False
        self._run.stream.release_writers()

    def __del__(self) -> None:
        # A consumer that breaks out of the loop drops the iterator: stop holding writers.
        self._release()


def _thrown(typ: Any, val: Any, tb: Any) -> BaseException:
    """The exception ``athrow(typ, val, tb)`` raises, by Python's generator conventions."""
    if isinstance(typ, BaseException):
        if val is not None:
            raise TypeError("instance exception may not have a separate value")
        exc = typ
    elif isinstance(typ, type) and issubclass(typ, BaseException):
        if isinstance(val, typ):
            exc = val
        elif val is None:
            exc = typ()
        else:
            exc = typ(*val) if isinstance(val, tuple) else typ(val)
    else:
        raise TypeError(
            "exceptions must be classes or instances deriving from BaseException, "
            f"not {type(typ).__name__}"
        )
    if tb is not None:
        if not isinstance(tb, TracebackType):
            raise TypeError("throw() third argument must be a traceback object")
        exc = exc.with_traceback(tb)
    return exc


class WorkflowHandler:
    """The handle of one run: awaitable for its result, with its event stream and context.

    ``await handler`` returns the StopEvent's ``result`` (or the StopEvent itself when
    the workflow returns a StopEvent subclass), or raises the failing step's own
    exception, ``WorkflowTimeoutError`` or ``WorkflowCancelledByUser``.
    """

    def __init__(self, run: Run, ctx: Context[Any], workflow_name: str) -> None:
        self._run = run
        self._ctx = ctx
        self._workflow_name = workflow_name
        self._all_events_consumed = False
        self.run_id: str = run.state.run_id

    @property
    def ctx(self) -> Context[Any]:
        """The run's :class:`~flowkit.context.Context`."""
        return self._ctx

    def __await__(self) -> Generator[Any, None, Any]:
        return self._result().__await__()

    async def _result(self) -> Any:
        stop_event = await self.stop_event_result()
        return stop_event.result if type(stop_event) is StopEvent else stop_event

    async def stop_event_result(self) -> StopEvent:
        """Wait for the run to end and return its StopEvent.

        Raises:
            Exception: The failing step's exception, WorkflowTimeoutError, or
                WorkflowCancelledByUser.
        """
        run = self._run
        run.stream.result_awaited = True
        run.stream.release_writers()
        await run.done.wait()
        return self._outcome_event()

    def _outcome_event(self) -> StopEvent:
        outcome = self._run.outcome
        assert outcome is not None, "internal error in flowkit: a done run has no outcome"
        if outcome.error is not None:
            raise outcome.error
        return outcome.event

    def stream_events(self, expose_internal: bool = False) -> AsyncGenerator[Event, None]:
        """Iterate over the events the run streams, ending with its terminal event.

        The terminal event is the StopEvent, or WorkflowFailedEvent,
        WorkflowTimedOutEvent or WorkflowCancelledEvent. Breaking out of the loop is
        safe; the run goes on.

        Args:
            expose_internal: Also yield internal events (step state changes, idleness)
                from now on.

        Raises:
            WorkflowRuntimeError: A previous call already consumed the whole stream.
        """
        if self._all_events_consumed:
            raise WorkflowRuntimeError(
                "All the streamed events have already been consumed. "
                "stream_events() can be iterated to its end once per run."
            )
        return _EventIterator(self, expose_internal)

    def is_done(self) -> bool:
        """Whether the run has ended."""
        return self._run.done.is_set()

    def result(self) -> Any:
        """The run's result, without waiting.

        Raises:
            WorkflowRuntimeError: The run has not ended yet.
            Exception: What ``await handler`` would raise.
        """
        if not self.is_done():
            raise WorkflowRuntimeError("The run has not ended yet; await the handler instead.")
        stop_event = self._outcome_event()
        return stop_event.result if type(stop_event) is StopEvent else stop_event

    def exception(self) -> BaseException | None:
        """The exception the run ended with, or None (also while it is running)."""
        outcome = self._run.outcome
        return outcome.error if outcome is not None and self.is_done() else None

    def get_stop_event(self) -> StopEvent | None:
        """The run's terminal event once it has ended, else None."""
        outcome = self._run.outcome
        return outcome.event if outcome is not None and self.is_done() else None

    async def cancel_run(self, *, timeout: float = 5.0) -> None:
        """Cancel the run and wait (up to ``timeout`` seconds) until every step task has ended.

        The stream ends with WorkflowCancelledEvent and awaiting the handler raises
        WorkflowCancelledByUser. The context stays resumable: freeze it first with
        ``handler.ctx.to_dict()`` to resume later. A no-op once the run has ended.

        Raises:
            TimeoutError: A step task was still running ``timeout`` seconds later (it
                shields itself from cancellation). The run is cancelled all the same:
                its outcome is decided, and ``await handler`` raises
                WorkflowCancelledByUser once that task has ended.
        """
        self._run.cancel()
        with anyio.move_on_after(timeout):
            await self._run.done.wait()
        if not self._run.done.is_set():
            raise TimeoutError(
                f"The run was cancelled, but a step task was still running {timeout} seconds "
                "later: it shields itself from cancellation. Await the handler to wait until "
                "it ends, or pass a larger timeout."
            )

    def done(self) -> bool:
        """Whether the run has ended. Deprecated, as in the incumbent: use :meth:`is_done`."""
        _deprecated("WorkflowHandler.done() is deprecated; use is_done()")
        return self.is_done()

    def cancelled(self) -> bool:
        """Whether the run ended cancelled. Deprecated, as in the incumbent."""
        _deprecated("WorkflowHandler.cancelled() is deprecated; check await handler instead")
        outcome = self._run.outcome
        return (
            self.is_done()
            and outcome is not None
            and isinstance(outcome.event, WorkflowCancelledEvent)
        )

    def cancel(self) -> None:
        """Cancel the run without waiting. Deprecated, as in the incumbent: use cancel_run()."""
        _deprecated("WorkflowHandler.cancel() is deprecated; use await handler.cancel_run()")
        self._run.cancel()

    async def send_event(self, event: Event, step: str | None = None) -> None:
        """Send an event into the run; the same as ``handler.ctx.send_event``."""
        self._ctx.send_event(event, step)

    def __str__(self) -> str:
        outcome = self._run.outcome
        result = outcome.event if outcome is not None else None
        return (
            f"WorkflowHandler(workflow={self._workflow_name}, run_id={self.run_id}, "
            f"result={result})"
        )

    def __repr__(self) -> str:
        outcome = self._run.outcome
        result = outcome.event if outcome is not None else None
        return (
            f"WorkflowHandler(workflow={self._workflow_name}, run_id={self.run_id}, "
            f"result={result!r})"
        )

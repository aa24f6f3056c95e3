"""Context: the user's view of one run (its store, events in and out, snapshots)."""

from __future__ import annotations

import uuid
from collections.abc import Coroutine, Sequence
from threading import get_ident
from typing import Any, Generic, TypeVar, cast, overload

from .._engine.blueprint import Blueprint, HasBlueprint
from .._engine.run import Run
from .._engine.state import RunState
from .._engine.sync_steps import call_on_loop, foreign_loop, not_in_sync_step
from .._engine.worker import current_execution
from ..errors import ContextStateError, WorkflowRuntimeError
from ..events import Event, StartEvent
from ..retry_policy import RetryInfo
from ..statistics import RunStatistics, WaitingStep
from .serializers import BaseSerializer
from .state_store import MODEL_T, DictState, InMemoryStateStore

__all__ = ["Context"]

_EventT = TypeVar("_EventT", bound=Event)


class Context(Generic[MODEL_T]):
    """The context of one run: its store, the events it receives and streams, its snapshot.

    Steps get it by declaring a ``ctx: Context`` parameter (``Context[MyState]`` for a
    typed store); callers reach it as ``handler.ctx``. A context can be frozen with
    :meth:`to_dict` at any moment and restored with :meth:`from_dict`, then resumed
    with ``workflow.run(ctx=...)``.

    Args:
        workflow: The workflow whose runs this context belongs to.
    """

    # Lets the engine recognise a Context annotation without importing this module.
    _flowkit_context_marker = True

    def __init__(self, workflow: HasBlueprint) -> None:
        self._blueprint: Blueprint = workflow._blueprint()
        self._state = RunState(run_id=str(uuid.uuid4()), store=self._blueprint.initial_store())
        self._run: Run | None = None
        self._store: InMemoryStateStore[MODEL_T] = InMemoryStateStore.over(self._state)

    @classmethod
    def _restored(cls, blueprint: Blueprint, state: RunState) -> Context[Any]:
        ctx: Context[Any] = cls.__new__(cls)
        ctx._blueprint = blueprint
        ctx._state = state
        ctx._run = None
        ctx._store = InMemoryStateStore.over(state)
        return ctx

    def _begin_run(
        self, blueprint: Blueprint, start_event: StartEvent | None, kwargs: dict[str, Any]
    ) -> Run:
        """Make the run of this context (``workflow.run(ctx=...)``): resumed, or new.

        A context whose run is resumable (restored, or cancelled) resumes it; a
        finished run's context starts a new run with the same store.

        Raises:
            ContextStateError: The context's run is still running.
            WorkflowRuntimeError: The StartEvent cannot be built.
        """
        if self._run is not None and not self._run.done.is_set():
            raise ContextStateError(
                "This context belongs to a run that is still running. "
                "Await its handler, or cancel it with handler.cancel_run(), before reusing it."
            )
        run_id = kwargs.pop("run_id", None)
        resume = self.is_running
        first = None if resume else blueprint.start_event(start_event, kwargs)
        if not resume and self._state.started:  # a new run, the same store
            self._state = RunState(run_id=str(uuid.uuid4()), store=self._state.store)
            self._store = InMemoryStateStore.over(self._state)
        if run_id is not None:
            self._state.run_id = run_id
        self._blueprint = blueprint
        self._run = blueprint.create_run(self._state, self, first)
        return self._run

    @property
    def store(self) -> InMemoryStateStore[MODEL_T]:
        """The run's key/value store, kept in snapshots."""
        return self._store

    @property
    def is_running(self) -> bool:
        """Whether the run started and has not finished (a cancelled run can be resumed)."""
        return self._state.started and not self._state.finished

    def _live_run(self, method: str) -> Run:
        run = self._run
        if run is None:
            first = (
                "send_event() called before workflow started."
                if method == "send_event"
                else f"{method} requires a running workflow."
            )
            raise ContextStateError(
                f"{first} Call workflow.run() first. This context has no run: start one "
                "with workflow.run(ctx=ctx), then use handler.ctx."
            )
        return run

    @staticmethod
    def get_step_context() -> Context[Any]:
        """The context of the run whose step is calling: for helpers and decorators of steps.

        A step need not declare a ``ctx`` parameter for code it calls to reach its context.

        Raises:
            WorkflowRuntimeError: Called outside a step (tasks a step starts count as
                inside it).
        """
        execution = current_execution.get()
        ref = execution.context if execution is not None else None
        ctx = ref() if ref is not None else None
        if ctx is None:
            raise WorkflowRuntimeError(
                "Context.get_step_context() may only be called from within a step function. "
                "Outside a step, use the context of the run's handler (handler.ctx)."
            )
        return cast("Context[Any]", ctx)

    def send_event(self, message: Event, step: str | None = None) -> None:
        """Send an event into the run, to the steps that accept it (or to ``step`` only).

        Callable from steps and from the caller (``handler.ctx.send_event``); it never
        blocks. An event that answers a ``wait_for_event`` goes to that waiter. From
        another thread (a sync step's, or one of yours) it runs on the run's event
        loop, and the calling thread waits until it has.

        Raises:
            WorkflowRuntimeError: ``message`` is not an Event, ``step`` does not accept
                it, or the run has ended.
            WorkflowStepDoesNotExistError: ``step`` names no step of the workflow.
            ContextStateError: The context has no run.
        """
        run = self._run
        if run is None:
            run = self._live_run("send_event")
        self._state.used_events.add(type(message))  # snapshots name classes beyond the steps'
        loop = run.loop
        # foreign_loop(), its cheap test first: called on the loop's own thread (most calls)?
        if loop is not None and loop.thread != get_ident() and foreign_loop(loop, run.done):
            call_on_loop(loop, run.send_event, message, step)  # from a sync step's thread
            return
        run.send_event(message, step)

    def write_event_to_stream(self, ev: Event | None) -> None:
        """Write ``ev`` to the run's event stream (``handler.stream_events()``); None is ignored.

        From another thread (a sync step's) it runs on the run's event loop.

        Raises:
            ContextStateError: The context has no run.
        """
        if ev is None:
            return
        run = self._run
        if run is None:
            run = self._live_run("write_event_to_stream")
        self._state.used_events.add(type(ev))
        loop = run.loop
        if loop is not None and loop.thread != get_ident() and foreign_loop(loop, run.done):
            call_on_loop(loop, run.stream.write, ev)
            return
        run.stream.write(ev)

    def collect_events(
        self, ev: Event, expected: Sequence[type[Event]], buffer_id: str | None = None
    ) -> list[Event] | None:
        """Buffer ``ev`` until one event of each ``expected`` type has arrived (fan-in).

        Returns:
            The events in the order of ``expected`` once all arrived, else None (the
            step should then return None).

        Raises:
            ContextStateError: Called outside a step.
        """
        run = self._live_run("collect_events")
        loop = foreign_loop(run.loop, run.done)
        if loop is not None:
            return call_on_loop(loop, run.waiters.collect_events, ev, expected, buffer_id)
        return run.waiters.collect_events(ev, expected, buffer_id)

    def wait_for_event(
        self,
        event_type: type[_EventT],
        waiter_event: Event | None = None,
        waiter_id: str | None = None,
        requirements: dict[str, Any] | None = None,
        timeout: float | None = 2000,
    ) -> Coroutine[Any, Any, _EventT]:
        """Pause the calling step until an event of ``event_type`` arrives, and return it.

        ``waiter_event`` (typically an InputRequiredEvent) is written to the stream when
        the wait begins. Only an event whose fields equal ``requirements`` answers. In a
        live run the step really waits and continues after the ``await``; after a
        restore from a snapshot, the step runs again from its top (its earlier side
        effects repeat) and this call returns the answer at once if it already came.

        Raises:
            TimeoutError: No matching event came within ``timeout`` seconds.
            ContextStateError: Called outside a step.
            WorkflowRuntimeError: Called from a sync step (a ``def`` step runs in a
                worker thread and cannot pause on the event loop); raised by the call
                itself, before any ``await``.
        """
        run = self._live_run("wait_for_event")
        if foreign_loop(run.loop, run.done) is not None:
            raise not_in_sync_step("wait_for_event")
        used = self._state.used_events
        used.add(event_type)
        if waiter_event is not None:
            used.add(type(waiter_event))
        return run.waiters.wait_for_event(
            event_type, waiter_event, waiter_id, requirements, timeout
        )

    def retry_info(self) -> RetryInfo:
        """The retry state of the calling step: attempt number and the last failure.

        On the first attempt, ``retry_number`` 0 and ``elapsed_seconds`` 0.0; on a retry,
        the seconds since the first attempt started and the previous attempt's failure.

        A task the step started that outlives it sees the attempt of the step's worker
        while the worker lives (the step's, or that of the next event the worker
        took); after that, a first attempt's values (``retry_number`` 0, no failure):
        the failure is not kept past the worker.

        Raises:
            ContextStateError: Called outside a step.
        """
        execution = current_execution.get()
        if execution is None:
            self._live_run("retry_info")
            raise ContextStateError(
                "retry_info is only available from within step functions. "
                "ctx.retry_info() describes the attempts of the step that calls it."
            )
        return execution.retry_info()

    async def running_steps(self) -> list[str]:
        """The names of the steps running an event now (none once the run has ended)."""
        if self._run is None or self._run.outcome is not None:
            return []
        return self._run.active_steps()

    @overload
    def to_dict(self) -> dict[str, Any]: ...
    @overload
    def to_dict(self, serializer: BaseSerializer | None) -> dict[str, Any]: ...

    def to_dict(self, serializer: BaseSerializer | None = None) -> dict[str, Any]:
        """Freeze the whole run into plain JSON-safe data; the run goes on undisturbed.

        The dict holds the store, every queued event, every event a step was running
        (run again on resume: at-least-once), collect buffers, waiters and unread
        stream events. ``json.dumps`` needs no custom encoder.

        Args:
            serializer: Overrides the workflow's serializer for values typed ``Any``.

        Raises:
            ContextSerdeError: A stored value has a type that cannot be made JSON, is nested
                too deeply, or is a pydantic model that pydantic cannot dump.
        """
        loop = None if self._run is None else foreign_loop(self._run.loop, self._run.done)
        if loop is not None:  # freeze between two awaits of the loop, never mid-change
            return call_on_loop(loop, self._blueprint.freeze, self._state, serializer)
        return self._blueprint.freeze(self._state, serializer)

    @classmethod
    def from_dict(
        cls,
        workflow: HasBlueprint,
        data: dict[str, Any],
        serializer: BaseSerializer | None = None,
    ) -> Context[Any]:
        """Restore a context frozen with :meth:`to_dict`; resume it with ``workflow.run(ctx=...)``.

        Nothing is imported and no step runs: classes come from the workflow's
        registry (its steps' event types and the serializer's registered types).

        Raises:
            ContextSerdeError: ``data`` is not a valid snapshot of this workflow: an
                unknown type tag, a missing or wrong-typed field (types are checked,
                never coerced), parts that do not fit together (a waiter or buffered
                event that refers to no delivery), another workflow's or another
                version's snapshot. Its ``reason``, ``path`` and ``advice`` say what,
                where and what to do.
        """
        blueprint = workflow._blueprint()
        state = blueprint.thaw(data, serializer)
        if isinstance(state.store, dict) and not isinstance(state.store, DictState):
            state.store = DictState(state.store)
        return cls._restored(blueprint, state)

    def statistics(self) -> RunStatistics:
        """The counters of this context's run: step calls, events, the failed step, waiters.

        Works during the run, after it ended, and on a context restored with
        :meth:`from_dict` (the counters travel in the snapshot).
        """
        loop = None if self._run is None else foreign_loop(self._run.loop, self._run.done)
        if loop is not None:
            return call_on_loop(loop, self.statistics)
        state = self._state
        counters = state.counters
        run = self._run
        finished = state.finished if run is None else run.outcome is not None
        waiting = tuple(
            WaitingStep(
                step=w.step,
                waiting_for=w.event_type.__name__,
                prompt=type(w.waiter_event).__name__ if w.waiter_event is not None else None,
            )
            for w in state.waiters.values()
            if w.resolved is None
        )
        return RunStatistics(
            step_runs=dict(counters.step_runs),
            events=dict(counters.events),
            failed_step=counters.failed_step,
            waiting=() if state.finished else waiting,
            finished=finished,
        )

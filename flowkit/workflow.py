"""Workflow: collects the steps of a class, validates them, and starts runs."""

from __future__ import annotations

import functools
import sys
import uuid
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, ClassVar

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

import anyio
import cattrs

from ._engine import backend, freeze, snapshot
from ._engine.graph import StepGraph, build_graph
from ._engine.registry import Registry
from ._engine.run import Run
from ._engine.signature import StepConfig
from ._engine.state import RunState
from ._engine.stream import DEFAULT_HIGH_WATER
from .context import Context
from .context.serializers import BaseSerializer, JsonSerializer
from .context.state_store import DictState
from .errors import ContextStateError, WorkflowRuntimeError, WorkflowValidationError
from .events import Event, StartEvent, StopEvent
from .handler import WorkflowHandler

__all__ = ["Workflow"]


def _make_call(func: Callable[..., Any], config: StepConfig, ctx: Context[Any]) -> Any:
    """A one-argument callable running the step on an event, with ``ctx`` filled in."""
    if config.positional == ("event",):
        return func
    if config.positional == ("event", "ctx"):
        return lambda ev: func(ev, ctx)
    if config.positional == ("ctx", "event"):
        return lambda ev: func(ctx, ev)
    event_name, ctx_name = config.event_name, config.context_parameter
    if ctx_name is None:
        return lambda ev: func(**{event_name: ev})
    return lambda ev: func(**{event_name: ev, ctx_name: ctx})


class Workflow:
    """An event-driven workflow: subclass it and decorate async methods with ``@step``.

    Args:
        timeout: Seconds a run may take before it ends with WorkflowTimeoutError
            (time spent frozen in a snapshot does not count); None for no limit.
        disable_validation: Skip the checks of the event graph before a run.
        verbose: Print each step's start and what it produced.
        num_concurrent_runs: How many runs of this workflow instance may execute at
            once; further runs wait for a slot. None for no limit.
        workflow_name: The name snapshots are checked against; the class's qualified
            name by default.
        serializer: How snapshots store values typed ``Any``; JsonSerializer by default.
        stream_buffer_size: How many unread stream events a reader may fall behind
            before steps wait for it (see docs/embedding.md).

    Examples:
        >>> class Hello(Workflow):
        ...     @step
        ...     async def greet(self, ev: StartEvent) -> StopEvent:
        ...         return StopEvent(result=f"Hello, {ev.name}!")
        >>> # result = await Hello().run(name="Ada")
    """

    _added_steps: ClassVar[dict[str, Callable[..., Any]]] = {}
    _steps_version: ClassVar[int] = 0

    def __init__(
        self,
        timeout: float | None = 45.0,
        disable_validation: bool = False,
        verbose: bool = False,
        num_concurrent_runs: int | None = None,
        workflow_name: str | None = None,
        serializer: BaseSerializer | None = None,
        *,
        stream_buffer_size: int = DEFAULT_HIGH_WATER,
    ) -> None:
        if timeout is not None and not timeout > 0:
            raise WorkflowValidationError(
                f"Workflow(timeout={timeout!r}): timeout must be a number of seconds > 0, "
                "or None for no limit."
            )
        if num_concurrent_runs is not None and (
            not isinstance(num_concurrent_runs, int) or num_concurrent_runs < 1
        ):
            raise WorkflowValidationError(
                f"Workflow(num_concurrent_runs={num_concurrent_runs!r}): num_concurrent_runs "
                "must be a positive integer or None."
            )
        self._timeout = timeout
        self._disable_validation = disable_validation
        self._verbose = verbose
        self._num_concurrent_runs = num_concurrent_runs
        self._run_slots: anyio.Semaphore | None = None
        self._workflow_name = workflow_name or type(self).__qualname__
        self._serializer = serializer if serializer is not None else JsonSerializer()
        self._stream_buffer_size = stream_buffer_size
        # Per serializer (held weakly, so a serializer made per call is not kept): the
        # registry and converter, with what they were built from.
        self._converters: weakref.WeakKeyDictionary[
            BaseSerializer, tuple[tuple[int, int], Registry, cattrs.Converter]
        ] = weakref.WeakKeyDictionary()
        self._bound: tuple[int, dict[str, Callable[..., Any]]] | None = None

    # -- steps ---------------------------------------------------------------------

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._added_steps = {}

    @classmethod
    def add_step(cls, func: Callable[..., Any]) -> None:
        """Add a ``@step``-decorated free function to this workflow class.

        Raises:
            WorkflowValidationError: ``func`` is not decorated with ``@step``, or the
                class already has a step of that name.
        """
        if not hasattr(func, "_step_config"):
            raise WorkflowValidationError(
                f"{func.__name__} is not a step: decorate it with @step(workflow={cls.__name__})."
            )
        if func.__name__ in cls._step_functions():
            raise WorkflowValidationError(
                f"A step {func.__name__} is already part of this workflow, please choose "
                "another name."
            )
        cls._added_steps[func.__name__] = func
        cls._steps_version = Workflow._steps_version = Workflow._steps_version + 1

    @classmethod
    def _step_functions(cls) -> dict[str, Callable[..., Any]]:
        found: dict[str, Callable[..., Any]] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if callable(value) and hasattr(value, "_step_config"):
                    found[name] = value
            found.update(vars(klass).get("_added_steps", {}))
        return found

    @classmethod
    def _graph_for(cls, validate: bool) -> StepGraph:
        key = ("_graph_cache", validate, Workflow._steps_version)
        cached = cls.__dict__.get("_graph_cache")
        if cached is not None and cached[0] == key:
            return cached[1]  # type: ignore[no-any-return]  # (key, StepGraph) by construction
        configs: dict[str, StepConfig] = {
            name: func._step_config  # type: ignore[attr-defined]  # set by @step
            for name, func in cls._step_functions().items()
        }
        graph = build_graph(cls.__name__, configs, validate=validate)
        cls._graph_cache = (key, graph)  # type: ignore[attr-defined]  # per-class cache
        return graph

    def _graph(self) -> StepGraph:
        return self._graph_for(not self._disable_validation)

    def validate(self) -> bool:
        """Check the event graph now; the same checks run before every run.

        Returns:
            Whether the workflow uses human-in-the-loop events.

        Raises:
            WorkflowValidationError: The graph or a step signature is invalid.
        """
        return self._graph_for(True).uses_hitl

    @property
    def workflow_name(self) -> str:
        """The workflow's name (the class's qualified name unless given)."""
        return self._workflow_name

    @property
    def start_event_class(self) -> type[StartEvent]:
        """The StartEvent class the workflow's entry step accepts."""
        return self._graph().start_event_class

    @property
    def stop_event_class(self) -> type[StopEvent]:
        """The StopEvent class the workflow's steps return."""
        return self._graph().stop_event_class

    @property
    def events(self) -> list[type[Event]]:
        """Every event class the workflow's steps accept or return."""
        return sorted(self._graph().event_types(), key=lambda t: t.__name__)

    @property
    def serializer(self) -> BaseSerializer:
        """The serializer snapshots of this workflow use by default."""
        return self._serializer

    # -- state and snapshots -------------------------------------------------------

    def _state_type(self) -> type | None:
        types = {
            c.context_state_type
            for c in self._graph().steps.values()
            if c.context_state_type is not None
        }
        if len(types) > 1:
            names = ", ".join(sorted(t.__name__ for t in types))
            raise WorkflowValidationError(
                f"Steps use different state types in Context[...]: {names}. "
                "A workflow has one state type; use the same one in every step."
            )
        return types.pop() if types else None

    def _initial_store(self) -> Any:
        state_type = self._state_type()
        if state_type is None:
            return DictState()
        try:
            return state_type()
        except TypeError as exc:
            raise WorkflowValidationError(
                f"Cannot create the initial state {state_type.__name__}(): {exc}. "
                "Give every field of the state class a default."
            ) from None

    def _converter(self, serializer: BaseSerializer | None) -> tuple[Registry, cattrs.Converter]:
        chosen = serializer if serializer is not None else self._serializer
        graph = self._graph()
        built_from = (Workflow._steps_version, len(chosen.value_types))
        cached = self._converters.get(chosen)
        if cached is None or cached[0] != built_from:
            state_type = self._state_type()
            values = [*chosen.value_types, *([state_type] if state_type else [])]
            registry = Registry.build(graph.event_types(), values)
            converter = snapshot.make_converter(
                registry, chosen.encode_unknown, chosen.decode_unknown, chosen.converter
            )
            cached = self._converters[chosen] = (built_from, registry, converter)
        return cached[1], cached[2]

    def _freeze(self, state: RunState, serializer: BaseSerializer | None) -> dict[str, Any]:
        return freeze.freeze(state, self._workflow_name, self._converter(serializer)[1])

    def _thaw(self, data: Any, serializer: BaseSerializer | None) -> RunState:
        converter = self._converter(serializer)[1]
        return freeze.thaw(data, self._workflow_name, set(self._graph().steps), converter)

    # -- runs ----------------------------------------------------------------------

    def _start_event(self, start_event: StartEvent | None, kwargs: dict[str, Any]) -> StartEvent:
        expected = self._graph().start_event_class
        if start_event is not None:
            if not isinstance(start_event, expected):
                raise WorkflowRuntimeError(
                    f"start_event must be an instance of {expected.__name__}, got "
                    f"{type(start_event).__name__}."
                )
            return start_event
        try:
            return expected(**kwargs)
        except TypeError as exc:
            raise WorkflowRuntimeError(
                f"Failed creating a start event of type '{expected.__name__}' with the keyword "
                f"arguments: {kwargs}. {exc}"
            ) from None

    def _catch_error_handler(self, failed_step: str) -> str | None:
        wildcard = None
        for name, config in self._graph().steps.items():
            if not config.is_catch_error or name == failed_step:
                continue
            if config.catch_error_for_steps is None:
                wildcard = wildcard or name
            elif failed_step in config.catch_error_for_steps:
                return name
        return wildcard

    def _prepare(
        self, ctx: Context[Any] | None, start_event: StartEvent | None, kwargs: dict[str, Any]
    ) -> tuple[Run, WorkflowHandler]:
        graph = self._graph()
        run_id = kwargs.pop("run_id", None)
        fresh = ctx is None
        if ctx is None:
            ctx = Context(self)
        elif ctx._run is not None and not ctx._run.done.is_set():
            raise ContextStateError(
                "This context belongs to a run that is still running. "
                "Await its handler, or cancel it with handler.cancel_run(), before reusing it."
            )
        resume = ctx.is_running
        first = None if resume else self._start_event(start_event, kwargs)
        if not resume and not fresh:  # a finished run's context: a new run, the same store
            ctx._state = RunState(run_id=str(uuid.uuid4()), store=ctx._state.store)
            ctx._store._run_state = ctx._state
        if run_id is not None:
            ctx._state.run_id = run_id
        calls = {
            name: _make_call(func, graph.steps[name], ctx)
            for name, func in self._bound_steps().items()
        }
        run = Run(
            graph,
            calls,
            ctx._state,
            timeout=self._timeout,
            verbose=self._verbose,
            stream_high_water=self._stream_buffer_size,
            catch_error=self._catch_error_handler,
        )
        ctx._run = run
        if first is not None:
            run.route(first)
        return run, WorkflowHandler(run, ctx, self._workflow_name)

    def _bound_steps(self) -> dict[str, Callable[..., Any]]:
        """The step callables of this instance: bound methods, and added free functions."""
        version = Workflow._steps_version
        if self._bound is None or self._bound[0] != version:
            added = {n for k in type(self).__mro__ for n in vars(k).get("_added_steps", {})}
            steps = {
                name: func if name in added else func.__get__(self, type(self))
                for name, func in self._step_functions().items()
            }
            self._bound = (version, steps)
        return self._bound[1]

    async def _execute(self, run: Run) -> None:
        if self._num_concurrent_runs is None:
            await run.execute()
            return
        if self._run_slots is None:
            self._run_slots = anyio.Semaphore(self._num_concurrent_runs)
        async with self._run_slots:
            await run.execute()

    def run(
        self,
        ctx: Context[Any] | None = None,
        start_event: StartEvent | None = None,
        **kwargs: Any,
    ) -> WorkflowHandler:
        """Start a run in the background and return its handler at once.

        Pass ``ctx`` to resume a context restored with ``Context.from_dict`` (or a
        cancelled run's context): the run continues where it stopped, with no new
        StartEvent. A context whose run finished keeps its store for a new run.

        Args:
            ctx: The context to resume or reuse; a new one if None.
            start_event: The StartEvent to start with, instead of building one from kwargs.
            **kwargs: Fields of the StartEvent (``run_id`` names the run).

        Returns:
            The handler: ``await`` it for the result, iterate ``stream_events()``.

        Raises:
            WorkflowValidationError: The workflow's steps are invalid.
            WorkflowRuntimeError: The StartEvent cannot be built from ``kwargs``, or
                ``run()`` was called outside asyncio or trio.
            ContextStateError: ``ctx`` belongs to a run that is still running.
        """
        backend.current_backend()  # fail before building anything when not in async code
        run, handler = self._prepare(ctx, start_event, kwargs)
        backend.start_detached(
            functools.partial(self._execute, run), name=f"flowkit run {self._workflow_name}"
        )
        return handler

    @asynccontextmanager
    async def open_run(
        self,
        ctx: Context[Any] | None = None,
        start_event: StartEvent | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[WorkflowHandler]:
        """Run the workflow inside a task group the caller owns, for the ``async with`` block.

        The run's tasks are children of the current task: cancelling the enclosing
        scope cancels the run. Leaving the block cancels the run if it has not ended,
        and waits until its tasks are gone. An exception raised in the block cancels
        the run and propagates unchanged (not wrapped in an exception group).

        Examples:
            >>> async def main() -> None:
            ...     async with MyWorkflow().open_run(topic="x") as handler:
            ...         result = await handler

        Raises:
            The same errors as :meth:`run`.
        """
        run, handler = self._prepare(ctx, start_event, kwargs)
        try:
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(self._execute, run, name=f"flowkit run {self._workflow_name}")
                try:
                    yield handler
                finally:
                    run.cancel()
        except BaseExceptionGroup as group:
            # The run's task never raises, so a group holds what the block raised: raise
            # it as the block raised it, as if no task group were there.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise

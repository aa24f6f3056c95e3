"""Workflow: collects the steps of a class, validates them, and starts runs."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any, ClassVar

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

import anyio

from ._engine import backend, resources
from ._engine.blueprint import (
    STEP_CONFIG,
    Blueprint,
    forget_graphs,
    graph_of,
    step_configs,
    step_functions,
)
from ._engine.graph import start_event_class, stop_event_class
from ._engine.graph_checks import GraphCheck, check_skip_names
from ._engine.run import Run, RunSettings
from ._engine.slots import RunSlots
from ._engine.stream import DEFAULT_HIGH_WATER
from .context import Context
from .context.serializers import BaseSerializer, JsonSerializer
from .context.state_store import DictState
from .errors import WorkflowValidationError
from .events import Event, StartEvent, StopEvent
from .handler import WorkflowHandler
from .resource import ResourceManager

__all__ = ["Workflow"]


def _check_start_event(start_event: object) -> None:
    if start_event is not None and not isinstance(start_event, StartEvent):
        raise ValueError(
            "The 'start_event' argument must be an instance of 'StartEvent'. "
            f"Got {type(start_event).__name__}; pass an instance of the workflow's "
            "StartEvent class, or pass its fields as keyword arguments to run()."
        )


class Workflow:
    """An event-driven workflow: subclass it and decorate methods with ``@step``.

    Args:
        timeout: Seconds a run may take before it ends with WorkflowTimeoutError
            (time spent frozen in a snapshot does not count); None for no limit.
        disable_validation: Skip the checks of the event graph before a run.
        verbose: Print each step's start and what it produced.
        resource_manager: Makes and caches the resources steps take through
            ``Annotated[T, Resource(...)]`` parameters; one per workflow instance, a
            new one if None. Pass one to share resources between instances or to set
            some with ``await manager.set(name, value)``.
        num_concurrent_runs: How many runs of this workflow instance may execute at
            once; further runs wait for a slot. None for no limit.
        workflow_name: The name snapshots are checked against; by default the class's
            module and qualified name (``"mymodule.MyWorkflow"``).
        serializer: How snapshots store values typed ``Any``; JsonSerializer by default.
        stream_buffer_size: How many unread stream events a reader may fall behind
            before steps wait for it (see docs/embedding.md).
        skip_graph_checks: Graph checks to turn off for this workflow:
            ``"reachability"``, ``"terminal_event"``, ``"dead_end"``.

    Raises:
        WorkflowConfigurationError: No step accepts a StartEvent or returns a
            StopEvent, or the steps use more than one class of either.
        WorkflowValidationError: An argument is invalid, or ``skip_graph_checks``
            names an unknown check.

    Examples:
        >>> class Hello(Workflow):
        ...     @step
        ...     async def greet(self, ev: StartEvent) -> StopEvent:
        ...         return StopEvent(result=f"Hello, {ev.name}!")
        >>> # result = await Hello().run(name="Ada")
    """

    _added_steps: ClassVar[dict[str, Callable[..., Any]]] = {}

    def __init__(
        self,
        timeout: float | None = 45.0,
        disable_validation: bool = False,
        verbose: bool = False,
        resource_manager: ResourceManager | None = None,
        num_concurrent_runs: int | None = None,
        workflow_name: str | None = None,
        serializer: BaseSerializer | None = None,
        *,
        stream_buffer_size: int = DEFAULT_HIGH_WATER,
        skip_graph_checks: Iterable[GraphCheck] | None = None,
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
        cls = type(self)
        configs = step_configs(cls)
        start_event_class(configs, cls.__name__)  # the incumbent checks these at construction
        stop_event_class(configs, cls.__name__)
        self._skip_graph_checks = check_skip_names(skip_graph_checks)
        self._disable_validation = disable_validation
        self._workflow_name = workflow_name or f"{cls.__module__}.{cls.__qualname__}"
        # Snapshots taken before the default name had its module still restore.
        self._former_name = None if workflow_name else cls.__qualname__
        self._serializer = serializer if serializer is not None else JsonSerializer()
        self._settings = RunSettings(
            timeout=timeout,
            verbose=verbose,
            stream_high_water=stream_buffer_size,
            slots=RunSlots(num_concurrent_runs) if num_concurrent_runs is not None else None,
        )
        self._resource_manager = (
            resource_manager if resource_manager is not None else ResourceManager()
        )
        self._current: Blueprint | None = None

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
        if not hasattr(func, STEP_CONFIG):
            raise WorkflowValidationError(
                f"{func.__name__} is not a step: decorate it with @step(workflow={cls.__name__})."
            )
        if func.__name__ in step_functions(cls):
            raise WorkflowValidationError(
                f"A step {func.__name__} is already part of this workflow, please choose "
                "another name."
            )
        cls._added_steps[func.__name__] = func
        forget_graphs()

    def _blueprint(self) -> Blueprint:
        """What this instance's runs are made from, rebuilt when its class's steps change.

        Raises:
            WorkflowValidationError: The workflow's steps are invalid.
        """
        graph = graph_of(type(self), not self._disable_validation, self._skip_graph_checks)
        current = self._current
        if current is None or current.graph is not graph:
            current = self._current = Blueprint(
                self,
                graph,
                self._workflow_name,
                self._settings,
                self._serializer,
                DictState,
                self._resource_manager,
            )
            current.former_name = self._former_name
        return current

    def validate(
        self, *, validate_resource_configs: bool = True, validate_resources: bool = False
    ) -> bool:
        """Check the event graph now (the same checks run before every run), and resources.

        Args:
            validate_resource_configs: Load every ``ResourceConfig`` the steps (and
                their factories) use, and check it fits its class.
            validate_resources: Also make every resource through the workflow's
                ResourceManager (they stay cached), finding dependency cycles and
                failing factories. The factories run in an event loop of their own,
                so call this from sync code, not inside a running event loop.

        Returns:
            Whether the workflow uses human-in-the-loop events.

        Raises:
            WorkflowValidationError: The graph or a step signature is invalid (every
                graph check that failed is listed), or a resource is wrong: one line per
                problem, naming the step, the parameter, the resource chain, the config
                file and what is wrong.
            ValueError: Steps use unrelated state types in ``Context[...]``.
        """
        graph = graph_of(type(self), True, self._skip_graph_checks)
        step_resources = {
            name: config.resources for name, config in graph.steps.items() if config.resources
        }
        resources.check_steps(
            step_resources,
            self._resource_manager,
            configs=validate_resource_configs,
            factories=validate_resources,
        )
        return graph.uses_hitl

    @property
    def workflow_name(self) -> str:
        """The workflow's name (``module.QualifiedName`` of the class unless given)."""
        return self._workflow_name

    @property
    def start_event_class(self) -> type[StartEvent]:
        """The StartEvent class the workflow's entry step accepts."""
        return self._blueprint().graph.start_event_class

    @property
    def stop_event_class(self) -> type[StopEvent]:
        """The StopEvent class the workflow's steps return."""
        return self._blueprint().graph.stop_event_class

    @property
    def events(self) -> list[type[Event]]:
        """Every event class the workflow's steps accept or return."""
        return self._blueprint().event_types()

    @property
    def serializer(self) -> BaseSerializer:
        """The serializer snapshots of this workflow use by default."""
        return self._serializer

    # -- runs ----------------------------------------------------------------------

    def _prepare(
        self, ctx: Context[Any] | None, start_event: StartEvent | None, kwargs: dict[str, Any]
    ) -> tuple[Run, WorkflowHandler]:
        blueprint = self._blueprint()
        if ctx is None:
            ctx = Context(self)
        run = ctx._begin_run(blueprint, start_event, kwargs)
        return run, WorkflowHandler(run, ctx, self._workflow_name)

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
            ValueError: ``start_event`` is not a StartEvent (checked first).
            WorkflowValidationError: The workflow's steps are invalid.
            WorkflowRuntimeError: The StartEvent cannot be built from ``kwargs``, is not
                of the workflow's StartEvent class, or ``run()`` was called outside
                asyncio or trio.
            ContextStateError: ``ctx`` belongs to a run that is still running.
        """
        _check_start_event(start_event)  # before the event-loop check, as the incumbent does
        backend.current_backend()  # fail before building anything when not in async code
        run, handler = self._prepare(ctx, start_event, kwargs)
        backend.start_detached(run.execute, name=f"flowkit run {self._workflow_name}")
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
        _check_start_event(start_event)
        run, handler = self._prepare(ctx, start_event, kwargs)
        try:
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(run.execute, name=f"flowkit run {self._workflow_name}")
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

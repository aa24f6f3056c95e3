"""Workflow: collects the steps of a class, validates them, and starts runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from ._engine import backend, resources
from ._engine.blueprint import Blueprint, add_step, graph_of
from ._engine.embedded import open_in_task_group
from ._engine.graph_checks import GraphCheck
from ._engine.run import Run
from ._engine.setup import check_start_event, set_up
from ._engine.stream import DEFAULT_HIGH_WATER
from .context import Context
from .context.serializers import BaseSerializer, JsonSerializer
from .context.state_store import DictState
from .events import Event, StartEvent, StopEvent
from .handler import WorkflowHandler
from .resource import ResourceManager

__all__ = ["Workflow"]


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
        setup = set_up(
            type(self),
            timeout=timeout,
            verbose=verbose,
            num_concurrent_runs=num_concurrent_runs,
            workflow_name=workflow_name,
            stream_buffer_size=stream_buffer_size,
            skip_graph_checks=skip_graph_checks,
        )
        self._setup = setup
        self._disable_validation = disable_validation
        self._serializer = serializer if serializer is not None else JsonSerializer()
        self._resource_manager = (
            resource_manager if resource_manager is not None else ResourceManager()
        )
        self._current: Blueprint | None = None

    # -- steps ---------------------------------------------------------------------

    @classmethod
    def add_step(cls, func: Callable[..., Any]) -> None:
        """Add a ``@step``-decorated free function to this workflow class.

        Raises:
            WorkflowValidationError: ``func`` is not a step, or the class has a step of that name.
        """
        add_step(cls, func)

    def _blueprint(self) -> Blueprint:
        """What this instance's runs are made from, rebuilt when its class's steps change.

        Raises:
            WorkflowValidationError: The workflow's steps are invalid.
        """
        graph = graph_of(type(self), not self._disable_validation, self._setup.skip_graph_checks)
        current = self._current
        if current is None or current.graph is not graph:
            current = self._current = Blueprint(
                self,
                graph,
                self._setup.name,
                self._setup.settings,
                self._serializer,
                DictState,
                self._resource_manager,
            )
            current.former_name = self._setup.former_name
        return current

    def validate(
        self, *, validate_resource_configs: bool = True, validate_resources: bool = False
    ) -> bool:
        """Check the event graph now (the same checks run before every run), and resources.

        Args:
            validate_resource_configs: Load every ``ResourceConfig`` the steps (and
                their factories) use, and check it fits its class.
            validate_resources: Also make every resource with the workflow's ResourceManager
                (they stay cached), finding cycles and failing factories; they run in an
                event loop of their own, so call this from sync code.

        Returns:
            Whether the workflow uses human-in-the-loop events.

        Raises:
            WorkflowValidationError: The graph or a step signature is invalid (every
                graph check that failed is listed), or a resource is wrong: one line per
                problem, naming the step, the parameter, the resource chain, the config
                file and what is wrong.
            ValueError: Steps use unrelated state types in ``Context[...]``.
        """
        graph = graph_of(type(self), True, self._setup.skip_graph_checks)
        resources.check_steps(
            {name: config.resources for name, config in graph.steps.items()},
            self._resource_manager,
            configs=validate_resource_configs,
            factories=validate_resources,
        )
        return graph.uses_hitl

    @property
    def workflow_name(self) -> str:
        """The workflow's name (``module.QualifiedName`` of the class unless given)."""
        return self._setup.name

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
        ctx = ctx if ctx is not None else Context(self)
        run = ctx._begin_run(blueprint, start_event, kwargs)
        return run, WorkflowHandler(run, ctx, self._setup.name)

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
        check_start_event(start_event)  # before the event-loop check, as the incumbent does
        backend.current_backend()  # fail before building anything when not in async code
        run, handler = self._prepare(ctx, start_event, kwargs)
        backend.start_detached(run.execute, name=f"flowkit run {self._setup.name}")
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
        check_start_event(start_event)
        run, handler = self._prepare(ctx, start_event, kwargs)
        async with open_in_task_group(run, name=f"flowkit run {self._setup.name}"):
            yield handler

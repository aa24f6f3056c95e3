"""Blueprint: everything derived once from a workflow class and its instance, to start runs.

The step graph (cached per class until ``add_step`` changes a class), the step
callables bound to the instance, the @catch_error lookup, the state type and initial
store, and (through its SnapshotCodec) freezing and thawing a run's state.
``Workflow`` is a thin face over it; ``Context`` holds one.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ..errors import WorkflowRuntimeError, WorkflowValidationError
from ..events import Event, StartEvent
from ..resource import ResourceManager
from .graph import StepGraph, build_graph
from .graph_checks import state_type
from .run import Run, RunSettings
from .signature import StepConfig
from .snapshot_codec import Serializer, SnapshotCodec
from .state import RunState
from .step_calls import Binder, binder

STEP_CONFIG = "_step_config"
"""The attribute ``@step`` sets on a function: its StepConfig."""
ADDED_STEPS = "_added_steps"
"""The class attribute holding a workflow class's steps added with ``add_step``."""


def step_functions(cls: type) -> dict[str, Callable[..., Any]]:
    """The ``@step`` functions of a workflow class and its bases, and those added to them."""
    found: dict[str, Callable[..., Any]] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if callable(value) and hasattr(value, STEP_CONFIG):
                found[name] = value
        found.update(vars(klass).get(ADDED_STEPS, {}))
    return found


def added_step_names(cls: type) -> set[str]:
    """The names of the steps added with ``add_step`` (free functions, never bound)."""
    return {name for klass in cls.__mro__ for name in vars(klass).get(ADDED_STEPS, {})}


def step_configs(cls: type) -> dict[str, StepConfig]:
    """The StepConfig of every step of a workflow class, by step name."""
    return {name: getattr(func, STEP_CONFIG) for name, func in step_functions(cls).items()}


# Per class: its graphs by (validated, checks skipped).
_graphs: weakref.WeakKeyDictionary[type, dict[tuple[bool, frozenset[str]], StepGraph]] = (
    weakref.WeakKeyDictionary()
)


def graph_of(
    cls: type, validate: bool, skip_graph_checks: frozenset[str] = frozenset()
) -> StepGraph:
    """The StepGraph of a workflow class, built once per skip set (``add_step`` drops them).

    Raises:
        WorkflowValidationError: The graph or a step signature is invalid.
        WorkflowConfigurationError: No or several StartEvent or StopEvent classes.
        ValueError: Steps name unrelated state types in ``Context[...]``.
    """
    per_class = _graphs.get(cls)
    if per_class is None:
        per_class = _graphs[cls] = {}
    key = (validate, skip_graph_checks)
    graph = per_class.get(key)
    if graph is None:
        configs = step_configs(cls)
        step_skips = {n: c.skip_graph_checks for n, c in configs.items() if c.skip_graph_checks}
        graph = build_graph(
            cls.__name__,
            configs,
            validate=validate,
            skip_graph_checks=skip_graph_checks,
            step_skips=step_skips,
        )
        if validate:
            state_type(graph.steps)  # unrelated state types fail validation
        per_class[key] = graph
    return graph


def add_step(cls: type, func: Callable[..., Any]) -> None:
    """Add a ``@step`` free function to a workflow class (``Workflow.add_step``).

    Raises:
        WorkflowValidationError: ``func`` is not a step, or the class has a step of that name.
    """
    if not hasattr(func, STEP_CONFIG):
        raise WorkflowValidationError(
            f"{func.__name__} is not a step: decorate it with @step(workflow={cls.__name__})."
        )
    if func.__name__ in step_functions(cls):
        raise WorkflowValidationError(
            f"A step {func.__name__} is already part of this workflow, please choose another name."
        )
    added = vars(cls).get(ADDED_STEPS)
    if added is None:
        added = {}
        setattr(cls, ADDED_STEPS, added)
    added[func.__name__] = func
    _graphs.clear()  # every graph may be stale: subclasses inherit steps


class Blueprint:
    """What runs of one workflow instance are made from.

    Args:
        instance: The workflow instance (its methods are the steps).
        graph: Its class's step graph.
        name: The workflow's name, which snapshots are checked against.
        settings: Timeout, output and limits of its runs.
        serializer: Its default serializer.
        default_store: Makes the untyped store of a new run.
        resource_manager: Makes and caches the resources its steps take (one per
            workflow instance; a new one if None).
    """

    def __init__(
        self,
        instance: object,
        graph: StepGraph,
        name: str,
        settings: RunSettings,
        serializer: Serializer,
        default_store: Callable[[], Any],
        resource_manager: ResourceManager | None = None,
    ) -> None:
        self.graph = graph
        self.name = name
        # Another name whose snapshots this workflow restores (an older default name).
        self.former_name: str | None = None
        self.settings = settings
        self.serializer = serializer
        self._default_store = default_store
        added = added_step_names(type(instance))
        self.functions: Mapping[str, Callable[..., Any]] = {
            name: func if name in added else func.__get__(instance, type(instance))
            for name, func in step_functions(type(instance)).items()
            if name in graph.steps
        }
        self._catch_handlers = {name: self._find_catch_handler(name) for name in graph.steps}
        self.resource_manager = (
            resource_manager if resource_manager is not None else ResourceManager()
        )
        # Read once: how each step is called in a run (plain async steps take the
        # bare function; sync steps a thread, steps with resources their injection).
        self._binders: dict[str, Binder] = {
            name: binder(func, graph.steps[name], self.resource_manager)
            for name, func in self.functions.items()
        }

    # -- runs ------------------------------------------------------------------------

    def create_run(self, state: RunState, ctx: object, first: StartEvent | None) -> Run:
        """A run of ``state`` whose steps get ``ctx``, started with ``first`` unless resumed."""
        calls = {name: bind(ctx) for name, bind in self._binders.items()}
        run = Run(self.graph, calls, state, self.settings, self._catch_handlers.__getitem__)
        run.context_ref = weakref.ref(ctx)
        if first is not None:
            run.route(first)
        return run

    def start_event(self, start_event: StartEvent | None, kwargs: dict[str, Any]) -> StartEvent:
        """The StartEvent of a new run: ``start_event`` checked, or built from ``kwargs``.

        Raises:
            WorkflowRuntimeError: ``start_event`` has the wrong class, or ``kwargs`` do
                not build the workflow's StartEvent.
        """
        expected = self.graph.start_event_class
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

    def _find_catch_handler(self, failed_step: str) -> str | None:
        wildcard = None
        for name, config in self.graph.steps.items():
            if not config.is_catch_error or name == failed_step:
                continue
            if config.catch_error_for_steps is None:
                wildcard = wildcard or name
            elif failed_step in config.catch_error_for_steps:
                return name
        return wildcard

    # -- state -----------------------------------------------------------------------

    @functools.cached_property
    def state_type(self) -> type | None:
        """The most derived class steps name in ``Context[...]``; None: the untyped store.

        Raises:
            ValueError: Steps name unrelated state classes.
        """
        return state_type(self.graph.steps)

    def initial_store(self) -> Any:
        """The store a new run starts with.

        Raises:
            WorkflowValidationError: The state class cannot be built without arguments.
        """
        state_type = self.state_type
        if state_type is None:
            return self._default_store()
        try:
            return state_type()
        except TypeError as exc:
            raise WorkflowValidationError(
                f"Cannot create the initial state {state_type.__name__}(): {exc}. "
                "Give every field of the state class a default."
            ) from None

    # -- snapshots -------------------------------------------------------------------

    @functools.cached_property
    def snapshots(self) -> SnapshotCodec:
        """Freezes and thaws this instance's runs."""
        return SnapshotCodec(
            self.name, self.graph, self.serializer, self.state_type, self.former_name
        )

    def freeze(self, state: RunState, serializer: Serializer | None) -> dict[str, Any]:
        """The snapshot dict of ``state``.

        Raises:
            ContextSerdeError: A value in the state cannot be stored as JSON.
        """
        return self.snapshots.freeze(state, serializer)

    def thaw(self, data: Any, serializer: Serializer | None) -> RunState:
        """The RunState a snapshot dict describes.

        Raises:
            ContextSerdeError: ``data`` is not a valid snapshot of this workflow, or names
                an event class that is not loaded.
        """
        return self.snapshots.thaw(data, serializer)

    def event_types(self) -> list[type[Event]]:
        """Every event class the steps accept or return, by name."""
        return sorted(self.graph.event_types(), key=lambda t: t.__name__)


class HasBlueprint(Protocol):
    """A workflow, as the engine and ``Context`` see it: the source of its blueprint."""

    def _blueprint(self) -> Blueprint:
        """The workflow instance's current blueprint."""

"""Blueprint: everything derived once from a workflow class and its instance, to start runs.

The step graph (cached per class until ``add_step`` changes a class), the step
callables bound to the instance, the @catch_error lookup, the state type and initial
store, the registry and snapshot converter per serializer, and freezing and thawing
a run's state. ``Workflow`` is a thin face over it; ``Context`` holds one.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import cattrs

from ..errors import WorkflowRuntimeError, WorkflowValidationError
from ..events import Event, StartEvent
from ..resource import ResourceManager
from . import freeze, snapshot
from .graph import StepGraph, build_graph
from .registry import Registry
from .run import Run, RunSettings
from .signature import StepConfig
from .state import RunState
from .step_calls import Binder, binder

STEP_CONFIG = "_step_config"
"""The attribute ``@step`` sets on a function: its StepConfig."""
ADDED_STEPS = "_added_steps"
"""The class attribute holding a workflow class's steps added with ``add_step``."""


class Serializer(Protocol):
    """What a blueprint reads of a serializer (``flowkit.context.serializers``)."""

    converter: cattrs.Converter
    value_types: list[type]

    def encode_unknown(self, value: Any) -> Any:
        """Store a value of a type nothing else knows."""

    def decode_unknown(self, data: dict[str, Any]) -> Any:
        """Restore a value stored by ``encode_unknown``."""


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


_graphs: weakref.WeakKeyDictionary[type, dict[bool, StepGraph]] = weakref.WeakKeyDictionary()


def graph_of(cls: type, validate: bool) -> StepGraph:
    """The StepGraph of a workflow class, built once (``forget_graphs`` drops them all).

    Raises:
        WorkflowValidationError: The graph or a step signature is invalid.
        WorkflowConfigurationError: No or several StartEvent or StopEvent classes.
    """
    per_class = _graphs.get(cls)
    if per_class is None:
        per_class = _graphs[cls] = {}
    graph = per_class.get(validate)
    if graph is None:
        configs: dict[str, StepConfig] = {
            name: getattr(func, STEP_CONFIG) for name, func in step_functions(cls).items()
        }
        graph = per_class[validate] = build_graph(cls.__name__, configs, validate=validate)
    return graph


def forget_graphs() -> None:
    """A step was added to a class: every graph may be stale (subclasses inherit steps)."""
    _graphs.clear()


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
        # Per serializer (held weakly, so a serializer made per call is not kept): how many
        # value types it had, and the registry and converter built from them.
        self._converters: weakref.WeakKeyDictionary[
            Serializer, tuple[int, Registry, cattrs.Converter]
        ] = weakref.WeakKeyDictionary()

    # -- runs ------------------------------------------------------------------------

    def create_run(self, state: RunState, ctx: object, first: StartEvent | None) -> Run:
        """A run of ``state`` whose steps get ``ctx``, started with ``first`` unless resumed."""
        calls = {name: bind(ctx) for name, bind in self._binders.items()}
        run = Run(self.graph, calls, state, self.settings, self._catch_handlers.__getitem__)
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
        """The class steps name in ``Context[...]``, or None for the untyped store.

        Raises:
            WorkflowValidationError: Steps name different state classes.
        """
        types = {
            c.context_state_type
            for c in self.graph.steps.values()
            if c.context_state_type is not None
        }
        if len(types) > 1:
            names = ", ".join(sorted(t.__name__ for t in types))
            raise WorkflowValidationError(
                f"Steps use different state types in Context[...]: {names}. "
                "A workflow has one state type; use the same one in every step."
            )
        return types.pop() if types else None

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

    def converter(self, serializer: Serializer | None) -> cattrs.Converter:
        """The snapshot converter for ``serializer`` (the workflow's own if None)."""
        chosen = serializer if serializer is not None else self.serializer
        built_from = len(chosen.value_types)
        cached = self._converters.get(chosen)
        if cached is None or cached[0] != built_from:
            state_type = self.state_type
            values = [*chosen.value_types, *([state_type] if state_type else [])]
            registry = Registry.build(self.graph.event_types(), values)
            converter = snapshot.make_converter(
                registry, chosen.encode_unknown, chosen.decode_unknown, chosen.converter
            )
            cached = self._converters[chosen] = (built_from, registry, converter)
        return cached[2]

    def freeze(self, state: RunState, serializer: Serializer | None) -> dict[str, Any]:
        """The snapshot dict of ``state``.

        Raises:
            ContextSerdeError: A value in the state cannot be stored as JSON.
        """
        return freeze.freeze(state, self.name, self.converter(serializer))

    def thaw(self, data: Any, serializer: Serializer | None) -> RunState:
        """The RunState a snapshot dict describes.

        Raises:
            ContextSerdeError: ``data`` is not a valid snapshot of this workflow.
        """
        return freeze.thaw(data, self.name, set(self.graph.steps), self.converter(serializer))

    def event_types(self) -> list[type[Event]]:
        """Every event class the steps accept or return, by name."""
        return sorted(self.graph.event_types(), key=lambda t: t.__name__)


class HasBlueprint(Protocol):
    """A workflow, as the engine and ``Context`` see it: the source of its blueprint."""

    def _blueprint(self) -> Blueprint:
        """The workflow instance's current blueprint."""

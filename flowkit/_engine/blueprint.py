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

import attrs
import cattrs

from ..errors import WorkflowRuntimeError, WorkflowValidationError
from ..events import Event, StartEvent
from . import event_classes, freeze, snapshot
from .graph import StepGraph, build_graph
from .graph_checks import state_type
from .registry import Registry
from .restore import check_header
from .run import Run, RunSettings
from .signature import StepConfig
from .state import RunState
from .worker import StepCall

_EXTENDED_KEPT = 8
"""How many converters for event classes outside the registry a blueprint keeps."""

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
    """The StepGraph of a workflow class, built once per skip set (``forget_graphs`` drops them).

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


def forget_graphs() -> None:
    """A step was added to a class: every graph may be stale (subclasses inherit steps)."""
    _graphs.clear()


@attrs.define
class _Built:
    """What a blueprint built for one serializer: its registry, and its converter once used."""

    value_types: int  # how many the serializer had: a later register_type builds anew
    registry: Registry
    converter: cattrs.Converter | None = None


def _make_call(func: Callable[..., Any], config: StepConfig, ctx: object) -> StepCall:
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


class Blueprint:
    """What runs of one workflow instance are made from.

    Args:
        instance: The workflow instance (its methods are the steps).
        graph: Its class's step graph.
        name: The workflow's name, which snapshots are checked against.
        settings: Timeout, output and limits of its runs.
        serializer: Its default serializer.
        default_store: Makes the untyped store of a new run.
    """

    def __init__(
        self,
        instance: object,
        graph: StepGraph,
        name: str,
        settings: RunSettings,
        serializer: Serializer,
        default_store: Callable[[], Any],
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
        # Per serializer (held weakly, so a serializer made per call is not kept): how many
        # value types it had, and the registry and converter built from them.
        self._converters: weakref.WeakKeyDictionary[Serializer, _Built] = (
            weakref.WeakKeyDictionary()
        )
        # Converters that also know event classes outside the registry, by serializer,
        # its value type count and those classes (a few kept, oldest dropped first).
        self._extended: dict[tuple[Serializer, int, tuple[type[Event], ...]], cattrs.Converter] = {}

    # -- runs ------------------------------------------------------------------------

    def create_run(self, state: RunState, ctx: object, first: StartEvent | None) -> Run:
        """A run of ``state`` whose steps get ``ctx``, started with ``first`` unless resumed."""
        graph = self.graph
        calls = {
            name: _make_call(func, graph.steps[name], ctx) for name, func in self.functions.items()
        }
        run = Run(graph, calls, state, self.settings, self._catch_handlers.__getitem__)
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

    def _entry(self, serializer: Serializer | None) -> _Built:
        """The registry (and converter, once built) for ``serializer``.

        The converter is built on first use: a run whose snapshots need event classes
        outside the registry uses only a converter that knows those too.
        """
        chosen = serializer if serializer is not None else self.serializer
        built_from = len(chosen.value_types)
        cached = self._converters.get(chosen)
        if cached is None or cached.value_types != built_from:
            state_type = self.state_type
            values = [*chosen.value_types, *([state_type] if state_type else [])]
            registry = Registry.build(self.graph.event_types(), values)
            cached = self._converters[chosen] = _Built(built_from, registry)
        return cached

    def converter(
        self, serializer: Serializer | None, extra: tuple[type[Event], ...] = ()
    ) -> cattrs.Converter:
        """The snapshot converter for ``serializer``, knowing the event classes ``extra`` too."""
        chosen = serializer if serializer is not None else self.serializer
        entry = self._entry(chosen)
        if not extra:
            if entry.converter is None:
                entry.converter = snapshot.make_converter(
                    entry.registry, chosen.encode_unknown, chosen.decode_unknown, chosen.converter
                )
            return entry.converter
        key = (chosen, entry.value_types, extra)
        found = self._extended.get(key)
        if found is None:
            extended = entry.registry.with_events({event_classes.tag_of(k): k for k in extra})
            found = snapshot.make_converter(
                extended, chosen.encode_unknown, chosen.decode_unknown, chosen.converter
            )
            if len(self._extended) >= _EXTENDED_KEPT:
                self._extended.pop(next(iter(self._extended)))
            self._extended[key] = found
        return found

    def freeze(self, state: RunState, serializer: Serializer | None) -> dict[str, Any]:
        """The snapshot dict of ``state``.

        Raises:
            ContextSerdeError: A value in the state cannot be stored as JSON.
        """
        extra: tuple[type[Event], ...] = ()
        if state.used_events:
            known = self._entry(serializer).registry.tags
            extra = event_classes.unregistered(state.used_events, known)
        listed = event_classes.listing(extra)
        return freeze.freeze(state, self.name, self.converter(serializer, extra), listed)

    def thaw(self, data: Any, serializer: Serializer | None) -> RunState:
        """The RunState a snapshot dict describes.

        Raises:
            ContextSerdeError: ``data`` is not a valid snapshot of this workflow, or names
                an event class that is not loaded.
        """
        former = self.former_name
        if former is not None and isinstance(data, dict) and data.get("workflow") == former:
            data = {**data, "workflow": self.name}
        check_header(data, self.name)
        extra = event_classes.find_listed(data)
        state = freeze.thaw(
            data, self.name, set(self.graph.steps), self.converter(serializer, extra)
        )
        state.used_events.update(extra)
        return state

    def event_types(self) -> list[type[Event]]:
        """Every event class the steps accept or return, by name."""
        return sorted(self.graph.event_types(), key=lambda t: t.__name__)


class HasBlueprint(Protocol):
    """A workflow, as the engine and ``Context`` see it: the source of its blueprint."""

    def _blueprint(self) -> Blueprint:
        """The workflow instance's current blueprint."""

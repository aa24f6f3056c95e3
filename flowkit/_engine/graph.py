"""StepGraph: all of a workflow's step configs, validated as a whole, and event routing tables."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

import attrs

from ..errors import WorkflowConfigurationError, WorkflowValidationError
from ..events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StepFailedEvent,
    StopEvent,
)
from .graph_checks import (
    catch_error_problems,
    check_skip_names,
    graph_problems,
    graph_validation_error,
)
from .signature import StepConfig

# Events that may enter a run from outside, or leave it, without a step on the other side.
_BOUNDARY_IN = (InputRequiredEvent, HumanResponseEvent, StopEvent, StepFailedEvent)
_BOUNDARY_OUT = (InputRequiredEvent, HumanResponseEvent, StopEvent)
_NONE_TYPE = type(None)


def _names(types: set[type]) -> str:
    return ", ".join(sorted(t.__name__ for t in types))


@attrs.frozen
class StepGraph:
    """The steps of one workflow class and what flows between them."""

    workflow_name: str
    steps: Mapping[str, StepConfig]
    start_event_class: type[StartEvent]
    stop_event_class: type[StopEvent]
    uses_hitl: bool
    _consumers: dict[type[Event], tuple[str, ...]] = attrs.field(
        factory=dict, init=False, eq=False, repr=False
    )

    def accepts(self, step: str, event_type: type[Event]) -> bool:
        """Whether ``step`` receives events of ``event_type``."""
        config = self.steps[step]
        if config.accept_event_subclasses:
            return issubclass(event_type, config.accepted_events)
        return event_type in config.accepted_events

    def consumers(self, event_type: type[Event]) -> tuple[str, ...]:
        """The steps an event of ``event_type`` is delivered to (catch_error handlers excluded)."""
        found = self._consumers.get(event_type)
        if found is None:
            found = self._consumers[event_type] = tuple(
                name
                for name, config in self.steps.items()
                if not config.is_catch_error and self.accepts(name, event_type)
            )
        return found

    @functools.cached_property
    def external_inputs(self) -> tuple[type[Event], ...]:
        """Event types a step accepts that only the caller can send (nothing produces them)."""
        produced = {r for c in self.steps.values() for r in c.return_types}
        return tuple(
            t
            for c in self.steps.values()
            if not c.is_catch_error
            for t in c.accepted_events
            if t not in produced and not issubclass(t, StartEvent)
        )

    def event_types(self) -> set[type[Event]]:
        """Every event class a step accepts or returns."""
        found: set[type[Event]] = set()
        for config in self.steps.values():
            found.update(config.accepted_events)
            found.update(r for r in config.return_types if r is not _NONE_TYPE)
        return found


def start_event_class(steps: Mapping[str, StepConfig], workflow: str) -> type[StartEvent]:
    """The one StartEvent class the steps accept.

    Raises:
        WorkflowConfigurationError: None or more than one.
    """
    found = {t for c in steps.values() for t in c.accepted_events if issubclass(t, StartEvent)}
    if not found:
        raise WorkflowConfigurationError(
            "At least one Event of type StartEvent must be received by any step. "
            f"(Workflow '{workflow}' has no @step that accepts StartEvent.) "
            "Add a step whose event parameter is annotated 'ev: StartEvent'."
        )
    if len(found) > 1:
        raise WorkflowConfigurationError(
            f"Only one type of StartEvent is allowed per workflow, found {len(found)}: "
            f"{_names(found)} in workflow '{workflow}'. Make every entry step accept the same one."
        )
    return found.pop()


def stop_event_class(steps: Mapping[str, StepConfig], workflow: str) -> type[StopEvent]:
    """The one StopEvent class the steps return.

    Raises:
        WorkflowConfigurationError: None or more than one.
    """
    found = {t for c in steps.values() for t in c.return_types if issubclass(t, StopEvent)}
    if not found:
        raise WorkflowConfigurationError(
            "At least one Event of type StopEvent must be returned by any step. "
            f"(Workflow '{workflow}' has no @step that returns StopEvent.) "
            "Annotate the last step with '-> StopEvent' and return StopEvent(result=...)."
        )
    if len(found) > 1:
        raise WorkflowConfigurationError(
            f"Only one type of StopEvent is allowed per workflow, found {len(found)}: "
            f"{_names(found)} in workflow '{workflow}'. Return the same StopEvent class everywhere."
        )
    return found.pop()


def _check_connectivity(
    steps: Mapping[str, StepConfig], start: type[StartEvent], graph: StepGraph
) -> None:
    stop_consumers = [
        name
        for name, c in steps.items()
        if any(issubclass(t, StopEvent) for t in c.accepted_events)
    ]
    if stop_consumers:
        plural = "" if len(stop_consumers) == 1 else "s"
        names = "', '".join(stop_consumers)
        raise WorkflowValidationError(
            f"Step{plural} '{names}' cannot accept StopEvent. "
            "StopEvent signals the end of the workflow. Use a different Event type instead."
        )
    produced: dict[type[Event], list[str]] = {start: []}
    for name, config in steps.items():
        for ret in config.return_types:
            if ret is not _NONE_TYPE:
                produced.setdefault(ret, []).append(name)

    never_produced: dict[type[Event], list[str]] = {}
    for name, config in steps.items():
        for accepted in config.accepted_events:
            if issubclass(accepted, _BOUNDARY_IN):
                continue
            if config.accept_event_subclasses:
                satisfied = any(issubclass(p, accepted) for p in produced)
            else:
                satisfied = accepted in produced
            if not satisfied:
                never_produced.setdefault(accepted, []).append(name)
    if never_produced:
        event, consumers = sorted(never_produced.items(), key=lambda kv: kv[0].__name__)[0]
        raise WorkflowValidationError(
            f"The following events are consumed but never produced: {_names(set(never_produced))}. "
            f"Step '{consumers[0]}' accepts {event.__name__}; add {event.__name__} to the return "
            f"annotation of the step that emits it, or remove '{consumers[0]}'."
        )

    never_consumed = {
        t: producers
        for t, producers in produced.items()
        if not issubclass(t, _BOUNDARY_OUT) and not any(graph.accepts(s, t) for s in steps)
    }
    if never_consumed:
        event, producers = sorted(never_consumed.items(), key=lambda kv: kv[0].__name__)[0]
        raise WorkflowValidationError(
            f"The following events are produced but never consumed: {_names(set(never_consumed))}. "
            f"Step '{producers[0]}' returns {event.__name__}; add a step that accepts it, or "
            f"remove it from the return annotation of '{producers[0]}'."
        )


def build_graph(
    workflow_name: str,
    steps: Mapping[str, StepConfig],
    *,
    validate: bool = True,
    skip_graph_checks: Iterable[str] = (),
    step_skips: Mapping[str, Iterable[str]] | None = None,
) -> StepGraph:
    """Build the StepGraph of a workflow class, validating it unless ``validate`` is False.

    The ``@catch_error`` rules are checked even without ``validate``: they decide where
    a failure goes. The graph checks (see ``graph_checks.graph_problems``) run last and
    are reported together.

    Args:
        workflow_name: Named in error messages.
        steps: The workflow's step configs, by step name.
        validate: Check the event graph.
        skip_graph_checks: Graph checks to skip for the whole workflow.
        step_skips: Graph checks to skip for single steps, by step name.

    Raises:
        WorkflowConfigurationError: No step accepts StartEvent or returns StopEvent,
            or more than one class of either is used.
        WorkflowValidationError: An event is consumed but never produced, produced but
            never consumed, or a step accepts StopEvent; a ``@catch_error`` rule is
            broken; the graph checks found problems (all listed); or
            ``skip_graph_checks`` names an unknown check.
    """
    skipped = check_skip_names(skip_graph_checks)
    if not steps:
        raise WorkflowConfigurationError(
            f"Workflow '{workflow_name}' has no configured steps. "
            "Decorate its async methods with @step."
        )
    start = start_event_class(steps, workflow_name)
    stop = stop_event_class(steps, workflow_name) if validate else _stop_or_default(steps)
    uses_hitl = any(
        issubclass(t, InputRequiredEvent) for c in steps.values() for t in c.return_types
    ) or any(issubclass(t, HumanResponseEvent) for c in steps.values() for t in c.accepted_events)
    graph = StepGraph(workflow_name, dict(steps), start, stop, uses_hitl)
    if validate:
        _check_connectivity(steps, start, graph)
    handler_problems = catch_error_problems(steps)
    if handler_problems:
        raise WorkflowValidationError("\n".join(handler_problems))
    if validate:
        problems = graph_problems(steps, start, skip=skipped, step_skips=step_skips)
        if problems:
            raise graph_validation_error(problems)
    return graph


def _stop_or_default(steps: Mapping[str, StepConfig]) -> type[StopEvent]:
    found = [t for c in steps.values() for t in c.return_types if issubclass(t, StopEvent)]
    return found[0] if found else StopEvent

"""Whole-graph checks of a workflow's steps: reachability, terminal events, dead ends, handlers.

Every check is a pure function of the step configs. The graph checks are collected, so
that one WorkflowValidationError lists every problem, and each can be skipped by name
(``Workflow(skip_graph_checks=[...])``, or per step).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal, get_args

import attrs

from ..errors import WorkflowValidationError
from ..events import Event, HumanResponseEvent, InputRequiredEvent, StopEvent
from .signature import StepConfig

__all__ = [
    "GRAPH_CHECKS",
    "GraphCheck",
    "GraphProblem",
    "catch_error_problems",
    "check_skip_names",
    "check_step_skip_names",
    "graph_problems",
    "graph_validation_error",
    "state_type",
]

GraphCheck = Literal["reachability", "terminal_event", "dead_end"]
GRAPH_CHECKS: tuple[str, ...] = get_args(GraphCheck)
StepGraphCheck = Literal["reachability", "dead_end"]
STEP_GRAPH_CHECKS: tuple[str, ...] = get_args(StepGraphCheck)

_NONE_TYPE = type(None)
_OUTPUTS = (StopEvent, InputRequiredEvent)
Node = str | type


@attrs.frozen
class GraphProblem:
    """One problem a graph check found.

    Attributes:
        check: The check's name (one of ``GRAPH_CHECKS``).
        message: What is wrong, naming the steps or events.
        hint: What to do about it.
    """

    check: str
    message: str
    hint: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.message}\n    {self.hint}"


def _names(names: Iterable[str] | None) -> frozenset[str]:
    return frozenset([names] if isinstance(names, str) else names or ())


def _unknown_message(unknown: frozenset[str], valid: Iterable[str], where: str = "") -> str:
    return (
        f"Unknown graph check names{where}: {', '.join(sorted(unknown))}. "
        f"Valid names are: {', '.join(sorted(valid))}"
    )


def check_skip_names(names: Iterable[str] | None) -> frozenset[str]:
    """The graph checks to skip, as a set.

    Raises:
        WorkflowValidationError: A name is not one of ``GRAPH_CHECKS``.
    """
    checks = _names(names)
    unknown = checks - set(GRAPH_CHECKS)
    if unknown:
        raise WorkflowValidationError(_unknown_message(unknown, GRAPH_CHECKS))
    return checks


def check_step_skip_names(names: Iterable[str] | None, step: str) -> frozenset[str]:
    """The graph checks one step skips (``@step(skip_graph_checks=[...])``), as a set.

    Raises:
        WorkflowValidationError: A name is not one of ``STEP_GRAPH_CHECKS``.
    """
    checks = _names(names)
    unknown = checks - set(STEP_GRAPH_CHECKS)
    if unknown:
        hint = (
            " ('terminal_event' is about events, not steps: pass it to "
            "Workflow(skip_graph_checks=[...]))."
            if "terminal_event" in unknown
            else "."
        )
        raise WorkflowValidationError(
            _unknown_message(unknown, STEP_GRAPH_CHECKS, f" for step '{step}'") + hint
        )
    return checks


def catch_error_problems(steps: Mapping[str, StepConfig]) -> list[str]:
    """The ``@catch_error`` rules a workflow breaks, one message each.

    At most one handler without ``for_steps`` (a wildcard); every name in ``for_steps``
    is a step of the workflow, is not a handler, and is claimed by one handler only.
    """
    handlers = {name: c for name, c in steps.items() if c.is_catch_error}
    problems: list[str] = []
    wildcards = sorted(name for name, c in handlers.items() if c.catch_error_for_steps is None)
    if len(wildcards) > 1:
        problems.append(
            "Only one wildcard @catch_error handler is allowed per workflow, "
            f"found {len(wildcards)}: {', '.join(wildcards)}. Give all but one of them "
            "for_steps=[...]."
        )
    owner: dict[str, str] = {}
    for name, config in handlers.items():
        for target in config.catch_error_for_steps or ():
            if target not in steps:
                problems.append(
                    f"@catch_error handler '{name}' lists unknown step '{target}' in "
                    f"for_steps. The steps are: {', '.join(sorted(steps))}."
                )
            elif target in handlers:
                problems.append(
                    f"@catch_error handler '{name}' cannot cover another handler step "
                    f"'{target}'. A handler that fails ends the run; remove '{target}' from "
                    "for_steps."
                )
            elif target in owner:
                problems.append(
                    f"Step '{target}' is claimed by two @catch_error handlers: "
                    f"'{owner[target]}' and '{name}'. Keep it in one for_steps list."
                )
            else:
                owner[target] = name
    return problems


def _accepts(config: StepConfig, event_type: type) -> bool:
    # A returned StopEvent ends the run: a step accepting a base class never receives it.
    if config.accept_event_subclasses and not issubclass(event_type, StopEvent):
        return issubclass(event_type, config.accepted_events)
    return event_type in config.accepted_events


def _reach(seeds: Iterable[Node], edges: Mapping[Node, list[Node]]) -> set[Node]:
    seen: set[Node] = set()
    stack = list(seeds)
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(edges.get(node, ()))
    return seen


def graph_problems(
    steps: Mapping[str, StepConfig],
    start_event_class: type[Event],
    *,
    skip: Iterable[str] = (),
    step_skips: Mapping[str, Iterable[str]] | None = None,
) -> list[GraphProblem]:
    """Every problem of the step graph, in check order, for the checks not skipped.

    - ``reachability``: a step no event can reach from the StartEvent, a
      HumanResponseEvent or a ``@catch_error`` handler;
    - ``terminal_event``: an event no step accepts that is not a StopEvent or an
      InputRequiredEvent;
    - ``dead_end``: a step that returns events from which no StopEvent or
      InputRequiredEvent can be reached.

    Args:
        steps: The workflow's step configs, by name.
        start_event_class: Its StartEvent class.
        skip: Checks skipped for the whole workflow.
        step_skips: Checks skipped for single steps (``reachability``, ``dead_end``).
    """
    skipped = frozenset(skip)
    per_step = {name: frozenset(checks) for name, checks in (step_skips or {}).items()}
    edges: dict[Node, list[Node]] = {}
    events: set[type] = {start_event_class}
    for name, config in steps.items():
        returned = [t for t in config.return_types if t is not _NONE_TYPE]
        edges[name] = list(returned)
        events.update(returned)
        events.update(config.accepted_events)
    for event_type in events:
        edges[event_type] = [name for name, c in steps.items() if _accepts(c, event_type)]

    problems: list[GraphProblem] = []
    if "reachability" not in skipped:
        seeds: list[Node] = [start_event_class]
        seeds += [t for t in events if issubclass(t, HumanResponseEvent)]
        seeds += [name for name, c in steps.items() if c.is_catch_error]
        reached = _reach(seeds, edges)
        unreachable = sorted(
            name
            for name in steps
            if name not in reached and "reachability" not in per_step.get(name, ())
        )
        if unreachable:
            problems.append(
                GraphProblem(
                    "reachability",
                    f"Unreachable steps: {', '.join(unreachable)}",
                    "Steps must be reachable from StartEvent or HumanResponseEvent.",
                )
            )
    if "terminal_event" not in skipped:
        dangling = sorted(
            t.__name__ for t in events if not edges[t] and not issubclass(t, _OUTPUTS)
        )
        if dangling:
            problems.append(
                GraphProblem(
                    "terminal_event",
                    f"Events produced but never consumed: {', '.join(dangling)}",
                    "Only StopEvent and InputRequiredEvent may be terminal.",
                )
            )
    if "dead_end" not in skipped:
        backwards: dict[Node, list[Node]] = {}
        for source, targets in edges.items():
            for target in targets:
                backwards.setdefault(target, []).append(source)
        finishing = _reach([t for t in events if issubclass(t, _OUTPUTS)], backwards)
        dead = sorted(
            name
            for name in steps
            if edges[name] and name not in finishing and "dead_end" not in per_step.get(name, ())
        )
        if dead:
            problems.append(
                GraphProblem(
                    "dead_end",
                    f"Dead-end steps: {', '.join(dead)}",
                    "Steps must have a path to StopEvent or InputRequiredEvent.",
                )
            )
    return problems


def graph_validation_error(problems: Iterable[GraphProblem]) -> WorkflowValidationError:
    """One error listing every problem, as the incumbent words it, plus how to skip a check."""
    listed = list(problems)
    detail = "\n".join(f"  - {problem}" for problem in listed)
    names = ", ".join(sorted({repr(p.check) for p in listed}))
    return WorkflowValidationError(
        f"Graph validation failed:\n{detail}\n"
        f"If this is intended, skip the check with Workflow(skip_graph_checks=[{names}])."
    )


def state_type(steps: Mapping[str, StepConfig]) -> type | None:
    """The one state class of a workflow: the most derived of its steps' ``Context[...]`` types.

    Steps typed ``Context[Base]`` and ``Context[Child]`` share one state of type ``Child``.

    Returns:
        None when no step names a state type (the state is a ``DictState``).

    Raises:
        ValueError: Two of the types are unrelated (siblings included), naming them and
            the steps that use them.
    """
    users: dict[type, list[str]] = {}
    for name, config in steps.items():
        if config.context_state_type is not None:
            users.setdefault(config.context_state_type, []).append(name)
    derived = [t for t in users if all(issubclass(t, other) for other in users)]
    if derived:
        return derived[0]
    if not users:
        return None
    named = ", ".join(
        f"{t.__name__} (step{'s' if len(s) > 1 else ''} {', '.join(map(repr, s))})"
        for t, s in sorted(users.items(), key=lambda item: item[0].__name__)
    )
    raise ValueError(
        f"Steps use unrelated state types in Context[...]: {named}. A workflow has one "
        "state: use one class, or classes that all derive from the most specific one."
    )

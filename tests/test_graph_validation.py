"""Graph validation as the incumbent does it: start/stop classes, graph checks, @catch_error rules.

Through ``Workflow.validate()`` where it already reaches them, and at the level of the pure
functions ``Workflow()`` will call (``skip_graph_checks`` is not a Workflow argument yet).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest

from flowkit import Context, Workflow, catch_error, step
from flowkit._engine.blueprint import step_functions
from flowkit._engine.graph import build_graph, start_event_class, stop_event_class
from flowkit._engine.graph_checks import (
    GRAPH_CHECKS,
    catch_error_problems,
    check_skip_names,
    graph_problems,
    state_type,
)
from flowkit._engine.signature import StepConfig, read_step_signature
from flowkit.errors import WorkflowConfigurationError, WorkflowValidationError
from flowkit.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StepFailedEvent,
    StopEvent,
)


class Ping(Event):
    pass


class Pong(Event):
    pass


class Reply(HumanResponseEvent):
    pass


class Ask(InputRequiredEvent):
    pass


class OtherStart(StartEvent):
    pass


class OtherStop(StopEvent):
    pass


async def begin(ev: StartEvent) -> StopEvent:
    return StopEvent()


async def ping(ev: Ping) -> Pong:
    return Pong()


async def pong(ev: Pong) -> Ping:
    return Ping()


async def begin_other(ev: OtherStart) -> OtherStop:
    return OtherStop()


async def ask(ev: StartEvent) -> Ask:
    return Ask()


async def answer(ev: Reply) -> StopEvent:
    return StopEvent()


async def echo(ev: StartEvent) -> Reply | StopEvent:
    return StopEvent()


def configs(*funcs: Callable[..., Any]) -> dict[str, StepConfig]:
    return {
        f.__name__: read_step_signature(
            f, num_workers=1, retry_policy=None, accept_event_subclasses=False
        )
        for f in funcs
    }


# -- through Workflow.validate() --------------------------------------------------------


class Island(Workflow):
    """Ping and Pong feed each other, but nothing starts them and they never stop."""

    @step
    async def begin(self, ev: StartEvent) -> StopEvent:
        return StopEvent()

    @step
    async def ping(self, ev: Ping) -> Pong:
        return Pong()

    @step
    async def pong(self, ev: Pong) -> Ping:
        return Ping()


def test_every_graph_problem_is_listed_in_one_error() -> None:
    with pytest.raises(WorkflowValidationError) as info:
        Island().validate()
    assert str(info.value) == (
        "Graph validation failed:\n"
        "  - [reachability] Unreachable steps: ping, pong\n"
        "    Steps must be reachable from StartEvent or HumanResponseEvent.\n"
        "  - [dead_end] Dead-end steps: ping, pong\n"
        "    Steps must have a path to StopEvent or InputRequiredEvent.\n"
        "If this is intended, skip the check with "
        "Workflow(skip_graph_checks=['dead_end', 'reachability'])."
    )


class HumanLoop(Workflow):
    @step
    async def ask(self, ev: StartEvent) -> Ask:
        return Ask()

    @step
    async def answer(self, ctx: Context, ev: Reply) -> StopEvent:
        return StopEvent()


def test_steps_reached_from_a_human_response_are_reachable() -> None:
    assert HumanLoop().validate() is True


class Handlers(Workflow):
    @step
    async def begin(self, ev: StartEvent) -> StopEvent:
        return StopEvent()

    @catch_error
    async def first(self, ev: StepFailedEvent) -> StopEvent:
        return StopEvent()

    @catch_error
    async def second(self, ev: StepFailedEvent) -> StopEvent:
        return StopEvent()

    @catch_error(for_steps=["begin", "nowhere", "first"])
    async def scoped(self, ev: StepFailedEvent) -> StopEvent:
        return StopEvent()

    @catch_error(for_steps=["begin"])
    async def again(self, ev: StepFailedEvent) -> StopEvent:
        return StopEvent()


def test_catch_error_rules_are_all_reported() -> None:
    with pytest.raises(WorkflowValidationError) as info:
        Handlers().validate()
    assert str(info.value).splitlines() == [
        "Only one wildcard @catch_error handler is allowed per workflow, found 2: first, "
        "second. Give all but one of them for_steps=[...].",
        "@catch_error handler 'scoped' lists unknown step 'nowhere' in for_steps. The steps "
        "are: again, begin, first, scoped, second.",
        "@catch_error handler 'scoped' cannot cover another handler step 'first'. A handler "
        "that fails ends the run; remove 'first' from for_steps.",
        "Step 'begin' is claimed by two @catch_error handlers: 'scoped' and 'again'. Keep it "
        "in one for_steps list.",
    ]


class TwoStarts(Workflow):
    @step
    async def begin(self, ev: StartEvent) -> StopEvent:
        return StopEvent()

    @step
    async def begin_other(self, ev: OtherStart) -> StopEvent:
        return StopEvent()


def test_two_start_event_classes_are_a_configuration_error() -> None:
    with pytest.raises(
        WorkflowConfigurationError, match=r"^Only one type of StartEvent is allowed per workflow"
    ):
        TwoStarts().validate()


# -- the functions Workflow() will call ---------------------------------------------------


def test_missing_or_duplicate_start_and_stop_classes() -> None:
    with pytest.raises(WorkflowConfigurationError, match=r"At least one Event of type StartEvent"):
        start_event_class(configs(ping, pong), "W")
    with pytest.raises(WorkflowConfigurationError, match=r"At least one Event of type StopEvent"):
        stop_event_class(configs(ping, pong), "W")
    with pytest.raises(WorkflowConfigurationError, match=r"Only one type of StopEvent"):
        stop_event_class(configs(begin, begin_other), "W")
    assert start_event_class(configs(begin), "W") is StartEvent
    assert stop_event_class(configs(begin_other), "W") is OtherStop


def test_graph_checks_can_be_skipped_by_name() -> None:
    steps = configs(begin, ping, pong)
    names = [p.check for p in graph_problems(steps, StartEvent)]
    assert names == ["reachability", "dead_end"]
    assert [p.check for p in graph_problems(steps, StartEvent, skip=["reachability"])] == [
        "dead_end"
    ]
    assert graph_problems(steps, StartEvent, skip=GRAPH_CHECKS) == []
    build_graph("W", steps, skip_graph_checks=["reachability", "dead_end"])


def test_graph_checks_can_be_skipped_for_one_step() -> None:
    steps = configs(begin, ping, pong)
    problems = graph_problems(steps, StartEvent, step_skips={"ping": ["reachability", "dead_end"]})
    assert [(p.check, p.steps) for p in problems] == [
        ("reachability", ("pong",)),
        ("dead_end", ("pong",)),
    ]


def test_an_unconsumed_event_other_than_stop_or_input_required_is_terminal() -> None:
    problems = graph_problems(configs(echo), StartEvent)
    assert [(p.check, p.message) for p in problems] == [
        ("terminal_event", "Events produced but never consumed: Reply")
    ]
    assert graph_problems(configs(ask, answer), StartEvent) == []


def test_unknown_check_names_are_rejected() -> None:
    with pytest.raises(
        WorkflowValidationError,
        match=r"^Unknown graph check names: cycles, typo\. "
        r"Valid names are: dead_end, reachability, terminal_event$",
    ):
        check_skip_names(["typo", "cycles", "dead_end"])
    with pytest.raises(WorkflowValidationError, match="Unknown graph check names: typo"):
        build_graph("W", configs(begin), skip_graph_checks=["typo"])
    assert check_skip_names(None) == frozenset()


def test_catch_error_rules_hold_even_without_graph_validation() -> None:
    functions = step_functions(Handlers)
    steps: dict[str, StepConfig] = {n: vars(f)["_step_config"] for n, f in functions.items()}
    assert len(catch_error_problems(steps)) == 4
    with pytest.raises(WorkflowValidationError, match="Only one wildcard"):
        build_graph("Handlers", steps, validate=False)


# -- typed-state inheritance ------------------------------------------------------------


@attrs.define
class BaseState:
    count: int = 0


@attrs.define
class ChildState(BaseState):
    name: str = ""


@attrs.define
class SiblingState(BaseState):
    other: str = ""


async def uses_base(ctx: Context[BaseState], ev: StartEvent) -> Ping:
    return Ping()


async def uses_child(ctx: Context[ChildState], ev: Ping) -> StopEvent:
    return StopEvent()


async def uses_sibling(ctx: Context[SiblingState], ev: Pong) -> StopEvent:
    return StopEvent()


async def untyped(ctx: Context, ev: Pong) -> StopEvent:
    return StopEvent()


def test_the_state_type_is_the_most_derived_of_the_steps_types() -> None:
    assert state_type(configs(uses_base, uses_child)) is ChildState
    assert state_type(configs(uses_child, uses_base, untyped)) is ChildState
    assert state_type(configs(uses_base)) is BaseState
    assert state_type(configs(begin, untyped)) is None


def test_sibling_state_types_are_a_value_error_naming_them() -> None:
    with pytest.raises(
        ValueError,
        match=r"^Steps use unrelated state types in Context\[\.\.\.\]: "
        r"BaseState \(step 'uses_base'\), ChildState \(step 'uses_child'\), "
        r"SiblingState \(step 'uses_sibling'\)\. A workflow has one state",
    ):
        state_type(configs(uses_base, uses_child, uses_sibling))

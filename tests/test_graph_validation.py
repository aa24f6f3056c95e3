"""Validation as the incumbent does it, through the public API.

Missing or duplicate StartEvent/StopEvent classes fail ``Workflow()`` itself; the graph
checks (``reachability``, ``terminal_event``, ``dead_end``) are listed in one
WorkflowValidationError by ``validate()`` and ``run()``, and can be skipped by name for
the workflow (``Workflow(skip_graph_checks=...)``) or for one step
(``@step(skip_graph_checks=...)``); the @catch_error rules hold even without validation.
"""

from __future__ import annotations

import anyio
import pytest

from flowkit import Context, Workflow, catch_error, step
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


ISLAND_ERROR = (
    "Graph validation failed:\n"
    "  - [reachability] Unreachable steps: ping, pong\n"
    "    Steps must be reachable from StartEvent or HumanResponseEvent.\n"
    "  - [dead_end] Dead-end steps: ping, pong\n"
    "    Steps must have a path to StopEvent or InputRequiredEvent.\n"
    "If this is intended, skip the check with "
    "Workflow(skip_graph_checks=['dead_end', 'reachability'])."
)


class Island(Workflow):
    """Ping and Pong feed each other, but nothing starts them and they never stop."""

    @step
    async def begin(self, ev: StartEvent) -> StopEvent:
        return StopEvent(result="done")

    @step
    async def ping(self, ev: Ping) -> Pong:
        return Pong()

    @step
    async def pong(self, ev: Pong) -> Ping:
        return Ping()


# -- start and stop classes: at construction ---------------------------------------------


def test_a_workflow_without_a_start_or_stop_class_fails_at_construction() -> None:
    class NoStart(Workflow):
        @step
        async def ping(self, ev: Ping) -> StopEvent:
            return StopEvent()

    class NoStop(Workflow):
        @step
        async def begin(self, ev: StartEvent) -> Ping:
            return Ping()

        @step
        async def ping(self, ev: Ping) -> None:
            return None

    with pytest.raises(
        WorkflowConfigurationError,
        match=r"^At least one Event of type StartEvent must be received by any step\. "
        r"\(Workflow 'NoStart' has no @step that accepts StartEvent\.\)",
    ):
        NoStart()
    with pytest.raises(
        WorkflowConfigurationError,
        match=r"^At least one Event of type StopEvent must be returned by any step\. "
        r"\(Workflow 'NoStop' has no @step that returns StopEvent\.\)",
    ):
        NoStop(disable_validation=True)  # not a graph check: disabling does not skip it


def test_two_start_or_stop_classes_fail_at_construction() -> None:
    class TwoStarts(Workflow):
        @step
        async def begin(self, ev: StartEvent) -> StopEvent:
            return StopEvent()

        @step
        async def begin_other(self, ev: OtherStart) -> StopEvent:
            return StopEvent()

    class TwoStops(Workflow):
        @step
        async def begin(self, ev: StartEvent) -> StopEvent | OtherStop:
            return StopEvent()

    with pytest.raises(
        WorkflowConfigurationError,
        match=r"^Only one type of StartEvent is allowed per workflow, found 2: "
        r"OtherStart, StartEvent in workflow 'TwoStarts'\.",
    ):
        TwoStarts()
    with pytest.raises(
        WorkflowConfigurationError,
        match=r"^Only one type of StopEvent is allowed per workflow, found 2: "
        r"OtherStop, StopEvent in workflow 'TwoStops'\.",
    ):
        TwoStops()


def test_the_start_class_is_checked_before_unknown_skip_names() -> None:
    class NoStart(Workflow):
        @step
        async def ping(self, ev: Ping) -> StopEvent:
            return StopEvent()

    with pytest.raises(WorkflowConfigurationError, match="At least one Event of type StartEvent"):
        NoStart(skip_graph_checks=["typo"])  # type: ignore[list-item]


# -- graph checks: listed together, by validate() and run() ------------------------------


def test_every_graph_problem_is_listed_in_one_error_by_validate() -> None:
    workflow = Island()  # constructing it checks only the start and stop classes
    with pytest.raises(WorkflowValidationError) as info:
        workflow.validate()
    assert str(info.value) == ISLAND_ERROR


async def test_run_raises_the_same_error_before_starting() -> None:
    with pytest.raises(WorkflowValidationError) as info:
        Island().run()
    assert str(info.value) == ISLAND_ERROR


async def test_disable_validation_runs_an_invalid_graph_but_validate_still_checks() -> None:
    workflow = Island(disable_validation=True)
    with anyio.fail_after(5):
        assert await workflow.run() == "done"
    with pytest.raises(WorkflowValidationError, match=r"^Graph validation failed"):
        workflow.validate()


class HumanLoop(Workflow):
    @step
    async def ask(self, ev: StartEvent) -> Ask:
        return Ask()

    @step
    async def answer(self, ctx: Context, ev: Reply) -> StopEvent:
        return StopEvent(result="answered")


def test_steps_reached_from_a_human_response_are_reachable() -> None:
    assert HumanLoop().validate() is True


class Dangling(Workflow):
    """Returns a HumanResponseEvent nothing accepts: a terminal event other than Stop."""

    @step
    async def begin(self, ev: StartEvent) -> Reply | StopEvent:
        return StopEvent(result="ok")


def test_an_unconsumed_event_other_than_stop_or_input_required_is_terminal() -> None:
    with pytest.raises(
        WorkflowValidationError,
        match=r"^Graph validation failed:\n"
        r"  - \[terminal_event\] Events produced but never consumed: Reply\n"
        r"    Only StopEvent and InputRequiredEvent may be terminal\.\n"
        r"If this is intended, skip the check with "
        r"Workflow\(skip_graph_checks=\['terminal_event'\]\)\.$",
    ):
        Dangling().validate()
    assert Dangling(skip_graph_checks=["terminal_event"]).validate() is False


# -- skipping checks by name -------------------------------------------------------------


async def test_workflow_skip_graph_checks_turns_named_checks_off() -> None:
    with pytest.raises(WorkflowValidationError) as info:
        Island(skip_graph_checks=["reachability"]).validate()
    assert "[dead_end] Dead-end steps: ping, pong" in str(info.value)
    assert "[reachability]" not in str(info.value)

    skipping = Island(skip_graph_checks={"reachability", "dead_end"})
    assert skipping.validate() is False
    with anyio.fail_after(5):
        assert await skipping.run() == "done"


def test_each_skip_set_is_checked_on_its_own() -> None:
    """Graphs are cached per class: an instance skipping checks does not excuse another."""
    assert Island(skip_graph_checks=["reachability", "dead_end"]).validate() is False
    with pytest.raises(WorkflowValidationError, match=r"\[reachability\]"):
        Island(skip_graph_checks=["dead_end"]).validate()
    with pytest.raises(WorkflowValidationError) as info:
        Island().validate()
    assert str(info.value) == ISLAND_ERROR


def test_unknown_check_names_are_rejected_at_construction() -> None:
    with pytest.raises(
        WorkflowValidationError,
        match=r"^Unknown graph check names: cycles, typo\. "
        r"Valid names are: dead_end, reachability, terminal_event$",
    ):
        Island(skip_graph_checks=["typo", "cycles", "dead_end"])  # type: ignore[list-item]


class SkipsPerStep(Workflow):
    @step
    async def begin(self, ev: StartEvent) -> StopEvent:
        return StopEvent(result="done")

    @step(skip_graph_checks=["reachability", "dead_end"])
    async def ping(self, ev: Ping) -> Pong:
        return Pong()

    @step(skip_graph_checks=["reachability"])
    async def pong(self, ev: Pong) -> Ping:
        return Ping()


def test_a_step_can_skip_checks_for_itself_only() -> None:
    with pytest.raises(WorkflowValidationError) as info:
        SkipsPerStep().validate()
    assert str(info.value).splitlines()[:3] == [
        "Graph validation failed:",
        "  - [dead_end] Dead-end steps: pong",
        "    Steps must have a path to StopEvent or InputRequiredEvent.",
    ]
    assert SkipsPerStep(skip_graph_checks=["dead_end"]).validate() is False


def test_unknown_step_check_names_are_rejected_when_decorating() -> None:
    with pytest.raises(
        WorkflowValidationError,
        match=r"^Unknown graph check names for step 'begin': terminal_event\. "
        r"Valid names are: dead_end, reachability \('terminal_event' is about events",
    ):

        class Wrong(Workflow):
            @step(skip_graph_checks=["terminal_event"])  # type: ignore[list-item]
            async def begin(self, ev: StartEvent) -> StopEvent:
                return StopEvent()


# -- @catch_error rules -----------------------------------------------------------------


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


HANDLER_PROBLEMS = [
    "Only one wildcard @catch_error handler is allowed per workflow, found 2: first, "
    "second. Give all but one of them for_steps=[...].",
    "@catch_error handler 'scoped' lists unknown step 'nowhere' in for_steps. The steps "
    "are: again, begin, first, scoped, second.",
    "@catch_error handler 'scoped' cannot cover another handler step 'first'. A handler "
    "that fails ends the run; remove 'first' from for_steps.",
    "Step 'begin' is claimed by two @catch_error handlers: 'scoped' and 'again'. Keep it "
    "in one for_steps list.",
]


def test_catch_error_rules_are_all_reported() -> None:
    with pytest.raises(WorkflowValidationError) as info:
        Handlers().validate()
    assert str(info.value).splitlines() == HANDLER_PROBLEMS


async def test_catch_error_rules_hold_even_without_graph_validation() -> None:
    workflow = Handlers(disable_validation=True)  # constructing it does not check them
    with pytest.raises(WorkflowValidationError) as info:
        workflow.run()
    assert str(info.value).splitlines() == HANDLER_PROBLEMS

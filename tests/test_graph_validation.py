"""Validation as the incumbent does it, through the public API.

Missing or duplicate StartEvent/StopEvent classes fail ``Workflow()`` itself, and
``validate()`` when a step added later brings a second one (a workflow made with
``disable_validation=True`` keeps running with the first); the graph checks
(``reachability``, ``terminal_event``, ``dead_end``) are listed in one
WorkflowValidationError by ``validate()`` and ``run()``, and can be skipped by name (a
list, or one name as a string) for the workflow (``Workflow(skip_graph_checks=...)``) or
for one step (``@step(skip_graph_checks=...)``); the @catch_error rules hold even without
validation.

Error messages are checked whole: the start and stop class errors, every step accepting
StopEvent, the first (by name) of several events consumed but never produced, every
terminal event, and unrelated state types with every step using each. A step without
``accept_event_subclasses`` is not reached by a subclass of the event it accepts.
"""

from __future__ import annotations

import re
from typing import Any

import anyio
import attrs
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


def exactly(message: str) -> str:
    """A ``match`` pattern for ``message`` as the whole text of the error."""
    return "^" + re.escape(message) + "$"


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
        match=exactly(
            "At least one Event of type StartEvent must be received by any step. "
            "(Workflow 'NoStart' has no @step that accepts StartEvent.) "
            "Add a step whose event parameter is annotated 'ev: StartEvent'."
        ),
    ):
        NoStart()
    with pytest.raises(
        WorkflowConfigurationError,
        match=exactly(
            "At least one Event of type StopEvent must be returned by any step. "
            "(Workflow 'NoStop' has no @step that returns StopEvent.) "
            "Annotate the last step with '-> StopEvent' and return StopEvent(result=...)."
        ),
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
        match=exactly(
            "Only one type of StartEvent is allowed per workflow, found 2: OtherStart, "
            "StartEvent in workflow 'TwoStarts'. Make every entry step accept the same one."
        ),
    ):
        TwoStarts()
    with pytest.raises(
        WorkflowConfigurationError,
        match=exactly(
            "Only one type of StopEvent is allowed per workflow, found 2: OtherStop, "
            "StopEvent in workflow 'TwoStops'. Return the same StopEvent class everywhere."
        ),
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


# -- start and stop classes: steps added after construction --------------------------------


def test_a_second_start_or_stop_class_added_later_fails_validate_naming_the_workflow() -> None:
    class Grows(Workflow):
        @step
        async def begin(self, ev: StartEvent) -> StopEvent:
            return StopEvent()

    workflow = Grows()  # its one start and stop classes were checked here

    @step(workflow=Grows)
    async def stop_other(ev: StartEvent) -> OtherStop:
        return OtherStop()

    with pytest.raises(
        WorkflowConfigurationError,
        match=exactly(
            "Only one type of StopEvent is allowed per workflow, found 2: OtherStop, "
            "StopEvent in workflow 'Grows'. Return the same StopEvent class everywhere."
        ),
    ):
        workflow.validate()

    @step(workflow=Grows)
    async def begin_other(ev: OtherStart) -> StopEvent:
        return StopEvent()

    with pytest.raises(
        WorkflowConfigurationError,
        match=exactly(
            "Only one type of StartEvent is allowed per workflow, found 2: OtherStart, "
            "StartEvent in workflow 'Grows'. Make every entry step accept the same one."
        ),
    ):
        workflow.validate()


async def test_without_validation_the_stop_class_is_the_one_the_steps_return() -> None:
    class OwnStop(Workflow):
        @step
        async def begin(self, ev: StartEvent) -> OtherStop:
            return OtherStop(result="own")

    workflow = OwnStop(disable_validation=True)
    assert workflow.stop_event_class is OtherStop
    with anyio.fail_after(5):
        assert await workflow.run() == OtherStop(result="own")  # a subclass is the result


async def test_without_validation_a_stop_class_added_later_is_refused_only_by_validate() -> None:
    class Grows(Workflow):
        @step
        async def begin(self, ev: StartEvent) -> StopEvent:
            return StopEvent(result="done")

    workflow = Grows(disable_validation=True)

    @step(workflow=Grows)
    async def stop_other(ev: StartEvent) -> OtherStop:
        return OtherStop(result="other")

    # The classes were checked when the workflow was made; runs keep the first one.
    assert workflow.stop_event_class is StopEvent
    with anyio.fail_after(5):
        assert await workflow.run() in ("done", "other")
    with pytest.raises(WorkflowConfigurationError, match=r"^Only one type of StopEvent"):
        workflow.validate()


# -- connectivity: StopEvent consumers, events never produced ---------------------------


def test_steps_accepting_stop_event_are_all_named() -> None:
    class AcceptStop(Workflow):
        @step
        async def begin(self, ev: StartEvent) -> StopEvent:
            return StopEvent()

        @step
        async def after(self, ev: StopEvent) -> None:
            return None

        @step
        async def audit(self, ev: StopEvent) -> None:
            return None

    with pytest.raises(
        WorkflowValidationError,
        match=exactly(
            "Steps 'after', 'audit' cannot accept StopEvent. StopEvent signals the end of "
            "the workflow. Use a different Event type instead."
        ),
    ):
        AcceptStop().validate()


class Zed(Event):
    pass


class Able(Event):
    pass


def test_of_several_events_never_produced_the_first_by_name_is_explained() -> None:
    class TwoOrphans(Workflow):
        @step
        async def begin(self, ev: StartEvent) -> StopEvent:
            return StopEvent()

        @step
        async def alpha(self, ev: Zed) -> StopEvent:
            return StopEvent()

        @step
        async def beta(self, ev: Able) -> StopEvent:
            return StopEvent()

    with pytest.raises(
        WorkflowValidationError,
        match=exactly(
            "The following events are consumed but never produced: Able, Zed. Step 'beta' "
            "accepts Able; add Able to the return annotation of the step that emits it, or "
            "remove 'beta'."
        ),
    ):
        TwoOrphans().validate()


class Answer(HumanResponseEvent):
    pass


def test_every_terminal_event_is_named() -> None:
    class TwoDangling(Workflow):
        @step
        async def begin(self, ev: StartEvent) -> Reply | Answer | StopEvent:
            return StopEvent()

    with pytest.raises(
        WorkflowValidationError,
        match=exactly(
            "Graph validation failed:\n"
            "  - [terminal_event] Events produced but never consumed: Answer, Reply\n"
            "    Only StopEvent and InputRequiredEvent may be terminal.\n"
            "If this is intended, skip the check with "
            "Workflow(skip_graph_checks=['terminal_event'])."
        ),
    ):
        TwoDangling().validate()


# -- the state type ----------------------------------------------------------------------


@attrs.define
class Tally:
    count: int = 0


@attrs.define
class Notes:
    text: str = ""


def test_unrelated_state_types_are_named_with_every_step_using_each() -> None:
    class Unrelated(Workflow):
        @step
        async def begin(self, ctx: Context[Tally], ev: StartEvent) -> Ping:
            return Ping()

        @step
        async def ping(self, ctx: Context[Tally], ev: Ping) -> StopEvent:
            return StopEvent()

        @step
        async def note(self, ctx: Context[Notes], ev: Reply) -> StopEvent:
            return StopEvent()

    with pytest.raises(
        ValueError,
        match=exactly(
            "Steps use unrelated state types in Context[...]: Notes (step 'note'), Tally "
            "(steps 'begin', 'ping'). A workflow has one state: use one class, or classes "
            "that all derive from the most specific one."
        ),
    ):
        Unrelated().validate()


# -- more graph checks -------------------------------------------------------------------


def test_a_single_check_name_may_be_given_as_a_string() -> None:
    with pytest.raises(WorkflowValidationError) as info:
        Island(skip_graph_checks="dead_end").validate()  # type: ignore[arg-type]
    assert str(info.value) == (
        "Graph validation failed:\n"
        "  - [reachability] Unreachable steps: ping, pong\n"
        "    Steps must be reachable from StartEvent or HumanResponseEvent.\n"
        "If this is intended, skip the check with "
        "Workflow(skip_graph_checks=['reachability'])."
    )

    one_name: Any = "reachability"  # not a list: outside the annotation, still accepted

    class SkipsAsString(Workflow):
        @step
        async def begin(self, ev: StartEvent) -> StopEvent:
            return StopEvent()

        @step(skip_graph_checks=one_name)
        async def ping(self, ev: Ping) -> Pong:
            return Pong()

        @step(skip_graph_checks=one_name)
        async def pong(self, ev: Pong) -> Ping | StopEvent:
            return StopEvent()

    assert SkipsAsString().validate() is False


class AskAgain(Ask):
    pass


def test_a_step_without_accept_event_subclasses_is_not_reached_by_a_subclass() -> None:
    class SubclassOnly(Workflow):
        @step
        async def begin(self, ev: StartEvent) -> AskAgain | StopEvent:
            return StopEvent()

        @step
        async def on_ask(self, ev: Ask) -> StopEvent:  # receives Ask only, never AskAgain
            return StopEvent()

    with pytest.raises(
        WorkflowValidationError,
        match=exactly(
            "Graph validation failed:\n"
            "  - [reachability] Unreachable steps: on_ask\n"
            "    Steps must be reachable from StartEvent or HumanResponseEvent.\n"
            "If this is intended, skip the check with "
            "Workflow(skip_graph_checks=['reachability'])."
        ),
    ):
        SubclassOnly().validate()


def test_an_event_never_produced_is_found_after_one_sent_from_outside() -> None:
    class AfterReply(Workflow):
        @step
        async def begin(self, ev: StartEvent) -> Ask:
            return Ask()

        @step
        async def answer(self, ev: Reply | Zed) -> StopEvent:  # Reply comes from outside
            return StopEvent()

    with pytest.raises(
        WorkflowValidationError,
        match=exactly(
            "The following events are consumed but never produced: Zed. Step 'answer' "
            "accepts Zed; add Zed to the return annotation of the step that emits it, or "
            "remove 'answer'."
        ),
    ):
        AfterReply().validate()

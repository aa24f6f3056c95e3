"""The whole message of each error flowkit raises for a workflow written wrong.

Found by mutation testing (docs/mutation-testing.md): other tests check how these
messages begin, so a change to their end went unseen. Each test provokes the error
through the public API, as a user would, and checks its type and its full text:

- a generator step (sync or async) is refused, saying to return one event and to stream
  the others with ``ctx.write_event_to_stream()``;
- a resource taken as a positional-only parameter is refused, saying to remove the ``/``;
- a step with two event parameters is refused, naming both and suggesting a union or
  ``ctx.collect_events()``;
- a parameter flowkit cannot fill is refused, saying which parameters a step takes;
- a step annotated to return something that is not an Event is refused, naming it;
- ``@step(skip_graph_checks=...)`` with an unknown name is refused listing the valid
  ones, and with ``terminal_event`` saying to pass that one to the workflow instead;
- ``Workflow.add_step`` of a function that is not a step says to decorate it with
  ``@step(workflow=...)``, naming the workflow class;
- ``validate(validate_resources=True)`` called from async code says why it cannot run
  there and what to do instead;
- ``Workflow(timeout=...)`` not positive says None means no limit, and
  ``num_concurrent_runs`` not a positive integer says None is allowed too;
- ``run(start_event=...)`` of something that is not a StartEvent says to pass one or the
  fields as keyword arguments, and of another StartEvent class names both classes;
- a state class (``Context[State]``) that cannot be made without arguments says why and
  to give every field a default.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

import anyio
import pytest

from flowkit import Context, Workflow, step
from flowkit.errors import WorkflowRuntimeError, WorkflowValidationError
from flowkit.events import Event, StartEvent, StopEvent
from flowkit.resource import Resource


class Other(Event):
    pass


class Client:
    pass


MADE: list[Client] = []


def get_client() -> Client:
    client = Client()
    MADE.append(client)
    return client


@pytest.fixture(autouse=True)
def _reset_made() -> None:
    MADE.clear()


def exactly(message: str) -> str:
    """A ``match`` pattern for ``message`` as the whole text of the error."""
    return "^" + re.escape(message) + "$"


# -- step signatures ------------------------------------------------------------------


def test_a_generator_step_is_refused_saying_to_return_one_event_and_stream_the_others() -> None:
    with pytest.raises(
        WorkflowValidationError,
        match=exactly(
            "Step 'chunks' is a generator: a step returns one event. Write it as "
            "'async def chunks(...)' (or 'def' to run it in a worker thread) with 'return'; "
            "stream intermediate events with ctx.write_event_to_stream()."
        ),
    ):

        class Chunks(Workflow):
            @step
            def chunks(self, ev: StartEvent) -> Iterator[StopEvent]:
                yield StopEvent()


def test_an_async_generator_step_is_refused_with_the_same_message() -> None:
    with pytest.raises(
        WorkflowValidationError,
        match=exactly(
            "Step 'pieces' is a generator: a step returns one event. Write it as "
            "'async def pieces(...)' (or 'def' to run it in a worker thread) with 'return'; "
            "stream intermediate events with ctx.write_event_to_stream()."
        ),
    ):

        class Pieces(Workflow):
            @step
            async def pieces(self, ev: StartEvent) -> AsyncIterator[StopEvent]:
                yield StopEvent()


def test_a_resource_taken_positional_only_is_refused_saying_to_remove_the_slash() -> None:
    with pytest.raises(
        WorkflowValidationError,
        match=exactly(
            "Step 'start' takes the resource 'client' as a positional-only "
            "parameter; resources are passed by keyword. Remove the '/' before it."
        ),
    ):

        class PositionalResource(Workflow):
            @step
            async def start(
                self, ev: StartEvent, client: Annotated[Client, Resource(get_client)], /
            ) -> StopEvent:
                return StopEvent()

    assert MADE == []  # refused when decorating, before any factory runs


def test_a_step_with_two_event_parameters_is_refused_naming_both() -> None:
    with pytest.raises(
        WorkflowValidationError,
        match=exactly(
            "Step 'both' has two event parameters, 'ev' and 'other'. A step receives one "
            "event; accept a union ('other: A | B') or use ctx.collect_events() for fan-in."
        ),
    ):

        class TwoEvents(Workflow):
            @step
            async def both(self, ev: StartEvent, other: Other) -> StopEvent:
                return StopEvent()


def test_a_parameter_flowkit_cannot_fill_is_refused_saying_what_a_step_takes() -> None:
    with pytest.raises(
        WorkflowValidationError,
        match=exactly(
            "Step 'needs_more' has a parameter 'limit' that flowkit cannot fill: "
            "a step takes one event parameter (annotated with an Event class) and "
            "optionally a 'ctx: Context' parameter."
        ),
    ):

        class NeedsMore(Workflow):
            @step
            async def needs_more(self, ev: StartEvent, limit: int) -> StopEvent:
                return StopEvent()


def test_a_step_annotated_to_return_a_non_event_is_refused_naming_the_type() -> None:
    with pytest.raises(
        WorkflowValidationError,
        match=exactly(
            "Step 'start' is annotated to return <class 'int'>, which is not an Event. "
            "A step returns an Event, or None to emit nothing."
        ),
    ):

        class ReturnsInt(Workflow):
            @step
            async def start(self, ev: StartEvent) -> StopEvent | int:
                return StopEvent()


# -- @step(skip_graph_checks=...) -----------------------------------------------------


def test_an_unknown_step_check_name_is_refused_listing_the_valid_names() -> None:
    with pytest.raises(
        WorkflowValidationError,
        match=exactly(
            "Unknown graph check names for step 'begin': cycles, typo. "
            "Valid names are: dead_end, reachability."
        ),
    ):

        class Typo(Workflow):
            @step(skip_graph_checks=["typo", "cycles", "dead_end"])  # type: ignore[list-item]
            async def begin(self, ev: StartEvent) -> StopEvent:
                return StopEvent()


def test_terminal_event_skipped_for_a_step_is_refused_saying_to_skip_it_for_the_workflow() -> None:
    with pytest.raises(
        WorkflowValidationError,
        match=exactly(
            "Unknown graph check names for step 'begin': terminal_event. "
            "Valid names are: dead_end, reachability ('terminal_event' is about events, "
            "not steps: pass it to Workflow(skip_graph_checks=[...]))."
        ),
    ):

        class Terminal(Workflow):
            @step(skip_graph_checks=["terminal_event"])  # type: ignore[list-item]
            async def begin(self, ev: StartEvent) -> StopEvent:
                return StopEvent()


# -- Workflow.add_step ----------------------------------------------------------------


class Base(Workflow):
    @step
    async def start(self, ev: StartEvent) -> StopEvent:
        return StopEvent()


def test_adding_a_function_that_is_not_a_step_says_to_decorate_it_for_the_workflow() -> None:
    async def finish(ev: Other) -> StopEvent:
        return StopEvent()

    with pytest.raises(WorkflowValidationError) as info:
        Base.add_step(finish)
    assert str(info.value) == "finish is not a step: decorate it with @step(workflow=Base)."
    assert Base().validate() is False  # the class is unchanged


# -- validate(validate_resources=True) --------------------------------------------------


class WithClient(Workflow):
    @step
    async def start(
        self, ev: StartEvent, client: Annotated[Client, Resource(get_client)]
    ) -> StopEvent:
        return StopEvent()


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_validating_resources_from_async_code_says_to_call_it_before_the_loop(
    anyio_backend: str,
) -> None:
    with pytest.raises(RuntimeError) as info:
        WithClient().validate(validate_resources=True)
    assert str(info.value) == (
        f"validate(validate_resources=True) cannot be called from async code "
        f"(Already running {anyio_backend} in this thread): it runs the resource factories "
        "in an event loop of its own. Call it before starting the event loop, or make them "
        "with 'await manager.get(Resource(...))'."
    )
    assert MADE == []


# -- Workflow(...) arguments and run(...) ---------------------------------------------


def test_a_timeout_that_is_not_positive_is_refused_saying_none_means_no_limit() -> None:
    with pytest.raises(
        WorkflowValidationError,
        match=exactly(
            "Workflow(timeout=0): timeout must be a number of seconds > 0, or None for no limit."
        ),
    ):
        Base(timeout=0)


def test_num_concurrent_runs_that_is_not_positive_is_refused_saying_none_is_allowed() -> None:
    with pytest.raises(
        WorkflowValidationError,
        match=exactly(
            "Workflow(num_concurrent_runs=0): num_concurrent_runs must be a positive integer "
            "or None."
        ),
    ):
        Base(num_concurrent_runs=0)


def test_a_start_event_that_is_not_a_start_event_says_what_to_pass_instead() -> None:
    with pytest.raises(
        ValueError,
        match=exactly(
            "The 'start_event' argument must be an instance of 'StartEvent'. Got dict; pass "
            "an instance of the workflow's StartEvent class, or pass its fields as keyword "
            "arguments to run()."
        ),
    ):
        Base().run(start_event={"topic": "cats"})  # type: ignore[arg-type]


class Query(StartEvent):
    topic: str = ""


class Answers(Workflow):
    @step
    async def answer(self, ev: Query) -> StopEvent:
        return StopEvent()


async def test_a_start_event_of_another_start_class_names_both_classes() -> None:
    with pytest.raises(
        WorkflowRuntimeError,
        match=exactly("start_event must be an instance of Query, got StartEvent."),
    ):
        Answers().run(start_event=StartEvent())


class Counter:
    def __init__(self, start: int) -> None:
        self.count = start


class Counts(Workflow):
    @step
    async def start(self, ctx: Context[Counter], ev: StartEvent) -> StopEvent:
        return StopEvent()


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_a_state_class_that_needs_arguments_says_to_give_its_fields_defaults() -> None:
    with pytest.raises(
        WorkflowValidationError,
        match=exactly(
            "Cannot create the initial state Counter(): Counter.__init__() missing 1 required "
            "positional argument: 'start'. Give every field of the state class a default."
        ),
    ):
        with anyio.fail_after(5):
            await Counts().run()

"""``run()``'s start_event check and the default ``workflow_name``, as the incumbent has them."""

from __future__ import annotations

import pytest

from flowkit import Workflow, step
from flowkit.errors import WorkflowRuntimeError
from flowkit.events import Event, StartEvent, StopEvent


class Query(StartEvent):
    text: str = ""


class Other(Event):
    pass


class Answers(Workflow):
    @step
    async def answer(self, ev: Query) -> StopEvent:
        return StopEvent(result=ev.text)

    class Nested(Workflow):
        @step
        async def answer(self, ev: StartEvent) -> StopEvent:
            return StopEvent()


@pytest.mark.parametrize("given", [42, "text", Other()])
def test_a_start_event_that_is_not_an_event_is_a_value_error_before_the_loop_check(
    given: object,
) -> None:
    # Sync test: no event loop runs, and the argument is still checked first.
    with pytest.raises(
        ValueError,
        match=r"^The 'start_event' argument must be an instance of 'StartEvent'\. "
        rf"Got {type(given).__name__}; pass an instance",
    ):
        Answers().run(start_event=given)  # type: ignore[arg-type]


async def test_a_start_event_of_another_start_class_is_a_runtime_error() -> None:
    with pytest.raises(WorkflowRuntimeError, match=r"^start_event must be an instance of Query"):
        Answers().run(start_event=StartEvent())


def test_the_default_workflow_name_is_the_module_and_qualified_name() -> None:
    assert Answers().workflow_name == "test_workflow_run_arguments.Answers"
    assert Answers.Nested().workflow_name == "test_workflow_run_arguments.Answers.Nested"
    assert Answers(workflow_name="mine").workflow_name == "mine"

    def local() -> Workflow:
        class Local(Workflow):
            @step
            async def answer(self, ev: StartEvent) -> StopEvent:
                return StopEvent()

        return Local()

    assert local().workflow_name == (
        "test_workflow_run_arguments.test_the_default_workflow_name_is_the_module_and_"
        "qualified_name.<locals>.local.<locals>.Local"
    )

"""Tests for flowkit.workflow: validation, starting runs, how runs end, routing, concurrency."""

import functools
import operator
import re
from collections.abc import Iterable
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowkit import Context, Workflow, step
from flowkit.context.state_store import DictState
from flowkit.errors import (
    ContextSerdeError,
    WorkflowConfigurationError,
    WorkflowRuntimeError,
    WorkflowTimeoutError,
    WorkflowValidationError,
)
from flowkit.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StepStateChanged,
    StopEvent,
    WorkflowFailedEvent,
    WorkflowTimedOutEvent,
)
from flowkit.handler import WorkflowHandler
from flowkit.retry_policy import retry_policy, stop_after_attempt, wait_fixed
from flowkit.testing import WorkflowTestRunner

Ctx = Context[DictState]


class Query(StartEvent):
    topic: str
    limit: int = 10


class OtherStart(StartEvent):
    pass


class Middle(Event):
    value: int = 0


class Orphan(Event):
    pass


class Answer(StopEvent):
    text: str


class Job(Event):
    index: int


class Done(Event):
    index: int


class Progress(Event):
    step: int


class Base(Event):
    pass


class Sub(Base):
    pass


class LeftDone(Event):
    pass


class RightDone(Event):
    pass


async def streamed(handler: WorkflowHandler) -> list[Event]:
    """Every event the run streams, up to and including its terminal event."""
    return [ev async for ev in handler.stream_events()]


class Echo(Workflow):
    @step
    async def start(self, ev: StartEvent) -> StopEvent:
        return StopEvent(result=dict(ev.items()))


# -- validation ---------------------------------------------------------------------


def test_workflow_without_start_event_consumer_is_a_configuration_error() -> None:
    class NoStart(Workflow):
        @step
        async def middle(self, ev: Middle) -> StopEvent:
            return StopEvent()

    assert issubclass(WorkflowConfigurationError, WorkflowValidationError)
    with pytest.raises(
        WorkflowConfigurationError,
        match=r"^At least one Event of type StartEvent must be received by any step\.",
    ):
        NoStart()


def test_workflow_without_steps_is_a_configuration_error_at_construction() -> None:
    with pytest.raises(
        WorkflowConfigurationError,
        match=r"^At least one Event of type StartEvent must be received by any step\. "
        r"\(Workflow 'Workflow' has no @step that accepts StartEvent\.\)",
    ):
        Workflow()


def test_workflow_without_stop_event_producer_is_a_configuration_error() -> None:
    class NoStop(Workflow):
        @step
        async def start(self, ev: StartEvent) -> Middle:
            return Middle()

        @step
        async def middle(self, ev: Middle) -> None:
            return None

    with pytest.raises(
        WorkflowConfigurationError,
        match=r"^At least one Event of type StopEvent must be returned by any step\.",
    ):
        NoStop()


def test_two_start_event_types_are_a_configuration_error() -> None:
    class TwoStarts(Workflow):
        @step
        async def one(self, ev: Query) -> StopEvent:
            return StopEvent()

        @step
        async def two(self, ev: OtherStart) -> StopEvent:
            return StopEvent()

    with pytest.raises(
        WorkflowConfigurationError,
        match=r"^Only one type of StartEvent is allowed per workflow, found 2",
    ):
        TwoStarts().validate()


def test_step_accepting_stop_event_is_rejected() -> None:
    class AcceptsStop(Workflow):
        @step
        async def start(self, ev: StartEvent) -> StopEvent:
            return StopEvent()

        @step
        async def after(self, ev: StopEvent) -> None:
            return None

    with pytest.raises(
        WorkflowValidationError,
        match=(
            r"^Step 'after' cannot accept StopEvent\. StopEvent signals the end of the "
            r"workflow\. Use a different Event type instead\."
        ),
    ) as info:
        AcceptsStop().validate()
    assert type(info.value) is WorkflowValidationError


def test_event_consumed_but_never_produced_names_the_event_and_the_step() -> None:
    class NeverProduced(Workflow):
        @step
        async def start(self, ev: StartEvent) -> StopEvent:
            return StopEvent()

        @step
        async def adopt(self, ev: Orphan) -> StopEvent:
            return StopEvent()

    with pytest.raises(
        WorkflowValidationError,
        match=r"^The following events are consumed but never produced: Orphan\b",
    ) as info:
        NeverProduced().validate()
    assert "'adopt'" in str(info.value)


def test_event_produced_but_never_consumed_is_rejected() -> None:
    class NeverConsumed(Workflow):
        @step
        async def start(self, ev: StartEvent) -> StopEvent | Orphan:
            return StopEvent()

    with pytest.raises(
        WorkflowValidationError,
        match=r"^The following events are produced but never consumed: Orphan\b",
    ) as info:
        NeverConsumed().validate()
    assert "'start'" in str(info.value)


def test_human_response_consumed_without_producer_is_valid() -> None:
    class Human(Workflow):
        @step
        async def start(self, ev: StartEvent) -> StopEvent:
            return StopEvent()

        @step
        async def answer(self, ev: HumanResponseEvent) -> StopEvent:
            return StopEvent()

    assert Human().validate() is True


def test_input_required_produced_without_consumer_is_valid() -> None:
    class Ask(Workflow):
        @step
        async def start(self, ev: StartEvent) -> StopEvent | InputRequiredEvent:
            return StopEvent()

    assert Ask().validate() is True


def test_validate_returns_false_without_human_in_the_loop() -> None:
    assert Echo().validate() is False


def test_subclass_routing_in_validation() -> None:
    """A subclass is consumed by a step of its base class only with accept_event_subclasses."""

    class Exclusive(Workflow):
        @step
        async def start(self, ev: StartEvent) -> Sub:
            return Sub()

        @step
        async def on_base(self, ev: Base) -> StopEvent:
            return StopEvent()

    class Inclusive(Workflow):
        @step
        async def start(self, ev: StartEvent) -> Sub:
            return Sub()

        @step(accept_event_subclasses=True)
        async def on_base(self, ev: Base) -> StopEvent:
            return StopEvent()

    with pytest.raises(
        WorkflowValidationError, match=r"^The following events are consumed but never produced"
    ):
        Exclusive().validate()
    assert Inclusive().validate() is False


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_run_validates_first() -> None:
    class Island(Workflow):
        @step
        async def start(self, ev: StartEvent) -> StopEvent:
            return StopEvent()

        @step
        async def loop(self, ev: Middle) -> Middle:
            return Middle()

    workflow = Island()  # the graph is checked by validate() and run(), not here
    with pytest.raises(WorkflowValidationError, match=r"^Graph validation failed:\n"):
        workflow.run()


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_disable_validation_skips_graph_checks() -> None:
    class Unchecked(Workflow):
        @step
        async def start(self, ev: StartEvent) -> StopEvent | Orphan:
            return StopEvent(result="ran")

        @step
        async def adopt(self, ev: Middle) -> StopEvent:
            return StopEvent()

    with pytest.raises(
        WorkflowValidationError, match=r"^The following events are consumed but never produced"
    ):
        Unchecked().run()
    with anyio.fail_after(5):
        assert await Unchecked(disable_validation=True).run() == "ran"


class Alpha(Event):
    pass


class Beta(Event):
    pass


class Gamma(Event):
    pass


GRAPH_EVENTS: tuple[type[Event], ...] = (Alpha, Beta, Gamma)

StepSpec = tuple[type[Event], frozenset[type[Event]]]

step_specs = st.lists(
    st.tuples(
        st.sampled_from([StartEvent, *GRAPH_EVENTS]),
        st.frozensets(st.sampled_from([StopEvent, *GRAPH_EVENTS])),
    ),
    min_size=1,
    max_size=5,
)


def build_workflow(specs: list[StepSpec], skip: Iterable[str] = ()) -> Workflow:
    """A workflow with one step per spec: (accepted event, returned events)."""
    namespace: dict[str, Any] = {}
    for index, (accepts, returns) in enumerate(specs):

        async def func(self: Any, ev: Any) -> Any:
            return None

        name = f"step_{index}"
        func.__name__, func.__qualname__ = name, f"Generated.{name}"
        ordered = sorted(returns, key=lambda t: t.__name__)
        func.__annotations__ = {
            "ev": accepts,
            "return": functools.reduce(operator.or_, ordered) if ordered else None,
        }
        namespace[name] = step(func)
    generated: type[Workflow] = type("Generated", (Workflow,), namespace)
    return generated(skip_graph_checks=skip)  # type: ignore[arg-type]


def named_events(message: str, prefix: str) -> set[str]:
    match = re.match(rf"^{prefix}: ([\w, ]+)", message)
    assert match is not None, message
    return set(match.group(1).split(", "))


def graph_checks_failing(specs: list[StepSpec]) -> set[str]:
    """The graph checks a connected graph fails, computed by fixed points over the specs."""
    reached: set[type[Event]] = {StartEvent}
    while True:
        more: set[type[Event]] = set().union(*(r for a, r in specs if a in reached)) - reached
        if not more:
            break
        reached |= more
    finishing: set[int] = set()
    while True:
        done = {
            i
            for i, (_, returns) in enumerate(specs)
            if StopEvent in returns or any(specs[j][0] in returns for j in finishing)
        } - finishing
        if not done:
            break
        finishing |= done
    failing = set()
    if any(accepts not in reached for accepts, _ in specs):
        failing.add("reachability")
    if any(returns and i not in finishing for i, (_, returns) in enumerate(specs)):
        failing.add("dead_end")
    return failing


@given(step_specs)
def test_validation_accepts_exactly_the_connected_graphs(specs: list[StepSpec]) -> None:
    """Never accepts a graph with an event consumed but not produced, or the reverse, nor one
    with a step that cannot run or cannot lead to the end (all such problems are listed)."""
    accepted = {accepts for accepts, _ in specs}
    returned = set().union(*(returns for _, returns in specs))
    unproduced = {e.__name__ for e in accepted & set(GRAPH_EVENTS) if e not in returned}
    unconsumed = {e.__name__ for e in returned & set(GRAPH_EVENTS) if e not in accepted}
    if StartEvent not in accepted:
        with pytest.raises(WorkflowConfigurationError, match=r"^At least one Event of type Start"):
            build_workflow(specs)  # at construction, as the incumbent checks it
        return
    if StopEvent not in returned:
        with pytest.raises(WorkflowConfigurationError, match=r"^At least one Event of type Stop"):
            build_workflow(specs)
        return
    workflow = build_workflow(specs)
    if unproduced:
        with pytest.raises(WorkflowValidationError) as info:
            workflow.validate()
        prefix = "The following events are consumed but never produced"
        assert named_events(str(info.value), prefix) == unproduced
    elif unconsumed:
        with pytest.raises(WorkflowValidationError) as info:
            workflow.validate()
        prefix = "The following events are produced but never consumed"
        assert named_events(str(info.value), prefix) == unconsumed
    elif failing := graph_checks_failing(specs):
        with pytest.raises(WorkflowValidationError, match=r"^Graph validation failed:") as info:
            workflow.validate()
        assert set(re.findall(r"\[(\w+)\]", str(info.value))) == failing
        # Skipping exactly the failing checks makes it valid.
        assert build_workflow(specs, skip=failing).validate() is False
    else:
        assert workflow.validate() is False


# -- constructor arguments ----------------------------------------------------------


@pytest.mark.parametrize("timeout", [0, 0.0, -1, -0.5])
def test_non_positive_timeout_is_rejected(timeout: float) -> None:
    with pytest.raises(
        WorkflowValidationError,
        match=rf"^Workflow\(timeout={timeout!r}\): timeout must be a number of seconds > 0",
    ):
        Echo(timeout=timeout)


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_timeout_none_means_no_limit() -> None:
    release = anyio.Event()

    class Waits(Workflow):
        @step
        async def start(self, ev: StartEvent) -> StopEvent:
            await release.wait()
            return StopEvent(result="released")

    with anyio.fail_after(5):
        handler = Waits(timeout=None).run()
        await anyio.wait_all_tasks_blocked()
        assert not handler.is_done()
        release.set()
        assert await handler == "released"


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_only_the_default_name_restores_snapshots_under_the_older_default_name() -> None:
    # Snapshots taken before the default name had its module carry the class's
    # qualified name: a workflow with the default name restores them, one given its
    # own workflow_name does not (they are another workflow's).
    with anyio.fail_after(5):
        handler = Echo().run(topic="cats")
        await handler
    data = handler.ctx.to_dict()
    assert data["workflow"] == f"{Echo.__module__}.Echo"
    older = {**data, "workflow": "Echo"}
    assert Context.from_dict(Echo(), older).to_dict()["workflow"] == data["workflow"]
    with pytest.raises(
        ContextSerdeError, match=r"^This snapshot is of workflow 'Echo', not 'echo'"
    ):
        Context.from_dict(Echo(workflow_name="echo"), older)
    named = {**data, "workflow": "echo"}
    assert Context.from_dict(Echo(workflow_name="echo"), named).to_dict() == named


# -- starting a run -----------------------------------------------------------------


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_run_kwargs_build_the_start_event() -> None:
    with anyio.fail_after(5):
        assert await Echo().run(topic="cats", limit=3) == {"topic": "cats", "limit": 3}


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_typed_start_event_gets_the_run_kwargs_as_fields() -> None:
    class Typed(Workflow):
        @step
        async def start(self, ev: Query) -> StopEvent:
            return StopEvent(result=(ev.topic, ev.limit, dict(ev.items())))

    workflow = Typed()
    assert workflow.start_event_class is Query
    with anyio.fail_after(5):
        assert await workflow.run(topic="cats") == ("cats", 10, {})
        assert await workflow.run(topic="dogs", limit=2, extra=1) == ("dogs", 2, {"extra": 1})
        assert await workflow.run(start_event=Query(topic="birds")) == ("birds", 10, {})


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_bad_kwargs_for_a_typed_start_event_raise_runtime_error() -> None:
    class Typed(Workflow):
        @step
        async def start(self, ev: Query) -> StopEvent:
            return StopEvent()

    with pytest.raises(
        WorkflowRuntimeError,
        match=(
            r"^Failed creating a start event of type 'Query' with the keyword arguments: "
            r"\{'limit': 3\}"
        ),
    ):
        Typed().run(limit=3)


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_start_event_argument_is_used_as_is() -> None:
    with anyio.fail_after(5):
        assert await Echo().run(start_event=StartEvent(a=1)) == {"a": 1}


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_run_id_names_the_run_and_is_not_a_start_event_field() -> None:
    handler = Echo().run(run_id="run-42", topic="x")
    assert handler.run_id == "run-42"
    with anyio.fail_after(5):
        assert await handler == {"topic": "x"}


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_each_run_gets_its_own_run_id() -> None:
    workflow = Echo()
    first, second = workflow.run(), workflow.run()
    assert first.run_id != second.run_id
    with anyio.fail_after(5):
        assert await first == await second == {}


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_stream_of_a_successful_run_ends_with_its_stop_event() -> None:
    class Steps(Workflow):
        @step
        async def start(self, ev: StartEvent, ctx: Ctx) -> Middle:
            ctx.write_event_to_stream(Progress(step=1))
            return Middle(value=ev.get("n", 0) + 1)

        @step
        async def finish(self, ev: Middle, ctx: Ctx) -> StopEvent:
            ctx.write_event_to_stream(Progress(step=2))
            return StopEvent(result=ev.value * 2)

    handler = Steps().run(n=1)
    with anyio.fail_after(5):
        assert await streamed(handler) == [Progress(step=1), Progress(step=2), StopEvent(result=4)]
        assert await handler == 4


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_typed_stop_event_is_returned_as_the_event() -> None:
    class Typed(Workflow):
        @step
        async def start(self, ev: Query) -> Middle:
            return Middle(value=len(ev.topic))

        @step
        async def finish(self, ev: Middle) -> Answer:
            return Answer(text=f"{ev.value} letters")

    workflow = Typed()
    assert workflow.start_event_class is Query
    assert workflow.stop_event_class is Answer
    assert set(workflow.events) == {Query, Middle, Answer}
    with anyio.fail_after(5):
        assert await workflow.run(topic="cats") == Answer(text="4 letters")


def test_default_start_and_stop_event_classes() -> None:
    workflow = Echo()
    assert workflow.start_event_class is StartEvent
    assert workflow.stop_event_class is StopEvent
    assert set(workflow.events) == {StartEvent, StopEvent}


# -- how a run ends -----------------------------------------------------------------


class Explosion(Exception):
    pass


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_step_error_propagates_unwrapped() -> None:
    raised: list[Explosion] = []

    class Explodes(Workflow):
        @step
        async def explode(self, ev: StartEvent) -> StopEvent:
            raised.append(Explosion("boom"))
            raise raised[-1]

    handler = Explodes().run()
    with anyio.fail_after(5):
        events = await streamed(handler)
        with pytest.raises(Explosion, match=r"^boom$") as info:
            await handler
    assert info.value is raised[0]
    assert len(events) == 1
    failed = events[0]
    assert isinstance(failed, WorkflowFailedEvent)
    assert (failed.step_name, failed.attempts) == ("explode", 1)
    assert failed.exception is raised[0]


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_step_returning_a_non_event_fails_the_run() -> None:
    class ReturnsInt(Workflow):
        @step
        async def s(self, ev: StartEvent) -> StopEvent:
            return 1  # type: ignore[return-value]  # the mistake under test

    handler = ReturnsInt().run()
    with anyio.fail_after(5):
        events = await streamed(handler)
        with pytest.raises(
            WorkflowRuntimeError,
            match=r"^Step function s returned int instead of an Event instance\.",
        ):
            await handler
    assert [type(ev) for ev in events] == [WorkflowFailedEvent]
    failed = events[0]
    assert isinstance(failed, WorkflowFailedEvent)
    assert failed.step_name == "s"
    assert isinstance(failed.exception, WorkflowRuntimeError)


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_timeout_names_the_active_steps() -> None:
    cancelled: list[str] = []

    class Hangs(Workflow):
        @step
        async def hang(self, ev: StartEvent) -> StopEvent:
            try:
                await anyio.sleep_forever()
            finally:
                cancelled.append("hang")
            return StopEvent()

    handler = Hangs(timeout=0.05).run()
    with anyio.fail_after(5):
        events = await streamed(handler)
        with pytest.raises(
            WorkflowTimeoutError,
            match=r"^Operation timed out after 0\.05 seconds\. Currently active steps: hang\b",
        ) as info:
            await handler
    assert (info.value.timeout, info.value.active_steps) == (0.05, ["hang"])
    assert events == [WorkflowTimedOutEvent(timeout=0.05, active_steps=["hang"])]
    assert cancelled == ["hang"]


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_run_that_can_never_finish_fails_at_once() -> None:
    class Stuck(Workflow):
        @step
        async def start(self, ev: StartEvent) -> StopEvent | None:
            return None

    handler = Stuck().run()
    with anyio.fail_after(5):
        events = await streamed(handler)
        with pytest.raises(
            WorkflowRuntimeError, match=r"^Workflow 'Stuck' is idle and can never finish"
        ) as info:
            await handler
    assert "'start'" in str(info.value)
    assert len(events) == 1
    failed = events[0]
    assert isinstance(failed, WorkflowFailedEvent)
    assert failed.step_name == "start"
    assert failed.exception is info.value


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_run_waiting_for_a_human_is_not_stuck() -> None:
    class Human(Workflow):
        @step
        async def ask(self, ev: StartEvent) -> InputRequiredEvent:
            return InputRequiredEvent(prefix="Proceed? ")

        @step
        async def answer(self, ev: HumanResponseEvent) -> StopEvent:
            return StopEvent(result=ev.response)

    handler = Human().run()
    events: list[Event] = []
    with anyio.fail_after(5):
        async for ev in handler.stream_events():
            events.append(ev)
            if isinstance(ev, InputRequiredEvent):
                await anyio.wait_all_tasks_blocked()
                assert not handler.is_done()
                handler.ctx.send_event(HumanResponseEvent(response="yes"))
        assert await handler == "yes"
    assert events == [InputRequiredEvent(prefix="Proceed? "), StopEvent(result="yes")]


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_first_stop_event_wins_and_cancels_blocked_siblings() -> None:
    sibling_started = anyio.Event()
    sibling_cancelled: list[bool] = []

    class Race(Workflow):
        @step
        async def fast(self, ev: StartEvent) -> StopEvent:
            await sibling_started.wait()
            return StopEvent(result="fast")

        @step
        async def blocked(self, ev: StartEvent) -> StopEvent:
            sibling_started.set()
            try:
                await anyio.sleep_forever()
            finally:
                sibling_cancelled.append(True)
            return StopEvent(result="blocked")

    handler = Race().run()
    with anyio.fail_after(5):
        events = await streamed(handler)
        assert await handler == "fast"
    assert events == [StopEvent(result="fast")]
    assert sibling_cancelled == [True]


# -- retries ------------------------------------------------------------------------


class Flaky(Workflow):
    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.retry_numbers: list[int] = []

    @step(retry_policy=retry_policy(wait=wait_fixed(0), stop=stop_after_attempt(3)))
    async def flaky(self, ev: StartEvent, ctx: Ctx) -> StopEvent:
        self.retry_numbers.append(ctx.retry_info().retry_number)
        if len(self.retry_numbers) <= self.failures:
            raise Explosion(f"attempt {len(self.retry_numbers)} failed")
        return StopEvent(result=f"succeeded on attempt {len(self.retry_numbers)}")


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_retried_step_succeeds_on_its_third_attempt() -> None:
    workflow = Flaky(failures=2)
    with anyio.fail_after(5):
        assert await workflow.run() == "succeeded on attempt 3"
    assert workflow.retry_numbers == [0, 1, 2]


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_step_failing_every_attempt_raises_the_original_exception() -> None:
    workflow = Flaky(failures=10)
    handler = workflow.run()
    with anyio.fail_after(5):
        events = await streamed(handler)
        with pytest.raises(Explosion, match=r"^attempt 3 failed$"):
            await handler
    assert workflow.retry_numbers == [0, 1, 2]
    failed = events[-1]
    assert isinstance(failed, WorkflowFailedEvent)
    assert (failed.step_name, failed.attempts) == ("flaky", 3)


# -- routing ------------------------------------------------------------------------


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_event_accepted_by_two_steps_goes_to_both() -> None:
    class Fan(Workflow):
        @step
        async def start(self, ev: StartEvent) -> Middle:
            return Middle(value=1)

        @step
        async def left(self, ev: Middle) -> LeftDone:
            return LeftDone()

        @step
        async def right(self, ev: Middle) -> RightDone:
            return RightDone()

        @step
        async def join(self, ev: LeftDone | RightDone, ctx: Ctx) -> StopEvent | None:
            both = ctx.collect_events(ev, [LeftDone, RightDone])
            if both is None:
                return None
            return StopEvent(result=[type(e).__name__ for e in both])

    with anyio.fail_after(5):
        assert await Fan().run() == ["LeftDone", "RightDone"]


def make_subclass_router(accept_subclasses: bool, received: list[str]) -> Workflow:
    """A workflow whose start step emits Sub; a Base step may or may not receive it."""
    base_received = anyio.Event()

    class Router(Workflow):
        @step
        async def start(self, ev: StartEvent) -> Base | Sub:
            return Sub()

        @step(accept_event_subclasses=accept_subclasses)
        async def on_base(self, ev: Base) -> StopEvent:
            received.append(f"on_base:{type(ev).__name__}")
            base_received.set()
            await anyio.sleep_forever()
            return StopEvent(result="on_base")

        @step
        async def on_sub(self, ev: Sub) -> StopEvent:
            received.append(f"on_sub:{type(ev).__name__}")
            if accept_subclasses:
                await base_received.wait()
            return StopEvent(result="on_sub")

    return Router()


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_subclass_is_not_delivered_to_a_base_class_step_by_default() -> None:
    received: list[str] = []
    with anyio.fail_after(5):
        assert await make_subclass_router(False, received).run() == "on_sub"
    assert received == ["on_sub:Sub"]


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_subclass_is_delivered_with_accept_event_subclasses() -> None:
    received: list[str] = []
    with anyio.fail_after(5):
        assert await make_subclass_router(True, received).run() == "on_sub"
    assert sorted(received) == ["on_base:Sub", "on_sub:Sub"]


# -- concurrency --------------------------------------------------------------------


class ConcurrencyProbe:
    """Counts how many step executions are inside a gated section at once."""

    def __init__(self) -> None:
        self.active = 0
        self.peak = 0
        self.entered = 0
        self.gate = anyio.Event()

    async def hold(self) -> None:
        self.active += 1
        self.entered += 1
        self.peak = max(self.peak, self.active)
        try:
            await self.gate.wait()
        finally:
            self.active -= 1


def make_fan_out(probe: ConcurrencyProbe, jobs: int, num_workers: int | None) -> Workflow:
    """start sends ``jobs`` Job events; ``work`` holds each at the probe's gate."""
    worker_options: dict[str, Any] = {} if num_workers is None else {"num_workers": num_workers}

    class FanOut(Workflow):
        @step
        async def start(self, ev: StartEvent, ctx: Ctx) -> Job | None:
            for index in range(jobs):
                ctx.send_event(Job(index=index))
            return None

        @step(**worker_options)
        async def work(self, ev: Job) -> Done:
            await probe.hold()
            return Done(index=ev.index)

        @step
        async def gather(self, ev: Done, ctx: Ctx) -> StopEvent | None:
            done = ctx.collect_events(ev, [Done] * jobs)
            if done is None:
                return None
            return StopEvent(result=sorted(d.index for d in done if isinstance(d, Done)))

    return FanOut()


@pytest.mark.parametrize(("num_workers", "expected_peak"), [(1, 1), (2, 2), (3, 3), (None, 4)])
@pytest.mark.usefixtures("no_leaked_tasks")
async def test_num_workers_bounds_concurrency(num_workers: int | None, expected_peak: int) -> None:
    probe = ConcurrencyProbe()
    jobs = 6
    handler = make_fan_out(probe, jobs, num_workers).run()
    with anyio.fail_after(5):
        await anyio.wait_all_tasks_blocked()
        assert (probe.active, probe.entered) == (expected_peak, expected_peak)
        probe.gate.set()
        assert await handler == list(range(jobs))
    assert probe.peak == expected_peak
    assert probe.entered == jobs


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_num_concurrent_runs_runs_one_at_a_time() -> None:
    probe = ConcurrencyProbe()

    class Gated(Workflow):
        @step
        async def start(self, ev: StartEvent) -> StopEvent:
            await probe.hold()
            return StopEvent(result=ev.get("n"))

    workflow = Gated(num_concurrent_runs=1)
    handlers = [workflow.run(n=n) for n in range(3)]
    with anyio.fail_after(5):
        await anyio.wait_all_tasks_blocked()
        assert (probe.active, probe.entered) == (1, 1)
        assert not any(h.is_done() for h in handlers)
        probe.gate.set()
        assert [await h for h in handlers] == [0, 1, 2]
    assert (probe.peak, probe.entered) == (1, 3)


@pytest.mark.parametrize("runs", [0, -1, 1.5])
def test_num_concurrent_runs_must_be_positive(runs: Any) -> None:
    with pytest.raises(WorkflowValidationError, match=r"^Workflow\(num_concurrent_runs="):
        Echo(num_concurrent_runs=runs)


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_two_workflows_run_side_by_side_in_one_task_group() -> None:
    ping_started, pong_started = anyio.Event(), anyio.Event()

    class Ping(Workflow):
        @step
        async def start(self, ev: StartEvent) -> StopEvent:
            ping_started.set()
            await pong_started.wait()
            return StopEvent(result="ping")

    class Pong(Workflow):
        @step
        async def start(self, ev: StartEvent) -> StopEvent:
            pong_started.set()
            await ping_started.wait()
            return StopEvent(result="pong")

    results: dict[str, Any] = {}

    async def drive(workflow: Workflow, key: str) -> None:
        async with workflow.open_run() as handler:
            results[key] = await handler

    with anyio.fail_after(5):
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(drive, Ping(), "ping")
            task_group.start_soon(drive, Pong(), "pong")
    assert results == {"ping": "ping", "pong": "pong"}


# -- verbose ------------------------------------------------------------------------


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_verbose_prints_each_step_it_runs(capsys: pytest.CaptureFixture[str]) -> None:
    class Two(Workflow):
        @step
        async def start(self, ev: StartEvent) -> Middle:
            return Middle()

        @step
        async def finish(self, ev: Middle) -> StopEvent:
            return StopEvent()

    with anyio.fail_after(5):
        await Two(verbose=True).run()
    out = capsys.readouterr().out
    assert "Running step start" in out
    assert "Running step finish" in out
    assert out.index("Running step start") < out.index("Running step finish")


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_not_verbose_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with anyio.fail_after(5):
        await Echo().run()
    assert capsys.readouterr().out == ""


# -- WorkflowTestRunner -------------------------------------------------------------


class Reporting(Workflow):
    @step
    async def start(self, ev: StartEvent, ctx: Ctx) -> Middle:
        for index in range(ev.get("n", 0)):
            ctx.write_event_to_stream(Progress(step=index))
        return Middle(value=ev.get("n", 0))

    @step
    async def finish(self, ev: Middle) -> StopEvent:
        return StopEvent(result=f"reported {ev.value}")


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_workflow_test_runner_collects_streamed_events() -> None:
    with anyio.fail_after(5):
        outcome = await WorkflowTestRunner(Reporting()).run(
            start_event=StartEvent(n=2), expose_internal=False
        )
    assert outcome.collected == [Progress(step=0), Progress(step=1), StopEvent(result="reported 2")]
    assert outcome.event_types == {Progress: 2, StopEvent: 1}
    assert outcome.result == "reported 2"
    assert isinstance(outcome.ctx, Context)


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_workflow_test_runner_exposes_internal_events_by_default() -> None:
    with anyio.fail_after(5):
        outcome = await WorkflowTestRunner(Reporting()).run(start_event=StartEvent(n=1))
    summary = [
        (ev.name, ev.step_state.value) if isinstance(ev, StepStateChanged) else ev
        for ev in outcome.collected
    ]
    # Each step reports that it started and that it finished; the StopEvent comes last.
    assert summary == [
        ("start", "running"),
        Progress(step=0),
        ("start", "not_running"),
        ("finish", "running"),
        ("finish", "not_running"),
        StopEvent(result="reported 1"),
    ]
    assert outcome.event_types == {StepStateChanged: 4, Progress: 1, StopEvent: 1}


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_workflow_test_runner_excludes_event_types() -> None:
    with anyio.fail_after(5):
        outcome = await WorkflowTestRunner(Reporting()).run(
            start_event=StartEvent(n=1), exclude_events=[StepStateChanged]
        )
    assert outcome.event_types == {Progress: 1, StopEvent: 1}
    assert outcome.collected == [Progress(step=0), StopEvent(result="reported 1")]


class Countdown(Event):
    left: int


class Loop(Workflow):
    """A step that feeds itself until done, as agent loops do."""

    @step
    async def begin(self, ev: StartEvent) -> Countdown:
        return Countdown(left=ev.get("n"))

    @step(num_workers=2)
    async def tick(self, ev: Countdown) -> Countdown | StopEvent:
        if ev.left == 0:
            return StopEvent(result="lift-off")
        return Countdown(left=ev.left - 1)


async def test_a_step_that_feeds_itself_runs_to_the_end() -> None:
    handler = Loop(timeout=None).run(n=500)
    with anyio.fail_after(5):
        streamed = [type(ev).__name__ async for ev in handler.stream_events()]
        assert await handler == "lift-off"
    assert streamed == ["StopEvent"]

"""Tests for flowkit.decorators: @step and @catch_error."""

import inspect
from collections.abc import Iterator
from typing import Annotated, Any

import anyio
import pytest

from flowkit import Context, Workflow, catch_error, step
from flowkit.context.state_store import DictState
from flowkit.decorators import StepConfig
from flowkit.errors import WorkflowValidationError
from flowkit.events import Event, StartEvent, StepFailedEvent, StopEvent
from flowkit.resource import Resource
from flowkit.retry_policy import retry_policy, stop_after_attempt, wait_fixed


class Middle(Event):
    value: int = 0


class Again(Event):
    pass


def config_of(func: object) -> StepConfig:
    """The StepConfig @step records on a function (the incumbent's ``_step_config``)."""
    config = vars(func)["_step_config"]
    assert isinstance(config, StepConfig)
    return config


# -- @step on methods ---------------------------------------------------------------


def test_step_returns_the_function_itself_with_its_signature() -> None:
    undecorated: dict[str, Any] = {}

    class Keep(Workflow):
        async def start(self, ev: StartEvent, ctx: Context[DictState], n: int = 1) -> StopEvent:
            return StopEvent(result=n)

        undecorated["start"] = start
        undecorated["signature"] = inspect.signature(start)
        start = step(start)

    assert Keep.start is undecorated["start"]
    assert inspect.signature(Keep.start) == undecorated["signature"]
    assert inspect.iscoroutinefunction(Keep.start)


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_decorated_method_stays_callable() -> None:
    class Direct(Workflow):
        @step
        async def start(self, ev: StartEvent) -> StopEvent:
            return StopEvent(result=ev.get("x", 0) + 1)

    assert list(inspect.signature(Direct.start).parameters) == ["self", "ev"]
    result = await Direct().start(StartEvent(x=1))
    assert result == StopEvent(result=2)


def test_step_records_its_configuration() -> None:
    policy = retry_policy(wait=wait_fixed(0), stop=stop_after_attempt(2))

    class Configured(Workflow):
        @step(num_workers=3, retry_policy=policy)
        async def start(self, ev: StartEvent, ctx: Context[DictState]) -> Middle:
            return Middle()

        @step
        async def finish(self, ev: Middle) -> StopEvent:
            return StopEvent()

    start = config_of(Configured.start)
    assert start.accepted_events == (StartEvent,)
    assert start.event_name == "ev"
    assert start.context_parameter == "ctx"
    assert start.num_workers == 3
    assert start.retry_policy is policy
    assert start.accept_event_subclasses is False
    finish = config_of(Configured.finish)
    assert finish.num_workers == 4
    assert finish.retry_policy is None


def test_union_typed_event_parameter_accepts_each_member() -> None:
    class Union(Workflow):
        @step
        async def start(self, ev: StartEvent | Again) -> Again | StopEvent | None:
            return None

    config = config_of(Union.start)
    assert set(config.accepted_events) == {StartEvent, Again}
    assert set(config.return_types) == {Again, StopEvent, type(None)}
    assert Union().validate() is False


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_union_typed_step_receives_every_member() -> None:
    seen: list[str] = []

    class Loop(Workflow):
        @step
        async def start(self, ev: StartEvent | Again) -> Again | StopEvent:
            seen.append(type(ev).__name__)
            return Again() if isinstance(ev, StartEvent) else StopEvent(result=len(seen))

    with anyio.fail_after(5):
        assert await Loop().run() == 2
    assert seen == ["StartEvent", "Again"]


# -- @step on free functions --------------------------------------------------------


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_free_function_step_with_workflow_argument() -> None:
    class Base(Workflow):
        @step
        async def start(self, ev: StartEvent) -> Middle:
            return Middle(value=ev.get("n", 0))

    @step(workflow=Base)
    async def finish(ev: Middle) -> StopEvent:
        return StopEvent(result=ev.value * 10)

    assert inspect.iscoroutinefunction(finish)
    assert await finish(Middle(value=2)) == StopEvent(result=20)
    with anyio.fail_after(5):
        assert await Base().run(n=4) == 40


def test_free_function_without_workflow_is_rejected() -> None:
    with pytest.raises(
        WorkflowValidationError,
        match=r"^To decorate lonely please pass a workflow class to the @step decorator",
    ):

        @step
        async def lonely(ev: StartEvent) -> StopEvent:
            return StopEvent()


def test_free_function_with_a_taken_name_is_rejected() -> None:
    class Taken(Workflow):
        @step
        async def start(self, ev: StartEvent) -> StopEvent:
            return StopEvent()

    with pytest.raises(
        WorkflowValidationError,
        match=r"^A step start is already part of this workflow, please choose another name\.",
    ):

        @step(workflow=Taken)
        async def start(ev: StartEvent) -> StopEvent:
            return StopEvent()


# -- invalid @step arguments and signatures -----------------------------------------


@pytest.mark.parametrize("num_workers", [0, -1, True, "2", 1.5])
def test_invalid_num_workers_is_rejected_naming_the_step(num_workers: Any) -> None:
    with pytest.raises(
        WorkflowValidationError, match=r"^num_workers must be an integer greater than 0"
    ) as info:

        class Bad(Workflow):
            @step(num_workers=num_workers)
            async def crunch(self, ev: StartEvent) -> StopEvent:
                return StopEvent()

    assert "'crunch'" in str(info.value)


def test_missing_return_annotation_is_rejected() -> None:
    with pytest.raises(
        WorkflowValidationError,
        match=r"^Return types of workflows step functions must be annotated with their type\.",
    ) as info:

        class Bad(Workflow):
            @step
            async def unannotated(self, ev: StartEvent):  # type: ignore[no-untyped-def]
                return StopEvent()

    assert "'unannotated'" in str(info.value)


def test_step_without_event_parameter_is_rejected() -> None:
    with pytest.raises(
        WorkflowValidationError,
        match=r"^Step signature must have at least one parameter annotated as type Event",
    ):

        class Bad(Workflow):
            @step
            async def nothing(self) -> StopEvent:
                return StopEvent()


def test_parameter_flowkit_cannot_fill_is_rejected() -> None:
    with pytest.raises(
        WorkflowValidationError,
        match=r"^Step 'needs_more' has a parameter 'limit' that flowkit cannot fill",
    ):

        class Bad(Workflow):
            @step
            async def needs_more(self, ev: StartEvent, limit: int) -> StopEvent:
                return StopEvent()


def test_an_unannotated_parameter_other_than_ctx_is_refused_as_one_flowkit_cannot_fill() -> None:
    with pytest.raises(WorkflowValidationError) as caught:

        class Bad(Workflow):
            @step
            async def start(self, ev: StartEvent, limit) -> StopEvent:  # type: ignore[no-untyped-def]
                return StopEvent()

    assert str(caught.value) == (
        "Step 'start' has a parameter 'limit' that flowkit cannot fill: a step takes one "
        "event parameter (annotated with an Event class) and optionally a 'ctx: Context' "
        "parameter."
    )


def test_parameters_with_defaults_and_unannotated_ctx_are_accepted() -> None:
    class Fine(Workflow):
        @step
        async def start(self, ev: StartEvent, ctx, limit: int = 3) -> StopEvent:  # type: ignore[no-untyped-def]
            return StopEvent(result=limit)

    assert config_of(Fine.start).context_parameter == "ctx"


class Seen(Event):
    """What a step saw: its event's class, whether it got the run's ctx, and ``extra``."""

    event: str
    ctx: bool
    extra: int


class PositionalOnly(Workflow):
    @step
    async def start(self, ev: StartEvent, ctx: Context[Any], /) -> StopEvent:
        return StopEvent(result=Seen(event=type(ev).__name__, ctx=ctx is not None, extra=0))


class PositionalOnlyEvent(Workflow):
    @step
    async def start(self, ev: StartEvent, /) -> StopEvent:
        return StopEvent(result=Seen(event=type(ev).__name__, ctx=False, extra=0))


class PositionalOnlyCtxFirst(Workflow):
    @step
    async def start(self, ctx: Context[Any], ev: StartEvent, /) -> StopEvent:
        return StopEvent(result=Seen(event=type(ev).__name__, ctx=ctx is not None, extra=0))


class KeywordOnlyEvent(Workflow):
    @step
    async def start(self, *, ev: StartEvent) -> StopEvent:
        return StopEvent(result=Seen(event=type(ev).__name__, ctx=False, extra=0))


class KeywordOnly(Workflow):
    @step
    async def start(self, *, ev: StartEvent, ctx: Context[Any]) -> StopEvent:
        return StopEvent(result=Seen(event=type(ev).__name__, ctx=ctx is not None, extra=0))


class DefaultBeforeCtx(Workflow):
    @step
    async def start(
        self,
        ev: StartEvent,
        extra: int = 7,
        ctx: Context[Any] = None,  # type: ignore[assignment]
    ) -> StopEvent:
        return StopEvent(result=Seen(event=type(ev).__name__, ctx=ctx is not None, extra=extra))


class ArgsBeforeCtx(Workflow):
    @step
    async def start(self, ev: StartEvent, *args: int, ctx: Context[Any]) -> StopEvent:
        return StopEvent(result=Seen(event=type(ev).__name__, ctx=ctx is not None, extra=len(args)))


def five() -> int:
    return 5


class ResourceFirst(Workflow):
    @step
    async def start(
        self, five: Annotated[int, Resource(five)], ev: StartEvent, ctx: Context[Any]
    ) -> StopEvent:
        return StopEvent(result=Seen(event=type(ev).__name__, ctx=ctx is not None, extra=five))


class UnannotatedCtxFirst(Workflow):
    @step
    async def start(self, ctx, ev: StartEvent) -> StopEvent:  # type: ignore[no-untyped-def]
        return StopEvent(result=Seen(event=type(ev).__name__, ctx=ctx is not None, extra=0))


class UnannotatedCtxPositionalOnly(Workflow):
    @step
    async def start(self, ev: StartEvent, ctx, /) -> StopEvent:  # type: ignore[no-untyped-def]
        return StopEvent(result=Seen(event=type(ev).__name__, ctx=ctx is not None, extra=0))


@pytest.mark.parametrize(
    ("workflow", "extra"),
    [
        (PositionalOnly, 0),
        (KeywordOnly, 0),
        (DefaultBeforeCtx, 7),
        (ArgsBeforeCtx, 0),
        (ResourceFirst, 5),
        (UnannotatedCtxFirst, 0),
        (UnannotatedCtxPositionalOnly, 0),
    ],
    ids=[
        "positional-only",
        "keyword-only",
        "a default before ctx",
        "*args before ctx",
        "a resource before them",
        "an unannotated ctx first",
        "an unannotated ctx positional-only",
    ],
)
async def test_the_event_and_ctx_reach_their_parameters_whatever_their_kind(
    workflow: type[Workflow], extra: int
) -> None:
    # An unannotated ``ctx`` after a parameter with a default once got the ctx in that
    # parameter's place: the event and ctx went by position, past a parameter left out.
    assert await workflow().run() == Seen(event="StartEvent", ctx=True, extra=extra)


@pytest.mark.parametrize(
    ("workflow", "ctx"),
    [
        (PositionalOnlyEvent, False),
        (PositionalOnly, True),
        (PositionalOnlyCtxFirst, True),
        (KeywordOnlyEvent, False),
        (KeywordOnly, True),
    ],
    ids=["(ev, /)", "(ev, ctx, /)", "(ctx, ev, /)", "(*, ev)", "(*, ev, ctx)"],
)
async def test_each_calling_form_passes_the_event_and_ctx_as_the_step_takes_them(
    workflow: type[Workflow], ctx: bool
) -> None:
    # Each form has a call of its own (the bare function, a lambda, a partial, keyword
    # calls with and without ctx): positional-only ones passed by keyword would be a
    # TypeError, keyword-only ones passed by position too.
    assert await workflow().run() == Seen(event="StartEvent", ctx=ctx, extra=0)


def test_a_positional_only_event_with_keyword_only_ctx_is_refused_saying_to_remove_the_slash() -> (
    None
):
    with pytest.raises(WorkflowValidationError) as caught:

        class Bad(Workflow):
            @step
            async def start(self, ev: StartEvent, /, *, ctx: Context[Any]) -> StopEvent:
                return StopEvent()

    assert str(caught.value) == (
        "Step 'start' takes 'ev' as a positional-only parameter, but flowkit passes this "
        "step's parameters by keyword (it has keyword-only parameters, resources, or "
        "parameters with defaults before the event or ctx). Remove the '/'."
    )


def test_unresolvable_annotation_is_rejected() -> None:
    with pytest.raises(
        WorkflowValidationError, match=r"^Failed to resolve type annotations for "
    ) as info:

        class Bad(Workflow):
            @step
            async def start(self, ev: "NoSuchEvent") -> StopEvent:  # type: ignore[name-defined]  # noqa: F821
                return StopEvent()

    assert "NoSuchEvent" in str(info.value)


def test_generator_step_is_rejected() -> None:
    # A plain ``def`` step is a sync step (tests/test_sync_steps.py); a generator is not a step.
    with pytest.raises(WorkflowValidationError, match=r"^Step 'chunks' is a generator"):

        class Bad(Workflow):
            @step
            def chunks(self, ev: StartEvent) -> Iterator[StopEvent]:
                yield StopEvent()


# -- @catch_error -------------------------------------------------------------------


def test_catch_error_handler_must_accept_step_failed_event() -> None:
    with pytest.raises(
        WorkflowValidationError,
        match=(
            r"^@catch_error handler 'handler' must accept StepFailedEvent "
            r"as its event parameter\."
        ),
    ):

        class Bad(Workflow):
            @catch_error
            async def handler(self, ev: StartEvent) -> StopEvent:
                return StopEvent()


@pytest.mark.parametrize("max_recoveries", [0, -1, "2", 1.5])
def test_catch_error_max_recoveries_must_be_a_positive_int(max_recoveries: Any) -> None:
    with pytest.raises(
        WorkflowValidationError, match=r"^@catch_error max_recoveries must be an integer >= 1"
    ):
        catch_error(max_recoveries=max_recoveries)


def test_catch_error_records_its_scope() -> None:
    class Scoped(Workflow):
        @step
        async def start(self, ev: StartEvent) -> StopEvent:
            return StopEvent()

        @catch_error(for_steps=["start"], max_recoveries=2)
        async def handler(self, ev: StepFailedEvent) -> StopEvent:
            return StopEvent()

    config = config_of(Scoped.handler)
    assert config.accepted_events == (StepFailedEvent,)
    assert config.is_catch_error
    assert config.catch_error_for_steps == ("start",)
    assert config.catch_error_max_recoveries == 2
    assert Scoped().validate() is False


class Recovering(Workflow):
    @step
    async def flaky(self, ev: StartEvent) -> StopEvent:
        raise ValueError("flaky failed")

    @catch_error
    async def recover(self, ev: StepFailedEvent) -> StopEvent:
        return StopEvent(
            result=(ev.step_name, type(ev.input_event).__name__, str(ev.exception), ev.attempts)
        )


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_catch_error_recovers_a_failing_step() -> None:
    with anyio.fail_after(5):
        result = await Recovering().run()
    assert result == ("flaky", "StartEvent", "flaky failed", 1)


class Exhausting(Workflow):
    def __init__(self) -> None:
        super().__init__()
        self.failures: list[str] = []

    @step
    async def flaky(self, ev: StartEvent | Again) -> StopEvent:
        raise ValueError(f"flaky failed on {type(ev).__name__}")

    @catch_error(max_recoveries=2)
    async def recover(self, ev: StepFailedEvent) -> Again:
        self.failures.append(str(ev.exception))
        return Again()


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_catch_error_gives_up_after_max_recoveries() -> None:
    workflow = Exhausting()
    handler = workflow.run()
    with anyio.fail_after(5):
        streamed = [ev async for ev in handler.stream_events()]
        with pytest.raises(ValueError, match=r"^flaky failed on Again$"):
            await handler
    assert workflow.failures == ["flaky failed on StartEvent", "flaky failed on Again"]
    assert [type(ev).__name__ for ev in streamed] == ["WorkflowFailedEvent"]
    assert streamed[-1].step_name == "flaky"


class Fetched(Event):
    pass


class ScopedAndWildcard(Workflow):
    """``fetch`` has a handler of its own; every other step's failure goes to ``any_failed``."""

    @step
    async def fetch(self, ev: StartEvent) -> Fetched:
        if ev.get("fail_fetch"):
            raise ValueError("fetch failed")
        return Fetched()

    @step
    async def parse(self, ev: Fetched) -> StopEvent:
        raise ValueError("parse failed")

    @catch_error(for_steps=["fetch"])
    async def fetch_failed(self, ev: StepFailedEvent) -> StopEvent:
        return StopEvent(result=("fetch_failed", ev.step_name))

    @catch_error
    async def any_failed(self, ev: StepFailedEvent) -> StopEvent:
        return StopEvent(result=("any_failed", ev.step_name))


@pytest.mark.usefixtures("no_leaked_tasks")
@pytest.mark.parametrize(
    ("fail_fetch", "expected"),
    [(True, ("fetch_failed", "fetch")), (False, ("any_failed", "parse"))],
    ids=["a step with a handler of its own", "a step without one"],
)
async def test_a_failure_goes_to_the_handler_for_its_step_before_the_one_for_every_step(
    fail_fetch: bool, expected: tuple[str, str]
) -> None:
    with anyio.fail_after(5):
        assert await ScopedAndWildcard().run(fail_fetch=fail_fetch) == expected


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_context_of_any_state_gets_the_default_dict_store() -> None:
    """``ctx: Context[Any]`` (what mypy --strict users write) means the untyped store."""

    class AnyState(Workflow):
        @step
        async def start(self, ev: StartEvent, ctx: Context[Any]) -> StopEvent:
            await ctx.store.set("seen", ev.get("n"))
            return StopEvent(result=await ctx.store.get("seen"))

    assert config_of(AnyState.start).context_parameter == "ctx"
    with anyio.fail_after(5):
        assert await AnyState().run(n=3) == 3

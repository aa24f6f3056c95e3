"""Typed-state inheritance: steps typed ``Context[Base]`` and ``Context[Child]`` share one state.

The state is of the most derived type, on both backends and through a JSON snapshot;
unrelated (sibling) state types are a ValueError naming them.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import attrs
import pytest

from flowkit import Context, Workflow, step
from flowkit.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


@attrs.define
class BaseState:
    count: int = 0


@attrs.define
class ChildState(BaseState):
    name: str = ""


@attrs.define
class SiblingState(BaseState):
    other: str = ""


class Counted(Event):
    pass


class Ask(InputRequiredEvent):
    question: str = ""


class Reply(HumanResponseEvent):
    answer: str = ""


class Shared(Workflow):
    """The first step knows only the base class; the others the child class."""

    @step
    async def count(self, ctx: Context[BaseState], ev: StartEvent) -> Counted:
        async with ctx.store.edit_state() as state:
            assert type(state) is ChildState  # the most derived type, not the one named
            state.count += 1
        await ctx.store.set_state(BaseState(count=41))  # a parent instance merges its fields
        return Counted()

    @step
    async def name(self, ctx: Context[ChildState], ev: Counted) -> Ask:
        async with ctx.store.edit_state() as state:
            state.count += 1
            state.name = "Ada"
        return Ask(question="who?")

    @step
    async def finish(self, ctx: Context[BaseState], ev: Reply) -> StopEvent:
        state = await ctx.store.get_state()
        return StopEvent(result=(type(state).__name__, attrs.asdict(state), ev.answer))


EXPECTED = ("ChildState", {"count": 42, "name": "Ada"}, "yes")


async def test_base_and_child_typed_steps_share_one_state_of_the_child_type() -> None:
    handler = Shared().run()
    with anyio.fail_after(5):
        async for event in handler.stream_events():
            if isinstance(event, Ask):
                handler.ctx.send_event(Reply(answer="yes"))
        assert await handler == EXPECTED
    assert type(await handler.ctx.store.get_state()) is ChildState


async def test_the_shared_state_goes_through_a_json_snapshot() -> None:
    handler = Shared().run()
    with anyio.fail_after(5):
        async for event in handler.stream_events():
            if isinstance(event, Ask):
                break
        data: dict[str, Any] = json.loads(json.dumps(handler.ctx.to_dict()))
        await handler.cancel_run()

    assert data["store"] == {"$type": "ChildState", "value": {"count": 42, "name": "Ada"}}
    fresh = Shared()
    restored = Context.from_dict(fresh, data)
    assert await restored.store.get_state() == ChildState(count=42, name="Ada")
    resumed = fresh.run(ctx=restored)
    resumed.ctx.send_event(Reply(answer="yes"))  # the Ask was read before the freeze
    with anyio.fail_after(5):
        assert await resumed == EXPECTED


class Siblings(Workflow):
    @step
    async def begin(self, ctx: Context[ChildState], ev: StartEvent) -> Counted:
        return Counted()

    @step
    async def end(self, ctx: Context[SiblingState], ev: Counted) -> StopEvent:
        return StopEvent()

    @step
    async def base(self, ctx: Context[BaseState], ev: Reply) -> StopEvent:
        return StopEvent()


SIBLINGS = (
    r"^Steps use unrelated state types in Context\[\.\.\.\]: "
    r"BaseState \(step 'base'\), ChildState \(step 'begin'\), SiblingState \(step 'end'\)\. "
    r"A workflow has one state"
)


async def test_sibling_state_types_are_a_value_error_naming_them() -> None:
    workflow = Siblings()
    with pytest.raises(ValueError, match=SIBLINGS):
        workflow.validate()
    with pytest.raises(ValueError, match=SIBLINGS):
        workflow.run()
    with pytest.raises(ValueError, match=SIBLINGS):
        Siblings(disable_validation=True).run()  # the store cannot be made without one type

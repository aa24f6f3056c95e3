"""A pydantic BaseModel as the typed state: the store, and snapshots as plain JSON.

Needs pydantic: tests/conftest.py skips ``*_pydantic.py`` files when it is not installed.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import attrs
import cattrs
import pydantic
import pytest

from flowkit import Context, Workflow, step
from flowkit._engine.models import configure_models
from flowkit.context.state_store import InMemoryStateStore
from flowkit.errors import ContextSerdeError
from flowkit.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class Profile(pydantic.BaseModel):
    name: str = ""
    since: dt.date = dt.date(2020, 1, 1)


class BaseState(pydantic.BaseModel):
    count: int = 0
    profile: Profile = pydantic.Field(default_factory=Profile)


class State(BaseState):
    history: list[str] = pydantic.Field(default_factory=list)


class Ask(InputRequiredEvent):
    question: str


class Reply(HumanResponseEvent):
    answer: str


class StatefulFlow(Workflow):
    @step
    async def start(self, ctx: Context[State], ev: StartEvent) -> Ask:
        async with ctx.store.edit_state() as state:
            state.count += 1
            state.profile.name = "Ada"
            state.history.append("started")
        return Ask(question="name?")

    @step
    async def finish(self, ctx: Context[State], ev: Reply) -> StopEvent:
        state = await ctx.store.get_state()
        state.history.append(ev.answer)
        await ctx.store.set_state(state)
        await ctx.store.set("count", state.count + 1)
        return StopEvent(result=await ctx.store.get_state())


async def test_pydantic_state_through_a_json_snapshot_and_a_fresh_workflow() -> None:
    handler = StatefulFlow().run()
    async for ev in handler.stream_events():
        if isinstance(ev, Ask):
            break
    data: Any = json.loads(json.dumps(handler.ctx.to_dict()))
    await handler.cancel_run()

    stored = json.dumps(data["store"])
    assert '"since": "2020-01-01"' in stored  # model_dump(mode="json"): plain JSON
    assert "pydantic" not in stored

    fresh = StatefulFlow()
    restored = Context.from_dict(fresh, data)
    state = await restored.store.get_state()
    assert isinstance(state, State)
    assert state.profile == Profile(name="Ada")
    resumed = fresh.run(ctx=restored)
    resumed.ctx.send_event(Reply(answer="Ada Lovelace"))
    result = await resumed
    assert result == State(
        count=2, profile=Profile(name="Ada"), history=["started", "Ada Lovelace"]
    )


async def test_store_paths_reach_into_pydantic_models() -> None:
    store = InMemoryStateStore(State())
    await store.set("profile.name", "Grace")
    assert await store.get("profile.name") == "Grace"
    assert await store.get("missing", default=3) == 3


async def test_set_state_merges_a_pydantic_parent_instance() -> None:
    store = InMemoryStateStore(State(history=["kept"]))
    await store.set_state(BaseState(count=7))  # type: ignore[arg-type]  # typed MODEL_T, as in the incumbent
    assert await store.get_state() == State(count=7, history=["kept"])


def test_a_malformed_stored_model_is_a_snapshot_error() -> None:
    workflow = StatefulFlow()
    data: Any = json.loads(json.dumps(Context(workflow).to_dict()))
    data["store"]["value"]["count"] = "not a number"
    with pytest.raises(ContextSerdeError, match=r"Malformed 'State' value"):
        Context.from_dict(workflow, data)


class Opaque:
    """A class pydantic holds (arbitrary_types_allowed) but cannot dump."""


class LooseState(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)

    data: Any = None
    opaque: Opaque | None = None


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


class LooseFlow(Workflow):
    def __init__(self, data: Any = None, opaque: Opaque | None = None) -> None:
        super().__init__()
        self.data = data
        self.opaque = opaque

    @step
    async def start(self, ctx: Context[LooseState], ev: StartEvent) -> StopEvent:
        async with ctx.store.edit_state() as state:
            state.data = self.data
            state.opaque = self.opaque
        return StopEvent(result="done")


async def test_a_state_nested_too_deeply_for_pydantic_is_refused_by_to_dict_saying_so() -> None:
    """pydantic stops at a depth far below Python's recursion limit, with a plain ValueError."""
    shallow = LooseFlow(data=_nested(100)).run()
    assert await shallow == "done"
    assert json.loads(json.dumps(shallow.ctx.to_dict()))["store"]["value"]["data"] == _nested(100)

    handler = LooseFlow(data=_nested(1000)).run()
    assert await handler == "done"
    with pytest.raises(ContextSerdeError) as caught:
        handler.ctx.to_dict()
    reason = (
        "Cannot freeze the context: LooseState holds a value nested too deeply for pydantic to dump"
    )
    assert (caught.value.reason, caught.value.path, caught.value.advice) == (
        reason,
        "$.store",
        None,
    )
    assert str(caught.value) == f"{reason} at $.store."


async def test_a_state_pydantic_cannot_dump_is_refused_by_to_dict_with_pydantics_reason() -> None:
    handler = LooseFlow(opaque=Opaque()).run()
    assert await handler == "done"
    with pytest.raises(ContextSerdeError) as caught:
        handler.ctx.to_dict()
    reason = (
        "Cannot freeze the context: LooseState cannot be dumped by pydantic: Unable to "
        f"serialize unknown type: {Opaque!r}"
    )
    advice = (
        'Make model_dump(mode="json") succeed on it: give its fields types pydantic can '
        "serialize, or a field_serializer."
    )
    assert (caught.value.reason, caught.value.path, caught.value.advice) == (
        reason,
        "$.store",
        advice,
    )
    assert str(caught.value) == f"{reason} at $.store. {advice}"


@attrs.define
class Holder:
    profile: Profile
    note: str = ""


def test_configure_models_stores_model_fields_as_plain_json() -> None:
    converter = cattrs.Converter(detailed_validation=False)
    configure_models(converter)
    holder = Holder(Profile(name="Ada", since=dt.date(2021, 2, 3)), "x")
    data = converter.unstructure(holder)
    assert data == {"profile": {"name": "Ada", "since": "2021-02-03"}, "note": "x"}
    assert converter.structure(json.loads(json.dumps(data)), Holder) == holder
    with pytest.raises(ContextSerdeError, match=r"^Malformed 'Profile' value"):
        converter.structure({"profile": {"since": "never"}}, Holder)

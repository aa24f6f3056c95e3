"""Events declared the pydantic way (``Field``, ``PrivateAttr``) and the pydantic-style methods.

Needs pydantic: tests/conftest.py skips ``*_pydantic.py`` files when it is not installed.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
from pydantic import Field, PrivateAttr

from flowkit import Context, Workflow, step
from flowkit.errors import WorkflowRuntimeError
from flowkit.events import Event, StartEvent, StopEvent


class Order(Event):
    quantity: int = Field(default=5, description="How many items")
    tags: list[str] = Field(default_factory=list)
    sku: str = Field(description="The stock-keeping unit")
    note: str = Field(default="")
    notes: list[str] = Field(default=[])
    _cache: dict[str, int] = PrivateAttr(default_factory=dict)
    _seen: int = PrivateAttr(default=0)


def test_field_default_is_the_value_not_the_field_object() -> None:
    order = Order(sku="A1")
    assert order.quantity == 5
    assert order.note == ""
    assert order.tags == []


def test_field_default_factory_gives_each_event_its_own_value() -> None:
    first, second = Order(sku="A"), Order(sku="B")
    first.tags.append("x")
    first.notes.append("y")
    assert second.tags == []
    assert second.notes == []


def test_required_field_with_only_a_description_stays_required() -> None:
    with pytest.raises(TypeError, match="sku"):
        Order()
    with pytest.raises(TypeError, match="x"):
        Required()


class Required(Event):
    x: int = Field(...)


def test_descriptions_are_kept_as_field_metadata() -> None:
    fields = attrs.fields_dict(Order)
    assert fields["quantity"].metadata["description"] == "How many items"
    assert fields["sku"].metadata["description"] == "The stock-keeping unit"
    assert "description" not in fields["note"].metadata


def test_private_attributes_are_not_data() -> None:
    order = Order(sku="A", extra=1)
    assert order._seen == 0
    assert order._cache == {}
    order._seen = 3
    order._cache["k"] = 1
    assert order._seen == 3
    assert order._cache == {"k": 1}
    assert "_seen" not in order.model_dump()
    assert "_seen" not in order
    assert dict(order.items()) == {"extra": 1}
    assert "_seen" not in attrs.fields_dict(Order)
    assert Order(sku="A")._cache is not Order(sku="A")._cache


def test_private_attributes_may_be_passed_to_the_constructor() -> None:
    order = Order(sku="A", _seen=7)
    assert order._seen == 7
    assert order.keys() == set()


def test_private_attributes_are_inherited() -> None:
    class BigOrder(Order):
        priority: int = 0

    big = BigOrder(sku="A")
    assert big._seen == 0
    big._seen = 2
    assert big.model_dump() == {
        "quantity": 5,
        "tags": [],
        "sku": "A",
        "note": "",
        "notes": [],
        "priority": 0,
    }


def test_repr_and_str_print_declared_fields_as_the_incumbent_does() -> None:
    order = Order(sku="A", extra=1)
    assert repr(order) == "Order(quantity=5, tags=[], sku='A', note='', notes=[])"
    assert str(order) == "quantity=5 tags=[] sku='A' note='' notes=[]"
    assert repr(StartEvent(topic="x")) == "StartEvent()"


def test_model_dump_json_is_compact_like_pydantic_and_indents_on_request() -> None:
    order = Order(sku="A", extra=1)
    assert order.model_dump_json() == (
        '{"quantity":5,"tags":[],"sku":"A","note":"","notes":[],"_data":{"extra":1}}'
    )
    assert order.model_dump_json(indent=2).startswith('{\n  "quantity": 5,')


def test_model_copy_with_update_leaves_the_original_alone() -> None:
    order = Order(sku="A", extra=1)
    copied = order.model_copy(update={"quantity": 9, "extra": 2})
    assert (copied.quantity, copied.extra, copied.sku) == (9, 2, "A")
    assert (order.quantity, order.extra) == (5, 1)
    assert type(copied) is Order


def test_model_copy_deep_copies_nested_values() -> None:
    order = Order(sku="A", tags=["x"])
    deep = order.model_copy(deep=True)
    deep.tags.append("y")
    assert order.tags == ["x"]
    shallow = order.model_copy()
    shallow.tags.append("z")
    assert order.tags == ["x", "z"]


def test_model_validate_round_trips_model_dump() -> None:
    order = Order(sku="A", tags=["t"], extra=1)
    again = Order.model_validate(order.model_dump())
    assert again == order
    assert Order.model_validate_json(order.model_dump_json()) == order
    assert Order.model_validate(order) is order
    with pytest.raises(TypeError, match=r"Order.model_validate\(\) takes a dict"):
        Order.model_validate([1])


class Question(Event):
    text: str = Field(description="What to ask")
    attempts: int = Field(default=1)
    _scratch: list[str] = PrivateAttr(default_factory=list)


class Answer(StopEvent):
    pass


class PydanticFlow(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> Question:
        question = Question(text=ev.text)
        question._scratch.append("not data")
        return question

    @step
    async def answer(self, ctx: Context, ev: Question) -> StopEvent:
        await ctx.store.set("seen", ev)
        return StopEvent(result=(ev.text, ev.attempts, ev._scratch))


async def test_pydantic_declared_events_run_through_a_workflow() -> None:
    result = await PydanticFlow().run(text="hi")
    assert result == ("hi", 1, ["not data"])


async def test_pydantic_declared_events_round_trip_a_json_snapshot() -> None:
    workflow = PydanticFlow()
    handler = workflow.run(text="hi")
    await handler
    data: Any = json.loads(json.dumps(handler.ctx.to_dict()))
    restored = Context.from_dict(workflow, data)
    seen = await restored.store.get("seen")
    assert seen == Question(text="hi")
    assert seen._scratch == []  # private attributes are not in the snapshot
    assert "_scratch" not in json.dumps(data)


class Topic(StartEvent):
    topic: str = Field(description="What to write about")
    words: int = Field(default=100)


class Writer(Workflow):
    @step
    async def write(self, ev: Topic) -> StopEvent:
        return StopEvent(result=(ev.topic, ev.words))


async def test_a_typed_start_event_declared_with_field_takes_run_kwargs() -> None:
    assert await Writer().run(topic="owls") == ("owls", 100)
    assert await Writer().run(start_event=Topic(topic="bats", words=5)) == ("bats", 5)


async def test_a_required_field_of_the_start_event_is_required_by_run() -> None:
    with pytest.raises(WorkflowRuntimeError, match=r"topic"):
        await Writer().run()

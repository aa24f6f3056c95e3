"""A registered pydantic model in the store, when two registered models share a name.

Needs pydantic: tests/conftest.py skips ``*_pydantic.py`` files when it is not installed.

- each is stored under its module-qualified tag and restored as its own class;
- data that does not validate is refused naming that tag, not the bare class name.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest

from flowkit import Context, Workflow, step
from flowkit.errors import ContextSerdeError
from flowkit.events import StartEvent, StopEvent

DAMAGED = "The snapshot was changed after ctx.to_dict() wrote it; restore an unchanged copy."


class Money(pydantic.BaseModel):
    cents: int


class Other:
    """Holds a second model named Money."""

    class Money(pydantic.BaseModel):
        amount: str


class ModelWorkflow(Workflow):
    """Registers both Money models; stores one of each, then stops."""

    def __init__(self) -> None:
        super().__init__()
        self.serializer.register_type(Money)
        self.serializer.register_type(Other.Money)

    @step
    async def start(self, ev: StartEvent, ctx: Context[Any]) -> StopEvent:
        await ctx.store.set("mine", Money(cents=5))
        await ctx.store.set("other", Other.Money(amount="5.00"))
        return StopEvent(result="done")


async def snapshot() -> dict[str, Any]:
    handler = ModelWorkflow().run()
    assert await handler == "done"
    data: dict[str, Any] = json.loads(json.dumps(handler.ctx.to_dict()))
    return data


async def test_models_that_share_a_name_are_stored_by_tag_and_restored_as_themselves() -> None:
    data = await snapshot()
    assert data["store"] == {
        "mine": {"$type": "test_values_pydantic.Money", "value": {"cents": 5}},
        "other": {"$type": "test_values_pydantic.Other.Money", "value": {"amount": "5.00"}},
    }
    ctx = Context.from_dict(ModelWorkflow(), data)
    assert await ctx.store.get("mine") == Money(cents=5)
    assert await ctx.store.get("other") == Other.Money(amount="5.00")


async def test_a_model_that_does_not_validate_is_refused_naming_its_tag() -> None:
    data = await snapshot()
    data["store"]["mine"]["value"] = {"cents": "many"}
    with pytest.raises(ContextSerdeError) as caught:
        Context.from_dict(ModelWorkflow(), data)
    error = caught.value
    assert error.reason is not None
    assert error.reason.startswith(
        "Malformed 'test_values_pydantic.Money' value: 1 validation error for Money\ncents\n"
    )
    assert (error.path, error.advice) == ("$.store['mine'].value", DAMAGED)

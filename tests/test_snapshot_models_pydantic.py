"""Event fields typed with a pydantic model go into snapshots as plain JSON.

Needs pydantic: tests/conftest.py skips ``*_pydantic.py`` files when it is not installed.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import anyio
import pydantic
import pytest

from flowkit import Context, Workflow, step
from flowkit.errors import ContextSerdeError
from flowkit.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class Address(pydantic.BaseModel):
    city: str
    since: dt.date = dt.date(2020, 1, 1)


class Job(Event):
    address: Address
    previous: list[Address] = pydantic.Field(default_factory=list)


class Ask(InputRequiredEvent):
    address: Address


class Reply(HumanResponseEvent):
    ok: bool = True


class Moves(Workflow):
    @step
    async def begin(self, ev: StartEvent) -> Job:
        return Job(address=Address(city="Paris"), previous=[Address(city="Lyon")])

    @step
    async def confirm(self, ctx: Context, ev: Job) -> StopEvent:
        reply = await ctx.wait_for_event(Reply, waiter_event=Ask(address=ev.address))
        return StopEvent(result=(ev.address.city, [a.city for a in ev.previous], reply.ok))


async def test_an_event_field_typed_with_a_model_snapshots_as_plain_json() -> None:
    handler = Moves().run()
    with anyio.fail_after(5):
        async for event in handler.stream_events():
            if isinstance(event, Ask):
                break
    data: dict[str, Any] = json.loads(json.dumps(handler.ctx.to_dict()))
    await handler.cancel_run()
    [running] = data["in_progress"]
    assert running["event"]["address"] == {"city": "Paris", "since": "2020-01-01"}
    assert running["event"]["previous"] == [{"city": "Lyon", "since": "2020-01-01"}]

    fresh = Moves()
    resumed = fresh.run(ctx=Context.from_dict(fresh, data))
    with anyio.fail_after(5):
        async for event in resumed.stream_events():
            if isinstance(event, Ask):
                assert event.address == Address(city="Paris")
                resumed.ctx.send_event(Reply(ok=True))
        assert await resumed == ("Paris", ["Lyon"], True)


async def test_model_data_that_does_not_validate_is_refused_with_its_path() -> None:
    handler = Moves().run()
    with anyio.fail_after(5):
        async for event in handler.stream_events():
            if isinstance(event, Ask):
                break
    data = handler.ctx.to_dict()
    await handler.cancel_run()
    data["in_progress"][0]["event"]["address"] = {"since": "not a date"}
    with pytest.raises(ContextSerdeError, match=r"^Malformed 'Address' value") as caught:
        Context.from_dict(Moves(), data)
    assert caught.value.path == "$.in_progress[0].event.address"


class Note(pydantic.BaseModel):
    body: Any = None


class Noted(Event):
    note: Note


class WritesANote(Workflow):
    @step
    async def start(self, ctx: Context, ev: StartEvent) -> StopEvent:
        body: Any = "leaf"
        for _ in range(1000):
            body = {"more": body}
        ctx.write_event_to_stream(Noted(note=Note(body=body)))
        return StopEvent(result="done")


async def test_a_model_field_nested_too_deeply_for_pydantic_is_refused_by_to_dict_at_its_path() -> (
    None
):
    handler = WritesANote().run()
    with anyio.fail_after(5):
        assert await handler == "done"
    with pytest.raises(ContextSerdeError) as caught:
        handler.ctx.to_dict()
    assert caught.value.path == "$.stream[0].note"
    assert str(caught.value) == (
        "Cannot freeze the context: Note holds a value nested too deeply for pydantic to dump "
        "at $.stream[0].note."
    )

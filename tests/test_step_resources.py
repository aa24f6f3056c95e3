"""Resources injected into steps: ``Annotated[T, Resource(...)]`` and ``ResourceConfig`` parameters.

Through the public API: async and sync steps, methods and free functions, one
ResourceManager per workflow instance, validate(), and restored runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import anyio
import attrs
import pytest

from flowkit import Context, Workflow, step
from flowkit.errors import WorkflowValidationError
from flowkit.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
)
from flowkit.resource import Resource, ResourceConfig, ResourceManager
from flowkit.retry_policy import retry_policy, stop_after_attempt, wait_fixed

MADE: list[str] = []


@pytest.fixture(autouse=True)
def _reset_made() -> None:
    MADE.clear()


class Client:
    pass


class Memory:
    def __init__(self, client: Client) -> None:
        self.client = client


def get_client() -> Client:
    MADE.append("client")
    return Client()


async def get_memory(client: Annotated[Client, Resource(get_client)]) -> Memory:
    MADE.append("memory")
    return Memory(client)


def get_scratch() -> list[str]:
    MADE.append("scratch")
    return []


def cycle_a(b: Annotated[int, Resource(lambda: 0)], c: Annotated[int, Resource(cycle_b)]) -> int:
    return b


def cycle_b(a: Annotated[int, Resource(cycle_a)]) -> int:
    return a


class Middle(Event):
    pass


class Shared(Workflow):
    @step
    async def first(
        self, ev: StartEvent, memory: Annotated[Memory, Resource(get_memory)]
    ) -> Middle:
        self.seen = [memory]
        return Middle()

    @step
    def second(
        self,
        ctx: Context,
        ev: Middle,
        memory: Annotated[Memory, Resource(get_memory)],
        client: Annotated[Client, Resource(get_client)],
    ) -> StopEvent:
        return StopEvent(result=(self.seen[0], memory, client))


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_a_cached_resource_is_one_object_for_every_step_and_run() -> None:
    workflow = Shared()
    with anyio.fail_after(5):
        first, second, client = await workflow.run()
        again, _, _ = await workflow.run()
    assert first is second is again
    assert first.client is client  # the factory's own resource is the shared one
    assert MADE == ["client", "memory"]

    with anyio.fail_after(5):
        other, _, _ = await Shared().run()
    assert other is not first  # another instance has its own ResourceManager


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_instances_given_one_manager_share_its_resources() -> None:
    manager = ResourceManager()
    with anyio.fail_after(5):
        one, _, _ = await Shared(resource_manager=manager).run()
        two, _, _ = await Shared(resource_manager=manager).run()
    assert one is two
    assert manager.get_all()[get_memory.__qualname__] is one


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_a_resource_set_on_the_manager_replaces_its_factory() -> None:
    manager = ResourceManager()
    client = Client()
    await manager.set(get_client.__qualname__, client)
    with anyio.fail_after(5):
        memory, _, injected = await Shared(resource_manager=manager).run()
    assert injected is client
    assert memory.client is client
    assert MADE == ["memory"]


class Fresh(Workflow):
    @step
    async def start(self, ctx: Context, ev: StartEvent) -> Middle | None:
        for _ in range(3):
            ctx.send_event(Middle())
        return None

    @step(num_workers=1)
    def scribble(
        self,
        ctx: Context,
        ev: Middle,
        scratch: Annotated[list[str], Resource(get_scratch, cache=False)],
    ) -> StopEvent | None:
        scratch.append("x")
        lists = anyio.from_thread.run(ctx.store.get, "lists", [])
        lists.append(scratch)
        anyio.from_thread.run(ctx.store.set, "lists", lists)
        return StopEvent(result=lists) if len(lists) == 3 else None


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_an_uncached_resource_is_made_fresh_for_each_call() -> None:
    with anyio.fail_after(5):
        lists = await Fresh().run()
    assert lists == [["x"], ["x"], ["x"]]
    assert len({id(each) for each in lists}) == 3
    assert MADE == ["scratch"] * 3


class Free(Workflow):
    pass


@step(workflow=Free)
async def free_step(ev: StartEvent, memory: Annotated[Memory, Resource(get_memory)]) -> StopEvent:
    return StopEvent(result=memory)


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_a_free_function_step_takes_resources() -> None:
    with anyio.fail_after(5):
        memory = await Free().run()
    assert isinstance(memory, Memory)
    assert MADE == ["client", "memory"]


FLAKY: list[int] = []


def flaky_client() -> Client:
    FLAKY.append(1)
    if len(FLAKY) == 1:
        raise ConnectionError("the service is not up yet")
    return Client()


class RetriesItsFactory(Workflow):
    @step(retry_policy=retry_policy(wait=wait_fixed(0), stop=stop_after_attempt(2)))
    def start(self, ev: StartEvent, client: Annotated[Client, Resource(flaky_client)]) -> StopEvent:
        return StopEvent(result=client)


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_a_failing_factory_fails_the_call_and_the_step_policy_retries_it() -> None:
    FLAKY.clear()
    with anyio.fail_after(5):
        handler = RetriesItsFactory().run()
        assert isinstance(await handler, Client)
    assert FLAKY == [1, 1]
    assert handler.ctx.statistics().step_runs == {"start": 2}


class Cyclic(Workflow):
    @step
    async def start(self, ev: StartEvent, value: Annotated[int, Resource(cycle_a)]) -> StopEvent:
        return StopEvent(result=value)


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_a_dependency_cycle_fails_the_run_showing_the_chain() -> None:
    with (
        anyio.fail_after(5),
        pytest.raises(
            ValueError,
            match=r"^Circular resource dependency detected: cycle_a -> cycle_b -> cycle_a$",
        ),
    ):
        await Cyclic().run()


@attrs.define
class ChatConfig:
    model: str
    temperature: float = 0.0


def _write_config(path: Path, data: Any) -> str:
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_a_config_file_is_loaded_into_the_annotated_class(tmp_path: Path) -> None:
    config = _write_config(tmp_path / "chat.json", {"chat": {"model": "small"}})

    class Configured(Workflow):
        @step
        async def start(
            self,
            ev: StartEvent,
            chat: Annotated[ChatConfig, ResourceConfig(config, path_selector="chat")],
        ) -> StopEvent:
            return StopEvent(result=chat)

    with anyio.fail_after(5):
        assert await Configured().run() == ChatConfig(model="small")


def _configured_workflow(config: str) -> type[Workflow]:
    class Configured(Workflow):
        @step
        def start(
            self,
            ev: StartEvent,
            chat: Annotated[ChatConfig, ResourceConfig(config)],
            memory: Annotated[Memory, Resource(get_memory)],
        ) -> StopEvent:
            return StopEvent(result=chat)

    return Configured


def test_validate_reports_the_step_parameter_file_and_field(tmp_path: Path) -> None:
    config = _write_config(tmp_path / "chat.json", {"temperature": 0.5})
    workflow = _configured_workflow(config)()
    with pytest.raises(WorkflowValidationError) as info:
        workflow.validate()
    message = str(info.value)
    assert message.startswith(
        "Resource config validation failed:\n  - In step 'start', parameter 'chat': "
    )
    assert config in message
    assert "model" in message
    assert MADE == []  # checking configs calls no factory
    assert workflow.validate(validate_resource_configs=False) is False


def test_validate_resources_makes_them_and_reports_failing_factories(tmp_path: Path) -> None:
    config = _write_config(tmp_path / "chat.json", {"model": "small"})
    workflow = _configured_workflow(config)()
    assert workflow.validate(validate_resources=True) is False
    assert MADE == ["client", "memory"]  # made once, now cached for the runs

    def no_key() -> int:
        raise RuntimeError("set OPENAI_API_KEY")

    class Failing(Workflow):
        @step
        async def start(
            self,
            ev: StartEvent,
            key: Annotated[int, Resource(no_key)],
            value: Annotated[int, Resource(cycle_a)],
        ) -> StopEvent:
            return StopEvent()

    with pytest.raises(WorkflowValidationError) as info:
        Failing().validate(validate_resources=True)
    assert str(info.value) == (
        "Resource validation failed:\n"
        "  - In step 'start', parameter 'key': RuntimeError: set OPENAI_API_KEY\n"
        "  - In step 'start', parameter 'value': ValueError: Circular resource dependency "
        "detected: cycle_a -> cycle_b -> cycle_a"
    )


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_validate_resources_from_async_code_says_to_call_it_from_sync_code() -> None:
    with pytest.raises(RuntimeError, match=r"^validate\(validate_resources=True\) cannot be"):
        Shared().validate(validate_resources=True)
    assert Shared().validate() is False  # the other checks need no event loop
    assert MADE == []


class AskWithResource(Workflow):
    @step
    async def ask(
        self, ctx: Context, ev: StartEvent, memory: Annotated[Memory, Resource(get_memory)]
    ) -> StopEvent:
        answer = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="Name? ")
        )
        return StopEvent(result=(answer.response, memory))


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_a_restored_run_gets_its_resources_from_its_workflow() -> None:
    with anyio.fail_after(5):
        original = AskWithResource()
        handler = original.run()
        async for event in handler.stream_events():
            if isinstance(event, InputRequiredEvent):
                text = json.dumps(handler.ctx.to_dict())
                await handler.cancel_run()
                break
        assert "Memory" not in text  # resources are never part of a snapshot

        manager = ResourceManager()
        workflow = AskWithResource(resource_manager=manager)
        handler = workflow.run(ctx=Context.from_dict(workflow, json.loads(text)))
        async for event in handler.stream_events():
            if isinstance(event, InputRequiredEvent):
                handler.ctx.send_event(HumanResponseEvent(response="Ada"))
        name, memory = await handler
    assert name == "Ada"
    assert isinstance(memory, Memory)
    assert MADE == ["client", "memory", "client", "memory"]  # made again for the new instance
    assert manager.get_all()[get_memory.__qualname__] is memory

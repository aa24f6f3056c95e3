"""flowkit.resource: factories, caching, dependencies, cycles and JSON configs.

Injection into steps and ``Workflow.validate(validate_resources=...)`` plug these into the
engine; here they are tested through ResourceManager and the engine-facing functions.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import anyio
import attrs
import pytest

from flowkit._engine.resources import (
    check_resource_configs,
    check_resources,
    find_resources,
    resolve,
    validation_error,
)
from flowkit.errors import WorkflowValidationError
from flowkit.events import StartEvent, StopEvent
from flowkit.resource import Resource, ResourceConfig, ResourceDefinition, ResourceManager

if TYPE_CHECKING:
    from decimal import Decimal  # never imported at run time: the factory must still work

CALLS: dict[str, int] = {}


def _count(name: str) -> None:
    CALLS[name] = CALLS.get(name, 0) + 1


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


class Client:
    def __init__(self) -> None:
        _count("client")


class Memory:
    def __init__(self, client: Client) -> None:
        self.client = client


def get_client() -> Client:
    return Client()


async def get_memory(client: Annotated[Client, Resource(get_client)]) -> Memory:
    _count("memory")
    return Memory(client)


def get_scratch() -> list[str]:
    _count("scratch")
    return []


def get_unresolvable() -> Decimal:  # the return annotation names a TYPE_CHECKING import
    return 1  # type: ignore[return-value]  # never checked at run time


def uses_scratch_twice(
    a: Annotated[list[str], Resource(get_scratch, cache=False)],
    b: Annotated[list[str], Resource(get_scratch, cache=False)],
) -> tuple[list[str], list[str]]:
    return a, b


def cycle_a(b: Annotated[int, Resource(cycle_b)]) -> int:
    return b


def cycle_b(a: Annotated[int, Resource(cycle_a)]) -> int:
    return a


async def step_like(
    ev: StartEvent,
    memory: Annotated[Memory, Resource(get_memory)],
    scratch: Annotated[list[str], Resource(get_scratch, cache=False)],
    plain: int = 0,
) -> StopEvent:
    return StopEvent()


async def test_sync_and_async_factories_with_dependencies() -> None:
    manager = ResourceManager()
    memory = await manager.get(Resource(get_memory))
    assert isinstance(memory, Memory)
    assert isinstance(memory.client, Client)
    assert set(manager.get_all()) == {"get_client", "get_memory"}


async def test_cached_resources_are_made_once_and_shared() -> None:
    manager = ResourceManager()
    params = find_resources(step_like)
    first = await resolve(manager, params)
    second = await resolve(manager, params)
    assert first["memory"] is second["memory"]
    assert CALLS["client"] == 1
    assert CALLS["memory"] == 1


async def test_uncached_resources_are_fresh_per_call_and_shared_within_one() -> None:
    manager = ResourceManager()
    first = await resolve(manager, find_resources(step_like))
    second = await resolve(manager, find_resources(step_like))
    assert first["scratch"] is not second["scratch"]
    assert CALLS["scratch"] == 2
    a, b = await manager.get(Resource(uses_scratch_twice, cache=False))
    assert a is b


async def test_two_tasks_asking_at_once_share_one_making() -> None:
    release = anyio.Event()
    made = []

    async def slow() -> object:
        made.append(1)
        await release.wait()
        return object()

    manager = ResourceManager()
    descriptor = Resource(slow)
    results: list[object] = []

    async def ask() -> None:
        results.append(await manager.get(descriptor))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(ask)
            tg.start_soon(ask)
            await anyio.wait_all_tasks_blocked()
            release.set()
    assert len(made) == 1
    assert results[0] is results[1]


async def test_a_failing_factory_is_retried_by_the_next_ask() -> None:
    attempts = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("not yet")
        return "ok"

    manager = ResourceManager()
    with pytest.raises(RuntimeError, match="not yet"):
        await manager.get(Resource(flaky))
    assert await manager.get(Resource(flaky)) == "ok"


async def test_a_dependency_cycle_shows_the_chain_before_any_factory_runs() -> None:
    manager = ResourceManager()
    with pytest.raises(
        ValueError, match=r"^Circular resource dependency detected: cycle_a -> cycle_b -> cycle_a$"
    ):
        await manager.get(Resource(cycle_a))


async def test_set_overrides_a_resource_by_name() -> None:
    manager = ResourceManager()
    fake = Memory(Client())
    await manager.set("get_memory", fake)
    assert (await resolve(manager, find_resources(step_like)))["memory"] is fake


async def test_return_annotations_that_cannot_be_resolved_do_not_matter() -> None:
    assert await ResourceManager().get(Resource(get_unresolvable)) == 1


class Service:
    def __init__(self, client: Annotated[Client, Resource(get_client)]) -> None:
        self.client = client


async def test_classes_partials_and_builtins_are_factories_too() -> None:
    manager = ResourceManager()
    service = await manager.get(Resource(Service))
    assert isinstance(service, Service)
    assert service.client is await manager.get(Resource(get_client))
    assert await manager.get(Resource(functools.partial(int, "7"))) == 7
    assert await manager.get(Resource(dict)) == {}


def test_find_resources_reads_annotated_parameters_only() -> None:
    found = find_resources(step_like)
    assert [(d.name, d.type_annotation) for d in found] == [
        ("memory", Memory),
        ("scratch", list[str]),
    ]
    assert found[1].resource.cache is False


def test_find_resources_reports_an_unresolvable_resource_annotation() -> None:
    def broken(x: Annotated[Missing, Resource(get_client)]) -> None:  # type: ignore[name-defined]  # noqa: F821
        pass

    with pytest.raises(ValueError, match=r"name 'Missing' is not defined in its module"):
        find_resources(broken)


def test_resource_takes_a_callable() -> None:
    with pytest.raises(TypeError, match=r"Resource\(\) takes a callable factory, got 3\."):
        Resource(3)  # type: ignore[call-overload]


# -- ResourceConfig -------------------------------------------------------------------


@attrs.define
class ClassifierConfig:
    categories: list[str]
    threshold: float = 0.5


@dataclasses.dataclass
class ModelConfig:
    name: str
    temperature: float


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {
                "categories": ["a", "b"],
                "models": {"chat": {"name": "m", "temperature": 0.1}},
                "broken": {"name": "m"},
            }
        )
    )
    return path


async def test_config_loads_into_an_attrs_class(config_file: Path) -> None:
    descriptor = ResourceConfig(config_file=str(config_file), label="Classifier")
    descriptor.set_type_annotation(ClassifierConfig)
    loaded = await ResourceManager().get(descriptor)
    assert loaded == ClassifierConfig(categories=["a", "b"])
    assert descriptor.label == "Classifier"


async def test_config_path_selector_loads_into_a_dataclass(config_file: Path) -> None:
    def needs(cfg: Annotated[ModelConfig, ResourceConfig(str(config_file), "models.chat")]) -> None:
        pass

    # Annotations of a local function name local variables: pass them, as @step does.
    values = await resolve(ResourceManager(), find_resources(needs, localns=locals()))
    assert values == {"cfg": ModelConfig(name="m", temperature=0.1)}


def test_config_must_be_a_json_file() -> None:
    with pytest.raises(ValueError, match=r"^Only JSON files can be used"):
        ResourceConfig(config_file="config.yaml")


async def test_config_file_is_checked_only_when_used(tmp_path: Path) -> None:
    descriptor = ResourceConfig(config_file=str(tmp_path / "missing.json"))
    descriptor.set_type_annotation(ClassifierConfig)
    with pytest.raises(FileNotFoundError, match=r"No such file: .*missing\.json"):
        await ResourceManager().get(descriptor)


async def test_config_errors_name_the_file_and_the_field(config_file: Path) -> None:
    descriptor = ResourceConfig(config_file=str(config_file), path_selector="broken")
    descriptor.set_type_annotation(ModelConfig)
    with pytest.raises(ValueError, match=r"does not fit ModelConfig: .*temperature") as info:
        await ResourceManager().get(descriptor)
    assert f"Config {config_file} at broken" in str(info.value)


async def test_config_selector_must_lead_to_an_object(config_file: Path) -> None:
    descriptor = ResourceConfig(config_file=str(config_file), path_selector="categories")
    descriptor.set_type_annotation(ClassifierConfig)
    with pytest.raises(ValueError, match=r"^Expected dictionary for configuration from .* at path"):
        await ResourceManager().get(descriptor)


# -- validation, as Workflow.validate() will run it ---------------------------------------


def _steps(localns: dict[str, Any], **funcs: Any) -> dict[str, tuple[ResourceDefinition, ...]]:
    return {name: find_resources(func, localns) for name, func in funcs.items()}


def test_config_validation_reports_step_parameter_file_and_field(config_file: Path) -> None:
    def good(cfg: Annotated[ClassifierConfig, ResourceConfig(str(config_file))]) -> None:
        pass

    def bad(cfg: Annotated[ModelConfig, ResourceConfig(str(config_file), "broken")]) -> None:
        pass

    problems = check_resource_configs(_steps(locals(), classify=good, chat=bad))
    assert len(problems) == 1
    problem = problems[0]
    assert (problem.step, problem.parameter) == ("chat", "cfg")
    assert str(config_file) in problem.message
    assert "temperature" in problem.message
    error = validation_error("Resource config", problems)
    assert isinstance(error, WorkflowValidationError)
    assert str(error).startswith(
        "Resource config validation failed:\n  - In step 'chat', parameter"
    )


def test_config_validation_follows_factory_dependencies(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.json")

    def factory(cfg: Annotated[ClassifierConfig, ResourceConfig(missing)]) -> int:
        return 1

    def stepfn(x: Annotated[int, Resource(factory)]) -> None:
        pass

    problems = check_resource_configs(_steps(locals(), work=stepfn))
    assert [str(p) for p in problems] == [
        f"In step 'work', parameter 'x' ({factory.__qualname__} -> {missing}): "
        f"No such file: {missing}"
    ]
    assert CALLS == {}  # factories are not called to check configs


async def test_resource_validation_reports_cycles_and_failing_factories() -> None:
    def boom() -> int:
        raise RuntimeError("needs OPENAI_API_KEY")

    def first(x: Annotated[int, Resource(cycle_a)]) -> None:
        pass

    def second(
        y: Annotated[int, Resource(boom)], m: Annotated[Memory, Resource(get_memory)]
    ) -> None:
        pass

    problems = await check_resources(_steps(locals(), loop=first, fails=second), ResourceManager())
    assert [str(p) for p in problems] == [
        "In step 'loop', parameter 'x': ValueError: Circular resource dependency detected: "
        "cycle_a -> cycle_b -> cycle_a",
        "In step 'fails', parameter 'y': RuntimeError: needs OPENAI_API_KEY",
    ]


def test_config_validation_reports_each_config_once_and_every_config(tmp_path: Path) -> None:
    shared, own = str(tmp_path / "shared.json"), str(tmp_path / "own.json")

    def first(cfg: Annotated[ClassifierConfig, ResourceConfig(shared)]) -> None:
        pass

    def second(
        mine: Annotated[ClassifierConfig, ResourceConfig(own)],
        cfg: Annotated[ClassifierConfig, ResourceConfig(shared)],
    ) -> None:
        pass

    problems = check_resource_configs(_steps(locals(), first=first, second=second))
    # The shared config is reported for the first step that uses it, and only there; the
    # second step's own config is still checked after the shared one was skipped.
    assert [str(p) for p in problems] == [
        f"In step 'first', parameter 'cfg': No such file: {shared}",
        f"In step 'second', parameter 'mine': No such file: {own}",
    ]

"""InMemoryStateStore on its own, and set_state merging an instance of a parent class."""

from __future__ import annotations

import dataclasses

import anyio
import attrs
import pytest

from flowkit import Context, Workflow, step
from flowkit.context.state_store import DictState, InMemoryStateStore, merge_state
from flowkit.events import StartEvent, StopEvent


@attrs.define
class Base:
    name: str = ""
    count: int = 0


@attrs.define
class Child(Base):
    extra: list[str] = attrs.Factory(list)


@dataclasses.dataclass
class DataBase:
    name: str = ""


@dataclasses.dataclass
class DataChild(DataBase):
    level: int = 0


class Unrelated:
    pass


async def test_store_on_its_own_with_a_typed_state() -> None:
    store = InMemoryStateStore(Child(name="a"))
    async with store.edit_state() as state:
        state.count += 1
    assert await store.get("count") == 1
    await store.set("extra", ["x"])
    assert await store.get_state() == Child(name="a", count=1, extra=["x"])
    await store.clear()
    assert await store.get_state() == Child()


async def test_store_on_its_own_defaults_to_a_dict_state() -> None:
    store: InMemoryStateStore[DictState] = InMemoryStateStore()
    await store.set("user.profile.name", "Ada")
    assert await store.get("user.profile.name") == "Ada"
    assert isinstance(await store.get_state(), DictState)


async def test_edits_of_concurrent_tasks_do_not_interleave() -> None:
    store = InMemoryStateStore(Base())

    async def bump() -> None:
        async with store.edit_state() as state:
            current = state.count
            await anyio.lowlevel.checkpoint()
            state.count = current + 1

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(bump)
    assert (await store.get_state()).count == 20


async def test_set_state_with_a_parent_instance_keeps_the_child_fields() -> None:
    store = InMemoryStateStore(Child(name="a", count=2, extra=["kept"]))
    await store.set_state(Base(name="b", count=5))  # type: ignore[arg-type]  # typed MODEL_T, as in the incumbent
    assert await store.get_state() == Child(name="b", count=5, extra=["kept"])


async def test_set_state_merges_dataclass_parents_too() -> None:
    store = InMemoryStateStore(DataChild(name="a", level=3))
    await store.set_state(DataBase(name="b"))  # type: ignore[arg-type]  # typed MODEL_T, as in the incumbent
    assert await store.get_state() == DataChild(name="b", level=3)


async def test_set_state_with_an_unrelated_type_names_both() -> None:
    store = InMemoryStateStore(Child())
    with pytest.raises(
        ValueError, match=r"^State must be of type Child or a parent type, got Unrelated\."
    ):
        await store.set_state(Unrelated())  # type: ignore[arg-type]  # typed MODEL_T, as in the incumbent


def test_merge_state_replaces_with_an_instance_of_the_same_class() -> None:
    new = Child(name="n")
    assert merge_state(Child(name="old"), new) is new
    assert merge_state(DictState(a=1), {"b": 2}) == DictState(b=2)


class ChildFlow(Workflow):
    @step
    async def go(self, ctx: Context[Child], ev: StartEvent) -> StopEvent:
        await ctx.store.set_state(Base(name="from parent", count=1))  # type: ignore[arg-type]  # typed MODEL_T, as in the incumbent
        async with ctx.store.edit_state() as state:
            state.extra.append("edited")
        return StopEvent(result=await ctx.store.get_state())


async def test_a_step_merges_a_parent_instance_into_its_typed_state() -> None:
    assert await ChildFlow().run() == Child(name="from parent", count=1, extra=["edited"])


async def test_a_store_over_a_cell_reads_and_writes_the_cells_state() -> None:
    @attrs.define
    class Cell:
        store: object

    cell = Cell(Base(name="a"))
    store: InMemoryStateStore[Base] = InMemoryStateStore.over(cell)
    await store.set("count", 3)
    await store.set_state(Base(name="b", count=4))
    assert cell.store == Base(name="b", count=4)
    cell.store = Base(name="c")
    assert await store.get("name") == "c"

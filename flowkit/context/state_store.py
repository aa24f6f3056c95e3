"""The run's key/value store (``ctx.store``): a dict by default, or a typed state object."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Generic, Protocol, overload

import anyio
import attrs
from typing_extensions import Self, TypeVar

from .._pydantic import is_model_class

__all__ = ["DictState", "InMemoryStateStore", "MODEL_T", "StateCell", "merge_state"]

_MISSING: Any = object()


class DictState(dict[str, Any]):
    """The untyped store's state: a dict whose keys are also readable as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"'DictState' object has no attribute '{name}'") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


def _step(node: Any, part: str, path: str) -> Any:
    if isinstance(node, dict):
        if part in node:
            return node[part]
    elif isinstance(node, (list, tuple)) and part.lstrip("-").isdigit():
        index = int(part)
        if -len(node) <= index < len(node):
            return node[index]
    elif hasattr(node, part):
        return getattr(node, part)
    raise KeyError(path)


def _not_found(path: str) -> ValueError:
    return ValueError(
        f"Path '{path}' not found in state. Pass default=... to get a value for a "
        "missing key, or set it first with await ctx.store.set(...)."
    )


# A bare ``Context`` means ``Context[DictState]``, as in llama-index-workflows.
MODEL_T = TypeVar("MODEL_T", default=DictState)


class StateCell(Protocol):
    """Where a store keeps its state: the engine's run state, or the store's own cell."""

    store: Any


@attrs.define
class _OwnCell:
    store: Any


def _field_values(state: Any) -> dict[str, Any]:
    """The fields of an attrs, dataclass or pydantic state, by constructor name."""
    kind = type(state)
    if is_model_class(kind):
        return {name: getattr(state, name) for name in kind.model_fields}
    if attrs.has(kind):
        return {f.alias: getattr(state, f.name) for f in attrs.fields(kind) if f.init}
    if dataclasses.is_dataclass(state):
        return {f.name: getattr(state, f.name) for f in dataclasses.fields(state) if f.init}
    raise ValueError(
        f"Cannot merge a state of type {kind.__name__}: only attrs classes, dataclasses "
        "and pydantic models can be merged into a state of a subclass."
    )


def merge_state(current: Any, incoming: Any) -> Any:
    """The state after ``set_state(incoming)``: ``incoming`` itself, or merged into ``current``.

    An instance of the current state's class (or a subclass) replaces it. An instance of
    a parent class of the current state's class sets the fields it has and keeps the
    child's other fields, as in llama-index-workflows.

    Raises:
        ValueError: ``incoming`` is of neither the state's class nor one of its parents.
    """
    current_type, new_type = type(current), type(incoming)
    if isinstance(incoming, current_type):
        return incoming
    if current_type is DictState and isinstance(incoming, dict):
        return DictState(incoming)
    if issubclass(current_type, new_type) and new_type is not object:
        merged = {**_field_values(current), **_field_values(incoming)}
        if is_model_class(current_type):
            return current_type.model_validate(merged)
        return current_type(**merged)
    raise ValueError(
        f"State must be of type {current_type.__name__} or a parent type, got "
        f"{new_type.__name__}. Pass an instance of the state class the workflow's "
        "Context[...] names, or of one of its base classes."
    )


class InMemoryStateStore(Generic[MODEL_T]):
    """The store of one run, shared by its steps and kept in its snapshots.

    Keys are dotted paths: ``"user.name"`` reads ``state["user"]["name"]`` (or the
    attribute of a typed state), and ``"items.0"`` indexes a list. The state is a
    ``DictState``, or an attrs class, dataclass or pydantic ``BaseModel``.

    It can be used on its own, as in llama-index-workflows::

        store = InMemoryStateStore(MyState())
        async with store.edit_state() as state:
            state.count += 1

    Args:
        initial_state: The state to start with; an empty ``DictState`` if None.
    """

    @overload
    def __init__(self: InMemoryStateStore[DictState]) -> None: ...

    @overload
    def __init__(self, initial_state: MODEL_T) -> None: ...

    def __init__(self, initial_state: Any = None) -> None:
        state = DictState() if initial_state is None else initial_state
        self._run_state: StateCell = _OwnCell(state)
        self._lock: anyio.Lock | None = None

    @classmethod
    def over(cls, cell: StateCell) -> Self:
        """A store whose state lives in ``cell.store`` (the engine's run state)."""
        store = cls.__new__(cls)  # one per run: skip making a state only to replace it
        store._run_state = cell
        store._lock = None
        return store

    @property
    def _state(self) -> Any:
        return self._run_state.store

    async def get(self, path: str, default: Any = _MISSING) -> Any:
        """Return the value at ``path``.

        Raises:
            ValueError: Nothing is at ``path`` and no ``default`` was given.
        """
        node = self._run_state.store
        if type(node) is DictState and "." not in path:  # the common case, on every step
            if path in node:
                return node[path]
            if default is not _MISSING:
                return default
            raise _not_found(path)
        try:
            for part in path.split("."):
                node = _step(node, part, path)
        except KeyError:
            if default is not _MISSING:
                return default
            raise _not_found(path) from None
        return node

    async def set(self, path: str, value: Any) -> None:
        """Set the value at ``path``, creating intermediate dicts of an untyped store.

        Raises:
            ValueError: A part of ``path`` other than the last does not exist in a typed state.
        """
        node = self._run_state.store
        if type(node) is DictState and "." not in path:  # the common case, on every step
            node[path] = value
            return
        parts = path.split(".")
        for part in parts[:-1]:
            if isinstance(node, dict):
                node = node.setdefault(part, {})
            elif hasattr(node, part):
                node = getattr(node, part)
            else:
                raise ValueError(
                    f"Path '{path}' not found in state: '{part}' does not exist. "
                    "Set the parent first."
                )
        last = parts[-1]
        if isinstance(node, dict):
            node[last] = value
        elif isinstance(node, list) and last.lstrip("-").isdigit():
            node[int(last)] = value
        else:
            setattr(node, last, value)

    async def get_state(self) -> MODEL_T:
        """Return a shallow copy of the whole state."""
        return copy.copy(self._state)  # type: ignore[no-any-return]  # store holds MODEL_T

    async def set_state(self, state: MODEL_T) -> None:
        """Replace the whole state, or merge an instance of a parent class into it.

        An instance of a base class of the state's class sets the fields it has and
        keeps the others (see :func:`merge_state`).

        Raises:
            ValueError: ``state`` is of neither the store's state type nor a parent of it.
        """
        self._run_state.store = merge_state(self._state, state)

    async def clear(self) -> None:
        """Reset the state to its initial value (an empty dict, or a fresh typed state)."""
        self._run_state.store = type(self._state)()

    @asynccontextmanager
    async def edit_state(self) -> AsyncIterator[MODEL_T]:
        """Edit the live state while holding the store's lock, so edits do not interleave."""
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            yield self._state

"""The run's key/value store (``ctx.store``): a dict by default, or a typed state object."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Generic

import anyio
from typing_extensions import TypeVar

if TYPE_CHECKING:
    from .._engine.state import RunState

__all__ = ["DictState", "InMemoryStateStore", "MODEL_T"]

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


# A bare ``Context`` means ``Context[DictState]``, as in llama-index-workflows.
MODEL_T = TypeVar("MODEL_T", default=DictState)


class InMemoryStateStore(Generic[MODEL_T]):
    """The store of one run, shared by its steps and kept in its snapshots.

    Keys are dotted paths: ``"user.name"`` reads ``state["user"]["name"]`` (or the
    attribute of a typed state), and ``"items.0"`` indexes a list.
    """

    def __init__(self, state: RunState) -> None:
        self._run_state = state
        self._lock: anyio.Lock | None = None

    @property
    def _state(self) -> Any:
        return self._run_state.store

    async def get(self, path: str, default: Any = _MISSING) -> Any:
        """Return the value at ``path``.

        Raises:
            ValueError: Nothing is at ``path`` and no ``default`` was given.
        """
        node = self._state
        try:
            for part in path.split("."):
                node = _step(node, part, path)
        except KeyError:
            if default is not _MISSING:
                return default
            raise ValueError(
                f"Path '{path}' not found in state. Pass default=... to get a value for a "
                "missing key, or set it first with await ctx.store.set(...)."
            ) from None
        return node

    async def set(self, path: str, value: Any) -> None:
        """Set the value at ``path``, creating intermediate dicts of an untyped store.

        Raises:
            ValueError: A part of ``path`` other than the last does not exist in a typed state.
        """
        parts = path.split(".")
        node = self._state
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
        """Replace the whole state.

        Raises:
            ValueError: ``state`` is not of the store's state type.
        """
        current = type(self._state)
        if not isinstance(state, current) and not (
            current is DictState and isinstance(state, dict)
        ):
            raise ValueError(
                f"State must be of type {current.__name__}, got {type(state).__name__}. "
                "Pass an instance of the state class the workflow's Context[...] names."
            )
        self._run_state.store = DictState(state) if isinstance(state, dict) else state

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

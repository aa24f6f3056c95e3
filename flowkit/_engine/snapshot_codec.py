"""SnapshotCodec: freezing and thawing the runs of one workflow instance.

It holds the registry and snapshot converter per serializer (built on first use, again
when ``register_type`` adds a class), and the converters that also know event classes
outside the registry (see ``event_classes.py``). ``Blueprint`` holds one.
"""

from __future__ import annotations

import weakref
from typing import Any, Protocol

import attrs
import cattrs

from ..errors import ContextSerdeError
from ..events import Event
from . import event_classes, freeze, snapshot
from .graph import StepGraph
from .registry import Registry
from .restore import TOO_DEEP, check_header
from .state import RunState

__all__ = ["Serializer", "SnapshotCodec"]

_EXTENDED_KEPT = 8
"""How many converters for event classes outside the registry a codec keeps."""


class Serializer(Protocol):
    """What a codec reads of a serializer (``flowkit.context.serializers``)."""

    converter: cattrs.Converter
    value_types: list[type]

    def encode_unknown(self, value: Any) -> Any:
        """Store a value of a type nothing else knows."""

    def decode_unknown(self, data: dict[str, Any]) -> Any:
        """Restore a value stored by ``encode_unknown``."""


@attrs.define
class _Built:
    """What a codec built for one serializer: its registry, and its converter once used."""

    value_types: int  # how many the serializer had: a later register_type builds anew
    registry: Registry
    converter: cattrs.Converter | None = None


class SnapshotCodec:
    """Snapshots of one workflow instance's runs.

    Args:
        name: The workflow's name, written into snapshots and checked on restore.
        graph: Its step graph (the event classes and steps snapshots may name).
        serializer: Its default serializer.
        state_type: Its typed state class, or None.
        former_name: Another name whose snapshots it restores (an older default name).
    """

    def __init__(
        self,
        name: str,
        graph: StepGraph,
        serializer: Serializer,
        state_type: type | None,
        former_name: str | None = None,
    ) -> None:
        self.name = name
        self.former_name = former_name
        self._graph = graph
        self._serializer = serializer
        self._state_type = state_type
        # Per serializer (held weakly, so a serializer made per call is not kept).
        self._built: weakref.WeakKeyDictionary[Serializer, _Built] = weakref.WeakKeyDictionary()
        # Converters that also know event classes outside the registry, by serializer,
        # its value type count and those classes (a few kept, oldest dropped first).
        self._extended: dict[tuple[Serializer, int, tuple[type[Event], ...]], cattrs.Converter] = {}

    def _entry(self, serializer: Serializer) -> _Built:
        built_from = len(serializer.value_types)
        cached = self._built.get(serializer)
        if cached is None or cached.value_types != built_from:
            state_type = self._state_type
            values = [*serializer.value_types, *([state_type] if state_type else [])]
            registry = Registry.build(self._graph.event_types(), values)
            cached = self._built[serializer] = _Built(built_from, registry)
        return cached

    def converter(
        self, serializer: Serializer | None, extra: tuple[type[Event], ...] = ()
    ) -> cattrs.Converter:
        """The snapshot converter for ``serializer``, knowing the event classes ``extra`` too.

        Only the converter a snapshot needs is built: a run with event classes outside
        the registry never builds the one without them.
        """
        chosen = serializer if serializer is not None else self._serializer
        entry = self._entry(chosen)
        if not extra:
            if entry.converter is None:
                entry.converter = snapshot.make_converter(
                    entry.registry, chosen.encode_unknown, chosen.decode_unknown, chosen.converter
                )
            return entry.converter
        key = (chosen, entry.value_types, extra)
        found = self._extended.get(key)
        if found is None:
            extended = entry.registry.with_events({event_classes.tag_of(k): k for k in extra})
            found = snapshot.make_converter(
                extended, chosen.encode_unknown, chosen.decode_unknown, chosen.converter
            )
            if len(self._extended) >= _EXTENDED_KEPT:
                self._extended.pop(next(iter(self._extended)))
            self._extended[key] = found
        return found

    def freeze(self, state: RunState, serializer: Serializer | None) -> dict[str, Any]:
        """The snapshot dict of ``state``.

        Raises:
            ContextSerdeError: A value in the state cannot be stored as JSON.
        """
        extra: tuple[type[Event], ...] = ()
        if state.used_events:
            chosen = serializer if serializer is not None else self._serializer
            extra = event_classes.unregistered(state.used_events, self._entry(chosen).registry.tags)
        listed = event_classes.listing(extra)
        return freeze.freeze(state, self.name, self.converter(serializer, extra), listed)

    def thaw(self, data: Any, serializer: Serializer | None) -> RunState:
        """The RunState a snapshot dict describes; nothing is imported or run.

        Raises:
            ContextSerdeError: ``data`` is not a valid snapshot of this workflow, or names
                an event class that is not loaded.
        """
        former = self.former_name
        if former is not None and isinstance(data, dict) and data.get("workflow") == former:
            data = {**data, "workflow": self.name}
        try:
            check_header(data, self.name)
            extra = event_classes.find_listed(data)
            steps = set(self._graph.steps)
            state = freeze.thaw(data, self.name, steps, self.converter(serializer, extra))
        except RecursionError:  # the checks above name the path where they can
            raise ContextSerdeError(TOO_DEEP, path="$") from None
        state.used_events.update(extra)
        return state

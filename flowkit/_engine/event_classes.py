"""Event classes a run uses that no step signature names: listed in snapshots, found on restore.

A step may wait for an event class (``ctx.wait_for_event(Answer, waiter_event=Question())``)
or stream one that no step accepts or returns, and the caller may send one. ``Context``
records those classes in ``RunState.used_events`` where they enter the run (a set add
per call of those methods; events a step returns are never recorded, the registry knows
their classes). A snapshot lists the recorded classes its registry lacks under
``event_classes``, ``{tag: "module:QualName"}``, and tags their events with the
module-qualified name (the tag is the name with the ``:`` that ends the module made a
``.``, so it tells where the module ends even when a ``__module__`` or ``__qualname__``
holds a ``:``). Restoring finds each listed class among the ``Event`` subclasses
already loaded, by module and qualified name: nothing named in data is imported.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from ..errors import ContextSerdeError
from ..events import Event

__all__ = ["EVENT_CLASSES", "find_listed", "listing", "unregistered"]

EVENT_CLASSES = "event_classes"
"""The snapshot key listing the event classes outside the workflow's registry."""

_ADVICE = (
    "flowkit never imports what a snapshot names: import the module that defines {name} "
    "before Context.from_dict(), or register the class with "
    "workflow.serializer.register_type(...)."
)


def _name(klass: type) -> str:
    return f"{klass.__module__}:{klass.__qualname__}"


def tag_of(klass: type) -> str:
    """The tag of an event class outside the registry: its module-qualified name."""
    return f"{klass.__module__}.{klass.__qualname__}"


def unregistered(used: Iterable[type], known: Collection[type]) -> tuple[type[Event], ...]:
    """The Event classes in ``used`` that ``known`` (the registry's classes) lacks, sorted.

    Raises:
        ContextSerdeError: Two of them have the same module and qualified name (classes
            defined in a function called twice), so a snapshot could not tell them apart.
    """
    found = sorted(
        (k for k in used if isinstance(k, type) and issubclass(k, Event) and k not in known),
        key=_name,
    )
    for first, second in itertools.pairwise(found):
        if _name(first) == _name(second):
            raise ContextSerdeError(
                f"Cannot freeze the context: two event classes are named {_name(first)!r}",
                advice="Define event classes at module level, so each has its own name.",
            )
    return tuple(found)


def listing(classes: Iterable[type[Event]]) -> dict[str, str]:
    """The ``event_classes`` entry of a snapshot: each class's tag and name."""
    return {tag_of(k): _name(k) for k in classes}


def _loaded() -> dict[str, list[type[Event]]]:
    """Every Event class loaded now (``Event`` itself included), by ``module:QualName``."""
    found: dict[str, list[type[Event]]] = {_name(Event): [Event]}
    seen: set[type] = {Event}
    pending: list[type[Event]] = [Event]
    while pending:
        klass = pending.pop()
        for sub in klass.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                found.setdefault(_name(sub), []).append(sub)
                pending.append(sub)
    return found


def _qualname(tag: Any, name: Any) -> str | None:
    """The qualified name in ``name``: what follows the ``:`` that ``tag`` has a ``.`` for.

    None when ``tag`` is not ``name`` with one ``:`` made a ``.``. Either part of a name
    may hold a ``:`` (``__module__`` and ``__qualname__`` are any strings): the tag
    tells where the module ends.
    """
    if not isinstance(tag, str) or not isinstance(name, str):
        return None
    differ = (i for i, (t, n) in enumerate(zip(tag, name, strict=False)) if t != n)
    at = next(differ, None)  # where the tag has its '.' for the name's ':'
    if at is None or (tag[at], name[at]) != (".", ":") or tag[at + 1 :] != name[at + 1 :]:
        return None
    return name[at + 1 :]


def find_listed(data: Any) -> tuple[type[Event], ...]:
    """The classes a snapshot's ``event_classes`` lists, found among loaded Event subclasses.

    Raises:
        ContextSerdeError: The entry is malformed, or names a class that is not loaded
            (or is ambiguous); ``path`` says which.
    """
    listed = data.get(EVENT_CLASSES) if isinstance(data, dict) else None
    if listed is None:
        return ()
    path = f"$.{EVENT_CLASSES}"
    if not isinstance(listed, Mapping):
        raise ContextSerdeError(
            "The event classes must be an object of tag: 'module:QualName'", path=path
        )
    loaded: dict[str, list[type[Event]]] | None = None
    classes: list[type[Event]] = []
    for tag, name in listed.items():
        where = f"{path}.{tag}"
        qualname = _qualname(tag, name)
        if qualname is None:
            raise ContextSerdeError(
                f"Malformed event class entry {tag!r}: {name!r}",
                path=where,
                advice="Each entry maps 'module.QualName' to 'module:QualName'.",
            )
        if loaded is None:
            loaded = _loaded()
        candidates = loaded.get(name, [])
        if len(candidates) != 1:
            problem = "is not loaded" if not candidates else "is defined more than once"
            raise ContextSerdeError(
                f"Event class {name} {problem}",
                path=where,
                advice=_ADVICE.format(name=qualname),
            )
        classes.append(candidates[0])
    return tuple(classes)

"""Registry: the event and value classes one workflow can restore, by tag.

A snapshot names a class by its tag (its ``__name__``, or its module-qualified name
when two registered classes share a name). Restoring looks the tag up here and
nowhere else: a tag that is not registered is an error, never an import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from ..errors import ContextSerdeError
from ..events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StepFailedEvent,
    StepStateChanged,
    StopEvent,
    UnhandledEvent,
    WorkflowCancelledEvent,
    WorkflowFailedEvent,
    WorkflowIdleEvent,
    WorkflowTimedOutEvent,
)

BUILTIN_EVENTS: tuple[type[Event], ...] = (
    StartEvent,
    StopEvent,
    InputRequiredEvent,
    HumanResponseEvent,
    StepFailedEvent,
    WorkflowFailedEvent,
    WorkflowTimedOutEvent,
    WorkflowCancelledEvent,
    WorkflowIdleEvent,
    UnhandledEvent,
    StepStateChanged,
)


class UnknownTagError(ContextSerdeError):
    """A snapshot names a class the workflow's registry does not hold."""

    def __init__(self, tag: object, kind: str) -> None:
        self.tag = tag
        self.kind = kind
        if kind == "event":
            advice = (
                "Event classes are restored only if one of the workflow's steps accepts or "
                f"returns them; add {tag} to a step signature (or import the module "
                "that defines it before restoring)."
            )
        else:
            advice = (
                "Values of other classes are restored only if registered; call "
                f"serializer.register_type({tag}) on the workflow's serializer."
            )
        super().__init__(f"Unknown {kind} tag {tag!r}. {advice}")


@attrs.frozen
class Registry:
    """Tags for the event classes and value classes bound to one workflow."""

    events: Mapping[str, type[Event]]
    values: Mapping[str, type]
    tags: Mapping[type, str]
    _found: dict[str, type[Event]] = attrs.field(factory=dict, init=False, eq=False)

    @classmethod
    def build(cls, event_types: Iterable[type[Event]], value_types: Iterable[type]) -> Registry:
        """Tag every class by name, or by module-qualified name where names clash."""
        events = list(dict.fromkeys([*BUILTIN_EVENTS, *event_types]))
        values = [t for t in dict.fromkeys(value_types) if t not in events]
        counts: dict[str, int] = {}
        for klass in (*events, *values):
            counts[klass.__name__] = counts.get(klass.__name__, 0) + 1

        def tag(klass: type) -> str:
            if counts[klass.__name__] == 1:
                return klass.__name__
            return f"{klass.__module__}.{klass.__qualname__}"

        tags = {klass: tag(klass) for klass in (*events, *values)}
        return cls(
            events={tags[e]: e for e in events},
            values={tags[v]: v for v in values},
            tags=tags,
        )

    def tag_of(self, klass: type) -> str:
        """The tag of ``klass``: its registered tag, else its module-qualified name."""
        tag = self.tags.get(klass)
        return tag if tag is not None else f"{klass.__module__}.{klass.__qualname__}"

    def event_class(self, tag: object) -> type[Event]:
        """The event class tagged ``tag``.

        A module-qualified tag may also name an event class no step signature names
        (a ``waiter_event``, an event written to the stream or stored): it is looked
        for among the Event subclasses already imported, never imported.

        Raises:
            UnknownTagError: No such event class.
        """
        if not isinstance(tag, str):
            raise UnknownTagError(tag, "event")
        found = self.events.get(tag) or self._found.get(tag)
        if found is None and "." in tag:
            found = self._loaded_subclass(tag)
        if found is None:
            raise UnknownTagError(tag, "event")
        return found

    def _loaded_subclass(self, tag: str) -> type[Event] | None:
        pending: list[type[Event]] = [Event]
        seen: set[type[Event]] = set(pending)
        while pending:
            for sub in pending.pop().__subclasses__():
                if sub in seen:
                    continue
                seen.add(sub)
                if f"{sub.__module__}.{sub.__qualname__}" == tag:
                    self._found[tag] = sub
                    return sub
                pending.append(sub)
        return None

    def value_class(self, tag: object) -> type:
        """The value class tagged ``tag``.

        Raises:
            UnknownTagError: No value class has that tag.
        """
        try:
            return self.values[tag]  # type: ignore[index]  # a non-str tag is a KeyError too
        except (KeyError, TypeError):
            raise UnknownTagError(tag, "value") from None

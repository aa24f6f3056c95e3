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
from .values import UnstorableValueError

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


class UnregisteredClassError(UnstorableValueError):
    """An event in the run has a class the workflow's registry does not hold."""

    def __init__(self, value_type: type) -> None:
        super().__init__(value_type)
        name = value_type.__qualname__
        self.reason = (
            f"Event class {name} is not known to the workflow: only the event classes its "
            "steps accept or return, those registered, and those that entered the run through "
            "its context (sent, waited for, prompts, streamed) can be stored. Name "
            f"{name} in a step signature, or register it with "
            f"workflow.serializer.register_type({name})"
        )
        self.args = (self.reason,)


class UnknownTagError(ContextSerdeError):
    """A snapshot names a class the workflow's registry does not hold.

    Attributes:
        tag: The tag the snapshot gives.
        kind: ``"event"`` or ``"value"``.
    """

    def __init__(self, tag: object, kind: str) -> None:
        self.tag = tag
        self.kind = kind
        if kind == "event":
            advice = (
                "Event classes are restored only if one of the workflow's steps accepts or "
                f"returns them; add {tag} to a step signature, or register it with "
                f"workflow.serializer.register_type({tag})."
            )
        else:
            advice = (
                "Values of other classes are restored only if registered; call "
                f"serializer.register_type({tag}) on the workflow's serializer."
            )
        super().__init__(f"Unknown {kind} tag {tag!r}", advice=advice)


@attrs.frozen
class Registry:
    """Tags for the event classes and value classes bound to one workflow."""

    events: Mapping[str, type[Event]]
    values: Mapping[str, type]
    tags: Mapping[type, str]

    @classmethod
    def build(cls, event_types: Iterable[type[Event]], value_types: Iterable[type]) -> Registry:
        """Tag every class by name, or by module-qualified name where names clash."""
        registered = list(dict.fromkeys(value_types))
        # An event class registered by the user (a waiter_event, an event only written
        # to the stream) is an event like those the step signatures name.
        extra_events = [t for t in registered if isinstance(t, type) and issubclass(t, Event)]
        events = list(dict.fromkeys([*BUILTIN_EVENTS, *event_types, *extra_events]))
        values = [t for t in registered if t not in events]
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

    def with_events(self, extra: Mapping[str, type[Event]]) -> Registry:
        """This registry and the event classes of ``extra``, under the tags it gives them."""
        return Registry(
            events={**self.events, **extra},
            values=self.values,
            tags={**self.tags, **{klass: tag for tag, klass in extra.items()}},
        )

    def tag_of(self, klass: type) -> str:
        """The tag of a registered class.

        Raises:
            UnregisteredClassError: ``klass`` is not in the registry.
        """
        tag = self.tags.get(klass)
        if tag is None:
            raise UnregisteredClassError(klass)
        return tag

    def event_class(self, tag: object) -> type[Event]:
        """The event class tagged ``tag``.

        Raises:
            UnknownTagError: No event class has that tag.
        """
        found = self.events.get(tag) if isinstance(tag, str) else None
        if found is None:
            raise UnknownTagError(tag, "event")
        return found

    def value_class(self, tag: object) -> type:
        """The value class tagged ``tag``.

        Raises:
            UnknownTagError: No value class has that tag.
        """
        found = self.values.get(tag) if isinstance(tag, str) else None
        if found is None:
            raise UnknownTagError(tag, "value")
        return found

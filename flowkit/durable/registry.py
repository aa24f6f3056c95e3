"""The workflows and event classes a process may run, given in code, and how events are stored.

A run record names its workflow; a process drives it only if its registry holds a workflow of
that name. Events sent by id are stored as ``{"type": class name, "data": {...}}`` and rebuilt
only from classes of the registry: nothing named in the database is ever imported.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ..events import Event, HumanResponseEvent, InputRequiredEvent
from ..workflow import Workflow
from .errors import UnknownEventError, UnknownWorkflowError

__all__ = ["WorkflowRegistry", "as_registry", "describe_event", "encode_event"]


def _fields(event: Event) -> dict[str, Any]:
    data = {
        field.name: getattr(event, field.name)
        for field in attrs.fields(type(event))
        if not field.name.startswith("_")
    }
    data.update(event.to_dict())
    return data


def encode_event(event: Event) -> dict[str, Any]:
    """``event`` as JSON data for the store.

    Raises:
        TypeError: A field's value is not a JSON value (str, number, bool, None, list, dict).
    """
    data = {"type": type(event).__name__, "data": _fields(event)}
    try:
        json.dumps(data)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"Cannot send {type(event).__name__} to a durable run: its fields must be JSON "
            f"values ({exc})."
        ) from None
    return data


def describe_event(event: Event) -> dict[str, Any]:
    """``event`` as JSON data for display; values JSON cannot hold become their repr."""
    data = _fields(event)
    return {"type": type(event).__name__, "data": json.loads(json.dumps(data, default=repr))}


@attrs.frozen
class WorkflowRegistry:
    """The workflows (by ``workflow_name``) and outside events a process may handle.

    ``HumanResponseEvent`` and ``InputRequiredEvent`` are always known. Build one with
    :meth:`create`.

    Attributes:
        workflows: Workflow instances by name.
        events: Event classes that may be sent to runs by id, by class name.
    """

    workflows: Mapping[str, Workflow]
    events: Mapping[str, type[Event]]

    @classmethod
    def create(
        cls,
        workflows: Iterable[Workflow | type[Workflow]],
        events: Iterable[type[Event]] = (),
    ) -> WorkflowRegistry:
        """A registry of ``workflows`` (classes are instantiated with no arguments).

        Each event class is registered on the workflows' serializers, so runs waiting for
        one can be checkpointed.

        Raises:
            ValueError: Two workflows share a name, or two event classes share a name.
        """
        by_name: dict[str, Workflow] = {}
        for item in workflows:
            workflow = item() if isinstance(item, type) else item
            if workflow.workflow_name in by_name:
                raise ValueError(
                    f"Two workflows are named {workflow.workflow_name!r}; give one another "
                    "name with Workflow(workflow_name=...)."
                )
            by_name[workflow.workflow_name] = workflow
        known: dict[str, type[Event]] = {
            "HumanResponseEvent": HumanResponseEvent,
            "InputRequiredEvent": InputRequiredEvent,
        }
        for event_class in events:
            other = known.get(event_class.__name__)
            if other is not None and other is not event_class:
                raise ValueError(
                    f"Two event classes are named {event_class.__name__!r}: "
                    f"{other.__module__} and {event_class.__module__}. Rename one."
                )
            known[event_class.__name__] = event_class
            for workflow in by_name.values():
                # A run that waits for the event holds its class in its checkpoints.
                workflow.serializer.register_type(event_class)
        return cls(by_name, known)

    def workflow(self, name: str) -> Workflow:
        """The workflow named ``name``. Raises UnknownWorkflowError."""
        try:
            return self.workflows[name]
        except KeyError:
            raise UnknownWorkflowError(name, sorted(self.workflows)) from None

    def default_workflow(self) -> Workflow:
        """The only workflow. Raises UnknownWorkflowError when there are several."""
        if len(self.workflows) != 1:
            raise UnknownWorkflowError(None, sorted(self.workflows))
        return next(iter(self.workflows.values()))

    def check_event(self, event: Event) -> None:
        """Raise UnknownEventError unless ``event``'s class is registered."""
        if self.events.get(type(event).__name__) is not type(event):
            raise UnknownEventError(type(event).__name__, sorted(self.events))

    def decode_event(self, data: Mapping[str, Any]) -> Event:
        """Rebuild an event stored by :func:`encode_event`.

        Raises:
            UnknownEventError: Its class is not registered.
            ValueError: The data is not an encoded event.
        """
        tag, fields = data.get("type"), data.get("data")
        if not isinstance(tag, str) or not isinstance(fields, dict):
            raise ValueError(f"not an encoded event: {dict(data)!r}"[:200])
        event_class = self.events.get(tag)
        if event_class is None:
            raise UnknownEventError(tag, sorted(self.events))
        return event_class(**fields)


def as_registry(app: object) -> WorkflowRegistry:
    """``app`` as a registry: a WorkflowRegistry, a Workflow class or instance, or a list of them.

    Raises:
        TypeError: ``app`` is none of these.
    """
    if isinstance(app, WorkflowRegistry):
        return app
    if isinstance(app, Workflow) or (isinstance(app, type) and issubclass(app, Workflow)):
        return WorkflowRegistry.create([app])
    if isinstance(app, (list, tuple)) and all(
        isinstance(a, Workflow) or (isinstance(a, type) and issubclass(a, Workflow)) for a in app
    ):
        return WorkflowRegistry.create(app)
    raise TypeError(
        f"Expected a Workflow class, a Workflow, or a WorkflowRegistry, got {app!r}. "
        "Build one with WorkflowRegistry.create([MyWorkflow], events=[MyEvent])."
    )

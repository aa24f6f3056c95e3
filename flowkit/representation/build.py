"""Build the :class:`WorkflowGraph` of a workflow from the configs its ``@step`` recorded."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import attrs

from .._engine.blueprint import STEP_CONFIG, step_functions
from ..decorators import StepConfig
from ..events import Event, HumanResponseEvent, InputRequiredEvent, StopEvent
from ..workflow import Workflow
from . import _resources
from .types import (
    WorkflowEventNode,
    WorkflowExternalNode,
    WorkflowGraph,
    WorkflowGraphEdge,
    WorkflowGraphNode,
    WorkflowResourceConfigNode,
    WorkflowResourceNode,
    WorkflowStepNode,
)

__all__ = ["EXTERNAL_ID", "get_workflow_representation"]

EXTERNAL_ID = "external_step"
_NONE_TYPE = type(None)
_JSON_TYPES = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "list": "array",
    "dict": "object",
}


def _own_doc(workflow_cls: type[Workflow]) -> str | None:
    """The class's own docstring (not Workflow's, which every subclass inherits)."""
    doc = workflow_cls.__dict__.get("__doc__")
    return inspect.cleandoc(doc) if isinstance(doc, str) else None


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation)


def _event_chain(cls: type[Event]) -> list[str]:
    return [k.__name__ for k in cls.__mro__ if issubclass(k, Event) and k is not Event]


def _event_schema(cls: type[Event]) -> dict[str, Any]:
    """A JSON-schema-like summary of the event's declared fields (``_data`` left out)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in attrs.fields(cls):
        if field.name.startswith("_"):
            continue
        # Annotations may be strings (``from __future__ import annotations``): read names.
        annotation = field.type
        python_type = annotation if isinstance(annotation, str) else _type_name(annotation)
        entry: dict[str, Any] = {"title": field.name, "python_type": python_type}
        json_type = _JSON_TYPES.get(python_type.split("[")[0])
        if json_type is not None:
            entry["type"] = json_type
        properties[field.name] = entry
        if field.default is attrs.NOTHING:
            required.append(field.name)
    schema: dict[str, Any] = {"title": cls.__name__, "type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if cls.__doc__ and cls.__module__ != "flowkit.events":
        schema["description"] = inspect.cleandoc(cls.__doc__)
    return schema


def _step_node(name: str, func: Callable[..., Any], config: StepConfig) -> WorkflowStepNode:
    policy = config.retry_policy
    timeout = getattr(config, "timeout", None)  # steps may gain their own timeout
    return WorkflowStepNode(
        id=name,
        label=name,
        description=inspect.getdoc(func),
        num_workers=config.num_workers,
        retry_policy=None if policy is None else repr(policy),
        timeout=float(timeout) if isinstance(timeout, (int, float)) else None,
        catch_error=config.is_catch_error,
    )


def _resource_node(use: _resources.ResourceUse) -> WorkflowGraphNode:
    marker, type_name = use.marker, _type_name(use.type_annotation)
    key = _resources.resource_key(marker)
    if _resources.is_resource_config(marker):
        return WorkflowResourceConfigNode(
            id=key,
            label=getattr(marker, "label", None) or type_name,
            type_name=type_name,
            config_file=str(marker.config_file),
            path_selector=marker.path_selector,
            config_value=_resources.config_value(str(marker.config_file), marker.path_selector),
        )
    factory = _resources.factory_of(marker)
    getter = getattr(marker, "name", None) or getattr(factory, "__qualname__", None)
    try:
        source_file: str | None = inspect.getsourcefile(factory)  # type: ignore[arg-type]  # callable
        source_line: int | None = inspect.getsourcelines(factory)[1]  # type: ignore[arg-type]
    except (TypeError, OSError):
        source_file = source_line = None
    return WorkflowResourceNode(
        id=key,
        label=type_name,
        type_name=type_name,
        getter_name=getter,
        source_file=source_file,
        source_line=source_line,
        description=inspect.getdoc(factory),
    )


class _Builder:
    """Collects nodes once each, and edges once each, in the order they are found."""

    def __init__(self) -> None:
        self.nodes: dict[str, WorkflowGraphNode] = {}
        self.edges: dict[tuple[str, str, str | None], WorkflowGraphEdge] = {}

    def node(self, node: WorkflowGraphNode) -> str:
        self.nodes.setdefault(node.id, node)
        return node.id

    def edge(self, source: str, target: str, label: str | None = None) -> None:
        self.edges.setdefault(
            (source, target, label), WorkflowGraphEdge(source=source, target=target, label=label)
        )

    def event(self, cls: type[Event], produced_by: dict[str, list[str]]) -> str:
        name = cls.__name__
        if name not in self.nodes:
            self.nodes[name] = WorkflowEventNode(
                id=name,
                label=name,
                event_type=name,
                event_types=_event_chain(cls),
                event_schema=_event_schema(cls),
                produced_by=list(produced_by.get(name, [])),
            )
        return name

    def resource(self, use: _resources.ResourceUse, expanding: set[str]) -> str:
        node_id = _resources.resource_key(use.marker)
        if node_id in self.nodes or node_id in expanding:
            return node_id
        expanding.add(node_id)
        for dep in _resources.dependencies(use.marker):
            self.edge(node_id, self.resource(dep, expanding), dep.parameter)
        expanding.discard(node_id)
        self.nodes[node_id] = _resource_node(use)
        return node_id


def get_workflow_representation(workflow: Workflow | type[Workflow]) -> WorkflowGraph:
    """Build the graph of a workflow's structure: steps, events, human bridge, resources.

    Edges run step -> event it returns -> step that accepts it. A returned
    InputRequiredEvent leads to the ``external_step`` node, which leads to the
    HumanResponseEvent steps accept. A step -> resource edge is labelled with the
    parameter the resource is injected into. The workflow is not validated.

    Args:
        workflow: A workflow instance or class.

    Returns:
        The graph; draw it with ``flowkit.drawing`` or dump it with ``model_dump()``.
    """
    workflow_cls = workflow if isinstance(workflow, type) else type(workflow)
    steps = {
        name: (func, getattr(func, STEP_CONFIG))
        for name, func in step_functions(workflow_cls).items()
    }
    produced_by: dict[str, list[str]] = {}
    for name, (_, config) in steps.items():
        for ret in config.return_types:
            if ret is not _NONE_TYPE and name not in produced_by.setdefault(ret.__name__, []):
                produced_by[ret.__name__].append(name)
    returned = {r for _, c in steps.values() for r in c.return_types if r is not _NONE_TYPE}
    uses_hitl = any(issubclass(r, InputRequiredEvent) for r in returned)

    build = _Builder()
    for name, (func, config) in steps.items():
        build.node(_step_node(name, func, config))
        for accepted in config.accepted_events:
            sources = [accepted]
            if config.accept_event_subclasses:  # every returned subclass flows in too
                sources += [
                    r
                    for r in sorted(returned, key=lambda t: t.__name__)
                    if r is not accepted
                    and issubclass(r, accepted)
                    and not issubclass(r, StopEvent)
                ]
            for source in sources:
                build.edge(build.event(source, produced_by), name)
                if uses_hitl and issubclass(source, HumanResponseEvent):
                    build.node(WorkflowExternalNode(id=EXTERNAL_ID, label=EXTERNAL_ID))
                    build.edge(EXTERNAL_ID, source.__name__)
        for ret in config.return_types:
            if ret is _NONE_TYPE:
                continue
            build.edge(name, build.event(ret, produced_by))
            if issubclass(ret, InputRequiredEvent):
                build.node(WorkflowExternalNode(id=EXTERNAL_ID, label=EXTERNAL_ID))
                build.edge(ret.__name__, EXTERNAL_ID)
        for definition in config.resources:
            use = _resources.ResourceUse(
                definition.name, definition.type_annotation, definition.resource
            )
            build.edge(name, build.resource(use, set()), use.parameter)
    return WorkflowGraph(
        name=workflow_cls.__name__,
        nodes=list(build.nodes.values()),
        edges=list(build.edges.values()),
        description=_own_doc(workflow_cls),
    )

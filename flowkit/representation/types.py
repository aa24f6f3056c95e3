"""The workflow graph: node and edge types, filtering, and the JSON round trip through cattrs.

Plain attrs classes with the incumbent's names (``workflows.representation.types``). The
JSON form is the incumbent's too: each node is a dict whose ``node_type`` says its class.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar, Union

import attrs
import cattrs

__all__ = [
    "WorkflowEventNode",
    "WorkflowExternalNode",
    "WorkflowGenericNode",
    "WorkflowGraph",
    "WorkflowGraphEdge",
    "WorkflowGraphNode",
    "WorkflowNodeBase",
    "WorkflowResourceConfigNode",
    "WorkflowResourceNode",
    "WorkflowStepNode",
]


@attrs.define(kw_only=True)
class WorkflowNodeBase:
    """What every node of the graph has.

    Attributes:
        id: The node's unique identifier (a step name, an event class name, ...).
        label: The text a drawing shows.
    """

    id: str
    label: str

    def truncated_label(self, max_length: int) -> str:
        """The label cut to ``max_length`` characters, ending in ``*`` when cut."""
        if len(self.label) <= max_length:
            return self.label
        return f"{self.label[: max_length - 1]}*"


@attrs.define(kw_only=True)
class WorkflowStepNode(WorkflowNodeBase):
    """A step: a method (or function) decorated with ``@step`` or ``@catch_error``.

    Attributes:
        description: The step's docstring.
        num_workers: How many executions may run at once (flowkit addition).
        retry_policy: The retry policy's repr, or ``None`` (flowkit addition).
        timeout: The step's own timeout in seconds, where steps have one (flowkit addition).
        catch_error: Whether the step handles other steps' failures (flowkit addition).
    """

    node_type: str = "step"
    description: str | None = None
    num_workers: int | None = None
    retry_policy: str | None = None
    timeout: float | None = None
    catch_error: bool = False


@attrs.define(kw_only=True)
class WorkflowEventNode(WorkflowNodeBase):
    """An event class that flows between steps.

    Attributes:
        event_type: The class name.
        event_types: The class name, then its Event base classes up to (not including) Event.
        event_schema: A JSON-schema-like dict of the event's declared fields.
        produced_by: The steps whose return annotation names this event.
    """

    node_type: str = "event"
    event_type: str
    event_types: list[str]
    event_schema: dict[str, Any] | None = None
    produced_by: list[str] = attrs.Factory(list)

    def is_subclass_of(self, *type_names: str) -> bool:
        """Whether the event class is, or derives from, one of ``type_names``."""
        return any(name in self.event_types for name in type_names)


@attrs.define(kw_only=True)
class WorkflowExternalNode(WorkflowNodeBase):
    """Outside the run: the human (or system) that answers an InputRequiredEvent."""

    node_type: str = "external"


@attrs.define(kw_only=True)
class WorkflowResourceNode(WorkflowNodeBase):
    """A resource a step gets injected (``Annotated[T, Resource(factory)]``).

    Attributes:
        type_name: The annotated type's name.
        getter_name: The factory's qualified name.
        source_file: The file defining the factory, when known.
        source_line: The line the factory starts on, when known.
        description: The factory's docstring.
    """

    node_type: str = "resource"
    type_name: str | None = None
    getter_name: str | None = None
    source_file: str | None = None
    source_line: int | None = None
    description: str | None = None


@attrs.define(kw_only=True)
class WorkflowResourceConfigNode(WorkflowNodeBase):
    """A configuration read from a JSON file (``Annotated[T, ResourceConfig(...)]``).

    Attributes:
        type_name: The annotated type's name.
        config_file: The JSON file's path.
        path_selector: The dotted path inside the file, or ``None`` for the whole file.
        config_schema: A schema of the config type, when known.
        config_value: The value read from the file, when it could be read.
    """

    node_type: str = "resource_config"
    type_name: str | None = None
    config_file: str | None = None
    path_selector: str | None = None
    config_schema: dict[str, Any] | None = None
    config_value: dict[str, Any] | None = None


@attrs.define(kw_only=True)
class WorkflowGenericNode(WorkflowNodeBase):
    """A node of any other ``node_type`` (kept so that graphs from other tools round-trip)."""

    node_type: str
    event_type: str | None = None
    event_types: list[str] | None = None

    def is_subclass_of(self, *type_names: str) -> bool:
        """Whether ``event_types`` names one of ``type_names``."""
        return any(name in (self.event_types or ()) for name in type_names)


WorkflowGraphNode = Union[  # noqa: UP007  # a runtime alias, as the incumbent's
    WorkflowStepNode,
    WorkflowEventNode,
    WorkflowExternalNode,
    WorkflowResourceNode,
    WorkflowResourceConfigNode,
    WorkflowGenericNode,
]

_NODE_CLASSES: Mapping[str, type[WorkflowNodeBase]] = {
    "step": WorkflowStepNode,
    "event": WorkflowEventNode,
    "external": WorkflowExternalNode,
    "resource": WorkflowResourceNode,
    "resource_config": WorkflowResourceConfigNode,
}


@attrs.define(kw_only=True)
class WorkflowGraphEdge:
    """A directed edge between two nodes.

    Attributes:
        source: The id of the node it leaves.
        target: The id of the node it enters.
        label: Text on the edge: the parameter name on a step->resource edge, the event
            name on an edge that crosses a filtered-out event node.
    """

    source: str
    target: str
    label: str | None = None


@attrs.define(kw_only=True)
class WorkflowGraph:
    """A workflow's structure: its steps, events, human bridge and resources, and the flows.

    Attributes:
        name: The workflow class's name.
        nodes: Every node, in the order they were found.
        edges: Every directed edge.
        description: The workflow class's docstring.
    """

    name: str
    nodes: list[WorkflowGraphNode]
    edges: list[WorkflowGraphEdge]
    description: str | None = None

    _converter: ClassVar[cattrs.Converter]

    def node(self, node_id: str) -> WorkflowGraphNode:
        """The node with id ``node_id``.

        Raises:
            KeyError: No node has that id.
        """
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(f"The graph of {self.name} has no node {node_id!r}.")

    def filter_by_node_type(self, *node_types: str) -> WorkflowGraph:
        """A copy without the nodes of ``node_types``, with edges reconnected across them.

        ``a -> X -> b`` with ``X`` removed becomes ``a -> b``, labelled with the first removed
        node's label (or the edge's own label when nothing was removed on the way). Each
        ``(source, target)`` pair appears once.

        Args:
            *node_types: The ``node_type`` values to remove, such as ``"event"``.

        Returns:
            A new graph; this one is unchanged.
        """
        removed = {n.id for n in self.nodes if n.node_type in node_types}
        kept = [n for n in self.nodes if n.id not in removed]
        labels = {n.id: n.label for n in self.nodes}
        outgoing: dict[str, list[WorkflowGraphEdge]] = {}
        for edge in self.edges:
            outgoing.setdefault(edge.source, []).append(edge)

        edges: list[WorkflowGraphEdge] = []
        seen: set[tuple[str, str]] = set()
        for node in kept:
            # Depth-first through removed nodes; each removed node is crossed once per source.
            # (edge, label of the first removed node on the way there, or None)
            stack: list[tuple[WorkflowGraphEdge, str | None]] = [
                (edge, None) for edge in reversed(outgoing.get(node.id, []))
            ]
            crossed: set[str] = set()
            while stack:
                edge, first = stack.pop()
                if edge.target in removed:
                    if edge.target in crossed:
                        continue
                    crossed.add(edge.target)
                    through = first if first is not None else labels[edge.target]
                    stack.extend((e, through) for e in reversed(outgoing.get(edge.target, [])))
                elif (node.id, edge.target) not in seen:
                    seen.add((node.id, edge.target))
                    label = first if first is not None else edge.label
                    edges.append(WorkflowGraphEdge(source=node.id, target=edge.target, label=label))
        return WorkflowGraph(name=self.name, nodes=kept, edges=edges, description=self.description)

    def model_dump(self) -> dict[str, Any]:
        """The graph as plain JSON-safe data (the incumbent's pydantic name)."""
        data: dict[str, Any] = self._converter.unstructure(self)
        return data

    def model_dump_json(self, *, indent: int | None = None) -> str:
        """The graph as a JSON string."""
        return json.dumps(self.model_dump(), indent=indent)

    @classmethod
    def model_validate(cls, data: Any) -> WorkflowGraph:
        """Build a graph from what :meth:`model_dump` returned (or the incumbent's JSON).

        Raises:
            cattrs.errors.ClassValidationError: The data is not a graph; the error lists
                what is missing or wrong, with its path.
        """
        return cls._converter.structure(data, cls)

    @classmethod
    def model_validate_json(cls, text: str | bytes) -> WorkflowGraph:
        """Build a graph from a JSON string made by :meth:`model_dump_json`."""
        return cls.model_validate(json.loads(text))


def _make_converter() -> cattrs.Converter:
    """The graph's own converter: each node dict's ``node_type`` picks its class.

    - nodes unstructure to dicts of all their fields, ``node_type`` included;
    - a node dict with an unknown ``node_type`` becomes a WorkflowGenericNode;
    - extra keys are ignored, so JSON written by other versions still loads.
    """
    converter = cattrs.Converter(forbid_extra_keys=False)

    def unstructure_node(node: WorkflowNodeBase) -> dict[str, Any]:
        return converter.unstructure(node, unstructure_as=type(node))  # type: ignore[no-any-return]  # a dict for attrs classes

    def structure_node(data: Any, _: Any) -> WorkflowNodeBase:
        if not isinstance(data, Mapping) or not isinstance(data.get("node_type"), str):
            raise ValueError(
                f"A graph node must be a dict with a 'node_type' string; got {data!r}."
            )
        node_class = _NODE_CLASSES.get(data["node_type"], WorkflowGenericNode)
        return converter.structure(data, node_class)

    converter.register_unstructure_hook(WorkflowGraphNode, unstructure_node)
    converter.register_structure_hook(WorkflowGraphNode, structure_node)
    return converter


WorkflowGraph._converter = _make_converter()

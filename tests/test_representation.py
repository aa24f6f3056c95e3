"""flowkit.representation: the graphs of real workflows, filtering, and the JSON round trip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import attrs
import cattrs
import pytest
from fixtures.drawing_workflows import (
    Database,
    FanOutFanIn,
    HumanInTheLoopWorkflow,
    RecoveringWorkflow,
    ThirtySteps,
    WithResources,
    get_database,
)
from hypothesis import given
from hypothesis import strategies as st

from flowkit import Workflow, step
from flowkit.events import Event, StartEvent, StopEvent
from flowkit.representation import (
    WorkflowEventNode,
    WorkflowExternalNode,
    WorkflowGenericNode,
    WorkflowGraph,
    WorkflowGraphEdge,
    WorkflowResourceConfigNode,
    WorkflowResourceNode,
    WorkflowStepNode,
    get_workflow_representation,
)
from flowkit.resource import Resource, ResourceConfig


def edges_of(graph: WorkflowGraph) -> set[tuple[str, str, str | None]]:
    return {(e.source, e.target, e.label) for e in graph.edges}


def types_of(graph: WorkflowGraph) -> dict[str, str]:
    return {n.id: n.node_type for n in graph.nodes}


def test_seed_workflow_graph() -> None:
    graph = get_workflow_representation(HumanInTheLoopWorkflow())
    assert graph.name == "HumanInTheLoopWorkflow"
    assert graph.description == "The seed document's workflow: ask a human, stop with the answer."
    assert types_of(graph) == {
        "step1": "step",
        "step2": "step",
        "StartEvent": "event",
        "InputRequiredEvent": "event",
        "HumanResponseEvent": "event",
        "StopEvent": "event",
        "external_step": "external",
    }
    assert edges_of(graph) == {
        ("StartEvent", "step1", None),
        ("step1", "InputRequiredEvent", None),
        ("InputRequiredEvent", "external_step", None),
        ("external_step", "HumanResponseEvent", None),
        ("HumanResponseEvent", "step2", None),
        ("step2", "StopEvent", None),
    }
    assert len(graph.edges) == len(edges_of(graph))
    stop = graph.node("StopEvent")
    assert isinstance(stop, WorkflowEventNode)
    assert stop.produced_by == ["step2"]
    assert stop.event_types == ["StopEvent"]
    assert stop.is_subclass_of("StopEvent")
    assert stop.event_schema is not None
    assert "result" in stop.event_schema["properties"]
    assert isinstance(graph.node("external_step"), WorkflowExternalNode)


def test_a_class_and_an_instance_give_the_same_graph() -> None:
    assert get_workflow_representation(FanOutFanIn) == get_workflow_representation(FanOutFanIn())


def test_fan_out_fan_in_graph_carries_step_config_and_event_fields() -> None:
    graph = get_workflow_representation(FanOutFanIn)
    assert edges_of(graph) == {
        ("StartEvent", "split", None),
        ("split", "Chunk", None),
        ("Chunk", "summarize", None),
        ("summarize", "Summary", None),
        ("Summary", "join", None),
        ("join", "StopEvent", None),
    }
    summarize = graph.node("summarize")
    assert isinstance(summarize, WorkflowStepNode)
    assert summarize.num_workers == 8
    assert (
        summarize.retry_policy
        == "retry_policy(wait=wait_fixed(wait=0.0), stop=stop_after_attempt(max_attempt_number=3))"
    )
    assert summarize.timeout is None
    split = graph.node("split")
    assert isinstance(split, WorkflowStepNode)
    assert split.description == "Send one Chunk per part."
    chunk = graph.node("Chunk")
    assert isinstance(chunk, WorkflowEventNode)
    assert chunk.event_schema == {
        "title": "Chunk",
        "type": "object",
        "properties": {
            "index": {"title": "index", "python_type": "int", "type": "integer"},
            "text": {"title": "text", "python_type": "str", "type": "string"},
        },
        "required": ["index", "text"],
    }


def test_catch_error_handler_is_a_step_fed_by_step_failed_event() -> None:
    graph = get_workflow_representation(RecoveringWorkflow)
    recover = graph.node("recover")
    assert isinstance(recover, WorkflowStepNode)
    assert recover.catch_error
    assert ("StepFailedEvent", "recover", None) in edges_of(graph)
    assert ("recover", "StopEvent", None) in edges_of(graph)


def test_resources_are_nodes_and_step_edges_carry_the_parameter_name(tmp_path: Path) -> None:
    graph = get_workflow_representation(WithResources)
    resources = [n for n in graph.nodes if isinstance(n, WorkflowResourceNode)]
    configs = [n for n in graph.nodes if isinstance(n, WorkflowResourceConfigNode)]
    assert len(resources) == 1, "two parameters with the same factory share one node"
    database = resources[0]
    assert database.label == database.type_name == "Database"
    assert database.getter_name == "get_database"
    assert database.description == "Open the database."
    assert database.source_file is not None
    assert database.source_file.endswith("drawing_workflows.py")
    assert database.source_line == get_database.__code__.co_firstlineno
    [settings] = configs
    assert (settings.label, settings.config_file, settings.path_selector) == (
        "Settings",
        "settings.json",
        "llm",
    )
    assert settings.config_value is None, "the file does not exist"
    assert {
        ("load", database.id, "db"),
        ("load", settings.id, "settings"),
        ("save", database.id, "store"),
    } <= edges_of(graph)


def test_resource_config_value_is_read_from_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "settings.json").write_text(json.dumps({"llm": {"model": "small"}}))
    monkeypatch.chdir(tmp_path)
    graph = get_workflow_representation(WithResources)
    [settings] = [n for n in graph.nodes if isinstance(n, WorkflowResourceConfigNode)]
    assert settings.config_value == {"model": "small"}


def _database_with(conf: Annotated[dict[str, Any], ResourceConfig("db.json")]) -> Database:
    """A resource whose factory takes another resource."""
    return Database()


class Uses(Workflow):
    @step
    async def go(
        self, ev: StartEvent, db: Annotated[Database, Resource(_database_with)]
    ) -> StopEvent:
        return StopEvent()


def test_resource_dependencies_become_labelled_resource_edges() -> None:
    graph = get_workflow_representation(Uses)
    [resource] = [n for n in graph.nodes if n.node_type == "resource"]
    [config] = [n for n in graph.nodes if n.node_type == "resource_config"]
    assert ("go", resource.id, "db") in edges_of(graph)
    assert (resource.id, config.id, "conf") in edges_of(graph)


def test_accept_event_subclasses_draws_each_returned_subclass() -> None:
    class Base(Event):
        pass

    class Left(Base):
        pass

    class Right(Base):
        pass

    class Sub(Workflow):
        @step
        async def emit(self, ev: StartEvent) -> Left | Right:
            return Left()

        @step(accept_event_subclasses=True)
        async def take(self, ev: Base) -> StopEvent:
            return StopEvent()

    graph = get_workflow_representation(Sub)
    assert {("Base", "take", None), ("Left", "take", None), ("Right", "take", None)} <= edges_of(
        graph
    )
    left = graph.node("Left")
    assert isinstance(left, WorkflowEventNode)
    assert left.event_types == ["Left", "Base"]


def test_thirty_step_graph() -> None:
    graph = get_workflow_representation(ThirtySteps)
    steps = [n for n in graph.nodes if n.node_type == "step"]
    assert len(steps) == 30
    assert len(graph.edges) == len(edges_of(graph))


# -- filtering ------------------------------------------------------------------------


def test_filtering_events_out_connects_steps_through_them() -> None:
    graph = get_workflow_representation(HumanInTheLoopWorkflow)
    steps_only = graph.filter_by_node_type("event")
    assert set(types_of(steps_only).values()) == {"step", "external"}
    assert edges_of(steps_only) == {
        ("step1", "external_step", "InputRequiredEvent"),
        ("external_step", "step2", "HumanResponseEvent"),
    }
    assert len(graph.nodes) == 7, "the original graph is unchanged"


def test_filtering_keeps_one_edge_per_pair_and_the_first_crossed_label() -> None:
    def node(node_id: str, node_type: str) -> WorkflowGenericNode:
        return WorkflowGenericNode(id=node_id, label=node_id.upper(), node_type=node_type)

    graph = WorkflowGraph(
        name="g",
        nodes=[node("a", "step"), node("x", "event"), node("y", "event"), node("b", "step")],
        edges=[
            WorkflowGraphEdge(source="a", target="x"),
            WorkflowGraphEdge(source="a", target="y"),
            WorkflowGraphEdge(source="x", target="y"),
            WorkflowGraphEdge(source="y", target="x"),
            WorkflowGraphEdge(source="y", target="b"),
            WorkflowGraphEdge(source="a", target="b", label="direct"),
        ],
    )
    filtered = graph.filter_by_node_type("event")
    assert [(e.source, e.target, e.label) for e in filtered.edges] == [("a", "b", "X")]


@st.composite
def random_graphs(draw: st.DrawFn) -> tuple[WorkflowGraph, set[str]]:
    count = draw(st.integers(1, 8))
    ids = [f"n{i}" for i in range(count)]
    kinds = draw(
        st.lists(st.sampled_from(["step", "event", "external"]), min_size=count, max_size=count)
    )
    pairs = draw(st.lists(st.tuples(st.sampled_from(ids), st.sampled_from(ids)), max_size=20))
    nodes = [
        WorkflowGenericNode(id=i, label=f"L{i}", node_type=k)
        for i, k in zip(ids, kinds, strict=True)
    ]
    edges = [WorkflowGraphEdge(source=s, target=t) for s, t in pairs]
    removed = draw(st.sets(st.sampled_from(["step", "event", "external"])))
    return WorkflowGraph(name="g", nodes=list(nodes), edges=edges), removed


@given(random_graphs())
def test_filtering_property(case: tuple[WorkflowGraph, set[str]]) -> None:
    """An edge a->b exists after filtering iff b is reachable from a through removed nodes only."""
    graph, removed_types = case
    filtered = graph.filter_by_node_type(*removed_types)
    removed = {n.id for n in graph.nodes if n.node_type in removed_types}
    kept = [n.id for n in graph.nodes if n.id not in removed]
    assert [n.id for n in filtered.nodes] == kept
    pairs = [(e.source, e.target) for e in filtered.edges]
    assert len(pairs) == len(set(pairs)), "no duplicate edges"

    expected: set[tuple[str, str]] = set()
    for source in kept:
        frontier, seen = [source], set()
        while frontier:
            current = frontier.pop()
            for edge in graph.edges:
                if edge.source != current:
                    continue
                if edge.target in removed:
                    if edge.target not in seen:
                        seen.add(edge.target)
                        frontier.append(edge.target)
                else:
                    expected.add((source, edge.target))
    assert set(pairs) == expected


# -- JSON ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "workflow", [HumanInTheLoopWorkflow, FanOutFanIn, WithResources, RecoveringWorkflow]
)
def test_json_round_trip(workflow: type[Workflow]) -> None:
    graph = get_workflow_representation(workflow)
    text = graph.model_dump_json(indent=2)
    data = json.loads(text)
    assert data == graph.model_dump()
    assert WorkflowGraph.model_validate(data) == graph
    assert WorkflowGraph.model_validate_json(text) == graph
    node_types = {n["id"]: n["node_type"] for n in data["nodes"]}
    assert node_types == types_of(graph)


def test_model_validate_reads_the_incumbents_json() -> None:
    """Keys as llama-index-workflows 2.x writes them, plus a node type flowkit does not know."""
    data = {
        "name": "HumanInTheLoopWorkflow",
        "description": None,
        "nodes": [
            {"id": "step1", "label": "step1", "node_type": "step", "description": "first"},
            {
                "id": "StartEvent",
                "label": "StartEvent",
                "node_type": "event",
                "event_type": "StartEvent",
                "event_types": ["StartEvent"],
                "event_schema": {"title": "StartEvent", "type": "object", "properties": {}},
                "produced_by": [],
            },
            {"id": "external_step", "label": "external_step", "node_type": "external"},
            {"id": "agent", "label": "agent", "node_type": "agent", "event_type": None},
        ],
        "edges": [{"source": "StartEvent", "target": "step1", "label": None}],
    }
    graph = WorkflowGraph.model_validate(data)
    assert [type(n) for n in graph.nodes] == [
        WorkflowStepNode,
        WorkflowEventNode,
        WorkflowExternalNode,
        WorkflowGenericNode,
    ]
    assert graph.nodes[3].node_type == "agent"
    assert WorkflowGraph.model_validate(graph.model_dump()) == graph


def test_model_validate_rejects_a_node_without_node_type() -> None:
    with pytest.raises(cattrs.errors.ClassValidationError) as caught:
        WorkflowGraph.model_validate({"name": "g", "nodes": [{"id": "a"}], "edges": []})
    assert "node_type" in repr(caught.value.exceptions)


def test_node_helpers() -> None:
    node = WorkflowStepNode(id="a", label="a_long_step_name")
    assert node.truncated_label(6) == "a_lon*"
    assert node.truncated_label(50) == "a_long_step_name"
    assert attrs.asdict(node)["node_type"] == "step"
    with pytest.raises(KeyError, match="has no node 'missing'"):
        get_workflow_representation(FanOutFanIn).node("missing")

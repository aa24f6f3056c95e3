"""A run's path over the graph: what ran how often, which events flowed, where it stopped.

Computed from a :class:`~flowkit.statistics.RunStatistics` alone (counters by step name and
event class name), so it works the same for a live run, a finished one and a snapshot.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs

from ..representation import WorkflowEventNode, WorkflowGraph, WorkflowStepNode
from ..statistics import RunStatistics

__all__ = ["NodeState", "RunPath", "run_path"]


class NodeState(enum.Enum):
    """Where a node stands in a run."""

    NOT_REACHED = "not_reached"
    REACHED = "reached"
    FAILED = "failed"
    WAITING = "waiting"


@attrs.frozen
class RunPath:
    """The run drawn over the graph.

    Attributes:
        states: Each node's state, by node id.
        counts: How many times a step ran or events of a class flowed, by node id.
        notes: A short text per node for the drawing ("waiting for HumanResponseEvent").
        taken: The ``(source, target)`` edges the run went along.
        finished: Whether the run had ended.
    """

    states: Mapping[str, NodeState]
    counts: Mapping[str, int]
    notes: Mapping[str, str]
    taken: frozenset[tuple[str, str]]
    finished: bool

    def summary(self) -> str:
        """One line: how the run stands."""
        if any(s is NodeState.FAILED for s in self.states.values()):
            return "failed"
        if any(s is NodeState.WAITING for s in self.states.values()):
            return "waiting for input"
        return "finished" if self.finished else "running"


def _hitl_waiting(graph: WorkflowGraph, stats: RunStatistics) -> bool:
    """A run that asked for input more often than it got answers is waiting for a human.

    Asks are counted as InputRequiredEvent events, or, where the counters leave events no
    step consumes uncounted, as calls of the steps that return them.
    """
    asked = answered = asking_calls = 0
    for node in graph.nodes:
        if isinstance(node, WorkflowEventNode):
            count = stats.events.get(node.event_type, 0)
            if node.is_subclass_of("InputRequiredEvent"):
                asked += count
                asking_calls += sum(stats.step_runs.get(s, 0) for s in node.produced_by)
            elif node.is_subclass_of("HumanResponseEvent"):
                answered += count
    return not stats.finished and max(asked, asking_calls) > answered


def run_path(graph: WorkflowGraph, stats: RunStatistics) -> RunPath:
    """Lay ``stats`` over ``graph``.

    Args:
        graph: The workflow's graph.
        stats: The run's counters.

    Returns:
        The states, counts and taken edges to draw.
    """
    states: dict[str, NodeState] = {}
    counts: dict[str, int] = {}
    notes: dict[str, str] = {}
    for node in graph.nodes:
        if isinstance(node, WorkflowStepNode):
            count = stats.step_runs.get(node.id, 0)
        elif isinstance(node, WorkflowEventNode):
            count = stats.events.get(node.event_type, 0)
        else:
            count = 0
        counts[node.id] = count
        states[node.id] = NodeState.REACHED if count else NodeState.NOT_REACHED
    if stats.failed_step is not None and stats.failed_step in states:
        states[stats.failed_step] = NodeState.FAILED
        notes[stats.failed_step] = "failed"
    human = any(n.node_type == "external" for n in graph.nodes)
    for waiting in stats.waiting:
        if waiting.step in states:
            states[waiting.step] = NodeState.WAITING
            notes[waiting.step] = f"waiting for {waiting.waiting_for}"
        if waiting.waiting_for in states:
            states[waiting.waiting_for] = NodeState.WAITING
    if human and (stats.waiting or _hitl_waiting(graph, stats)):
        for node in graph.nodes:
            if node.node_type == "external":
                states[node.id] = NodeState.WAITING
                notes[node.id] = "waiting for a human"
            elif (  # the request went out, even where such events are not counted
                isinstance(node, WorkflowEventNode)
                and node.is_subclass_of("InputRequiredEvent")
                and states[node.id] is NodeState.NOT_REACHED
                and any(stats.step_runs.get(p, 0) for p in node.produced_by)
            ):
                states[node.id] = NodeState.REACHED
    for node in graph.nodes:  # the bridge was crossed if an answer came back through it
        if node.node_type == "external" and states[node.id] is NodeState.NOT_REACHED:
            fed = [e.target for e in graph.edges if e.source == node.id]
            if any(counts.get(t) for t in fed):
                states[node.id] = NodeState.REACHED
    reached = {k for k, s in states.items() if s is not NodeState.NOT_REACHED}
    taken = frozenset((e.source, e.target) for e in graph.edges if {e.source, e.target} <= reached)
    return RunPath(states, counts, notes, taken, stats.finished)

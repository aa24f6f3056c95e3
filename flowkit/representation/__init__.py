"""A workflow's structure as a graph of plain data: ``get_workflow_representation(workflow)``.

The names are the incumbent's (``workflows.representation``); the classes are attrs
classes, dumped to JSON with ``model_dump()`` and read back with ``model_validate()``.
Drawings of the graph live in :mod:`flowkit.drawing`.
"""

from .build import get_workflow_representation as get_workflow_representation
from .types import WorkflowEventNode as WorkflowEventNode
from .types import WorkflowExternalNode as WorkflowExternalNode
from .types import WorkflowGenericNode as WorkflowGenericNode
from .types import WorkflowGraph as WorkflowGraph
from .types import WorkflowGraphEdge as WorkflowGraphEdge
from .types import WorkflowGraphNode as WorkflowGraphNode
from .types import WorkflowNodeBase as WorkflowNodeBase
from .types import WorkflowResourceConfigNode as WorkflowResourceConfigNode
from .types import WorkflowResourceNode as WorkflowResourceNode
from .types import WorkflowStepNode as WorkflowStepNode

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
    "get_workflow_representation",
]

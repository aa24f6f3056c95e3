"""Durable runs: runs parked in a store while they wait, answered and resumed by any process.

See docs/durable-runs.md. ``DurableRuns`` is the API; ``flowkit runs`` and ``flowkit worker``
are the commands over it.
"""

from .api import DEFAULT_LEASE, DurableRuns
from .errors import UnknownEventError, UnknownWorkflowError
from .parking import waits_only_on_outside_input
from .registry import WorkflowRegistry
from .worker import work

__all__ = [
    "DEFAULT_LEASE",
    "DurableRuns",
    "UnknownEventError",
    "UnknownWorkflowError",
    "WorkflowRegistry",
    "waits_only_on_outside_input",
    "work",
]

"""Helpers for testing workflows; ``flowkit.testing.runner`` holds them, as in the incumbent.

``WorkflowTestResult`` stays importable from here, as it was before the package split.
"""

from .runner import WorkflowTestResult as WorkflowTestResult
from .runner import WorkflowTestRunner

__all__ = ["WorkflowTestRunner"]

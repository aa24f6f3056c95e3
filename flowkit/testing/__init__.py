"""Helpers for testing workflows; ``flowkit.testing.runner`` holds them, as in the incumbent.

``WorkflowTestResult`` stays importable from here, as it was before the package split.
``check_run_store`` (from ``run_stores``) checks that a durable run store keeps the
contract of ``flowkit.store.base.RunStore``, as ``trio.testing`` checks streams.
"""

from .run_stores import check_run_store
from .runner import WorkflowTestResult as WorkflowTestResult
from .runner import WorkflowTestRunner

__all__ = ["WorkflowTestRunner", "check_run_store"]

"""flowkit: event-driven workflows on structured concurrency, on asyncio or trio.

A drop-in for llama-index-workflows: the same names under ``flowkit``.
"""

from .context import Context
from .decorators import catch_error, step
from .workflow import Workflow

__all__ = ["Context", "Workflow", "catch_error", "step"]

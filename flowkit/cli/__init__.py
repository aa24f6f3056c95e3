"""The ``flowkit`` command: one console script with a subcommand per job."""

from .main import main

__all__ = ["main"]

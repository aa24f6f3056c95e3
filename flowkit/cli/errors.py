"""The one error a subcommand raises to stop with a one-line message and exit status 2."""

from __future__ import annotations

__all__ = ["CommandError"]


class CommandError(Exception):
    """A usage or input error: printed as ``flowkit: <message>`` on one line, exit status 2.

    Args:
        message: What went wrong and, where it helps, what to do instead.
    """

    exit_status = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

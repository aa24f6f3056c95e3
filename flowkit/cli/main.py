"""The ``flowkit`` command line: a parser with one subcommand per module, and error handling."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TypeAlias

from . import draw, runs, worker
from .errors import CommandError

__all__ = ["SUBCOMMANDS", "AddParser", "Command", "build_parser", "main"]

# Each subcommand module offers ``add_parser(subparsers)``, which adds its parser and sets
# ``handler`` (a ``Command``) as the parser's default; the list below names them in help order.
Command: TypeAlias = Callable[[argparse.Namespace], int]
AddParser: TypeAlias = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]
SUBCOMMANDS: tuple[AddParser, ...] = (
    draw.add_parser,
    runs.add_parser,
    worker.add_parser,
)


def build_parser() -> argparse.ArgumentParser:
    """Build the parser of the ``flowkit`` command and all its subcommands."""
    parser = argparse.ArgumentParser(
        prog="flowkit", description="Event-driven workflows: draw them, run them durably."
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for add_parser in SUBCOMMANDS:
        add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``flowkit`` command on ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    args = build_parser().parse_args(argv)
    handler: Command = args.handler
    try:
        return handler(args)
    except CommandError as exc:
        print(f"flowkit: {exc.message}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        return 130

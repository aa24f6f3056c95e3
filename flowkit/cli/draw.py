"""``flowkit draw MODULE:CLASS``: write a workflow's drawing, or a run's path over it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, cast

from ..drawing import FORMATS, Format, MissingExtraError, render, run_statistics
from ..representation import get_workflow_representation
from ..workflow import Workflow
from .errors import CommandError
from .loading import load_object

__all__ = ["add_parser"]

_SUFFIXES: dict[str, Format] = {
    ".mmd": "mermaid",
    ".mermaid": "mermaid",
    ".html": "html",
    ".htm": "html",
    ".svg": "svg",
    ".json": "json",
}


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``draw`` subcommand."""
    parser = subparsers.add_parser(
        "draw",
        help="draw a workflow (Mermaid, HTML, SVG or JSON), or the path of a run",
        description=(
            "Draw the workflow class MODULE:CLASS. With --snapshot, draw the path the run "
            "saved in SNAP.json (ctx.to_dict()) took: step runs, event counts, the failed "
            "step, where it waits."
        ),
    )
    parser.add_argument("workflow", metavar="MODULE:CLASS", help="for example myapp.flows:MyFlow")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="what to write (default: from the -o suffix .mmd/.html/.svg/.json, else mermaid)",
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    parser.add_argument(
        "--snapshot", metavar="SNAP.json", help="a run's snapshot (ctx.to_dict()) to draw"
    )
    parser.set_defaults(handler=_run)


def _workflow(spec: str) -> Workflow | type[Workflow]:
    found = load_object(spec)
    if isinstance(found, Workflow) or (isinstance(found, type) and issubclass(found, Workflow)):
        return found
    raise CommandError(f"{spec!r} is not a Workflow class or instance")


def _snapshot(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommandError(f"cannot read snapshot {path!r}: {exc.strerror}") from None
    except ValueError as exc:
        raise CommandError(f"snapshot {path!r} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CommandError(f"snapshot {path!r} is not a ctx.to_dict() object")
    return data


def _run(args: argparse.Namespace) -> int:
    """Write the drawing; return 0."""
    workflow = _workflow(args.workflow)
    suffix = Path(args.output).suffix.lower() if args.output else ""
    chosen = args.format or _SUFFIXES.get(suffix)
    format = cast(Format, chosen or "mermaid")
    statistics = None
    if args.snapshot is not None:
        snapshot = _snapshot(args.snapshot)
        try:
            statistics = run_statistics(workflow, snapshot)
        except Exception as exc:
            raise CommandError(f"cannot draw snapshot {args.snapshot!r}: {exc}") from None
    try:
        text = render(get_workflow_representation(workflow), format, statistics)
    except MissingExtraError as exc:
        raise CommandError(str(exc)) from None
    if args.output is None:
        sys.stdout.write(text)
    else:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write {args.output!r}: {exc.strerror}") from None
    return 0

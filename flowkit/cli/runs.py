"""``flowkit runs``: start, list, show, answer, cancel and delete durable runs by id.

Every subcommand takes ``--store URL`` (default ``$FLOWKIT_STORE``, else
``sqlite:///flowkit-runs.db``) and ``--json``: a run prints as one object with ``run_id``,
``workflow``, ``status``, ``prompt``, ``result``, ``error``, ...; a listing as an array of them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import anyio

from ..durable import DEFAULT_LEASE, DurableRuns, WorkflowRegistry
from ..durable.registry import as_registry, encode_event
from ..events import Event, HumanResponseEvent
from ..store import CorruptRunError, RunRecord, RunStatus, StoreError, open_store
from .errors import CommandError
from .loading import load_object

__all__ = [
    "add_parser",
    "app_registry",
    "common_options",
    "lease_option",
    "print_run",
    "print_runs",
    "run_async",
]

_T = TypeVar("_T")


def common_options(parser: argparse.ArgumentParser, *, app: bool | None = None) -> None:
    """Add ``--store`` and ``--json`` (and ``--app``: required if ``app``, optional if False)."""
    parser.add_argument(
        "--store",
        metavar="URL",
        help="the run store (default: $FLOWKIT_STORE or sqlite:///flowkit-runs.db)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    if app is not None:
        parser.add_argument(
            "--app",
            metavar="MODULE:NAME",
            required=app,
            help="a Workflow class or a flowkit.durable.WorkflowRegistry",
        )


def lease_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--lease SECONDS``."""
    parser.add_argument(
        "--lease",
        type=float,
        default=DEFAULT_LEASE,
        metavar="SECONDS",
        help=f"how long a claim lasts without renewal (default {DEFAULT_LEASE:g})",
    )


def app_registry(spec: str) -> WorkflowRegistry:
    """The registry ``--app MODULE:NAME`` names (a Workflow class is a registry of one)."""
    obj = load_object(spec)
    try:
        return as_registry(obj)
    except TypeError:
        raise CommandError(
            f"--app {spec} is {obj!r}, not a Workflow class or a WorkflowRegistry"
        ) from None


def run_async(fn: Callable[[], Awaitable[_T]]) -> _T:
    """Run ``fn`` under asyncio, turning store errors into one-line command errors."""
    try:
        return anyio.run(fn)
    except StoreError as exc:
        raise CommandError(str(exc)) from None


def _age(record: RunRecord) -> str:
    seconds = max(0, int(time.time() - record.created_at))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _waiting_prompt(record: RunRecord) -> str:
    return record.prompt or "" if record.status is RunStatus.WAITING else ""


def print_runs(records: Sequence[RunRecord], *, as_json: bool, more: bool = False) -> None:
    """Print runs: a JSON array, a table on a terminal, or tab-separated lines in a pipe."""
    if as_json:
        print(json.dumps([r.to_json() for r in records]))
        return
    rows = [(r.run_id, r.workflow, r.status.value, _age(r), _waiting_prompt(r)) for r in records]
    if not sys.stdout.isatty():
        for row in rows:
            print("\t".join(row))
        return
    header = ("RUN ID", "WORKFLOW", "STATUS", "AGE", "PROMPT")
    widths = [max(len(x) for x in column) for column in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    if more:
        print("(more runs: use --offset)")


def print_run(record: RunRecord, *, as_json: bool) -> None:
    """Print one run: its JSON object, or its fields one per line."""
    if as_json:
        print(json.dumps(record.to_json()))
        return
    print(f"run_id: {record.run_id}")
    print(f"workflow: {record.workflow}")
    print(f"status: {record.status.value}")
    if record.prompt is not None and record.status is RunStatus.WAITING:
        print(f"prompt: {record.prompt}")
    for event in record.events:
        print(f"event: {event['type']} {json.dumps(event.get('data', {}))}")
    if record.status is RunStatus.COMPLETED:
        print(f"result: {json.dumps(record.result)}")
    if record.error is not None:
        print(f"error: {record.error}")


def _parse_sets(items: Sequence[str]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CommandError(f"--set expects KEY=JSON, got {item!r} (for example --set n=3)")
        try:
            kwargs[key] = json.loads(value)
        except ValueError:
            raise CommandError(
                f"--set {key}: {value!r} is not JSON; quote strings: --set {key}='\"text\"'"
            ) from None
    return kwargs


def _start(args: argparse.Namespace) -> int:
    registry = app_registry(args.app)
    kwargs = _parse_sets(args.set)

    async def main() -> RunRecord:
        async with DurableRuns(registry, open_store(args.store), lease=args.lease) as runs:
            return await runs.run(args.workflow, **kwargs)

    record = run_async(main)
    print(json.dumps(record.to_json()) if args.json else f"{record.run_id}\t{record.status.value}")
    return 0


def _list(args: argparse.Namespace) -> int:
    async def main() -> list[RunRecord]:
        async with open_store(args.store) as store:
            status = RunStatus(args.status) if args.status else None
            return await store.list(status, limit=args.limit + 1, offset=args.offset)

    records = run_async(main)
    print_runs(records[: args.limit], as_json=args.json, more=len(records) > args.limit)
    return 0


def _show(args: argparse.Namespace) -> int:
    async def main() -> RunRecord:
        async with open_store(args.store) as store:
            return await store.get(args.run_id)

    print_run(run_async(main), as_json=args.json)
    return 0


def _event(args: argparse.Namespace, registry: WorkflowRegistry | None) -> Event:
    if args.event is None:
        if args.response is None:
            raise CommandError("give --response TEXT (or --event MODULE:CLASS --data JSON)")
        return HumanResponseEvent(response=args.response)
    event_class = load_object(args.event)
    if not (isinstance(event_class, type) and issubclass(event_class, Event)):
        raise CommandError(f"--event {args.event} is not an Event class")
    try:
        data = json.loads(args.data or "{}")
    except ValueError:
        raise CommandError(f"--data is not JSON: {args.data!r}") from None
    if not isinstance(data, dict):
        raise CommandError("--data must be a JSON object of the event's fields")
    if args.response is not None:
        data.setdefault("response", args.response)
    try:
        event = event_class(**data)
        encode_event(event)
    except Exception as exc:
        raise CommandError(f"cannot build {event_class.__name__} from --data: {exc}") from None
    if registry is not None:
        try:
            registry.check_event(event)
        except StoreError as exc:
            raise CommandError(str(exc)) from None
    return event


def _send(args: argparse.Namespace) -> int:
    if args.wait and not args.app:
        raise CommandError("--wait drives the run here: name its workflows with --app")
    registry = app_registry(args.app) if args.app else None
    event = _event(args, registry)

    async def main() -> tuple[bool, RunRecord]:
        store = open_store(args.store)
        async with store:
            if registry is None:
                queued = await store.send(args.run_id, encode_event(event), args.key)
                return queued, await store.get(args.run_id)
            async with DurableRuns(registry, store, lease=args.lease) as runs:
                queued = await runs.send_event(args.run_id, event, idempotency_key=args.key)
                record = (
                    await runs.resume(args.run_id) if args.wait else await runs.get(args.run_id)
                )
                return queued, record

    queued, record = run_async(main)
    if not queued:
        print("already sent (same --key): not applied again", file=sys.stderr)
    if args.wait or args.json:
        print_run(record, as_json=args.json)
    else:
        print(f"{record.run_id}\t{record.status.value}")
    return 0


def _cancel(args: argparse.Namespace) -> int:
    async def main() -> RunRecord:
        async with open_store(args.store) as store:
            return await store.cancel(args.run_id)

    record = run_async(main)
    if args.json:
        print(json.dumps(record.to_json()))
    elif record.status is RunStatus.CANCELLED:
        print(f"{record.run_id}\tcancelled")
    else:
        print(f"{record.run_id}\tcancelling (its owner stops it within a third of its lease)")
    return 0


def _delete(args: argparse.Namespace) -> int:
    async def main() -> RunRecord | None:
        async with open_store(args.store) as store:
            try:
                record: RunRecord | None = await store.get(args.run_id)
            except CorruptRunError:
                record = None  # another program's row: deleted all the same
            await store.delete(args.run_id)
            return record

    record = run_async(main)
    if args.json:
        print(json.dumps(record.to_json() if record else {"run_id": args.run_id}))
    else:
        print(f"{args.run_id}\tdeleted")
    return 0


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``flowkit runs`` and its subcommands."""
    parser = subparsers.add_parser("runs", help="start, list, show, answer, cancel durable runs")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    start = commands.add_parser("start", help="start a run and drive it until it ends or parks")
    common_options(start, app=True)
    lease_option(start)
    start.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="a StartEvent field (repeatable)",
    )
    start.add_argument("--workflow", metavar="NAME", help="which workflow of a registry")
    start.set_defaults(handler=_start)

    listing = commands.add_parser("list", help="one line per run")
    common_options(listing)
    listing.add_argument("--status", choices=[s.value for s in RunStatus])
    listing.add_argument("--limit", type=int, default=50, help="runs per page (default 50)")
    listing.add_argument("--offset", type=int, default=0, help="runs to skip")
    listing.set_defaults(handler=_list)

    show = commands.add_parser("show", help="a run's status, prompt, events, result or error")
    common_options(show)
    show.add_argument("run_id", metavar="RUN_ID")
    show.set_defaults(handler=_show)

    send = commands.add_parser("send", help="send a response (or an event) to a run")
    common_options(send, app=False)
    lease_option(send)
    send.add_argument("run_id", metavar="RUN_ID")
    send.add_argument("--response", metavar="TEXT", help="send HumanResponseEvent(response=TEXT)")
    send.add_argument("--event", metavar="MODULE:CLASS", help="send another event class")
    send.add_argument("--data", metavar="JSON", help="the --event's fields as a JSON object")
    send.add_argument("--key", metavar="KEY", help="idempotency key: a repeat is applied once")
    send.add_argument(
        "--wait",
        action="store_true",
        help="drive the run here until it ends or parks again (needs --app)",
    )
    send.set_defaults(handler=_send)

    cancel = commands.add_parser("cancel", help="cancel a run")
    common_options(cancel)
    cancel.add_argument("run_id", metavar="RUN_ID")
    cancel.set_defaults(handler=_cancel)

    delete = commands.add_parser("delete", help="delete a finished run")
    common_options(delete)
    delete.add_argument("run_id", metavar="RUN_ID")
    delete.set_defaults(handler=_delete)

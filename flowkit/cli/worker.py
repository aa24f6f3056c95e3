"""``flowkit worker``: claim and drive durable runs until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import anyio

from ..durable import DurableRuns
from ..store import open_store
from .errors import CommandError
from .runs import app_registry, common_options, lease_option, run_async

__all__ = ["add_parser"]


def _work(args: argparse.Namespace) -> int:
    if args.concurrency < 1:
        raise CommandError(f"--concurrency must be at least 1, got {args.concurrency}")
    registry = app_registry(args.app)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="flowkit worker: %(message)s",
        stream=sys.stderr,
    )

    async def main() -> int:
        async with DurableRuns(registry, open_store(args.store), lease=args.lease) as runs:
            driven = 0
            async with anyio.create_task_group() as tg:

                async def stop_on_signal() -> None:
                    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                        async for signum in signals:
                            logging.getLogger("flowkit.durable").info(
                                "%s: releasing leases and stopping", signal.Signals(signum).name
                            )
                            tg.cancel_scope.cancel()
                            return

                async def work() -> None:
                    nonlocal driven
                    driven = await runs.work(concurrency=args.concurrency, poll=args.poll)

                tg.start_soon(stop_on_signal)
                tg.start_soon(work)
            return driven

    names = ", ".join(sorted(registry.workflows))
    print(f"flowkit worker: driving {names} from {open_store(args.store).url}", file=sys.stderr)
    sys.stderr.flush()
    run_async(main)
    print("flowkit worker: stopped", file=sys.stderr)
    return 0


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``flowkit worker``."""
    parser = subparsers.add_parser(
        "worker", help="claim and drive durable runs until SIGINT/SIGTERM"
    )
    common_options(parser, app=True)
    lease_option(parser)
    parser.add_argument(
        "--concurrency", type=int, default=4, metavar="N", help="runs driven at once (default 4)"
    )
    parser.add_argument(
        "--poll",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="how often to look for expired leases (default 0.5)",
    )
    parser.add_argument("--quiet", action="store_true", help="log warnings and errors only")
    parser.set_defaults(handler=_work)

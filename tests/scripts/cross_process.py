"""Freeze a human-in-the-loop run in one process and finish it in another.

Usage:
    python cross_process.py freeze asyncio|trio SNAPSHOT_FILE
        run until the InputRequiredEvent, write the snapshot as JSON, cancel, exit;
    python cross_process.py resume asyncio|trio SNAPSHOT_FILE ANSWER
        restore the snapshot with a fresh workflow, answer, print the result.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import trio

from flowkit import Context, Workflow, step
from flowkit.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class HumanInTheLoopWorkflow(Workflow):
    @step
    async def step1(self, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prefix="Enter a number: ")

    @step
    async def step2(self, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=ev.response)


async def freeze() -> str:
    """Run until the workflow asks for input; return the frozen run as JSON."""
    handler = HumanInTheLoopWorkflow().run()
    async for event in handler.stream_events():
        if isinstance(event, InputRequiredEvent):
            blob = json.dumps(handler.ctx.to_dict())
            await handler.cancel_run()
            print(f"asked: {event.prefix!r}")
            return blob
    raise AssertionError("the run ended without asking for input")


async def resume(blob: str, answer: str) -> None:
    """Restore the JSON snapshot in a fresh workflow, answer, and print what happened."""
    workflow = HumanInTheLoopWorkflow()
    restored = Context.from_dict(workflow, json.loads(blob))
    handler = workflow.run(ctx=restored)
    handler.ctx.send_event(HumanResponseEvent(response=answer))
    streamed = [type(event).__name__ async for event in handler.stream_events()]
    print(f"streamed: {streamed}")
    print(f"result: {await handler!r}")


def main(argv: list[str]) -> None:
    command, backend, snapshot = argv[0], argv[1], Path(argv[2])
    if command == "freeze":
        blob = asyncio.run(freeze()) if backend == "asyncio" else trio.run(freeze)
        snapshot.write_text(blob)
    elif backend == "asyncio":
        asyncio.run(resume(snapshot.read_text(), argv[3]))
    else:
        trio.run(resume, snapshot.read_text(), argv[3])


if __name__ == "__main__":
    main(sys.argv[1:])

"""The human-in-the-loop demo: the seed document's workflow, end to end, on asyncio and trio.

Run it with ``make demo`` (or ``python docs/examples/human_in_the_loop.py``). It asks
for a number at the terminal; with no terminal attached it answers by itself.
The second half freezes the waiting run to JSON, cancels it, and resumes it from
the JSON under the other backend.
"""

from __future__ import annotations

import json
import sys

import anyio
import anyio.to_thread

from flowkit import Context, Workflow, step
from flowkit.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class HumanInTheLoopWorkflow(Workflow):
    @step
    async def step1(self, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prefix="Enter a number: ")

    @step
    async def step2(self, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=ev.response)


async def ask(prompt: str, automatic: str) -> str:
    """Read an answer from the terminal, or answer ``automatic`` when there is none."""
    if sys.stdin.isatty():
        return await anyio.to_thread.run_sync(input, prompt)
    print(f"{prompt}{automatic}   (no terminal attached: answered automatically)")
    return automatic


async def live_run() -> None:
    workflow = HumanInTheLoopWorkflow()
    handler = workflow.run()
    async for event in handler.stream_events():
        print(f"  event: {event!r}")
        if isinstance(event, InputRequiredEvent):
            response = await ask(event.prefix, "42")
            handler.ctx.send_event(HumanResponseEvent(response=response))
    print(f"  result: {await handler!r}")


async def pause() -> tuple[str, str]:
    workflow = HumanInTheLoopWorkflow()
    handler = workflow.run()
    async for event in handler.stream_events():
        print(f"  event: {event!r}")
        if isinstance(event, InputRequiredEvent):
            ctx_dict = handler.ctx.to_dict()
            await handler.cancel_run()
            print("  frozen and cancelled; the snapshot is plain JSON:")
            blob = json.dumps(ctx_dict)
            print(f"  {blob}")
            return blob, event.prefix
    raise RuntimeError("the workflow ended without asking for input")


async def resume(blob: str, prefix: str) -> None:
    workflow = HumanInTheLoopWorkflow()
    response = await ask(prefix, "7")
    restored_ctx = Context.from_dict(workflow, json.loads(blob))
    handler = workflow.run(ctx=restored_ctx)
    handler.ctx.send_event(HumanResponseEvent(response=response))
    async for event in handler.stream_events():
        print(f"  event: {event!r}")
    print(f"  result: {await handler!r}")


def main() -> None:
    for backend in ("asyncio", "trio"):
        print(f"== live run on {backend}")
        anyio.run(live_run, backend=backend)
    for first, second in (("asyncio", "trio"), ("trio", "asyncio")):
        print(f"== paused on {first}, resumed on {second}")
        blob, prefix = anyio.run(pause, backend=first)
        anyio.run(resume, blob, prefix, backend=second)


if __name__ == "__main__":
    main()

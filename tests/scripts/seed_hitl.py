"""The human-in-the-loop seed document's code, run bare under asyncio or trio.

Usage: ``python seed_hitl.py asyncio|trio``, with two answers on stdin (one per half).
Only the imports differ from the document (``workflows`` became ``flowkit``); its
``await`` statements are wrapped in async functions so a plain event loop runs them.
The ``noqa`` comments keep the document's code as it is: it blocks on ``input()``.
"""

from __future__ import annotations

import asyncio
import sys

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


async def first_half(workflow: Workflow) -> object:
    handler = workflow.run()
    async for event in handler.stream_events():
        if isinstance(event, InputRequiredEvent):
            response = input(event.prefix)  # noqa: ASYNC250
            handler.ctx.send_event(HumanResponseEvent(response=response))

    final_result = await handler
    return final_result


async def second_half(workflow: Workflow) -> object:
    handler = workflow.run()
    async for event in handler.stream_events():
        if isinstance(event, InputRequiredEvent):
            ctx_dict = handler.ctx.to_dict()
            await handler.cancel_run()
            break

    response = input(event.prefix)  # noqa: ASYNC250

    restored_ctx = Context.from_dict(workflow, ctx_dict)
    handler = workflow.run(ctx=restored_ctx)

    handler.ctx.send_event(HumanResponseEvent(response=response))

    async for event in handler.stream_events():  # noqa: B007
        continue

    final_result = await handler
    return final_result


async def main() -> None:
    workflow = HumanInTheLoopWorkflow()
    print(f"first half: {await first_half(workflow)!r}")
    print(f"second half: {await second_half(workflow)!r}")


if __name__ == "__main__":
    if sys.argv[1] == "asyncio":
        asyncio.run(main())
    else:
        trio.run(main)

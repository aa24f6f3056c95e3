"""Start runs with ``workflow.run()`` and never await them; the event loop must end cleanly.

Usage: ``python unawaited_run.py asyncio|trio``. One run's step fails, the other's
sleeps forever; ``main`` returns without awaiting either handler. Prints how each run
ended once the event loop has returned.
"""

from __future__ import annotations

import asyncio
import gc
import sys

import anyio
import trio

from flowkit import Workflow, step
from flowkit.events import StartEvent, StopEvent
from flowkit.handler import WorkflowHandler


class Failing(Workflow):
    @step
    async def fail(self, ev: StartEvent) -> StopEvent:
        raise ValueError("nobody will await this")


class Sleeping(Workflow):
    @step
    async def sleep(self, ev: StartEvent) -> StopEvent:
        await anyio.sleep_forever()
        return StopEvent(result="never")


async def main() -> list[WorkflowHandler]:
    handlers = [Failing().run(), Sleeping().run()]
    await anyio.wait_all_tasks_blocked()
    return handlers


if __name__ == "__main__":
    handlers = asyncio.run(main()) if sys.argv[1] == "asyncio" else trio.run(main)
    gc.collect()
    for handler in handlers:
        print(handler.is_done(), type(handler.exception()).__name__)
    print("exited cleanly")

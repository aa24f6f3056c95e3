"""Workflows the durable-run tests drive, in this process and in worker processes.

Worker processes load ``tests.durable.apps:registry`` with ``flowkit worker --app``.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio

from flowkit import Context, Workflow, step
from flowkit.durable import WorkflowRegistry
from flowkit.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
)


class HumanInTheLoopWorkflow(Workflow):
    """The seed document's workflow."""

    @step
    async def step1(self, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prefix="Enter a number: ")

    @step
    async def step2(self, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=ev.response)


class Approval(Event):
    approved: bool


class ApprovalFlow(Workflow):
    """Waits in ``ctx.wait_for_event`` for an Approval (a registered event class)."""

    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        answer = await ctx.wait_for_event(
            Approval, waiter_event=InputRequiredEvent(prefix=f"Approve {ev.get('item')}? ")
        )
        return StopEvent(result={"item": ev.get("item"), "approved": answer.approved})


class CountingFlow(Workflow):
    """Counts the responses it gets until one says ``end``."""

    @step
    async def start(self, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prefix="Say something, or end: ")

    @step(num_workers=1)  # one at a time: the count is a read-modify-write of the store
    async def answer(self, ctx: Context, ev: HumanResponseEvent) -> StopEvent | None:
        count = await ctx.store.get("count", default=0) + 1
        await ctx.store.set("count", count)
        return StopEvent(result=count) if ev.response == "end" else None


class Middle(Event):
    pass


class CrashableFlow(Workflow):
    """Its second step hangs in a process started with FLOWKIT_TEST_HANG=1 (to be killed).

    Each step appends its name to the file in FLOWKIT_TEST_MARKS, so a test counts step runs.
    """

    @step
    async def first(self, ctx: Context, ev: StartEvent) -> Middle:
        _mark("first")
        ctx.write_event_to_stream(Event(note="first done"))
        return Middle()

    @step
    async def second(self, ev: Middle) -> StopEvent:
        _mark("second")
        if os.environ.get("FLOWKIT_TEST_HANG") == "1":
            await anyio.sleep_forever()
        return StopEvent(result="done")


class FailingFlow(Workflow):
    @step
    async def boom(self, ev: StartEvent) -> StopEvent:
        raise ValueError("no luck today")


def _mark(name: str) -> None:
    marks = os.environ.get("FLOWKIT_TEST_MARKS")
    if marks:
        with Path(marks).open("a") as f:
            f.write(name + "\n")


registry = WorkflowRegistry.create(
    [HumanInTheLoopWorkflow, ApprovalFlow, CountingFlow, CrashableFlow, FailingFlow],
    events=[Approval],
)

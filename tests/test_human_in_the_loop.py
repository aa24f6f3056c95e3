"""Human in the loop: the seed document's code on flowkit, and ``ctx.wait_for_event``.

The first tests are /work/shared/human-in-the-loop.md with only the imports changed
(and ``input()`` replaced by a fixed answer); the subprocess tests run the same code
bare under ``asyncio.run`` and ``trio.run``, and move a frozen run between processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from flowkit import Context, Workflow, step
from flowkit.errors import WorkflowCancelledByUser
from flowkit.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
    WorkflowCancelledEvent,
)

# Async tests check that the run leaves no task behind (the subprocess tests are sync).
leak_checked = pytest.mark.usefixtures("no_leaked_tasks")

SCRIPTS = Path(__file__).parent / "scripts"
REPO_ROOT = Path(__file__).parent.parent


# -- the seed document ------------------------------------------------------------


class HumanInTheLoopWorkflow(Workflow):
    @step
    async def step1(self, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prefix="Enter a number: ")

    @step
    async def step2(self, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=ev.response)


@leak_checked
async def test_seed_first_half_answers_from_the_stream() -> None:
    workflow = HumanInTheLoopWorkflow()
    streamed: list[Event] = []
    with anyio.fail_after(5):
        handler = workflow.run()
        async for event in handler.stream_events():
            streamed.append(event)
            if isinstance(event, InputRequiredEvent):
                response = "42"  # the document calls input(event.prefix) here
                handler.ctx.send_event(HumanResponseEvent(response=response))

        final_result = await handler

    assert final_result == "42"
    assert streamed == [InputRequiredEvent(prefix="Enter a number: "), StopEvent(result="42")]


@leak_checked
async def test_seed_second_half_freezes_cancels_and_resumes() -> None:
    workflow = HumanInTheLoopWorkflow()
    with anyio.fail_after(5):
        handler = workflow.run()
        async for event in handler.stream_events():
            if isinstance(event, InputRequiredEvent):
                # Serialize the context, store it anywhere as a JSON blob
                ctx_dict = handler.ctx.to_dict()
                await handler.cancel_run()
                break
        first_handler = handler
        stored = json.dumps(ctx_dict)

        response = f"answer to {event.prefix}"  # the document calls input(event.prefix)

        restored_ctx = Context.from_dict(workflow, json.loads(stored))
        handler = workflow.run(ctx=restored_ctx)

        handler.ctx.send_event(HumanResponseEvent(response=response))

        resumed: list[Event] = []
        async for event in handler.stream_events():
            resumed.append(event)

        final_result = await handler

        with pytest.raises(WorkflowCancelledByUser):
            await first_handler

    assert final_result == "answer to Enter a number: "
    assert resumed == [StopEvent(result="answer to Enter a number: ")]


# -- the seed document in subprocesses, with no test plugin around it -------------


def run_script(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run ``tests/scripts/<args[0]>`` with the current interpreter, warnings as errors."""
    path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-W", "error", str(SCRIPTS / args[0]), *args[1:]],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_seed_code_runs_bare_under_asyncio_run_and_trio_run(backend: str) -> None:
    proc = run_script("seed_hitl.py", backend, stdin="42\n7\n")

    assert (proc.returncode, proc.stderr) == (0, "")
    # input() writes its prompt to stdout; the answers come from stdin.
    assert proc.stdout == "Enter a number: first half: '42'\nEnter a number: second half: '7'\n"


@pytest.mark.parametrize(
    ("freezer", "resumer"), [("asyncio", "trio"), ("trio", "asyncio")], ids=["a-to-t", "t-to-a"]
)
def test_run_frozen_in_one_process_resumes_in_another(
    tmp_path: Path, freezer: str, resumer: str
) -> None:
    snapshot = tmp_path / "run.json"

    frozen = run_script("cross_process.py", "freeze", freezer, str(snapshot))
    assert (frozen.returncode, frozen.stderr) == (0, "")
    assert frozen.stdout == "asked: 'Enter a number: '\n"
    assert json.loads(snapshot.read_text())["store"] == {}

    resumed = run_script("cross_process.py", "resume", resumer, str(snapshot), "42")
    assert (resumed.returncode, resumed.stderr) == (0, "")
    assert resumed.stdout == "streamed: ['StopEvent']\nresult: '42'\n"


# -- wait_for_event ----------------------------------------------------------------


class AskName(Workflow):
    """Asks for a name in the middle of a step, counting the code run before the wait."""

    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.before_wait: list[str] = []
        self.after_wait: list[str] = []

    @step
    async def ask(self, ctx: Context[Any], ev: StartEvent) -> StopEvent:
        self.before_wait.append("ask")
        await ctx.store.set("asked", await ctx.store.get("asked", default=0) + 1)
        marker = object()  # a local that only survives if the step really waits
        answer = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="Name? ")
        )
        assert marker is not None
        self.after_wait.append(answer.response)
        return StopEvent(result=f"Hello, {answer.response}!")


async def freeze_at_input(workflow: Workflow, **kwargs: Any) -> dict[str, Any]:
    """Run until the first InputRequiredEvent, freeze through JSON, cancel the run."""
    handler = workflow.run(**kwargs)
    async for event in handler.stream_events():
        if isinstance(event, InputRequiredEvent):
            data: dict[str, Any] = json.loads(json.dumps(handler.ctx.to_dict()))
            await handler.cancel_run()
            return data
    raise AssertionError("the run ended without asking for input")


@leak_checked
async def test_wait_for_event_continues_after_the_await_in_a_live_run() -> None:
    workflow = AskName()
    streamed: list[Event] = []
    with anyio.fail_after(5):
        handler = workflow.run()
        async for event in handler.stream_events():
            streamed.append(event)
            if isinstance(event, InputRequiredEvent):
                handler.ctx.send_event(HumanResponseEvent(response="Ada"))
        result = await handler

    assert result == "Hello, Ada!"
    assert streamed == [InputRequiredEvent(prefix="Name? "), StopEvent(result="Hello, Ada!")]
    assert workflow.before_wait == ["ask"]
    assert workflow.after_wait == ["Ada"]
    assert await handler.ctx.store.get("asked") == 1


@leak_checked
async def test_wait_for_event_reruns_from_the_top_after_a_restore() -> None:
    with anyio.fail_after(5):
        original = AskName()
        data = await freeze_at_input(original)

        workflow = AskName()
        handler = workflow.run(ctx=Context.from_dict(workflow, data))
        streamed: list[Event] = []
        async for event in handler.stream_events():
            streamed.append(event)
            if isinstance(event, InputRequiredEvent):
                handler.ctx.send_event(HumanResponseEvent(response="Grace"))
        result = await handler

    assert result == "Hello, Grace!"
    # The restored step asks again: the caller of the new run has not seen the request.
    assert streamed == [InputRequiredEvent(prefix="Name? "), StopEvent(result="Hello, Grace!")]
    assert original.before_wait == ["ask"]
    assert original.after_wait == []
    assert workflow.before_wait == ["ask"]
    assert workflow.after_wait == ["Grace"]
    assert await handler.ctx.store.get("asked") == 2  # the code before the await ran twice


@leak_checked
async def test_answer_sent_right_after_resuming_is_not_lost() -> None:
    with anyio.fail_after(5):
        data = await freeze_at_input(AskName())

        workflow = AskName()
        handler = workflow.run(ctx=Context.from_dict(workflow, data))
        # Sent before the restored step has run again and re-registered its waiter.
        handler.ctx.send_event(HumanResponseEvent(response="Linus"))
        streamed = [event async for event in handler.stream_events()]
        result = await handler

    assert result == "Hello, Linus!"
    assert streamed == [StopEvent(result="Hello, Linus!")]
    assert workflow.before_wait == ["ask"]
    assert workflow.after_wait == ["Linus"]


@leak_checked
async def test_cancelled_context_resumes_without_a_snapshot() -> None:
    workflow = AskName()
    with anyio.fail_after(5):
        first = workflow.run()
        async for event in first.stream_events():
            if isinstance(event, InputRequiredEvent):
                await first.cancel_run()
                break
        with pytest.raises(WorkflowCancelledByUser):
            await first

        handler = workflow.run(ctx=first.ctx)
        streamed: list[Event] = []
        async for event in handler.stream_events():
            streamed.append(event)
            if isinstance(event, InputRequiredEvent):
                handler.ctx.send_event(HumanResponseEvent(response="Barbara"))
        result = await handler

    assert result == "Hello, Barbara!"
    # The cancelled run's WorkflowCancelledEvent belongs to the first handler's stream.
    assert WorkflowCancelledEvent() not in streamed
    assert streamed == [InputRequiredEvent(prefix="Name? "), StopEvent(result="Hello, Barbara!")]
    assert workflow.before_wait == ["ask", "ask"]
    assert workflow.after_wait == ["Barbara"]


class Approver(Workflow):
    """Waits for alice's answer; any other HumanResponseEvent goes to the bystander step."""

    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.bystander_saw: list[str] = []
        self.bystander_called = anyio.Event()

    @step
    async def ask(self, ctx: Context[Any], ev: StartEvent) -> StopEvent:
        answer = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix="alice, approve?"),
            requirements={"user": "alice"},
        )
        return StopEvent(result=(answer.user, answer.response))

    @step
    async def bystander(self, ev: HumanResponseEvent) -> None:
        self.bystander_saw.append(ev.user)
        self.bystander_called.set()


@leak_checked
async def test_wait_for_event_takes_only_an_event_matching_its_requirements() -> None:
    workflow = Approver()
    with anyio.fail_after(5):
        handler = workflow.run()
        streamed: list[Event] = []
        async for event in handler.stream_events():
            streamed.append(event)
            if isinstance(event, InputRequiredEvent):
                handler.ctx.send_event(HumanResponseEvent(user="bob", response="no"))
                await workflow.bystander_called.wait()
                assert not handler.is_done()
                handler.ctx.send_event(HumanResponseEvent(user="alice", response="yes"))
        result = await handler

    assert result == ("alice", "yes")
    assert workflow.bystander_saw == ["bob"]
    assert streamed == [InputRequiredEvent(prefix="alice, approve?"), StopEvent(result=result)]


class AnonymousApprover(Approver):
    """Waits for an answer whose ``user`` is None; any other goes to the bystander step."""

    @step
    async def ask(self, ctx: Context[Any], ev: StartEvent) -> StopEvent:
        answer = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix="anyone?"),
            requirements={"user": None},
        )
        return StopEvent(result=("user" in answer, answer.response))

    @step
    async def bystander(self, ev: HumanResponseEvent) -> None:
        self.bystander_saw.append(ev.get("user", "(no user field)"))
        self.bystander_called.set()


@leak_checked
async def test_a_requirement_of_none_is_not_met_by_an_event_without_that_field() -> None:
    workflow = AnonymousApprover()
    with anyio.fail_after(5):
        handler = workflow.run()
        async for event in handler.stream_events():
            if isinstance(event, InputRequiredEvent):
                handler.ctx.send_event(HumanResponseEvent(response="no user field"))
                await workflow.bystander_called.wait()
                assert not handler.is_done()
                handler.ctx.send_event(HumanResponseEvent(user=None, response="user is None"))
        result = await handler

    assert result == (True, "user is None")
    assert workflow.bystander_saw == ["(no user field)"]


class Impatient(Workflow):
    @step
    async def ask(self, ctx: Context[Any], ev: StartEvent) -> StopEvent:
        try:
            await ctx.wait_for_event(
                HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="quick!"), timeout=0.01
            )
        except TimeoutError as exc:
            return StopEvent(result=f"no answer: {exc}")
        return StopEvent(result="answered")


@leak_checked
async def test_wait_for_event_timeout_raises_timeout_error_in_the_step() -> None:
    with anyio.fail_after(5):
        handler = Impatient().run()
        streamed = [event async for event in handler.stream_events()]
        result = await handler

    assert isinstance(result, str)
    assert result.startswith(
        "no answer: wait_for_event(HumanResponseEvent) timed out after 0.01 seconds."
    )
    assert streamed == [InputRequiredEvent(prefix="quick!"), StopEvent(result=result)]


# -- subclasses with a payload -----------------------------------------------------


class AskAmount(InputRequiredEvent):
    question: str
    limit: int = 100


class Amount(HumanResponseEvent):
    amount: int


class Payment(Workflow):
    @step
    async def ask(self, ev: StartEvent) -> AskAmount:
        return AskAmount(question=f"How much for {ev.item}?")

    @step
    async def pay(self, ev: Amount) -> StopEvent:
        return StopEvent(result=ev.amount * 2)


class WaitingPayment(Workflow):
    """Waits for Amount, a class none of its step signatures names (so it registers it)."""

    def __init__(self) -> None:
        super().__init__()
        self.serializer.register_type(Amount)
        self.serializer.register_type(AskAmount)

    @step
    async def ask(self, ctx: Context[Any], ev: StartEvent) -> StopEvent:
        answer = await ctx.wait_for_event(
            Amount, waiter_event=AskAmount(question="How much?", limit=10)
        )
        return StopEvent(result=answer.amount + 1)


@leak_checked
async def test_subclassed_events_carry_their_payload() -> None:
    with anyio.fail_after(5):
        handler = Payment().run(item="tea")
        streamed: list[Event] = []
        async for event in handler.stream_events():
            streamed.append(event)
            if isinstance(event, AskAmount):
                handler.ctx.send_event(Amount(amount=event.limit // 5))
        result = await handler

    assert result == 40
    assert streamed == [AskAmount(question="How much for tea?"), StopEvent(result=40)]


@leak_checked
async def test_subclassed_events_survive_a_freeze() -> None:
    with anyio.fail_after(5):
        data = await freeze_at_input(Payment(), item="tea")

        workflow = Payment()
        handler = workflow.run(ctx=Context.from_dict(workflow, data))
        handler.ctx.send_event(Amount(amount=7))
        streamed = [event async for event in handler.stream_events()]
        result = await handler

    assert result == 14
    assert streamed == [StopEvent(result=14)]


@leak_checked
async def test_wait_for_event_returns_the_subclass_with_its_payload() -> None:
    with anyio.fail_after(5):
        handler = WaitingPayment().run()
        streamed: list[Event] = []
        async for event in handler.stream_events():
            streamed.append(event)
            if isinstance(event, AskAmount):
                handler.ctx.send_event(Amount(amount=event.limit))
        result = await handler

    assert result == 11
    assert streamed == [AskAmount(question="How much?", limit=10), StopEvent(result=11)]
    assert type(streamed[0]) is AskAmount


@leak_checked
async def test_wait_for_event_subclasses_survive_a_freeze() -> None:
    with anyio.fail_after(5):
        data = await freeze_at_input(WaitingPayment())

        workflow = WaitingPayment()
        handler = workflow.run(ctx=Context.from_dict(workflow, data))
        streamed: list[Event] = []
        async for event in handler.stream_events():
            streamed.append(event)
            if isinstance(event, AskAmount):
                handler.ctx.send_event(Amount(amount=event.limit * 3))
        result = await handler

    assert result == 31
    assert streamed == [AskAmount(question="How much?", limit=10), StopEvent(result=31)]
    assert type(streamed[0]) is AskAmount

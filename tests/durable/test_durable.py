"""Durable runs through the Python API, on both stores and both backends."""

from __future__ import annotations

import anyio
import pytest

from flowkit import Context, Workflow, step
from flowkit.durable import DurableRuns, UnknownEventError, UnknownWorkflowError
from flowkit.events import Event, HumanResponseEvent, StartEvent, StopEvent
from flowkit.store import (
    RunFinishedError,
    RunNotFinishedError,
    RunNotFoundError,
    RunStatus,
)

from .apps import (
    Approval,
    CountingFlow,
    FailingFlow,
    HumanInTheLoopWorkflow,
    registry,
)

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


async def test_seed_workflow_parks_and_another_process_finishes_it(store_url: str) -> None:
    async with DurableRuns(HumanInTheLoopWorkflow, store_url) as first:
        parked = await first.run()
    assert (parked.status, parked.prompt, parked.owner) == (
        RunStatus.WAITING,
        "Enter a number: ",
        None,
    )
    assert [e["type"] for e in parked.events] == ["InputRequiredEvent"]
    # A second "process": nothing shared but the store.
    async with DurableRuns(HumanInTheLoopWorkflow, store_url) as second:
        waiting = await second.list(RunStatus.WAITING)
        assert [r.run_id for r in waiting] == [parked.run_id]
        assert await second.send_event(parked.run_id, HumanResponseEvent(response="42"))
        assert (await second.get(parked.run_id)).status is RunStatus.RUNNING
        done = await second.resume(parked.run_id)
    assert (done.status, done.result, done.error, done.finish_count) == (
        RunStatus.COMPLETED,
        "42",
        None,
        1,
    )
    assert done.to_json()["result"] == "42"


async def test_wait_for_event_run_parks_and_takes_a_registered_event(store_url: str) -> None:
    async with DurableRuns(registry, store_url) as runs:
        parked = await runs.run("ApprovalFlow", item="invoice 7")
        assert (parked.status, parked.prompt) == (RunStatus.WAITING, "Approve invoice 7? ")
        await runs.send_event(parked.run_id, Approval(approved=True))
        done = await runs.resume(parked.run_id)
    assert (done.status, done.result) == (
        RunStatus.COMPLETED,
        {"item": "invoice 7", "approved": True},
    )


async def test_a_response_sent_twice_with_one_key_is_applied_once(store_url: str) -> None:
    async with DurableRuns(CountingFlow, store_url) as runs:
        run_id = (await runs.run()).run_id
        assert await runs.send_event(run_id, HumanResponseEvent(response="a"), idempotency_key="1")
        assert not await runs.send_event(
            run_id, HumanResponseEvent(response="a"), idempotency_key="1"
        )
        assert (await runs.resume(run_id)).status is RunStatus.WAITING
        assert not await runs.send_event(
            run_id, HumanResponseEvent(response="a"), idempotency_key="1"
        )
        await runs.send_event(run_id, HumanResponseEvent(response="end"), idempotency_key="2")
        done = await runs.resume(run_id)
    assert (done.status, done.result) == (RunStatus.COMPLETED, 2)


async def test_events_sent_while_another_process_owns_the_run_are_queued(store_url: str) -> None:
    async with DurableRuns(CountingFlow, store_url, lease=30) as runs:
        run_id = (await runs.run()).run_id
        await runs.send_event(run_id, HumanResponseEvent(response="a"))
        claim = await runs.store.claim(30, run_id=run_id)  # another process holds it now
        assert claim is not None
        await runs.send_event(run_id, HumanResponseEvent(response="end"))
        assert (await runs.resume(run_id)).status is RunStatus.RUNNING  # not ours to drive
        await runs.store.release(run_id, claim.token)
        done = await runs.resume(run_id)
    assert (done.status, done.result) == (RunStatus.COMPLETED, 2)


async def test_sending_to_finished_unknown_runs_and_unknown_events_is_an_error(
    store_url: str,
) -> None:
    async with DurableRuns(HumanInTheLoopWorkflow, store_url) as runs:
        run_id = (await runs.run()).run_id
        await runs.send_event(run_id, HumanResponseEvent(response="1"))
        await runs.resume(run_id)
        with pytest.raises(RunFinishedError, match=r"^Run '.*' is completed: it takes no more"):
            await runs.send_event(run_id, HumanResponseEvent(response="2"))
        with pytest.raises(RunNotFoundError, match=r"^No run with id 'nope' in the store"):
            await runs.send_event("nope", HumanResponseEvent(response="2"))
        with pytest.raises(UnknownEventError, match=r"Event class 'Approval' is not registered"):
            await runs.send_event(run_id, Approval(approved=True))
        with pytest.raises(UnknownWorkflowError, match=r"No workflow named 'Other'"):
            await runs.start("Other")


async def test_a_failing_step_fails_the_run_with_its_error(store_url: str) -> None:
    async with DurableRuns(FailingFlow, store_url) as runs:
        record = await runs.run()
    assert record.status is RunStatus.FAILED
    assert record.error is not None
    assert "no luck today" in record.error
    assert record.result is None


async def test_cancel_and_delete(store_url: str) -> None:
    async with DurableRuns(HumanInTheLoopWorkflow, store_url) as runs:
        run_id = (await runs.run()).run_id
        with pytest.raises(RunNotFinishedError, match="only finished runs can be deleted"):
            await runs.delete(run_id)
        assert (await runs.cancel(run_id)).status is RunStatus.CANCELLED
        with pytest.raises(RunFinishedError, match="is cancelled"):
            await runs.cancel(run_id)
        await runs.delete(run_id)
        assert await runs.list() == []


started = anyio.Event()


class BlockingFlow(Workflow):
    @step
    async def block(self, ev: StartEvent) -> StopEvent:
        started.set()
        await anyio.sleep_forever()
        return StopEvent()


async def test_cancel_reaches_the_process_that_drives_the_run(store_url: str) -> None:
    global started
    started = anyio.Event()
    async with DurableRuns(BlockingFlow, store_url, lease=0.3) as runs:
        run_id = (await runs.start()).run_id
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(runs.resume, run_id)
                await started.wait()
                assert (await runs.cancel(run_id)).cancel_requested
        record = await runs.get(run_id)
    assert (record.status, record.finish_count) == (RunStatus.CANCELLED, 1)


async def test_workers_drive_new_and_answered_runs(store_url: str) -> None:
    async with DurableRuns(registry, store_url) as runs:
        ids = [(await runs.start("HumanInTheLoopWorkflow")).run_id for _ in range(6)]
        with anyio.fail_after(30):
            assert await runs.work(concurrency=3, until_idle=True) == 6
        assert {r.run_id for r in await runs.list(RunStatus.WAITING)} == set(ids)
        for n, run_id in enumerate(ids):
            await runs.send_event(run_id, HumanResponseEvent(response=str(n)))
        with anyio.fail_after(30):
            assert await runs.work(concurrency=3, until_idle=True) == 6
        results = {r.run_id: r.result for r in await runs.list(RunStatus.COMPLETED)}
    assert results == {run_id: str(n) for n, run_id in enumerate(ids)}


async def test_a_run_whose_owner_stopped_renewing_is_taken_over(store_url: str) -> None:
    async with DurableRuns(HumanInTheLoopWorkflow, store_url, lease=5) as runs:
        run_id = (await runs.start()).run_id
        dead = await runs.store.claim(0.01, run_id=run_id)  # claimed, then never renewed
        assert dead is not None
        with anyio.fail_after(30):
            while (await runs.resume(run_id)).status is RunStatus.RUNNING:
                await runs.store.wait_for_work(0.02)
        record = await runs.get(run_id)
    assert (record.status, record.prompt) == (RunStatus.WAITING, "Enter a number: ")


class Note(Event):
    text: str


class StreamingFlow(Workflow):
    @step
    async def talk(self, ctx: Context, ev: StartEvent) -> StopEvent:
        ctx.write_event_to_stream(Note(text="hello"))
        return StopEvent(result={"n": ev.get("n")})


async def test_streamed_events_and_start_arguments_are_kept(store_url: str) -> None:
    async with DurableRuns(StreamingFlow, store_url) as runs:
        record = await runs.run(n=[1, 2])
    assert record.result == {"n": [1, 2]}
    assert list(record.events) == [{"type": "Note", "data": {"text": "hello"}}]


async def test_a_cancelled_worker_hands_its_runs_back_at_once(store_url: str) -> None:
    global started
    started = anyio.Event()
    async with DurableRuns(BlockingFlow, store_url, lease=60) as runs:
        run_id = (await runs.start()).run_id
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(runs.work)
                await started.wait()
                assert (await runs.get(run_id)).owner is not None
                tg.cancel_scope.cancel()
        record = await runs.get(run_id)
        assert (record.status, record.owner) == (RunStatus.RUNNING, None)
        # Released, not left to expire: another owner can claim it right away.
        claim = await runs.store.claim(60, run_id=run_id)
    assert claim is not None
    assert claim.snapshot is not None  # checkpointed on the way out

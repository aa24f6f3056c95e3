"""A step's workers are counted exactly: never more tasks than its ``num_workers``, and
never a worker counted that is gone (a later event for the step would wait for ever).

Found by mutation testing (docs/mutation-testing.md): a run restored from a snapshot
starts at once the workers its queued events need, and counts them once; a worker that
finds its job taken, or goes on with what its step sent itself, is counted out or in once.
"""

from __future__ import annotations

import gc
from typing import Any

import anyio
import pytest
from anyio.streams.memory import MemoryObjectSendStream

from flowkit import Context, Workflow, step
from flowkit.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
)

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


class Job(Event):
    n: int


class Pool(Workflow):
    """``spread`` sends ``count`` jobs; ``work`` (two workers) holds each until the gate opens."""

    def __init__(self, total: int) -> None:
        super().__init__(timeout=None)
        self.total = total
        self.gate = anyio.Event()
        self.running = 0
        self.most = 0
        self.done = 0

    @step
    async def spread(self, ctx: Context, ev: StartEvent) -> Job | None:
        for n in range(ev.count):
            ctx.send_event(Job(n=n))
        return None

    @step(num_workers=2)
    async def work(self, ev: Job) -> StopEvent | None:
        self.running += 1
        self.most = max(self.most, self.running)
        await self.gate.wait()
        self.running -= 1
        self.done += 1
        return StopEvent(result=self.done) if self.done == self.total else None


async def test_a_restored_run_keeps_to_num_workers_when_more_events_come() -> None:
    first = Pool(total=4)
    handler = first.run(count=3)
    await anyio.wait_all_tasks_blocked()
    assert first.running == 2  # two jobs in progress, one queued
    snapshot = handler.ctx.to_dict()
    await handler.cancel_run()

    again = Pool(total=4)
    resumed = again.run(ctx=Context.from_dict(again, snapshot))
    await anyio.wait_all_tasks_blocked()
    assert again.running == 2  # the restored run started both workers at once
    resumed.ctx.send_event(Job(n=3))  # a fourth job: the two workers are busy
    await anyio.wait_all_tasks_blocked()
    assert again.running == 2
    again.gate.set()
    assert await resumed == 4
    assert again.most == 2


class Batches(Workflow):
    """Each answer sends a batch of three jobs to ``work`` (two workers); every job waits
    for the gate; a finished batch asks for the next answer."""

    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.gate = anyio.Event()
        self.running = 0
        self.done = 0

    @step
    async def spread(self, ctx: Context, ev: StartEvent | HumanResponseEvent) -> Job | None:
        for n in range(3):
            ctx.send_event(Job(n=n))
        return None

    async def job(self) -> InputRequiredEvent | StopEvent | None:
        self.running += 1
        await self.gate.wait()
        self.running -= 1
        self.done += 1
        if self.done == 9:
            return StopEvent(result=self.done)
        return InputRequiredEvent(prefix="next?") if self.done % 3 == 0 else None

    @step(num_workers=2)
    async def work(self, ev: Job) -> InputRequiredEvent | StopEvent | None:
        return await self.job()


class OneWorker(Batches):
    """The same with one worker."""

    @step(num_workers=1)
    async def work(self, ev: Job) -> InputRequiredEvent | StopEvent | None:
        return await self.job()


@pytest.mark.parametrize(("flow", "workers"), [(Batches, 2), (OneWorker, 1)])
async def test_workers_that_ran_out_of_work_are_counted_out(
    flow: type[Batches], workers: int
) -> None:
    """After each batch every worker exits; the next batch runs on as many again."""
    workflow = flow()
    handler = workflow.run()
    events = handler.stream_events()
    for batch in range(3):
        await anyio.wait_all_tasks_blocked()  # the batch's first jobs wait at the gate
        assert workflow.running == workers
        workflow.gate.set()
        if batch < 2:
            async for event in events:
                if isinstance(event, InputRequiredEvent):
                    break
            workflow.gate = anyio.Event()
            handler.ctx.send_event(HumanResponseEvent(response="go"))
    assert await handler == 9


class Answer(HumanResponseEvent):
    n: int


class StopsAtFirst(Workflow):
    """Two answers queue for ``take`` (one worker); the first ends the run."""

    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.calls: list[int] = []

    @step
    async def ask(self, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prefix="two answers, please")

    @step(num_workers=1)
    async def take(self, ev: Answer) -> StopEvent:
        self.calls.append(ev.n)
        return StopEvent(result=ev.n)


async def test_no_step_runs_once_the_run_has_ended() -> None:
    """The answer still queued when the run ends is never taken (it stays in the context)."""
    workflow = StopsAtFirst()
    handler = workflow.run()
    await anyio.wait_all_tasks_blocked()  # the run waits for its answers
    handler.ctx.send_event(Answer(response="", n=1))
    handler.ctx.send_event(Answer(response="", n=2))
    assert await handler == 1
    assert workflow.calls == [1]


class Helpers(Workflow):
    """Three jobs for a step with two workers; each finds its run's context with no ``ctx``."""

    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.gate = anyio.Event()
        self.found: list[Context] = []

    @step
    async def start(self, ctx: Context, ev: StartEvent) -> Job | None:
        for n in range(3):
            ctx.send_event(Job(n=n))
        return None

    @step(num_workers=2)
    async def work(self, ev: Job) -> StopEvent | None:
        await self.gate.wait()  # the jobs run in two tasks at once
        self.found.append(Context.get_step_context())
        return StopEvent(result=len(self.found)) if len(self.found) == 3 else None


async def test_every_worker_of_a_step_finds_the_run_s_context() -> None:
    workflow = Helpers()
    handler = workflow.run()
    await anyio.wait_all_tasks_blocked()
    workflow.gate.set()
    assert await handler == 3
    assert len(workflow.found) == 3
    assert all(found is handler.ctx for found in workflow.found)


class Pair(Workflow):
    """``spread`` sends two jobs at once to ``work`` (two workers). In the first round they
    finish at once; in the second they wait for the gate."""

    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.gate = anyio.Event()
        self.running = 0
        self.done = 0

    @step
    async def spread(self, ctx: Context, ev: StartEvent | HumanResponseEvent) -> Job | None:
        ctx.send_event(Job(n=0))
        ctx.send_event(Job(n=1))
        return None

    @step(num_workers=2)
    async def work(self, ev: Job) -> InputRequiredEvent | StopEvent | None:
        if self.done >= 2:
            self.running += 1
            await self.gate.wait()
            self.running -= 1
        self.done += 1
        if self.done == 4:
            return StopEvent(result=self.done)
        return InputRequiredEvent(prefix="again?") if self.done == 2 else None


async def test_a_worker_that_finds_its_job_taken_is_counted_out() -> None:
    """In the first round one worker takes both jobs and the other finds none and exits: it
    is counted out, so both jobs of the second round run at once."""
    workflow = Pair()
    handler = workflow.run()
    async for event in handler.stream_events():
        if isinstance(event, InputRequiredEvent):
            break
    handler.ctx.send_event(HumanResponseEvent(response="go"))
    await anyio.wait_all_tasks_blocked()
    assert workflow.running == 2
    workflow.gate.set()
    assert await handler == 4


class Kind(Event):
    feed: bool


class Three(Workflow):
    """``work`` (three workers): a feeding job sends itself a holding job; holding jobs wait
    for the gate."""

    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.gate = anyio.Event()
        self.running = 0
        self.most = 0
        self.held = 0

    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> Kind | None:
        ctx.send_event(Kind(feed=False))
        return None

    @step(num_workers=3)
    async def work(self, ev: Kind) -> Kind | StopEvent | None:
        if ev.feed:
            return Kind(feed=False)
        self.running += 1
        self.most = max(self.most, self.running)
        await self.gate.wait()
        self.running -= 1
        self.held += 1
        return StopEvent(result=self.held) if self.held == 4 else None


async def test_a_step_that_feeds_itself_beside_other_workers_keeps_to_num_workers() -> None:
    workflow = Three()
    handler = workflow.run()
    await anyio.wait_all_tasks_blocked()
    handler.ctx.send_event(Kind(feed=True))  # a second worker, which goes on holding
    await anyio.wait_all_tasks_blocked()
    assert workflow.running == 2
    handler.ctx.send_event(Kind(feed=False))
    handler.ctx.send_event(Kind(feed=False))  # one worker more, then the limit of three
    await anyio.wait_all_tasks_blocked()
    assert workflow.running == 3
    workflow.gate.set()
    assert await handler == 4
    assert workflow.most == 3


class Gated(Workflow):
    """``work`` (one worker) holds each job until the gate opens; the third asks for input
    and an answer sends a fourth."""

    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.gate = anyio.Event()
        self.done = 0

    @step
    async def spread(self, ctx: Context, ev: StartEvent | HumanResponseEvent) -> Job | None:
        for n in range(2 if isinstance(ev, StartEvent) else 1):
            ctx.send_event(Job(n=n))
        return None

    @step(num_workers=1)
    async def work(self, ev: Job) -> InputRequiredEvent | StopEvent | None:
        await self.gate.wait()
        self.done += 1
        if self.done == 3:
            return StopEvent(result=self.done)
        return InputRequiredEvent(prefix="one more?") if self.done == 2 else None


async def test_a_restored_run_counts_its_one_worker_once() -> None:
    """A restored run's worker for its queued jobs is counted once: once they are done, a
    job sent later gets a worker."""
    first = Gated()
    handler = first.run()
    await anyio.wait_all_tasks_blocked()  # one job in progress, one queued
    snapshot = handler.ctx.to_dict()
    await handler.cancel_run()

    again = Gated()
    again.gate.set()
    resumed = again.run(ctx=Context.from_dict(again, snapshot))
    with anyio.fail_after(10):
        async for event in resumed.stream_events():
            if isinstance(event, InputRequiredEvent):
                resumed.ctx.send_event(HumanResponseEvent(response="go"))
        assert await resumed == 3


class Left(HumanResponseEvent):
    pass


class Right(HumanResponseEvent):
    pass


class TwoDoors(Workflow):
    """Waits for the caller; ``left`` and ``right`` each take their own kind of answer."""

    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.seen: list[str] = []

    @step
    async def start(self, ev: StartEvent) -> None:
        return None  # the caller sends the events

    @step
    async def left(self, ev: Left) -> StopEvent | None:
        self.seen.append("left")
        return StopEvent(result=sorted(self.seen)) if len(self.seen) == 2 else None

    @step
    async def right(self, ev: Right) -> StopEvent | None:
        self.seen.append("right")
        return StopEvent(result=sorted(self.seen)) if len(self.seen) == 2 else None


async def test_events_for_two_steps_sent_at_once_to_an_idle_run_each_get_a_worker() -> None:
    # The first goes to the run's own task, free between two jobs; the second needs a
    # worker of its own and must not take the first one's place.
    workflow = TwoDoors()
    handler = workflow.run()
    await anyio.wait_all_tasks_blocked()  # the run waits for the caller
    handler.ctx.send_event(Left(response="l"))
    handler.ctx.send_event(Right(response="r"))
    with anyio.fail_after(5):
        assert await handler == ["left", "right"]


class Kick(Event):
    n: int


class Push(HumanResponseEvent):
    n: int


class Handed(Event):
    pass


class HandsOn(Workflow):
    """``kick`` (one worker) hands its first job's result on, then takes the caller's pushes."""

    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.gate = anyio.Event()
        self.running = 0
        self.most = 0
        self.pushed = 0

    @step
    async def start(self, ev: StartEvent) -> Kick:
        return Kick(n=0)

    @step(num_workers=1)
    async def kick(self, ev: Kick | Push) -> Handed | StopEvent | None:
        if isinstance(ev, Kick):
            return Handed()  # its worker goes on to `handed`, with nothing left here
        self.running += 1
        self.most = max(self.most, self.running)
        await self.gate.wait()
        self.running -= 1
        self.pushed += 1
        return StopEvent(result=self.most) if self.pushed == 2 else None

    @step
    async def handed(self, ev: Handed) -> None:
        return None


async def test_a_worker_that_goes_on_to_another_step_is_counted_out_of_its_own_once() -> None:
    workflow = HandsOn()
    handler = workflow.run()
    await anyio.wait_all_tasks_blocked()  # `handed` ran; the run waits for the caller
    handler.ctx.send_event(Push(response="", n=1))
    handler.ctx.send_event(Push(response="", n=2))
    await anyio.wait_all_tasks_blocked()
    assert workflow.running == 1  # one worker: the second push waits its turn
    workflow.gate.set()
    with anyio.fail_after(5):
        assert await handler == 1


class Ask(InputRequiredEvent):
    n: int


class Turns(Workflow):
    """``begin`` asks the caller; ``turn`` takes each answer and asks again, ``rounds`` times."""

    def __init__(self, rounds: int) -> None:
        super().__init__(timeout=None)
        self.rounds = rounds
        self.answers: list[str] = []

    @step
    async def begin(self, ev: StartEvent) -> Ask:
        return Ask(n=0)

    @step
    async def turn(self, ev: Push) -> Ask | StopEvent:
        self.answers.append(ev.response)
        if len(self.answers) == self.rounds:
            return StopEvent(result=self.answers)
        return Ask(n=len(self.answers))


def _memory_streams() -> list[MemoryObjectSendStream[Any]]:
    """The memory object streams alive now (each step of a running run may hold one)."""
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, MemoryObjectSendStream)]


async def test_a_parked_run_gives_up_the_streams_of_steps_that_ran_once() -> None:
    # A run idle on the caller closes the hand-off stream of each step that ran once
    # (its start step); a step that ran more keeps its stream for the next answer.
    # Each answer here comes once the run has parked, and reaches its step.
    before = _memory_streams()  # held, so that no new stream can take an old one's id
    old = {id(stream) for stream in before}

    def made_since() -> int:
        return sum(id(stream) not in old for stream in _memory_streams())

    workflow = Turns(rounds=4)
    handler = workflow.run()
    held = []
    for n in range(4):
        await anyio.wait_all_tasks_blocked()  # the run is parked on the caller
        held.append(made_since())
        handler.ctx.send_event(Push(response=f"answer {n}", n=n))
    with anyio.fail_after(5):
        assert await handler == ["answer 0", "answer 1", "answer 2", "answer 3"]
    # Parked after begin, then after turn's 1st, 2nd and 3rd run: turn keeps its stream
    # once it has run twice.
    assert held == [0, 0, 1, 1]
    assert made_since() == 0

"""The seed workflow as a durable run: asked in one process, answered in another.

Run it with ``make demo`` (or ``python docs/examples/durable_human_in_the_loop.py``). In a
fresh directory, with the embedded default store (``sqlite:///flowkit-runs.db``):

1. process 1 starts the workflow; it asks for a number and is parked in the SQLite file;
   process 1 exits;
2. process 2 lists the waiting run, answers it (at the terminal, or by itself with no
   terminal), and drives it to the end: the result is the answer.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile

import anyio
from human_in_the_loop import HumanInTheLoopWorkflow, ask

from flowkit.durable import DurableRuns
from flowkit.events import HumanResponseEvent
from flowkit.store import RunStatus


async def park() -> None:
    async with DurableRuns(HumanInTheLoopWorkflow) as runs:
        print(f"  store: {runs.store.url}")
        record = await runs.run()
        print(f"  run {record.run_id} is {record.status.value}, asking {record.prompt!r}")
    print("  process 1 exits: nothing of the run is left in memory")


async def answer() -> None:
    async with DurableRuns(HumanInTheLoopWorkflow) as runs:
        waiting = await runs.list(RunStatus.WAITING)
        print(f"  waiting runs: {[(r.run_id, r.prompt) for r in waiting]}")
        for record in waiting:
            response = await ask(record.prompt or "> ", "42")
            await runs.send_event(record.run_id, HumanResponseEvent(response=response))
            print(f"  answered run {record.run_id}; resuming it here")
            done = await runs.resume(record.run_id)
            print(f"  run {done.run_id} is {done.status.value}: result {done.result!r}")


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir:
        print("== process 1: start the run; it asks for a number and is parked", flush=True)
        subprocess.run([sys.executable, __file__, "park"], cwd=workdir, check=True)
        print("== process 2: list the waiting run, answer it, finish it", flush=True)
        subprocess.run([sys.executable, __file__, "answer"], cwd=workdir, check=True)
        print("== flowkit runs list (the command sees the same store)", flush=True)
        command = [sys.executable, "-m", "flowkit.cli", "runs", "list"]
        subprocess.run(command, cwd=workdir, check=True)


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] in ("park", "answer"):
        anyio.run(park if sys.argv[1] == "park" else answer)
    else:
        main()

"""RunSlots: how many runs of one workflow instance execute at once (``num_concurrent_runs``).

A workflow instance outlives event loops: test suites run the same instance under
asyncio and then trio. So the slots hold no backend object; a run that has to wait
makes its own ``anyio.Event``, inside the run, for the backend that runs it.
"""

from __future__ import annotations

from collections import deque

import anyio


class RunSlots:
    """A counting limit on runs whose waiters are events made by the waiting run."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0
        self._waiting: deque[anyio.Event] = deque()

    async def acquire(self) -> None:
        """Take a slot, waiting for one if all are taken."""
        if self.taken < self.limit and not self._waiting:
            self.taken += 1
            return
        wake = anyio.Event()
        self._waiting.append(wake)
        try:
            await wake.wait()
        except BaseException:
            if wake.is_set():  # the slot was handed over already: pass it on
                self.release()
            else:
                self._waiting.remove(wake)
            raise

    def release(self) -> None:
        """Give the slot back, handing it straight to the first waiting run."""
        if self._waiting:
            self._waiting.popleft().set()  # the slot passes on: ``taken`` stays
        else:
            self.taken -= 1

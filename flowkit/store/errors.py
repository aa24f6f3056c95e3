"""The errors a run store raises, under one base class.

Hierarchy::

    FlowkitError
     └── StoreError                  any failure of a run store
          ├── StoreUnavailableError  the database could not be reached, even after retries
          ├── RunNotFoundError       no run has this id
          ├── RunFinishedError       the run completed, failed or was cancelled
          ├── RunNotFinishedError    deleting a run that has not finished
          ├── LeaseLostError         another process owns the run now
          └── CorruptRunError        a stored row that flowkit cannot read (torn or foreign)
"""

from __future__ import annotations

from ..errors import FlowkitError

__all__ = [
    "CorruptRunError",
    "LeaseLostError",
    "RunFinishedError",
    "RunNotFinishedError",
    "RunNotFoundError",
    "StoreError",
    "StoreUnavailableError",
]


class StoreError(FlowkitError):
    """A run store failed; the message names the run or the database involved."""


class StoreUnavailableError(StoreError):
    """The database could not be reached, even after retrying for a while."""


class RunNotFoundError(StoreError):
    """No run with this id is in the store.

    Attributes:
        run_id: The id that was asked for.
    """

    def __init__(self, run_id: str) -> None:
        super().__init__(
            f"No run with id {run_id!r} in the store. List the runs with `flowkit runs list`."
        )
        self.run_id = run_id


class RunFinishedError(StoreError):
    """The run has finished (completed, failed or cancelled) and takes no more events.

    Attributes:
        run_id: The run.
        status: Its final status.
    """

    def __init__(self, run_id: str, status: str) -> None:
        super().__init__(
            f"Run {run_id!r} is {status}: it takes no more events. Start a new run instead."
        )
        self.run_id = run_id
        self.status = status


class RunNotFinishedError(StoreError):
    """Only finished runs can be deleted; cancel the run first.

    Attributes:
        run_id: The run.
        status: Its current status.
    """

    def __init__(self, run_id: str, status: str) -> None:
        super().__init__(
            f"Run {run_id!r} is {status}: only finished runs can be deleted. Cancel it first."
        )
        self.run_id = run_id
        self.status = status


class LeaseLostError(StoreError):
    """This process no longer owns the run: its lease expired and another process claimed it.

    Attributes:
        run_id: The run.
    """

    def __init__(self, run_id: str) -> None:
        super().__init__(
            f"Lost the lease on run {run_id!r}: it expired and another process may own the run "
            "now. Nothing was written; use a longer --lease if steps block the event loop."
        )
        self.run_id = run_id


class CorruptRunError(StoreError):
    """A stored run cannot be read: a torn write, another program's row, or a newer format.

    Attributes:
        run_id: The run.
    """

    def __init__(self, run_id: str, problem: str) -> None:
        super().__init__(
            f"Run {run_id!r} in the store cannot be read: {problem}. The row was written by "
            "another program or version, or was damaged; inspect it, then delete or repair it."
        )
        self.run_id = run_id

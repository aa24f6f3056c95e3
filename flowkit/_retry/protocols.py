"""The shapes of retry policies and their parts, and RetryInfo."""

from __future__ import annotations

import types
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

_ExceptionTypes = type[BaseException] | tuple[type[BaseException], ...] | types.UnionType


@attrs.frozen
class RetryInfo:
    """Where the currently running step stands in its retry sequence.

    On the first attempt ``retry_number`` is 0, ``elapsed_seconds`` is 0.0 and the two
    ``last_*`` fields are ``None``; on later attempts they describe the most recent failure.

    Attributes:
        retry_number: 0 on the first run, 1 on the first retry, and so on.
        elapsed_seconds: Seconds since the first attempt started.
        last_exception: The exception the previous attempt raised, if any. Its traceback does not
            survive a restore from a snapshot.
        last_failed_at: Timezone-aware UTC time of the previous failure, if any.
    """

    retry_number: int
    elapsed_seconds: float
    last_exception: Exception | None
    last_failed_at: datetime | None


@runtime_checkable
class RetryPolicy(Protocol):
    """Anything with a matching ``next`` method can be a step's retry policy."""

    def next(
        self, elapsed_time: float, attempts: int, error: Exception, *, seed: int | None = None
    ) -> float | None:
        """Decide whether to retry after a failure, and after how long.

        Args:
            elapsed_time: Seconds since the step's first attempt on this event started.
            attempts: Failures so far, 1 after the first failure.
            error: The exception the step just raised.
            seed: Seed for any randomness: the same seed gives the same delay. The engine
                passes none (a three-argument ``next``, the incumbent's, works too).

        Returns:
            Seconds to sleep before the next attempt, or ``None`` to give up.
        """


class RetryCondition(Protocol):
    """A predicate saying whether an exception is worth retrying."""

    def __call__(self, error: BaseException) -> bool:
        """Return True to retry after ``error``."""


class WaitStrategy(Protocol):
    """Computes the delay before a retry; ``attempts`` is 0 for the first retry."""

    def __call__(self, attempts: int, *, seed: int | None = None) -> float:
        """Return the delay in seconds before retry number ``attempts + 1``."""


class StopCondition(Protocol):
    """A predicate saying whether to give up, given the delay that would be slept next."""

    def __call__(self, attempts: int, elapsed_time: float, *, upcoming_sleep: float = 0.0) -> bool:
        """Return True to stop retrying."""

"""What one timed trial of a scenario returns, and the check that guards its result."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


class ScenarioError(AssertionError):
    """A scenario computed a wrong result: the implementation is broken, its time is void."""


def check(ok: bool, what: str) -> None:
    """Raise :class:`ScenarioError` unless ``ok``; used by every scenario on its own result."""
    if not ok:
        raise ScenarioError(what)


@dataclass(frozen=True)
class TrialOptions:
    """How the runner wants one trial run.

    ``verify``: also do the slower, untimed checks (e.g. restore a snapshot and finish it);
    the runner asks for them on the warm-up trial.
    ``trace_memory``: measure memory with :mod:`tracemalloc` (slow; timings of such a trial
    are discarded).
    """

    verify: bool = False
    trace_memory: bool = False


@dataclass
class Trial:
    """One trial: seconds per timed metric (``"total"`` for most scenarios) plus extras.

    ``extra`` holds non-time figures such as a snapshot's size in bytes or the memory
    held per parked run.
    """

    times: dict[str, float]
    extra: dict[str, float] = field(default_factory=dict)


TrialFn = Callable[[int, TrialOptions], Awaitable[Trial]]
"""A scenario for one implementation: ``await fn(size, options)`` runs one trial."""


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds``; uses :func:`time.perf_counter`."""

    seconds: float = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start


class MemoryTrace:
    """Memory allocated since construction, by :mod:`tracemalloc`, when ``enabled``.

    Starts tracing unless something (e.g. ``python -X tracemalloc``) already does, and
    :meth:`stop` only stops what it started.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._started = False
        self._base = 0
        if enabled:
            if not tracemalloc.is_tracing():
                tracemalloc.start()
                self._started = True
            self._base = tracemalloc.get_traced_memory()[0]

    def held(self) -> int:
        """Bytes allocated and still alive since construction."""
        return tracemalloc.get_traced_memory()[0] - self._base

    def stop(self) -> None:
        if self._started:
            tracemalloc.stop()
            self._started = False

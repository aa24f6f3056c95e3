"""Stop conditions: when to give up retrying (``stop_*``)."""

from __future__ import annotations

import attrs

from .checks import (
    _SECONDS,
    _attempt_count,
    _callables,
    _seconds,
)
from .protocols import (
    StopCondition,
)


class _StopOps:
    __slots__ = ()

    def __or__(self: StopCondition, other: StopCondition) -> stop_any:
        return stop_any(self, other) if callable(other) else NotImplemented

    def __ror__(self: StopCondition, other: StopCondition) -> stop_any:
        return stop_any(other, self) if callable(other) else NotImplemented

    def __and__(self: StopCondition, other: StopCondition) -> stop_all:
        return stop_all(self, other) if callable(other) else NotImplemented

    def __rand__(self: StopCondition, other: StopCondition) -> stop_all:
        return stop_all(other, self) if callable(other) else NotImplemented


@attrs.frozen
class stop_after_attempt(_StopOps):
    """Give up once the step has failed ``max_attempt_number`` times.

    Args:
        max_attempt_number: Total attempts allowed, the first run included.

    Raises:
        TypeError: If ``max_attempt_number`` is not an int.
        ValueError: If ``max_attempt_number`` is less than 1.
    """

    max_attempt_number: int = attrs.field(validator=_attempt_count)

    def __call__(self, attempts: int, elapsed_time: float, *, upcoming_sleep: float = 0.0) -> bool:
        return attempts >= self.max_attempt_number


@attrs.frozen
class stop_after_delay(_StopOps):
    """Give up once ``max_delay`` has passed since the step's first attempt started.

    Args:
        max_delay: Seconds, as a float or a timedelta.

    Raises:
        TypeError: If ``max_delay`` is not a number or timedelta.
        ValueError: If ``max_delay`` is negative.
    """

    max_delay: float = attrs.field(converter=_seconds, validator=_SECONDS)

    def __call__(self, attempts: int, elapsed_time: float, *, upcoming_sleep: float = 0.0) -> bool:
        return elapsed_time >= self.max_delay


@attrs.frozen
class stop_before_delay(_StopOps):
    """Give up if sleeping the next delay would reach ``max_delay`` since the first attempt.

    Args:
        max_delay: Seconds, as a float or a timedelta.

    Raises:
        TypeError: If ``max_delay`` is not a number or timedelta.
        ValueError: If ``max_delay`` is negative.
    """

    max_delay: float = attrs.field(converter=_seconds, validator=_SECONDS)

    def __call__(self, attempts: int, elapsed_time: float, *, upcoming_sleep: float = 0.0) -> bool:
        return elapsed_time + upcoming_sleep >= self.max_delay


@attrs.frozen(init=False)
class stop_any(_StopOps):
    """Give up when any of the given conditions says so (what ``a | b`` builds).

    Args:
        *stops: Stop conditions; with none, never stop.

    Raises:
        TypeError: If a condition is not callable.
    """

    stops: tuple[StopCondition, ...]

    def __init__(self, *stops: StopCondition) -> None:
        _callables(self, stops, "stop conditions such as stop_after_attempt(3)")
        self.__attrs_init__(stops)

    def __call__(self, attempts: int, elapsed_time: float, *, upcoming_sleep: float = 0.0) -> bool:
        return any(s(attempts, elapsed_time, upcoming_sleep=upcoming_sleep) for s in self.stops)


@attrs.frozen(init=False)
class stop_all(_StopOps):
    """Give up only when all of the given conditions say so (what ``a & b`` builds).

    Args:
        *stops: Stop conditions; with none, stop at once.

    Raises:
        TypeError: If a condition is not callable.
    """

    stops: tuple[StopCondition, ...]

    def __init__(self, *stops: StopCondition) -> None:
        _callables(self, stops, "stop conditions such as stop_after_attempt(3)")
        self.__attrs_init__(stops)

    def __call__(self, attempts: int, elapsed_time: float, *, upcoming_sleep: float = 0.0) -> bool:
        return all(s(attempts, elapsed_time, upcoming_sleep=upcoming_sleep) for s in self.stops)


@attrs.frozen
class stop_never(_StopOps):
    """Never give up; pair it with a selective retry condition or a workflow timeout."""

    def __call__(self, attempts: int, elapsed_time: float, *, upcoming_sleep: float = 0.0) -> bool:
        return False

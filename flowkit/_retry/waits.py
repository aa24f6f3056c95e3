"""Wait strategies: the delay before a retry (``wait_*``)."""

from __future__ import annotations

import math
from datetime import timedelta

import attrs

from .checks import (
    _BASE,
    _FACTOR,
    _SECONDS,
    _bounded,
    _callables,
    _capped_power,
    _min_not_above_max,
    _number,
    _seconds,
    _uniform,
)
from .protocols import (
    WaitStrategy,
)


class _WaitOps:
    __slots__ = ()

    def __add__(self: WaitStrategy, other: WaitStrategy) -> wait_combine:
        return wait_combine(self, other) if callable(other) else NotImplemented

    def __radd__(self: WaitStrategy, other: WaitStrategy | int) -> WaitStrategy:
        if callable(other):
            return wait_combine(other, self)
        # sum() starts from 0; treating it as "no wait" lets sum() add up strategies.
        return self if other == 0 else NotImplemented


@attrs.frozen
class wait_fixed(_WaitOps):
    """Wait the same time before every retry.

    Args:
        wait: Seconds, as a float or a timedelta.

    Raises:
        TypeError: If ``wait`` is not a number or timedelta.
        ValueError: If ``wait`` is negative.
    """

    wait: float = attrs.field(converter=_seconds, validator=_SECONDS)

    def __call__(self, attempts: int, *, seed: int | None = None) -> float:
        return self.wait


@attrs.frozen
class wait_none(wait_fixed):
    """Retry immediately."""

    wait: float = attrs.field(default=0.0, init=False)


@attrs.frozen
class wait_exponential(_WaitOps):
    """Wait ``multiplier * exp_base ** n`` seconds before retry ``n + 1``, kept within [min, max].

    Args:
        multiplier: The first delay, before clamping.
        exp_base: Growth factor between consecutive delays.
        max: Upper bound on the delay (seconds or timedelta).
        min: Lower bound on the delay (seconds or timedelta).

    Raises:
        TypeError: If an argument is not a number (or timedelta for the bounds).
        ValueError: If an argument is negative, ``exp_base`` is 0, or ``min`` exceeds ``max``.
    """

    multiplier: float = attrs.field(default=1.0, converter=_number, validator=_FACTOR)
    exp_base: float = attrs.field(default=2.0, converter=_number, validator=_BASE)
    max: float = attrs.field(default=60.0, converter=_seconds, validator=_SECONDS)
    min: float = attrs.field(default=0.0, converter=_seconds, validator=_SECONDS)

    def __attrs_post_init__(self) -> None:
        _min_not_above_max(self, self.min, self.max)

    def __call__(self, attempts: int, *, seed: int | None = None) -> float:
        return max(self.min, _capped_power(self.multiplier, self.exp_base, attempts, self.max))


@attrs.frozen
class wait_incrementing(_WaitOps):
    """Wait ``start + increment * n`` seconds before retry ``n + 1``, capped at ``max``.

    A negative ``increment`` shrinks the delay, which never goes below zero.

    Args:
        start: The first delay (seconds or timedelta).
        increment: Added for each further retry (seconds or timedelta, may be negative).
        max: Upper bound on the delay (seconds or timedelta).

    Raises:
        TypeError: If an argument is not a number or timedelta.
        ValueError: If ``start`` or ``max`` is negative.
    """

    start: float = attrs.field(default=0.0, converter=_seconds, validator=_SECONDS)
    increment: float = attrs.field(
        default=100.0, converter=_seconds, validator=_bounded(-math.inf, hint="a float")
    )
    max: float = attrs.field(default=math.inf, converter=_seconds, validator=_SECONDS)

    def __call__(self, attempts: int, *, seed: int | None = None) -> float:
        return max(0.0, min(self.start + self.increment * attempts, self.max))


@attrs.frozen
class wait_random(_WaitOps):
    """Wait a uniformly random time between ``min`` and ``max`` seconds.

    Args:
        min: Shortest delay (seconds or timedelta).
        max: Longest delay (seconds or timedelta).

    Raises:
        TypeError: If an argument is not a number or timedelta.
        ValueError: If an argument is negative or ``min`` exceeds ``max``.
    """

    min: float = attrs.field(default=0.0, converter=_seconds, validator=_SECONDS)
    max: float = attrs.field(default=1.0, converter=_seconds, validator=_SECONDS)

    def __attrs_post_init__(self) -> None:
        _min_not_above_max(self, self.min, self.max)

    def __call__(self, attempts: int, *, seed: int | None = None) -> float:
        return _uniform(self.min, self.max, seed)


@attrs.frozen
class wait_exponential_jitter(_WaitOps):
    """Wait ``initial * exp_base ** n`` plus up to ``jitter`` random seconds, capped at ``max``.

    Args:
        initial: The first delay before jitter (seconds or timedelta).
        exp_base: Growth factor between consecutive delays.
        max: Upper bound on the delay, jitter included (seconds or timedelta).
        jitter: Largest random amount added (seconds or timedelta).

    Raises:
        TypeError: If an argument is not a number (or timedelta).
        ValueError: If an argument is negative or ``exp_base`` is 0.
    """

    initial: float = attrs.field(default=1.0, converter=_seconds, validator=_SECONDS)
    exp_base: float = attrs.field(default=2.0, converter=_number, validator=_BASE)
    max: float = attrs.field(default=60.0, converter=_seconds, validator=_SECONDS)
    jitter: float = attrs.field(default=1.0, converter=_seconds, validator=_SECONDS)

    def __call__(self, attempts: int, *, seed: int | None = None) -> float:
        base = _capped_power(self.initial, self.exp_base, attempts, self.max)
        return min(base + _uniform(0.0, self.jitter, seed), self.max)


@attrs.frozen
class wait_random_exponential(_WaitOps):
    """Wait a uniformly random time between ``min`` and the :class:`wait_exponential` delay.

    Args:
        multiplier: The first upper bound, before clamping.
        exp_base: Growth factor of the upper bound.
        max: Cap on the upper bound (seconds or timedelta).
        min: Shortest delay (seconds or timedelta).

    Raises:
        TypeError: If an argument is not a number (or timedelta for the bounds).
        ValueError: If an argument is negative, ``exp_base`` is 0, or ``min`` exceeds ``max``.
    """

    multiplier: float = attrs.field(default=1.0, converter=_number, validator=_FACTOR)
    exp_base: float = attrs.field(default=2.0, converter=_number, validator=_BASE)
    max: float = attrs.field(default=60.0, converter=_seconds, validator=_SECONDS)
    min: float = attrs.field(default=0.0, converter=_seconds, validator=_SECONDS)

    def __attrs_post_init__(self) -> None:
        _min_not_above_max(self, self.min, self.max)

    def __call__(self, attempts: int, *, seed: int | None = None) -> float:
        upper = _capped_power(self.multiplier, self.exp_base, attempts, self.max)
        return _uniform(self.min, max(self.min, upper), seed)


def wait_full_jitter(
    multiplier: float = 1.0,
    exp_base: float = 2.0,
    max: float | timedelta = 60.0,
    min: float | timedelta = 0.0,
) -> wait_random_exponential:
    """Build a :class:`wait_random_exponential`; "full jitter" is its name in the AWS literature.

    Args:
        multiplier: The first upper bound, before clamping.
        exp_base: Growth factor of the upper bound.
        max: Cap on the upper bound (seconds or timedelta).
        min: Shortest delay (seconds or timedelta).

    Returns:
        The equivalent :class:`wait_random_exponential`.

    Raises:
        TypeError: If an argument is not a number (or timedelta for the bounds).
        ValueError: If an argument is negative, ``exp_base`` is 0, or ``min`` exceeds ``max``.
    """
    return wait_random_exponential(multiplier=multiplier, exp_base=exp_base, max=max, min=min)


@attrs.frozen(init=False)
class wait_chain(_WaitOps):
    """Use the first strategy for the first retry, the second for the second, and so on.

    The last strategy serves every retry past the end of the list. Each strategy is called with the
    overall retry index, not its position in the chain.

    Args:
        *strategies: At least one wait strategy.

    Raises:
        ValueError: If no strategy is given.
        TypeError: If a strategy is not callable.
    """

    strategies: tuple[WaitStrategy, ...]

    def __init__(self, *strategies: WaitStrategy) -> None:
        if not strategies:
            raise ValueError(
                "wait_chain(): pass at least one strategy, e.g. wait_chain(wait_fixed(1))."
            )
        _callables(self, strategies, "wait strategies such as wait_fixed(1)")
        self.__attrs_init__(strategies)

    def __call__(self, attempts: int, *, seed: int | None = None) -> float:
        index = max(0, min(attempts, len(self.strategies) - 1))
        return self.strategies[index](attempts, seed=seed)


@attrs.frozen(init=False)
class wait_combine(_WaitOps):
    """Wait the sum of the given strategies' delays (what ``a + b`` builds).

    Args:
        *strategies: Wait strategies; with none, the delay is 0.

    Raises:
        TypeError: If a strategy is not callable.
    """

    strategies: tuple[WaitStrategy, ...]

    def __init__(self, *strategies: WaitStrategy) -> None:
        _callables(self, strategies, "wait strategies such as wait_fixed(1)")
        self.__attrs_init__(strategies)

    def __call__(self, attempts: int, *, seed: int | None = None) -> float:
        return sum(strategy(attempts, seed=seed) for strategy in self.strategies)

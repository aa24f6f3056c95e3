"""Retry policies for workflow steps.

When a step raises, the engine asks the step's policy what to do::

    delay = policy.next(elapsed_time, attempts, error, seed=seed)

``attempts`` counts failures so far (1 after the first failure), ``elapsed_time`` is the number of
seconds since the first failure, and the answer is the number of seconds to sleep before running
the step again, or ``None`` to give up and let the error propagate.

Policies are usually assembled from three independent pieces with :func:`retry_policy`:

- a retry condition (``retry_if_*``) decides whether this error is worth retrying at all;
- a wait strategy (``wait_*``) computes the delay, counting retries from 0;
- a stop condition (``stop_*``) decides when to give up, seeing the delay about to be slept.

Conditions combine with ``|`` and ``&`` and wait strategies add up with ``+`` or ``sum()``::

    policy = retry_policy(
        retry=retry_if_exception_type(TimeoutError) | retry_if_exception_message(match="503"),
        wait=wait_exponential(max=30) + wait_random(0, 1),
        stop=stop_after_attempt(5) | stop_after_delay(timedelta(minutes=2)),
    )

The names and the arithmetic are those of llama-index-workflows' ``workflows.retry_policy``, so
switching is a change of imports. Randomised waits draw from ``random.Random(seed)`` when the engine
passes a seed, which makes a replayed run sleep exactly as long as the original did.
"""

from __future__ import annotations

import math
import random
import re
import types
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import attrs

__all__ = [
    "RetryInfo",
    "RetryPolicy",
    "RetryCondition",
    "WaitStrategy",
    "StopCondition",
    "retry_policy",
    "ConstantDelayRetryPolicy",
    "ExponentialBackoffRetryPolicy",
    "retry_if_exception",
    "retry_if_exception_type",
    "retry_if_not_exception_type",
    "retry_unless_exception_type",
    "retry_if_exception_message",
    "retry_if_not_exception_message",
    "retry_if_exception_cause_type",
    "retry_any",
    "retry_all",
    "retry_always",
    "retry_never",
    "wait_fixed",
    "wait_none",
    "wait_exponential",
    "wait_incrementing",
    "wait_random",
    "wait_exponential_jitter",
    "wait_random_exponential",
    "wait_full_jitter",
    "wait_chain",
    "wait_combine",
    "stop_after_attempt",
    "stop_after_delay",
    "stop_before_delay",
    "stop_any",
    "stop_all",
    "stop_never",
]

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
            elapsed_time: Seconds since the first failure.
            attempts: Failures so far, 1 after the first failure.
            error: The exception the step just raised.
            seed: Seed for any randomness, so that a replayed run gets the same delay.

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


# --- argument checking ----------------------------------------------------------------------


def _seconds(value: float | timedelta) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    # Left as is so the field's validator, which knows the constructor's name, reports it.
    return value


def _number(value: float) -> float:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _call_text(inst: attrs.AttrsInstance, name: str, value: object) -> str:
    first = next(f.name for f in attrs.fields(type(inst)) if f.init)
    shown = f"{value!r}" if name == first else f"{name}={value!r}"
    return f"{type(inst).__name__}({shown})"


def _bounded(
    low: float, *, strict: bool = False, hint: str
) -> Callable[[attrs.AttrsInstance, attrs.Attribute[float], float], None]:
    """Build a validator for a float field bounded below by ``low`` (inclusive unless strict)."""

    def check(inst: attrs.AttrsInstance, attr: attrs.Attribute[float], value: float) -> None:
        where = _call_text(inst, attr.name, value)
        if not isinstance(value, float):
            raise TypeError(f"{where}: {attr.name} must be a number; pass {hint}.")
        if not (value > low if strict else value >= low):  # `not` form also rejects NaN
            op = ">" if strict else ">="
            raise ValueError(f"{where}: {attr.name} must be {op} {low:g}; pass {hint}.")

    return check


_SECONDS = _bounded(0, hint="a non-negative number of seconds (float or timedelta)")
_FACTOR = _bounded(0, hint="a non-negative number such as 1")
_BASE = _bounded(0, strict=True, hint="a positive number such as 2")


def _attempt_count(inst: attrs.AttrsInstance, attr: attrs.Attribute[int], value: int) -> None:
    where = _call_text(inst, attr.name, value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{where}: {attr.name} must be an int >= 1, not {type(value).__name__}.")
    if value < 1:
        raise ValueError(f"{where}: {attr.name} must be an int >= 1.")


def _min_not_above_max(inst: object, low: float, high: float) -> None:
    if low > high:
        raise ValueError(
            f"{type(inst).__name__}(min={low!r}, max={high!r}): min must be <= max; "
            "lower min or raise max."
        )


def _callables(inst: object, items: tuple[object, ...], kind: str) -> None:
    for item in items:
        if not callable(item):
            raise TypeError(f"{type(inst).__name__}(): got {item!r}; pass {kind}.")


def _is_exception_types(value: object) -> bool:
    if isinstance(value, type):
        return issubclass(value, BaseException)
    if isinstance(value, tuple):
        return len(value) > 0 and all(_is_exception_types(v) for v in value)
    if isinstance(value, types.UnionType):
        return all(_is_exception_types(v) for v in value.__args__)
    return False


def _exception_types(inst: attrs.AttrsInstance, attr: attrs.Attribute[Any], value: object) -> None:
    if not _is_exception_types(value):
        raise TypeError(
            f"{_call_text(inst, attr.name, value)}: {attr.name} must be an exception class or a "
            "non-empty tuple of them, e.g. (TimeoutError, ConnectionError)."
        )


def _uniform(low: float, high: float, seed: int | None) -> float:
    if seed is None:
        return random.uniform(low, high)
    return random.Random(seed).uniform(low, high)


def _capped_power(scale: float, base: float, exponent: int, cap: float) -> float:
    try:
        raw = scale * base**exponent
    except OverflowError:
        # After about a thousand retries the power leaves float range; the cap still holds.
        return min(cap, math.inf if scale > 0 else 0.0)
    return min(raw, cap)


# --- retry conditions -----------------------------------------------------------------------


class _RetryOps:
    __slots__ = ()

    def __or__(self: RetryCondition, other: RetryCondition) -> retry_any:
        return retry_any(self, other) if callable(other) else NotImplemented

    def __ror__(self: RetryCondition, other: RetryCondition) -> retry_any:
        return retry_any(other, self) if callable(other) else NotImplemented

    def __and__(self: RetryCondition, other: RetryCondition) -> retry_all:
        return retry_all(self, other) if callable(other) else NotImplemented

    def __rand__(self: RetryCondition, other: RetryCondition) -> retry_all:
        return retry_all(other, self) if callable(other) else NotImplemented


def _check_callable(inst: attrs.AttrsInstance, attr: attrs.Attribute[Any], value: object) -> None:
    if not callable(value):
        raise TypeError(
            f"{_call_text(inst, attr.name, value)}: {attr.name} must be a callable taking the "
            "exception and returning a bool, e.g. lambda e: 'busy' in str(e)."
        )


@attrs.frozen
class retry_if_exception(_RetryOps):
    """Retry when a custom predicate accepts the exception.

    Args:
        predicate: Called with the exception; a true result means retry.

    Raises:
        TypeError: If ``predicate`` is not callable.
    """

    predicate: Callable[[BaseException], bool] = attrs.field(validator=_check_callable)

    def __call__(self, error: BaseException) -> bool:
        return self.predicate(error)


@attrs.frozen
class retry_if_exception_type(_RetryOps):
    """Retry when the exception is an instance of the given type(s).

    Args:
        exception_types: An exception class or a tuple of them.

    Raises:
        TypeError: If ``exception_types`` is not an exception class or a non-empty tuple of them.
    """

    exception_types: _ExceptionTypes = attrs.field(default=Exception, validator=_exception_types)

    def __call__(self, error: BaseException) -> bool:
        return isinstance(error, self.exception_types)


@attrs.frozen
class retry_if_not_exception_type(_RetryOps):
    """Retry unless the exception is an instance of the given type(s).

    Args:
        exception_types: An exception class or a tuple of them that must not be retried.

    Raises:
        TypeError: If ``exception_types`` is not an exception class or a non-empty tuple of them.
    """

    exception_types: _ExceptionTypes = attrs.field(default=Exception, validator=_exception_types)

    def __call__(self, error: BaseException) -> bool:
        return not isinstance(error, self.exception_types)


@attrs.frozen
class retry_unless_exception_type(retry_if_not_exception_type):
    """Retry unless the exception is an instance of the given type(s); tenacity's spelling.

    Args:
        exception_types: An exception class or a tuple of them that must not be retried.

    Raises:
        TypeError: If ``exception_types`` is not an exception class or a non-empty tuple of them.
    """


@attrs.frozen
class retry_if_exception_message(_RetryOps):
    """Retry when ``str(error)`` equals ``message`` or contains a match for the regex ``match``.

    Args:
        message: The exact message to retry on.
        match: A regular expression searched for anywhere in the message.

    Raises:
        TypeError: If neither or both of ``message`` and ``match`` are given.
        ValueError: If ``match`` is not a valid regular expression.
    """

    message: str | None = None
    match: str | re.Pattern[str] | None = None

    def __attrs_post_init__(self) -> None:
        name = type(self).__name__
        if not isinstance(self.message, str | None) or not isinstance(
            self.match, str | re.Pattern | None
        ):
            raise TypeError(
                f"{name}(message={self.message!r}, match={self.match!r}): message must be a str "
                "and match a str or compiled re.Pattern."
            )
        if (self.message is None) == (self.match is None):
            raise TypeError(
                f"{name}(message={self.message!r}, match={self.match!r}): pass exactly one of "
                "message= (exact text) or match= (a regular expression)."
            )
        if isinstance(self.match, str):
            try:
                re.compile(self.match)
            except re.error as exc:
                raise ValueError(
                    f"{name}(match={self.match!r}): match is not a valid regular expression "
                    f"({exc}); escape literal text with re.escape() or pass message= instead."
                ) from exc

    def __call__(self, error: BaseException) -> bool:
        text = str(error)
        if self.message is not None:
            return text == self.message
        assert self.match is not None  # guaranteed by __attrs_post_init__
        return re.search(self.match, text) is not None


@attrs.frozen
class retry_if_not_exception_message(retry_if_exception_message):
    """Retry unless ``str(error)`` equals ``message`` or contains a match for ``match``.

    Args:
        message: The exact message that must not be retried.
        match: A regular expression that, when found in the message, stops retries.

    Raises:
        TypeError: If neither or both of ``message`` and ``match`` are given.
        ValueError: If ``match`` is not a valid regular expression.
    """

    def __call__(self, error: BaseException) -> bool:
        return not super().__call__(error)


@attrs.frozen
class retry_if_exception_cause_type(_RetryOps):
    """Retry when an exception in the error's ``__cause__`` chain has the given type(s).

    Only explicit chaining (``raise X from Y``) is followed, and the error itself is not tested;
    write a :class:`retry_if_exception` predicate to inspect ``__context__`` instead.

    Args:
        exception_types: An exception class or a tuple of them to look for among the causes.

    Raises:
        TypeError: If ``exception_types`` is not an exception class or a non-empty tuple of them.
    """

    exception_types: _ExceptionTypes = attrs.field(default=Exception, validator=_exception_types)

    def __call__(self, error: BaseException) -> bool:
        cause = error.__cause__
        seen: set[int] = set()
        # A hand-built cycle of causes must not hang the engine.
        while cause is not None and id(cause) not in seen:
            if isinstance(cause, self.exception_types):
                return True
            seen.add(id(cause))
            cause = cause.__cause__
        return False


@attrs.frozen(init=False)
class retry_any(_RetryOps):
    """Retry when any of the given conditions says so (what ``a | b`` builds).

    Args:
        *retries: Retry conditions; with none, never retry.

    Raises:
        TypeError: If a condition is not callable.
    """

    retries: tuple[RetryCondition, ...]

    def __init__(self, *retries: RetryCondition) -> None:
        _callables(self, retries, "retry conditions such as retry_if_exception_type(OSError)")
        self.__attrs_init__(retries)

    def __call__(self, error: BaseException) -> bool:
        return any(retry(error) for retry in self.retries)


@attrs.frozen(init=False)
class retry_all(_RetryOps):
    """Retry only when all of the given conditions say so (what ``a & b`` builds).

    Args:
        *retries: Retry conditions; with none, always retry.

    Raises:
        TypeError: If a condition is not callable.
    """

    retries: tuple[RetryCondition, ...]

    def __init__(self, *retries: RetryCondition) -> None:
        _callables(self, retries, "retry conditions such as retry_if_exception_type(OSError)")
        self.__attrs_init__(retries)

    def __call__(self, error: BaseException) -> bool:
        return all(retry(error) for retry in self.retries)


@attrs.frozen
class retry_always(_RetryOps):
    """Retry every exception."""

    def __call__(self, error: BaseException) -> bool:
        return True


@attrs.frozen
class retry_never(_RetryOps):
    """Retry no exception."""

    def __call__(self, error: BaseException) -> bool:
        return False


# --- wait strategies ------------------------------------------------------------------------


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


# --- stop conditions ------------------------------------------------------------------------


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
    """Give up once ``max_delay`` has passed since the first failure.

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
    """Give up if sleeping the next delay would reach ``max_delay`` since the first failure.

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


# --- policies -------------------------------------------------------------------------------


@attrs.frozen
class _ComposedRetryPolicy:
    retry: RetryCondition | None
    wait: WaitStrategy
    stop: StopCondition

    def next(
        self, elapsed_time: float, attempts: int, error: Exception, *, seed: int | None = None
    ) -> float | None:
        if self.retry is not None and not self.retry(error):
            return None
        # The engine counts failures from 1 while wait strategies count retries from 0. The delay
        # is computed before the stop check because stop_before_delay needs to see it.
        delay = self.wait(max(attempts - 1, 0), seed=seed)
        if self.stop(attempts, elapsed_time, upcoming_sleep=delay):
            return None
        return delay


_DEFAULT_WAIT = wait_fixed(5)
_DEFAULT_STOP = stop_after_attempt(3)


def retry_policy(
    retry: RetryCondition | None = None,
    wait: WaitStrategy = _DEFAULT_WAIT,
    stop: StopCondition = _DEFAULT_STOP,
) -> RetryPolicy:
    """Build a retry policy from a retry condition, a wait strategy and a stop condition.

    The retry condition is asked first: a non-retryable error gives up at once. Otherwise the
    wait strategy computes the delay and the stop condition, shown that delay, can still veto the
    retry. With no arguments: retry any exception, 5 seconds apart, at most 3 attempts in all.

    Args:
        retry: Whether an exception is retryable; ``None`` retries every exception.
        wait: The delay before each retry; defaults to ``wait_fixed(5)``.
        stop: When to give up; defaults to ``stop_after_attempt(3)``.

    Returns:
        A :class:`RetryPolicy`.

    Raises:
        TypeError: If a component is not callable.
    """
    for name, part, example in (
        ("retry", retry, "retry_if_exception_type(OSError)"),
        ("wait", wait, "wait_fixed(5)"),
        ("stop", stop, "stop_after_attempt(3)"),
    ):
        if part is not None and not callable(part):
            raise TypeError(
                f"retry_policy({name}={part!r}): {name} must be callable, e.g. {example}."
            )
    return _ComposedRetryPolicy(retry=retry, wait=wait, stop=stop)


class _PresetPolicy:
    __slots__ = ()

    def _compose(self) -> RetryPolicy:
        raise NotImplementedError

    def next(
        self, elapsed_time: float, attempts: int, error: Exception, *, seed: int | None = None
    ) -> float | None:
        """Return the delay before the next attempt, or ``None`` to give up.

        Args:
            elapsed_time: Seconds since the first failure.
            attempts: Failures so far, 1 after the first failure.
            error: The exception the step just raised.
            seed: Seed for any jitter, so that a replayed run gets the same delay.

        Returns:
            Seconds to sleep, or ``None`` once ``maximum_attempts`` failures have happened.
        """
        return self._compose().next(elapsed_time, attempts, error, seed=seed)


@attrs.frozen
class ConstantDelayRetryPolicy(_PresetPolicy):
    """Retry every exception after a fixed delay, up to a number of attempts.

    Unlike in llama-index-workflows, this class is not deprecated in flowkit and emits no warning.
    Same as ``retry_policy(wait=wait_fixed(delay), stop=stop_after_attempt(maximum_attempts))``.

    Args:
        maximum_attempts: Total attempts allowed, the first run included.
        delay: Seconds between attempts, as a float or a timedelta.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``maximum_attempts`` is below 1 or ``delay`` is negative.
    """

    maximum_attempts: int = attrs.field(default=3, validator=_attempt_count)
    delay: float = attrs.field(default=5.0, converter=_seconds, validator=_SECONDS)

    def _compose(self) -> RetryPolicy:
        return retry_policy(
            wait=wait_fixed(self.delay), stop=stop_after_attempt(self.maximum_attempts)
        )


@attrs.frozen
class ExponentialBackoffRetryPolicy(_PresetPolicy):
    """Retry every exception with exponentially growing delays, up to a number of attempts.

    Unlike in llama-index-workflows, this class is not deprecated in flowkit and emits no warning.
    Retry ``n + 1`` waits ``initial_delay * multiplier ** n`` seconds capped at ``max_delay``; with
    ``jitter`` the wait is instead uniformly random between 0 and that value (full jitter).

    Args:
        maximum_attempts: Total attempts allowed, the first run included.
        initial_delay: Seconds before the first retry (float or timedelta).
        multiplier: Growth factor between consecutive delays.
        max_delay: Cap on the delay (float or timedelta).
        jitter: Whether to randomise each delay between 0 and its exponential value.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``maximum_attempts`` is below 1, a delay is negative, or ``multiplier`` is 0.
    """

    maximum_attempts: int = attrs.field(default=5, validator=_attempt_count)
    initial_delay: float = attrs.field(default=1.0, converter=_seconds, validator=_SECONDS)
    multiplier: float = attrs.field(default=2.0, converter=_number, validator=_BASE)
    max_delay: float = attrs.field(default=60.0, converter=_seconds, validator=_SECONDS)
    jitter: bool = attrs.field(default=True, converter=bool)

    def _compose(self) -> RetryPolicy:
        kind = wait_random_exponential if self.jitter else wait_exponential
        wait = kind(multiplier=self.initial_delay, exp_base=self.multiplier, max=self.max_delay)
        return retry_policy(wait=wait, stop=stop_after_attempt(self.maximum_attempts))

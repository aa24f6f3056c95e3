"""Retry policies for workflow steps.

When a step raises, the engine asks the step's policy what to do::

    delay = policy.next(elapsed_time, attempts, error, seed=seed)

``attempts`` counts failures so far (1 after the first failure), ``elapsed_time`` is the number of
seconds since the step's first attempt on this event started (as tenacity measures it for
``stop_after_delay``), and the answer is the number of seconds to sleep before running the step
again, or ``None`` to give up and let the error propagate.

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
switching is a change of imports. The engine calls ``policy.next(elapsed_time, attempts, error)``
without a seed, so that a policy with the incumbent's three-argument ``next`` keeps working;
randomised waits then draw from the ``random`` module, and differ from run to run (a run resumed
from a snapshot included). Called with ``seed=``, they draw from ``random.Random(seed)``: the same
seed gives the same delay, for tests or for callers of ``next`` of their own.
"""

from __future__ import annotations

import warnings

import attrs

from ._retry.checks import (
    _BASE,
    _SECONDS,
    _attempt_count,
    _number,
    _seconds,
)
from ._retry.conditions import (
    retry_all,
    retry_always,
    retry_any,
    retry_if_exception,
    retry_if_exception_cause_type,
    retry_if_exception_message,
    retry_if_exception_type,
    retry_if_not_exception_message,
    retry_if_not_exception_type,
    retry_never,
    retry_unless_exception_type,
)
from ._retry.protocols import (
    RetryCondition,
    RetryInfo,
    RetryPolicy,
    StopCondition,
    WaitStrategy,
)
from ._retry.stops import (
    stop_after_attempt,
    stop_after_delay,
    stop_all,
    stop_any,
    stop_before_delay,
    stop_never,
)
from ._retry.waits import (
    wait_chain,
    wait_combine,
    wait_exponential,
    wait_exponential_jitter,
    wait_fixed,
    wait_full_jitter,
    wait_incrementing,
    wait_none,
    wait_random,
    wait_random_exponential,
)

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


@attrs.frozen(repr=False)
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

    def __repr__(self) -> str:
        # Shown as the call that makes it, as drawings and error messages print it.
        retry = "" if self.retry is None else f"retry={self.retry!r}, "
        return f"retry_policy({retry}wait={self.wait!r}, stop={self.stop!r})"


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

    def __attrs_post_init__(self) -> None:
        # As in llama-index-workflows; stacklevel 3 names the caller of the generated __init__.
        name = type(self).__name__
        wait = (
            "wait_fixed(delay)" if name == "ConstantDelayRetryPolicy" else "wait_exponential(...)"
        )
        warnings.warn(
            f"{name} is deprecated, use retry_policy(wait={wait}, stop=stop_after_attempt(n)) "
            "instead",
            DeprecationWarning,
            stacklevel=3,
        )

    def _compose(self) -> RetryPolicy:
        raise NotImplementedError

    def next(
        self, elapsed_time: float, attempts: int, error: Exception, *, seed: int | None = None
    ) -> float | None:
        """Return the delay before the next attempt, or ``None`` to give up.

        Args:
            elapsed_time: Seconds since the step's first attempt on this event started.
            attempts: Failures so far, 1 after the first failure.
            error: The exception the step just raised.
            seed: Seed for any jitter: the same seed gives the same delay. The engine
                passes none.

        Returns:
            Seconds to sleep, or ``None`` once ``maximum_attempts`` failures have happened.
        """
        return self._compose().next(elapsed_time, attempts, error, seed=seed)


@attrs.frozen
class ConstantDelayRetryPolicy(_PresetPolicy):
    """Retry every exception after a fixed delay, up to a number of attempts.

    Deprecated, as in llama-index-workflows (creating one emits a DeprecationWarning): use
    ``retry_policy(wait=wait_fixed(delay), stop=stop_after_attempt(maximum_attempts))``.

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

    Deprecated, as in llama-index-workflows (creating one emits a DeprecationWarning): use
    ``retry_policy(wait=wait_exponential(...), stop=stop_after_attempt(n))``, or
    ``wait_random_exponential`` for jitter.

    Retry ``n + 1`` waits ``initial_delay * multiplier ** n`` seconds capped at ``max_delay``;
    with ``jitter`` the wait is instead uniformly random between 0 and that value (full jitter).

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


# The classes live in private modules; users, reprs and pickles see them here.
for _name in __all__:
    _value = globals()[_name]
    if getattr(_value, "__module__", "").startswith("flowkit._retry"):
        _value.__module__ = __name__
del _name, _value

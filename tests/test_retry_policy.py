"""Tests for flowkit.retry_policy: delays, stopping, composition, jitter and argument checking."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import anyio
import anyio.lowlevel
import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowkit import Workflow, step
from flowkit import retry_policy as rp
from flowkit.events import StartEvent, StopEvent
from flowkit.retry_policy import (
    ConstantDelayRetryPolicy,
    ExponentialBackoffRetryPolicy,
    RetryInfo,
    RetryPolicy,
    WaitStrategy,
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
    retry_policy,
    retry_unless_exception_type,
    stop_after_attempt,
    stop_after_delay,
    stop_all,
    stop_any,
    stop_before_delay,
    stop_never,
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

# Creating the older policy classes warns, as in the incumbent; one test checks the warning.
pytestmark = pytest.mark.filterwarnings("ignore:.*RetryPolicy is deprecated:DeprecationWarning")

BOOM = RuntimeError("boom")
seeds = st.integers(min_value=-(2**63), max_value=2**63)
retry_indexes = st.integers(min_value=0, max_value=2000)


def delays(
    policy: RetryPolicy, attempts: range | list[int], elapsed: float = 0.0, seed: int | None = None
) -> list[float | None]:
    return [policy.next(elapsed, a, BOOM, seed=seed) for a in attempts]


def caused_by(outer: Exception, *causes: Exception) -> Exception:
    current = outer
    for cause in causes:
        current.__cause__ = cause
        current = cause
    return outer


# --- the public surface --------------------------------------------------------------------


def test_all_lists_the_llama_index_names() -> None:
    assert set(rp.__all__) == {
        "RetryInfo", "RetryPolicy", "RetryCondition", "WaitStrategy", "StopCondition",
        "retry_policy", "ConstantDelayRetryPolicy", "ExponentialBackoffRetryPolicy",
        "retry_if_exception", "retry_if_exception_type", "retry_if_not_exception_type",
        "retry_unless_exception_type", "retry_if_exception_message",
        "retry_if_not_exception_message", "retry_if_exception_cause_type", "retry_any",
        "retry_all", "retry_always", "retry_never", "wait_fixed", "wait_none",
        "wait_exponential", "wait_incrementing", "wait_random", "wait_exponential_jitter",
        "wait_random_exponential", "wait_full_jitter", "wait_chain", "wait_combine",
        "stop_after_attempt", "stop_after_delay", "stop_before_delay", "stop_any", "stop_all",
        "stop_never",
    }  # fmt: skip
    assert all(hasattr(rp, name) for name in rp.__all__)


def test_every_policy_satisfies_the_runtime_protocol() -> None:
    assert isinstance(retry_policy(), RetryPolicy)
    assert isinstance(ConstantDelayRetryPolicy(), RetryPolicy)
    assert isinstance(ExponentialBackoffRetryPolicy(), RetryPolicy)
    assert not isinstance(wait_fixed(1), RetryPolicy)


def test_retry_info_is_frozen() -> None:
    failed_at = datetime(2025, 1, 2, tzinfo=timezone.utc)
    info = RetryInfo(
        retry_number=2, elapsed_seconds=1.5, last_exception=BOOM, last_failed_at=failed_at
    )
    assert (info.retry_number, info.elapsed_seconds) == (2, 1.5)
    assert info.last_exception is BOOM
    assert info.last_failed_at == failed_at
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        info.retry_number = 3  # type: ignore[misc]


def test_components_have_readable_reprs() -> None:
    assert repr(wait_fixed(timedelta(seconds=5))) == "wait_fixed(wait=5.0)"
    assert repr(stop_after_attempt(3) | stop_never()) == (
        "stop_any(stops=(stop_after_attempt(max_attempt_number=3), stop_never()))"
    )


# --- the policy: attempts, retry before stop, stop after wait ------------------------------


def test_default_policy_retries_twice_five_seconds_apart() -> None:
    assert delays(retry_policy(), range(1, 5)) == [5.0, 5.0, None, None]


def test_attempts_counts_failures_and_wait_counts_retries_from_zero() -> None:
    policy = retry_policy(wait=wait_chain(wait_fixed(1), wait_fixed(2)), stop=stop_never())
    # attempts=1 (first failure) gets the chain's first wait; 0 is clamped onto it too.
    assert delays(policy, range(0, 4)) == [1.0, 1.0, 2.0, 2.0]


def test_a_non_retryable_error_gives_up_regardless_of_stop() -> None:
    policy = retry_policy(retry=retry_if_exception_type(ValueError), stop=stop_never())
    assert policy.next(0.0, 1, TypeError("no"), seed=None) is None
    assert policy.next(0.0, 1, ValueError("yes")) == 5.0


def test_stop_sees_the_upcoming_sleep() -> None:
    policy = retry_policy(wait=wait_fixed(5), stop=stop_before_delay(10))
    assert policy.next(4.99, 1, BOOM) == 5.0
    assert policy.next(5.0, 1, BOOM) is None


def test_stop_after_delay_is_inclusive_and_ignores_the_sleep() -> None:
    policy = retry_policy(wait=wait_fixed(100), stop=stop_after_delay(timedelta(seconds=10)))
    assert policy.next(9.99, 1, BOOM) == 100.0
    assert policy.next(10.0, 1, BOOM) is None


def test_the_older_policy_classes_are_deprecated_as_in_the_incumbent() -> None:
    with pytest.warns(
        DeprecationWarning,
        match=r"^ConstantDelayRetryPolicy is deprecated, use "
        r"retry_policy\(wait=wait_fixed\(delay\), stop=stop_after_attempt\(n\)\) instead$",
    ) as caught:
        ConstantDelayRetryPolicy()
    assert caught[0].filename == __file__  # the warning points at the caller
    with pytest.warns(
        DeprecationWarning,
        match=r"^ExponentialBackoffRetryPolicy is deprecated, use "
        r"retry_policy\(wait=wait_exponential\(\.\.\.\), stop=stop_after_attempt\(n\)\) instead$",
    ):
        ExponentialBackoffRetryPolicy()


def test_constant_delay_policy_matches_its_composition() -> None:
    policy = ConstantDelayRetryPolicy(maximum_attempts=4, delay=timedelta(seconds=2))
    assert delays(policy, range(1, 6)) == [2.0, 2.0, 2.0, None, None]
    assert delays(ConstantDelayRetryPolicy(), range(1, 4)) == [5.0, 5.0, None]


def test_exponential_backoff_without_jitter_doubles_up_to_the_cap() -> None:
    policy = ExponentialBackoffRetryPolicy(maximum_attempts=9, max_delay=20, jitter=False)
    assert delays(policy, range(1, 10)) == [1.0, 2.0, 4.0, 8.0, 16.0, 20.0, 20.0, 20.0, None]


@given(seed=seeds, attempts=st.integers(min_value=1, max_value=4))
def test_exponential_backoff_jitter_is_full_jitter(seed: int, attempts: int) -> None:
    jittery = ExponentialBackoffRetryPolicy(initial_delay=0.5, multiplier=3, max_delay=10)
    steady = ExponentialBackoffRetryPolicy(
        initial_delay=0.5, multiplier=3, max_delay=10, jitter=False
    )
    ceiling = steady.next(0.0, attempts, BOOM)
    delay = jittery.next(0.0, attempts, BOOM, seed=seed)
    assert ceiling is not None
    assert delay is not None
    assert 0.0 <= delay <= ceiling
    assert jittery.next(0.0, attempts, BOOM, seed=seed) == delay
    assert jittery.next(0.0, 5, BOOM, seed=seed) is None


# --- retry conditions ---------------------------------------------------------------------


def test_exception_type_conditions() -> None:
    transient = retry_if_exception_type((TimeoutError, ConnectionError))
    assert transient(ConnectionResetError())
    assert transient(TimeoutError())
    assert not transient(ValueError())
    assert retry_if_exception_type(KeyError | IndexError)(IndexError())
    assert retry_if_exception_type()(ValueError())
    assert not retry_if_exception_type()(KeyboardInterrupt())
    assert not retry_if_not_exception_type(ValueError)(ValueError())
    assert retry_if_not_exception_type(ValueError)(TypeError())
    assert not retry_unless_exception_type(PermissionError)(PermissionError())
    assert isinstance(retry_unless_exception_type(OSError), retry_if_not_exception_type)


def test_cause_type_follows_explicit_causes_only() -> None:
    wants_os = retry_if_exception_cause_type(OSError)
    assert wants_os(caused_by(RuntimeError(), ValueError(), ConnectionError()))
    assert not wants_os(OSError("the error itself is not a cause"))
    assert not wants_os(caused_by(RuntimeError(), ValueError()))
    implicit = RuntimeError("implicit context, not a cause")
    implicit.__context__ = ConnectionError("inner")
    assert not wants_os(implicit)


def test_cause_type_terminates_on_a_cycle() -> None:
    first, second = ValueError("a"), ValueError("b")
    first.__cause__, second.__cause__ = second, first
    assert not retry_if_exception_cause_type(OSError)(first)
    assert retry_if_exception_cause_type(ValueError)(first)


def test_message_conditions() -> None:
    assert retry_if_exception_message(message="please retry")(RuntimeError("please retry"))
    assert not retry_if_exception_message(message="please")(RuntimeError("please retry"))
    server_error = retry_if_exception_message(match=r"HTTP 5\d\d")
    assert server_error(RuntimeError("got HTTP 503 from upstream"))
    assert not server_error(RuntimeError("got HTTP 404"))
    compiled = retry_if_exception_message(match=re.compile("rate limit", re.IGNORECASE))
    assert compiled(RuntimeError("Rate Limit exceeded"))
    permanent = retry_if_not_exception_message(match="invalid_api_key|permission denied")
    assert not permanent(RuntimeError("permission denied for model"))
    assert permanent(RuntimeError("timeout"))
    assert retry_if_exception_message(match="")(RuntimeError("anything"))


def test_custom_predicate_always_and_never() -> None:
    busy = retry_if_exception(lambda e: "busy" in str(e))
    assert busy(RuntimeError("server busy"))
    assert not busy(RuntimeError("idle"))
    assert retry_always()(BOOM)
    assert not retry_never()(BOOM)


def test_retry_operators_build_any_and_all() -> None:
    either = retry_if_exception_type(ValueError) | retry_if_exception_message(match="again")
    assert isinstance(either, retry_any)
    assert either(ValueError())
    assert either(RuntimeError("try again"))
    assert not either(BOOM)
    both = retry_if_exception_type(RuntimeError) & retry_if_exception_message(match="temp")
    assert isinstance(both, retry_all)
    assert both(RuntimeError("temporary"))
    assert not both(RuntimeError("fatal"))
    assert not both(ValueError("temporary"))
    # A plain callable on the left still composes through the reflected operators.
    assert isinstance((lambda e: False) | retry_always(), retry_any)
    assert isinstance((lambda e: True) & retry_never(), retry_all)
    assert retry_any()(BOOM) is False
    assert retry_all()(BOOM) is True


def test_policy_with_operator_built_retry_condition() -> None:
    policy = retry_policy(
        retry=retry_if_exception_type(ConnectionError)
        | retry_if_exception_message(match="5\\d\\d"),
        wait=wait_fixed(1),
    )
    assert policy.next(0.0, 1, ConnectionError()) == 1.0
    assert policy.next(0.0, 1, ValueError("HTTP 502")) == 1.0
    assert policy.next(0.0, 1, ValueError("HTTP 400")) is None


# --- wait strategies ----------------------------------------------------------------------


def test_deterministic_waits() -> None:
    assert [wait_fixed(timedelta(milliseconds=1500))(n) for n in range(3)] == [1.5] * 3
    assert wait_none()(7) == 0.0
    assert isinstance(wait_none(), wait_fixed)
    expo = wait_exponential(multiplier=0.5, exp_base=3, max=timedelta(seconds=10), min=1)
    assert [expo(n) for n in range(5)] == [1.0, 1.5, 4.5, 10.0, 10.0]
    inc = wait_incrementing(start=1, increment=2, max=6)
    assert [inc(n) for n in range(5)] == [1.0, 3.0, 5.0, 6.0, 6.0]
    shrinking = wait_incrementing(start=3, increment=-2)
    assert [shrinking(n) for n in range(4)] == [3.0, 1.0, 0.0, 0.0]


def test_exponential_does_not_overflow_after_thousands_of_retries() -> None:
    assert wait_exponential(max=30)(5000) == 30.0
    assert wait_random_exponential(max=30)(5000, seed=1) <= 30.0
    assert wait_exponential_jitter(max=30)(5000, seed=1) == 30.0


def test_wait_chain_uses_the_overall_retry_index_and_repeats_the_last() -> None:
    chain = wait_chain(wait_fixed(1), wait_incrementing(start=0, increment=10))
    # The second strategy sees index 1, not 0, and keeps being used afterwards.
    assert [chain(n) for n in range(4)] == [1.0, 10.0, 20.0, 30.0]


def test_waits_add_up_with_plus_and_sum() -> None:
    plus = wait_fixed(1) + wait_incrementing(start=0, increment=1)
    assert isinstance(plus, wait_combine)
    assert [plus(n) for n in range(3)] == [1.0, 2.0, 3.0]
    # typeshed types sum() as returning the element type, hence the widening annotation.
    total: object = sum([wait_fixed(1), wait_fixed(2), wait_fixed(3)])
    assert isinstance(total, wait_combine)
    assert total(0) == 6.0
    custom: WaitStrategy = lambda attempts, seed=None: 2.0  # noqa: E731
    assert (wait_fixed(1) + custom)(0) == 3.0
    assert wait_combine()(0) == 0
    with pytest.raises(TypeError):
        wait_fixed(1) + 3  # type: ignore[operator]


def test_seed_makes_every_random_wait_repeatable() -> None:
    strategies: list[WaitStrategy] = [
        wait_random(1, 3),
        wait_exponential_jitter(),
        wait_random_exponential(),
        wait_full_jitter(),
        wait_fixed(1) + wait_random(0, 1),
    ]
    for strategy in strategies:
        assert strategy(3, seed=1234) == strategy(3, seed=1234)
        assert strategy(3, seed=1234) != strategy(3, seed=4321)


def test_wait_full_jitter_is_wait_random_exponential() -> None:
    assert wait_full_jitter(multiplier=2, max=15) == wait_random_exponential(multiplier=2, max=15)


@given(seed=seeds, low=st.floats(0, 100), width=st.floats(0, 100))
def test_wait_random_stays_within_bounds(seed: int, low: float, width: float) -> None:
    assert low <= wait_random(low, low + width)(0, seed=seed) <= low + width


@given(seed=seeds, n=retry_indexes, jitter=st.floats(0, 5), cap=st.floats(0, 100))
def test_exponential_jitter_adds_at_most_jitter_and_respects_the_cap(
    seed: int, n: int, jitter: float, cap: float
) -> None:
    base = wait_exponential(multiplier=1, exp_base=2, max=cap)(n)
    delay = wait_exponential_jitter(initial=1, exp_base=2, max=cap, jitter=jitter)(n, seed=seed)
    assert base <= delay <= min(base + jitter, cap)


@given(seed=seeds, n=retry_indexes, low=st.floats(0, 10), cap=st.floats(10, 100))
def test_random_exponential_stays_between_min_and_the_exponential(
    seed: int, n: int, low: float, cap: float
) -> None:
    ceiling = wait_exponential(multiplier=0.5, max=cap, min=low)(n)
    delay = wait_random_exponential(multiplier=0.5, max=cap, min=low)(n, seed=seed)
    assert low <= delay <= ceiling <= cap


# --- stop conditions ----------------------------------------------------------------------


def test_stop_conditions() -> None:
    assert [stop_after_attempt(3)(a, 0.0) for a in (2, 3, 4)] == [False, True, True]
    assert not stop_after_delay(30)(1, 29.9)
    assert stop_after_delay(30)(1, 30.0)
    before = stop_before_delay(timedelta(minutes=1))
    assert not before(1, 50.0, upcoming_sleep=9.9)
    assert before(1, 50.0, upcoming_sleep=10.0)
    assert not stop_never()(10**6, 1e9)


def test_stop_operators_build_any_and_all() -> None:
    either = stop_after_attempt(5) | stop_after_delay(30)
    assert isinstance(either, stop_any)
    assert [either(4, 1.0), either(5, 1.0), either(1, 30.0)] == [False, True, True]
    both = stop_after_attempt(5) & stop_after_delay(30)
    assert isinstance(both, stop_all)
    assert [both(5, 1.0), both(1, 30.0), both(5, 30.0)] == [False, False, True]
    forwarded = stop_never() | stop_before_delay(10)
    assert forwarded(1, 5.0, upcoming_sleep=5.0)
    assert stop_any()(1, 0.0) is False
    assert stop_all()(1, 0.0) is True


# --- argument checking --------------------------------------------------------------------

BAD_ARGUMENTS: list[tuple[Callable[[], object], type[Exception], str]] = [
    (lambda: stop_after_attempt(0), ValueError, r"stop_after_attempt\(0\): max_attempt_number "),
    (lambda: stop_after_attempt(2.5), TypeError, r"must be an int >= 1, not float"),  # type: ignore[arg-type]
    (lambda: stop_after_delay(-1), ValueError, r"stop_after_delay\(-1.0\): max_delay must be >= 0"),
    (lambda: stop_before_delay("5"), TypeError, r"max_delay must be a number; pass a non-neg"),  # type: ignore[arg-type]
    (lambda: wait_fixed(timedelta(seconds=-2)), ValueError, r"wait_fixed\(-2.0\): wait must be"),
    (lambda: wait_fixed(True), TypeError, r"wait must be a number"),
    (lambda: wait_exponential(exp_base=0), ValueError, r"exp_base must be > 0; pass a positive"),
    (lambda: wait_exponential(multiplier=-1), ValueError, r"multiplier must be >= 0"),
    (lambda: wait_exponential(min=5, max=1), ValueError, r"min must be <= max"),
    (lambda: wait_random(3, 1), ValueError, r"wait_random\(min=3.0, max=1.0\): min must be <="),
    (lambda: wait_random(min=float("nan")), ValueError, r"min must be >= 0"),
    (lambda: wait_random_exponential(max=-1), ValueError, r"max=-1.0\): max must be >= 0"),
    (lambda: wait_exponential_jitter(jitter=-1), ValueError, r"jitter must be >= 0"),
    (lambda: wait_incrementing(start=-1), ValueError, r"start must be >= 0"),
    (lambda: wait_chain(), ValueError, r"wait_chain\(\): pass at least one strategy"),
    (lambda: wait_combine(5), TypeError, r"wait_combine\(\): got 5; pass wait strategies"),  # type: ignore[arg-type]
    (lambda: retry_if_exception_type(int), TypeError, r"must be an exception class"),  # type: ignore[arg-type]
    (lambda: retry_if_not_exception_type(()), TypeError, r"or a non-empty tuple"),
    (lambda: retry_if_exception_cause_type("OSError"), TypeError, r"exception class"),  # type: ignore[arg-type]
    (lambda: retry_if_exception(42), TypeError, r"predicate must be a callable"),  # type: ignore[arg-type]
    (lambda: retry_if_exception_message(), TypeError, r"pass exactly one of message="),
    (lambda: retry_if_exception_message("a", "b"), TypeError, r"pass exactly one of"),
    (lambda: retry_if_exception_message(match="("), ValueError, r"not a valid regular expr"),
    (lambda: retry_if_exception_message(message=5), TypeError, r"message must be a str"),  # type: ignore[arg-type]
    (lambda: retry_any(None), TypeError, r"retry_any\(\): got None; pass retry conditions"),  # type: ignore[arg-type]
    (lambda: stop_all(3), TypeError, r"stop_all\(\): got 3; pass stop conditions"),  # type: ignore[arg-type]
    (lambda: retry_policy(wait=5), TypeError, r"retry_policy\(wait=5\): wait must be callable"),  # type: ignore[arg-type]
    (lambda: ConstantDelayRetryPolicy(0), ValueError, r"maximum_attempts must be an int >= 1"),
    (lambda: ConstantDelayRetryPolicy(delay=-5), ValueError, r"delay=-5.0\): delay must be >= 0"),
    (lambda: ExponentialBackoffRetryPolicy(multiplier=0), ValueError, r"multiplier must be > 0"),
    (lambda: ExponentialBackoffRetryPolicy(max_delay=-1), ValueError, r"max_delay must be >= 0"),
]  # fmt: skip


@pytest.mark.parametrize(("build", "error", "message"), BAD_ARGUMENTS)
def test_bad_arguments_are_rejected_at_construction(
    build: Callable[[], object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        build()


def test_operators_refuse_non_callables() -> None:
    with pytest.raises(TypeError):
        retry_always() | 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        stop_never() & "x"  # type: ignore[operator]


# --- parity with llama-index-workflows ----------------------------------------------------
# Expected values were produced by running llama-index-workflows 2.x's workflows.retry_policy
# with the same arguments; equality is exact because seeded jitter must replay identically.

INCUMBENT: list[tuple[str, Callable[[], RetryPolicy], float, int | None, list[float | None]]] = [
    ("default", lambda: retry_policy(), 0.0, None, [5.0, 5.0, 5.0, None, None]),
    ("constant", lambda: ConstantDelayRetryPolicy(maximum_attempts=4, delay=2), 0.0, None,
     [2.0, 2.0, 2.0, 2.0, None, None]),
    ("backoff", lambda: ExponentialBackoffRetryPolicy(
        maximum_attempts=10, initial_delay=0.5, multiplier=3, max_delay=20, jitter=False),
     0.0, None,
     [0.5, 0.5, 1.5, 4.5, 13.5, 20.0, 20.0, 20.0, 20.0, 20.0, None]),
    ("backoff-jitter-42", lambda: ExponentialBackoffRetryPolicy(), 0.0, 42,
     [0.6394267984578837, 0.6394267984578837, 1.2788535969157675, 2.557707193831535,
      5.11541438766307, None, None]),
    ("backoff-jitter-7", lambda: ExponentialBackoffRetryPolicy(), 0.0, 7,
     [0.32383276483316237, 0.32383276483316237, 0.6476655296663247, 1.2953310593326495,
      2.590662118665299, None, None]),
    ("exponential", lambda: retry_policy(
        wait=wait_exponential(multiplier=1, exp_base=2, max=30, min=2), stop=stop_never()),
     0.0, None,
     [2.0, 2.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]),
    ("incrementing", lambda: retry_policy(
        wait=wait_incrementing(start=1, increment=2, max=6), stop=stop_never()), 0.0, None,
     [1.0, 1.0, 3.0, 5.0, 6.0, 6.0]),
    ("random", lambda: retry_policy(wait=wait_random(1, 3), stop=stop_never()), 0.0, 123,
     [1.1047271977018887] * 4),
    ("exponential-jitter", lambda: retry_policy(
        wait=wait_exponential_jitter(initial=1, exp_base=2, max=10, jitter=1), stop=stop_never()),
     0.0, 5,
     [1.622901694889702, 1.622901694889702, 2.622901694889702, 4.622901694889702,
      8.622901694889702, 10.0, 10.0]),
    ("exponential-jitter-before-delay", lambda: retry_policy(
        wait=wait_exponential_jitter(initial=0.5, exp_base=3, max=20, jitter=2),
        stop=stop_before_delay(30)), 10.0, 11,
     [1.4047591070196372, 1.4047591070196372, 2.404759107019637, 5.404759107019637,
      14.404759107019638, None]),
    ("random-exponential", lambda: retry_policy(
        wait=wait_random_exponential(multiplier=1, exp_base=2, max=10, min=0.5), stop=stop_never()),
     0.0, 5,
     [0.811450847444851, 0.811450847444851, 1.434352542334553, 2.6801559321139568,
      5.1717627116727645, 6.417566101452168, 6.417566101452168]),
    ("chain", lambda: retry_policy(
        wait=wait_chain(wait_fixed(1), wait_fixed(2), wait_exponential()), stop=stop_never()),
     0.0, None, [1.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]),
    ("combine", lambda: retry_policy(wait=wait_fixed(1) + wait_random(0, 1), stop=stop_never()),
     0.0, 99, [1.4039780749436663, 1.4039780749436663, 1.4039780749436663]),
    ("chain-plus-incrementing", lambda: retry_policy(
        wait=wait_chain(wait_fixed(1), wait_random(2, 4))
        + wait_incrementing(start=timedelta(milliseconds=500), increment=0.25),
        stop=stop_after_attempt(6)), 0.0, 8,
     [1.5, 1.5, 3.203411718762098, 3.453411718762098, 3.703411718762098, 3.953411718762098, None]),
    ("after-attempt-or-delay", lambda: retry_policy(
        stop=stop_after_attempt(5) | stop_after_delay(timedelta(seconds=30))), 1.0, None,
     [5.0, 5.0, 5.0, 5.0, 5.0, None]),
    ("after-attempt-or-delay-late", lambda: retry_policy(
        stop=stop_after_attempt(5) | stop_after_delay(timedelta(seconds=30))), 30.0, None,
     [None, None, None, None, None, None]),
    ("after-attempt-and-delay-late", lambda: retry_policy(
        stop=stop_after_attempt(5) & stop_after_delay(timedelta(seconds=30))), 30.0, None,
     [5.0, 5.0, 5.0, 5.0, 5.0, None]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("build", "elapsed", "seed", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in INCUMBENT],
)
def test_delays_match_llama_index_workflows(
    build: Callable[[], RetryPolicy],
    elapsed: float,
    seed: int | None,
    expected: list[float | None],
) -> None:
    assert delays(build(), range(len(expected)), elapsed, seed) == expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ConnectionError("down"), [0.47592925418378274, 1.903717016735131, None]),
        (ValueError("HTTP 503"), [0.47592925418378274, 1.903717016735131, None]),
        (ValueError("HTTP 404"), [None, None, None]),
    ],
)
def test_composed_policy_matches_llama_index_workflows(
    error: Exception, expected: list[float | None]
) -> None:
    policy = retry_policy(
        retry=retry_if_exception_type(ConnectionError) | retry_if_exception_message(match=r"5\d\d"),
        wait=wait_full_jitter(multiplier=2, max=15),
        stop=stop_after_attempt(5) | stop_after_delay(60),
    )
    assert [policy.next(0.0, a, error, seed=3) for a in (1, 3, 5)] == expected
    assert [policy.next(60.0, a, error, seed=3) for a in (1, 3, 5)] == [None, None, None]


# -- what the engine passes to a policy ----------------------------------------------


async def test_engine_passes_no_seed_and_the_time_since_the_first_attempt() -> None:
    # The incumbent's RetryPolicy.next takes (elapsed_time, attempts, error): the engine
    # passes no seed. elapsed_time counts from the start of the first attempt, so it
    # includes that attempt's own duration (documented; tenacity measures it so too).
    calls: list[tuple[float, int, str]] = []
    durations: list[float] = []

    class Incumbent:
        def next(self, elapsed_time: float, attempts: int, error: Exception) -> float | None:
            calls.append((elapsed_time, attempts, str(error)))
            return 0 if attempts < 3 else None

    class Flaky(Workflow):
        # The incumbent's protocol has no seed: flowkit's RetryPolicy type wants one,
        # the engine does not pass it.
        @step(retry_policy=Incumbent())  # type: ignore[call-overload, untyped-decorator]
        async def flaky(self, ev: StartEvent) -> StopEvent:
            started = time.monotonic()
            await anyio.lowlevel.checkpoint()
            durations.append(time.monotonic() - started)
            raise ValueError(f"attempt {len(durations)}")

    with anyio.fail_after(5), pytest.raises(ValueError, match=r"^attempt 3$"):
        await Flaky(timeout=None).run()
    assert [(attempts, error) for _, attempts, error in calls] == [
        (1, "attempt 1"),
        (2, "attempt 2"),
        (3, "attempt 3"),
    ]
    elapsed = [e for e, _, _ in calls]
    assert elapsed == sorted(elapsed)
    assert elapsed[0] >= durations[0]
    assert elapsed[2] >= sum(durations)

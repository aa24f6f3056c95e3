"""Argument checks and arithmetic shared by the retry conditions, waits and stops."""

from __future__ import annotations

import math
import random
import types
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import attrs


def _seconds(value: int | float | timedelta) -> float:  # tenacity's time_unit_type
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    # Left as is so the field's validator, which knows the constructor's name, reports it.
    return value


def _number(value: int | float) -> float:
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

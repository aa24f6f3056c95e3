"""Retry conditions: whether an exception is worth retrying (``retry_if_*``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import attrs

from .checks import (
    _call_text,
    _callables,
    _exception_types,
)
from .protocols import (
    RetryCondition,
    _ExceptionTypes,
)


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

"""``@step`` and ``@catch_error``: record a StepConfig on a function; no engine logic."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar, overload

import attrs

from ._engine.graph_checks import StepGraphCheck, check_step_skip_names
from ._engine.signature import StepConfig, StepFunction, read_step_signature
from .errors import WorkflowValidationError
from .events import StepFailedEvent

if TYPE_CHECKING:
    from .retry_policy import RetryPolicy
    from .workflow import Workflow

__all__ = ["StepConfig", "StepFunction", "catch_error", "step"]

_F = TypeVar("_F", bound=Callable[..., Any])

_STEP_CONFIG = "_step_config"


def _is_free_function(qualname: str) -> bool:
    # "func" or "outer.<locals>.func" is free; "Class.method" is a method.
    parts = qualname.split(".")
    return len(parts) == 1 or parts[-2] == "<locals>"


def _caller_namespace(depth: int) -> dict[str, Any]:
    """Locals of the frames around a class body, so annotations naming local classes resolve."""
    namespace: dict[str, Any] = {}
    frame: FrameType | None = sys._getframe(depth)
    for _ in range(2):
        if frame is None:
            break
        namespace = {**frame.f_locals, **namespace}
        frame = frame.f_back
    return namespace


def _check_num_workers(func: Callable[..., Any], num_workers: object) -> int:
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
        raise WorkflowValidationError(
            f"num_workers must be an integer greater than 0. "
            f"@step(num_workers={num_workers!r}) on '{func.__name__}': pass an int >= 1."
        )
    return num_workers


def _attach(
    func: _F,
    config: StepConfig,
    workflow: type[Workflow] | None,
) -> _F:
    setattr(func, _STEP_CONFIG, config)
    if _is_free_function(func.__qualname__):
        if workflow is None:
            raise WorkflowValidationError(
                f"To decorate {func.__name__} please pass a workflow class to the @step "
                f"decorator: @step(workflow=MyWorkflow)."
            )
        workflow.add_step(func)
    return func


@overload
def step(func: _F, /) -> _F: ...


@overload
def step(
    *,
    workflow: type[Workflow] | None = None,
    num_workers: int = 4,
    retry_policy: RetryPolicy | None = None,
    accept_event_subclasses: bool = False,
    skip_graph_checks: list[StepGraphCheck] | None = None,
) -> Callable[[_F], _F]: ...


def step(
    func: _F | None = None,
    /,
    *,
    workflow: type[Workflow] | None = None,
    num_workers: int = 4,
    retry_policy: RetryPolicy | None = None,
    accept_event_subclasses: bool = False,
    skip_graph_checks: list[StepGraphCheck] | None = None,
) -> _F | Callable[[_F], _F]:
    """Mark a method (or a free function) as a workflow step.

    The step receives the events its event parameter's annotation names (a union
    accepts several) and emits the events its return annotation names. A parameter
    annotated ``Context`` receives the run's context; one annotated
    ``Annotated[T, Resource(factory)]`` (or ``ResourceConfig``) a resource. A step
    written as ``def`` instead of ``async def`` runs in a worker thread (see
    docs/semantics.md, "Sync steps").

    Args:
        func: The step function, when used as a bare ``@step``.
        workflow: The workflow class a free function is added to.
        num_workers: How many executions of this step may run at once.
        retry_policy: Decides whether, and after how long, a failing step runs again.
        accept_event_subclasses: Also receive subclasses of the accepted event types.
        skip_graph_checks: Graph checks this step is exempt from: ``"reachability"``
            (nothing needs to reach it) and ``"dead_end"`` (it need not lead to a
            StopEvent or InputRequiredEvent).

    Returns:
        The function itself, with its StepConfig recorded on it.

    Raises:
        WorkflowValidationError: The signature is invalid (or a generator), ``num_workers``
            is not an int >= 1, ``skip_graph_checks`` names an unknown check, or a free
            function is given without ``workflow=``.
    """
    namespace = _caller_namespace(2)

    def decorator(inner: _F) -> _F:
        config = read_step_signature(
            inner,
            num_workers=_check_num_workers(inner, num_workers),
            retry_policy=retry_policy,
            accept_event_subclasses=accept_event_subclasses,
            localns=namespace,
        )
        if skip_graph_checks:
            skipped = check_step_skip_names(skip_graph_checks, inner.__name__)
            config = attrs.evolve(config, skip_graph_checks=skipped)
        return _attach(inner, config, workflow)

    return decorator(func) if func is not None else decorator


@overload
def catch_error(func: _F, /) -> _F: ...


@overload
def catch_error(
    *, for_steps: list[str] | None = None, max_recoveries: int = 1
) -> Callable[[_F], _F]: ...


def catch_error(
    func: _F | None = None,
    /,
    *,
    for_steps: list[str] | None = None,
    max_recoveries: int = 1,
) -> _F | Callable[[_F], _F]:
    """Mark a step that handles the permanent failure of other steps.

    The handler accepts a :class:`~flowkit.events.StepFailedEvent` and returns an
    event (a StopEvent ends the run successfully). If it raises, the run fails with
    that exception. A handler with ``for_steps`` covers those steps; one without
    covers every step no scoped handler covers.

    Args:
        func: The handler, when used as a bare ``@catch_error``.
        for_steps: The names of the steps it covers; None for all others.
        max_recoveries: How many failures of one step it handles before the run fails.

    Raises:
        WorkflowValidationError: The handler does not accept StepFailedEvent, or
            ``max_recoveries`` is not an int >= 1.
    """
    namespace = _caller_namespace(2)
    if (
        isinstance(max_recoveries, bool)
        or not isinstance(max_recoveries, int)
        or max_recoveries < 1
    ):
        raise WorkflowValidationError(
            f"@catch_error max_recoveries must be an integer >= 1; got {max_recoveries!r}."
        )

    if for_steps is not None and (
        not isinstance(for_steps, list) or not all(isinstance(s, str) for s in for_steps)
    ):
        raise WorkflowValidationError(
            "@catch_error for_steps must be None or a list of step name strings; "
            f"got {for_steps!r}."
        )

    def decorator(inner: _F) -> _F:
        config = read_step_signature(
            inner,
            num_workers=1,
            retry_policy=None,
            accept_event_subclasses=False,
            localns=namespace,
        )
        if config.accepted_events != (StepFailedEvent,):
            raise WorkflowValidationError(
                f"@catch_error handler '{inner.__name__}' must accept StepFailedEvent as its "
                "event parameter. Annotate it 'ev: StepFailedEvent'."
            )
        scoped = tuple(for_steps) if for_steps is not None else None
        config = attrs.evolve(
            config,
            catch_error_for_steps=scoped,
            catch_error_max_recoveries=max_recoveries,
            is_catch_error=True,
        )
        return _attach(inner, config, None)

    return decorator(func) if func is not None else decorator

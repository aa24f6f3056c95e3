"""Read one step function's signature into a StepConfig: what it accepts, emits and injects."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias, Union, get_args, get_origin

import attrs

from ..errors import WorkflowValidationError
from ..events import Event
from ..resource import ResourceDefinition
from .resources import find_resources

if TYPE_CHECKING:
    from ..retry_policy import RetryPolicy

StepFunction: TypeAlias = Callable[..., Awaitable[Any]]

_NONE_TYPE = type(None)


@attrs.frozen
class StepConfig:
    """What flowkit knows of one step, recorded on the function by ``@step``."""

    accepted_events: tuple[type[Event], ...]
    event_name: str
    return_types: tuple[type, ...]
    context_parameter: str | None
    context_state_type: type | None
    num_workers: int
    retry_policy: RetryPolicy | None
    accept_event_subclasses: bool = False
    catch_error_for_steps: tuple[str, ...] | None = None
    catch_error_max_recoveries: int = 1
    is_catch_error: bool = False
    # "event"/"ctx" in the order the step takes them positionally; empty: pass by keyword.
    positional: tuple[str, ...] = ()
    # Graph checks skipped for this step (``@step(skip_graph_checks=[...])``).
    skip_graph_checks: frozenset[str] = frozenset()
    # The Annotated[T, Resource(...)] / ResourceConfig parameters, injected by keyword.
    resources: tuple[ResourceDefinition, ...] = ()


def is_context_annotation(annotation: Any) -> bool:
    """Whether ``annotation`` is ``Context`` or ``Context[State]`` (marked by the class)."""
    target = get_origin(annotation) or annotation
    return bool(getattr(target, "_flowkit_context_marker", False))


def _union_members(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return (annotation,)


def _is_event_class(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, Event)


def _resolve_hints(func: Callable[..., Any], localns: dict[str, Any] | None) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func, localns=localns)
    except NameError as exc:
        raise WorkflowValidationError(
            f"Failed to resolve type annotations for {func.__qualname__}. Missing name: "
            f"{exc.name}. Define it at module level, or before the class whose step uses it."
        ) from None


_BY_POSITION = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def read_step_signature(
    func: Callable[..., Any],
    *,
    num_workers: int,
    retry_policy: RetryPolicy | None,
    accept_event_subclasses: bool,
    localns: dict[str, Any] | None = None,
) -> StepConfig:
    """Build the StepConfig of ``func``.

    Raises:
        WorkflowValidationError: The signature has no event parameter, an unannotated
            return, or a parameter flowkit cannot inject.
    """
    name = func.__name__
    if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
        raise WorkflowValidationError(
            f"Step '{name}' is a generator: a step returns one event. Write it as "
            f"'async def {name}(...)' (or 'def' to run it in a worker thread) with 'return'; "
            "stream intermediate events with ctx.write_event_to_stream()."
        )
    hints = _resolve_hints(func, localns)
    resources = _find_resources(func, localns)
    resource_names = {definition.name for definition in resources}
    event_name: str | None = None
    accepted: tuple[type[Event], ...] = ()
    context_parameter: str | None = None
    context_state_type: type | None = None
    # The event and ctx parameters in order, if they can be passed by position: each one
    # positional, with no parameter flowkit leaves out (a default, *args) before one of them.
    positional: list[str] = []
    positional_ok = True
    skipped = False
    positional_only: str | None = None  # the first of them with a '/' after it
    for param in inspect.signature(func).parameters.values():
        if param.name == "self":
            continue
        annotation = hints.get(param.name, inspect.Parameter.empty)
        is_plain = param.kind in _BY_POSITION and not skipped
        if param.kind is inspect.Parameter.POSITIONAL_ONLY and positional_only is None:
            positional_only = param.name
        if param.name in resource_names:
            if param.kind is inspect.Parameter.POSITIONAL_ONLY:
                raise WorkflowValidationError(
                    f"Step '{name}' takes the resource '{param.name}' as a positional-only "
                    "parameter; resources are passed by keyword. Remove the '/' before it."
                )
            continue
        if is_context_annotation(annotation):
            positional.append("ctx")
            positional_ok = positional_ok and is_plain
            context_parameter = param.name
            args = get_args(annotation)
            context_state_type = args[0] if args and args[0] is not Any else None
            continue
        members = _union_members(annotation)
        if annotation is not inspect.Parameter.empty and all(map(_is_event_class, members)):
            if event_name is not None:
                raise WorkflowValidationError(
                    f"Step '{name}' has two event parameters, '{event_name}' and "
                    f"'{param.name}'. A step receives one event; accept a union "
                    f"('{param.name}: A | B') or use ctx.collect_events() for fan-in."
                )
            event_name, accepted = param.name, typing.cast(tuple[type[Event], ...], members)
            positional.append("event")
            positional_ok = positional_ok and is_plain
            continue
        if param.default is not inspect.Parameter.empty or param.kind in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ):
            skipped = True
            continue
        if param.name == "ctx" and annotation is inspect.Parameter.empty:
            context_parameter = param.name
            positional.append("ctx")
            positional_ok = positional_ok and is_plain
            continue
        raise WorkflowValidationError(
            f"Step '{name}' has a parameter '{param.name}' that flowkit cannot fill: "
            "a step takes one event parameter (annotated with an Event class) and "
            "optionally a 'ctx: Context' parameter."
        )
    if event_name is None:
        raise WorkflowValidationError(
            "Step signature must have at least one parameter annotated as type Event. "
            f"Annotate the event parameter of step '{name}', as in 'ev: StartEvent'."
        )
    if "return" not in hints:
        raise WorkflowValidationError(
            "Return types of workflows step functions must be annotated with their type. "
            f"Annotate step '{name}', as in '-> StopEvent' or '-> MyEvent | None'."
        )
    if positional_only is not None and (not positional_ok or resources):
        raise WorkflowValidationError(
            f"Step '{name}' takes '{positional_only}' as a positional-only parameter, but "
            "flowkit passes this step's parameters by keyword (it has keyword-only "
            "parameters, resources, or parameters with defaults before the event or ctx). "
            "Remove the '/'."
        )
    returns = tuple(_NONE_TYPE if r is None else r for r in _union_members(hints["return"]))
    for ret in returns:
        if ret is not _NONE_TYPE and not _is_event_class(ret):
            raise WorkflowValidationError(
                f"Step '{name}' is annotated to return {ret!r}, which is not an Event. "
                "A step returns an Event, or None to emit nothing."
            )
    return StepConfig(
        accepted_events=accepted,
        event_name=event_name,
        return_types=returns,
        context_parameter=context_parameter,
        context_state_type=context_state_type,
        num_workers=num_workers,
        retry_policy=retry_policy,
        accept_event_subclasses=accept_event_subclasses,
        positional=tuple(positional) if positional_ok and not resources else (),
        resources=resources,
    )


def _find_resources(
    func: Callable[..., Any], localns: dict[str, Any] | None
) -> tuple[ResourceDefinition, ...]:
    try:
        return find_resources(func, localns)
    except ValueError as exc:
        raise WorkflowValidationError(f"Step '{func.__name__}': {exc}") from None

"""Check a Workflow's constructor arguments and turn them into what its runs are built from."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from ..errors import WorkflowValidationError
from ..events import StartEvent
from .blueprint import step_configs
from .graph import start_event_class, stop_event_class
from .graph_checks import GraphCheck, check_skip_names
from .run import RunSettings
from .slots import RunSlots


@attrs.frozen
class WorkflowSetup:
    """A workflow instance's checked settings.

    Attributes:
        name: The name snapshots are checked against.
        former_name: An older default name whose snapshots still restore, or None.
        settings: Timeout, output and limits of its runs.
        skip_graph_checks: The graph checks turned off for it.
    """

    name: str
    former_name: str | None
    settings: RunSettings
    skip_graph_checks: frozenset[str]


def set_up(
    cls: type,
    *,
    timeout: float | None,
    verbose: bool,
    num_concurrent_runs: int | None,
    workflow_name: str | None,
    stream_buffer_size: int,
    skip_graph_checks: Iterable[GraphCheck] | None,
) -> WorkflowSetup:
    """Check the arguments of ``cls(...)`` and the start and stop events of its steps.

    Raises:
        WorkflowConfigurationError: No step accepts a StartEvent or returns a StopEvent,
            or the steps use more than one class of either (the incumbent checks these
            when the workflow is made).
        WorkflowValidationError: An argument is invalid.
    """
    if timeout is not None and not timeout > 0:
        raise WorkflowValidationError(
            f"Workflow(timeout={timeout!r}): timeout must be a number of seconds > 0, "
            "or None for no limit."
        )
    if num_concurrent_runs is not None and (
        not isinstance(num_concurrent_runs, int) or num_concurrent_runs < 1
    ):
        raise WorkflowValidationError(
            f"Workflow(num_concurrent_runs={num_concurrent_runs!r}): num_concurrent_runs "
            "must be a positive integer or None."
        )
    configs = step_configs(cls)
    start_event_class(configs, cls.__name__)
    stop_event_class(configs, cls.__name__)
    return WorkflowSetup(
        name=workflow_name or f"{cls.__module__}.{cls.__qualname__}",
        # Snapshots taken before the default name had its module still restore.
        former_name=None if workflow_name else cls.__qualname__,
        settings=RunSettings(
            timeout=timeout,
            verbose=verbose,
            stream_high_water=stream_buffer_size,
            slots=RunSlots(num_concurrent_runs) if num_concurrent_runs is not None else None,
        ),
        skip_graph_checks=check_skip_names(skip_graph_checks),
    )


def check_start_event(start_event: object) -> None:
    """Refuse a ``start_event`` that is not a StartEvent (before any event-loop check).

    Raises:
        ValueError: It is neither None nor a StartEvent.
    """
    if start_event is not None and not isinstance(start_event, StartEvent):
        raise ValueError(
            "The 'start_event' argument must be an instance of 'StartEvent'. "
            f"Got {type(start_event).__name__}; pass an instance of the workflow's "
            "StartEvent class, or pass its fields as keyword arguments to run()."
        )

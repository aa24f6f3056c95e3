"""Exceptions raised by flowkit.

Every exception flowkit raises on purpose derives from :class:`FlowkitError`, so
``except FlowkitError`` catches them all. The names are llama-index-workflows'
names, so code that catches them keeps working after switching imports::

    FlowkitError
    ├── WorkflowValidationError          the workflow or a step signature is invalid
    │   └── WorkflowConfigurationError   no StartEvent consumer, no StopEvent producer, ...
    ├── WorkflowRuntimeError             an error while routing events or running steps
    │   └── WorkflowStepDoesNotExistError  an event addressed to a step that does not exist
    ├── WorkflowTimeoutError             the run exceeded the workflow's timeout
    ├── WorkflowCancelledByUser          the run was cancelled with ``handler.cancel_run()``
    ├── ContextStateError                a Context method was called in the wrong state
    └── ContextSerdeError                a snapshot could not be made or restored

A step's own exception is never wrapped: awaiting the handler of a failed run
raises the exception the step raised.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ContextSerdeError",
    "ContextStateError",
    "FlowkitError",
    "WorkflowCancelledByUser",
    "WorkflowConfigurationError",
    "WorkflowRuntimeError",
    "WorkflowStepDoesNotExistError",
    "WorkflowTimeoutError",
    "WorkflowValidationError",
]


class FlowkitError(Exception):
    """Base class of every exception flowkit raises on purpose."""


class WorkflowValidationError(FlowkitError):
    """The workflow's steps or their signatures are invalid; raised before a run starts."""


class WorkflowConfigurationError(WorkflowValidationError):
    """The workflow as a whole is misconfigured (no entry or exit step, two start events)."""


class WorkflowRuntimeError(FlowkitError):
    """An error while routing events or running steps, other than a step's own exception."""


class WorkflowStepDoesNotExistError(WorkflowRuntimeError):
    """An event was addressed to a step name the workflow does not have."""


class WorkflowTimeoutError(FlowkitError):
    """The run exceeded the workflow's ``timeout``.

    Raised by flowkit with ``timeout`` and ``active_steps``, from which it builds its
    message; like any exception it can also be raised with a message of your own.

    Attributes:
        timeout: The timeout in seconds that was exceeded, if known.
        active_steps: The names of the steps that were still running.
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        timeout: float | None = None,
        active_steps: list[str] | None = None,
    ) -> None:
        self.timeout = timeout
        self.active_steps = list(active_steps or [])
        if message is None:
            steps = ", ".join(self.active_steps) if self.active_steps else "none"
            message = (
                f"Operation timed out after {timeout} seconds. Currently active steps: {steps}. "
                "Pass a larger timeout to the Workflow, or timeout=None to wait without limit."
            )
        super().__init__(message)

    def __reduce__(self) -> Any:
        return (_rebuild_timeout_error, (str(self), self.timeout, self.active_steps))


def _rebuild_timeout_error(
    message: str, timeout: float | None, active_steps: list[str]
) -> WorkflowTimeoutError:
    return WorkflowTimeoutError(message, timeout=timeout, active_steps=active_steps)


class WorkflowCancelledByUser(FlowkitError):
    """The run was cancelled with ``handler.cancel_run()`` or by the task group that owns it."""


class ContextStateError(FlowkitError):
    """A Context method was called in a state that does not allow it."""


class ContextSerdeError(FlowkitError):
    """A context could not be frozen to a dict, or a dict could not be restored.

    The message is built from the data: ``"{reason} at {path}. {advice}"`` (without
    ``at {path}`` when the path is None or the whole snapshot, ``$``).

    Attributes:
        reason: What is wrong, e.g. ``"Unknown event tag 'Approve'"``.
        path: Where in the snapshot the problem is, as ``$.queued[3].event``, or None.
        advice: What to do about it, or None.
    """

    def __init__(self, reason: str, *, path: str | None = None, advice: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path
        self.advice = advice

    def __str__(self) -> str:
        text = self.reason
        if self.path is not None and self.path != "$":
            text = f"{text.rstrip('.')} at {self.path}."
        if self.advice:
            separator = " " if text.endswith((".", "!", "?", ":")) else ". "
            text = f"{text}{separator}{self.advice}"
        return text

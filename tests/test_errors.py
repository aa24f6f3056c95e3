"""flowkit.errors: the incumbent's names under one base class, with their data."""

from __future__ import annotations

import pickle

import pytest

from flowkit import errors
from flowkit.errors import (
    ContextSerdeError,
    FlowkitError,
    WorkflowConfigurationError,
    WorkflowRuntimeError,
    WorkflowStepDoesNotExistError,
    WorkflowTimeoutError,
    WorkflowValidationError,
)


@pytest.mark.parametrize("name", errors.__all__)
def test_every_error_is_a_flowkit_error(name: str) -> None:
    assert issubclass(getattr(errors, name), FlowkitError)


def test_subclasses_are_caught_as_their_incumbent_parents() -> None:
    assert issubclass(WorkflowConfigurationError, WorkflowValidationError)
    assert issubclass(WorkflowStepDoesNotExistError, WorkflowRuntimeError)


def test_timeout_error_builds_its_message_from_its_data() -> None:
    error = WorkflowTimeoutError(timeout=2.5, active_steps=["fetch", "rank"])

    assert str(error) == (
        "Operation timed out after 2.5 seconds. Currently active steps: fetch, rank. "
        "Pass a larger timeout to the Workflow, or timeout=None to wait without limit."
    )
    assert error.timeout == 2.5
    assert error.active_steps == ["fetch", "rank"]


def test_timeout_error_takes_a_message_of_its_own() -> None:
    error = WorkflowTimeoutError("gave up")

    assert str(error) == "gave up"
    assert error.timeout is None
    assert error.active_steps == []


def test_errors_with_data_survive_pickling() -> None:
    timeout = pickle.loads(pickle.dumps(WorkflowTimeoutError(timeout=1.0, active_steps=["a"])))
    serde = pickle.loads(pickle.dumps(ContextSerdeError("bad tag", path="$.queued[0]")))

    assert (str(timeout), timeout.timeout, timeout.active_steps) == (
        str(WorkflowTimeoutError(timeout=1.0, active_steps=["a"])),
        1.0,
        ["a"],
    )
    assert (str(serde), serde.reason, serde.path) == (
        "bad tag at $.queued[0].",
        "bad tag",
        "$.queued[0]",
    )

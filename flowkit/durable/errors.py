"""Errors of durable runs that concern the process's registry rather than the store."""

from __future__ import annotations

from collections.abc import Sequence

from ..store.errors import StoreError

__all__ = ["UnknownEventError", "UnknownWorkflowError"]


class UnknownWorkflowError(StoreError):
    """The registry holds no workflow of this name (or, with no name, not exactly one).

    Attributes:
        name: The name asked for, or ``None``.
    """

    def __init__(self, name: str | None, known: Sequence[str]) -> None:
        listing = ", ".join(repr(k) for k in known) or "none"
        if name is None:
            message = f"Name the workflow to start; this app has {listing}."
        else:
            message = (
                f"No workflow named {name!r} in this process's registry (it has {listing}). "
                "Run it in a process whose --app includes that workflow."
            )
        super().__init__(message)
        self.name = name


class UnknownEventError(StoreError):
    """An event class that is not in the registry cannot be sent to, or rebuilt for, a run.

    Attributes:
        name: The class name.
    """

    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(
            f"Event class {name!r} is not registered for durable runs (known: "
            f"{', '.join(known)}). Add it: WorkflowRegistry.create([...], events=[{name}])."
        )
        self.name = name

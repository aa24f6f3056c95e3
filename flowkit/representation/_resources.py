"""What the graph shows of the resources a step gets injected (``StepConfig.resources``).

The step's ``Annotated[T, Resource(...)]`` / ``ResourceConfig(...)`` parameters are found
once by the step-signature reader; this module reads their markers by a small protocol:

- a **resource** marker has ``cache`` and a callable ``factory`` (or ``_factory``); its
  ``name`` (default: the factory's qualified name) names it, and ``get_dependencies()``
  yields ``(parameter name, marker, type)`` for the resources its factory itself takes;
- a **resource config** marker has ``config_file`` and ``path_selector``; an optional
  ``label`` overrides the label.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import attrs

__all__ = [
    "ResourceUse",
    "config_value",
    "dependencies",
    "factory_of",
    "is_resource_config",
    "resource_key",
]


@attrs.frozen
class ResourceUse:
    """One injected parameter: its name, the annotated type and the marker."""

    parameter: str
    type_annotation: Any
    marker: Any


def factory_of(marker: Any) -> Callable[..., Any] | None:
    """The factory of a resource marker, whichever of the protocol's names holds it."""
    for name in ("factory", "_factory"):
        found = getattr(marker, name, None)
        if callable(found):
            return found  # type: ignore[no-any-return]  # callable() checked it
    return None


def is_resource_config(marker: Any) -> bool:
    """Whether ``marker`` has the resource-config protocol (``config_file``, ``path_selector``)."""
    return hasattr(marker, "config_file") and hasattr(marker, "path_selector")


def dependencies(marker: Any) -> list[ResourceUse]:
    """The resources a resource's factory takes, if the marker can tell."""
    get = getattr(marker, "get_dependencies", None)
    if not callable(get):
        return []
    return [ResourceUse(name, type_, dep) for name, dep, type_ in get()]


def resource_key(marker: Any) -> str:
    """A stable id for a marker: by factory for resources, by file and path for configs."""
    if is_resource_config(marker):
        text = f"{marker.config_file}:{marker.path_selector or ''}"
        return "resource_config_" + hashlib.sha256(text.encode()).hexdigest()[:12]
    factory = factory_of(marker)
    text = f"{getattr(factory, '__module__', '')}:{getattr(factory, '__qualname__', id(factory))}"
    return "resource_" + hashlib.sha256(text.encode()).hexdigest()[:12]


def config_value(config_file: str, path_selector: str | None) -> dict[str, Any] | None:
    """The dict a resource config reads from its file, or ``None`` when it cannot be read."""
    try:
        with open(config_file, encoding="utf-8") as file:
            value: Any = json.load(file)
    except (OSError, ValueError):
        return None
    for part in (path_selector or "").split("."):
        if not part:
            continue
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value if isinstance(value, dict) else None

"""Find the resources a step gets injected, by the shape of ``Annotated[T, X]`` markers.

This module does not import ``flowkit.resource``: it recognises the markers by a small
protocol, so the graph works with any library whose markers have these attributes:

- a **resource** marker has ``cache`` and a callable ``factory`` (or ``_factory``); its
  ``name`` (default: the factory's qualified name) names it, and an optional
  ``get_dependencies()`` yields ``(parameter name, marker, type)`` for the resources its
  factory itself takes;
- a **resource config** marker has ``config_file`` and ``path_selector``; an optional
  ``label`` overrides the label.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import typing
from collections.abc import Callable, Iterator
from typing import Any, get_args, get_origin

import attrs

__all__ = [
    "ResourceUse",
    "config_value",
    "dependencies",
    "factory_of",
    "find_resources",
    "is_resource",
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


def is_resource(marker: Any) -> bool:
    """Whether ``marker`` has the resource protocol (``cache`` and a factory)."""
    return hasattr(marker, "cache") and factory_of(marker) is not None


def is_resource_config(marker: Any) -> bool:
    """Whether ``marker`` has the resource-config protocol (``config_file``, ``path_selector``)."""
    return hasattr(marker, "config_file") and hasattr(marker, "path_selector")


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func, include_extras=True)
    except Exception:  # a name only resolvable where the step was defined: read what is there
        return {k: v for k, v in inspect.get_annotations(func).items() if not isinstance(v, str)}


def find_resources(func: Callable[..., Any]) -> Iterator[ResourceUse]:
    """The parameters of ``func`` annotated ``Annotated[T, marker]`` with a resource marker."""
    hints = _hints(func)
    for name in inspect.signature(func).parameters:
        annotation = hints.get(name)
        if get_origin(annotation) is not typing.Annotated:
            continue
        base, *extras = get_args(annotation)
        for marker in extras:
            if is_resource(marker) or is_resource_config(marker):
                yield ResourceUse(name, base, marker)
                break


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

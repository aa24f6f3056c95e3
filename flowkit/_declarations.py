"""How an event class's annotations and class attributes become attrs fields or private attributes.

A plain default or a pydantic ``Field(...)`` declares a field; a name starting with an
underscore, or a pydantic ``PrivateAttr``, declares a private attribute, which is not data.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import attrs

from ._pydantic import private_default, read_field

__all__ = ["declare_field", "take_private_attributes"]

_MUTABLE_DEFAULTS = (list, dict, set)
_ABSENT: Any = object()


def _is_class_var(annotation: object) -> bool:
    # Annotations may be strings (``from __future__ import annotations``), as attrs reads them.
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar", "t.ClassVar", "typing_extensions."))


def declare_field(cls: type, name: str) -> None:
    """Turn the class attribute of the declared field ``name`` into what attrs reads."""
    value = cls.__dict__.get(name, _ABSENT)
    declared = read_field(value)
    if declared is not None:
        # pydantic's Field(...): its default, factory and description, never the object itself.
        default = declared.default
        if isinstance(default, _MUTABLE_DEFAULTS):
            default = attrs.Factory(functools.partial(copy.copy, default))
        field: Any = (
            attrs.field(factory=declared.factory, metadata=declared.metadata)
            if declared.factory is not None
            else attrs.field(default=default, metadata=declared.metadata)
        )
        setattr(cls, name, field)
    elif isinstance(value, _MUTABLE_DEFAULTS):
        # A list/dict/set default would be shared by every instance; give each its own.
        setattr(cls, name, attrs.Factory(functools.partial(copy.copy, value)))


def take_private_attributes(cls: type, annotations: dict[str, Any]) -> dict[str, Any]:
    """Take the private attributes (``_name``, pydantic's ``PrivateAttr``) off the class.

    Returns:
        Their defaults by name (``attrs.NOTHING`` for none, or an ``attrs.Factory``).
    """
    found: dict[str, Any] = {}
    names = [n for n, a in annotations.items() if n.startswith("_") and not _is_class_var(a)]
    names += [n for n, v in vars(cls).items() if private_default(v)[0] and n not in names]
    for name in names:
        if name == "_data" or name.startswith("__"):
            continue
        _, default, factory = private_default(cls.__dict__.get(name, attrs.NOTHING))
        found[name] = attrs.Factory(factory) if factory is not None else default
        if name in cls.__dict__:
            delattr(cls, name)
    return found

"""Read pydantic declarations (``Field``, ``PrivateAttr``, ``BaseModel``) without importing it.

flowkit never requires pydantic. Code that migrates from llama-index-workflows declares
event fields with ``Field(...)`` and state with ``BaseModel``; those objects can only
exist if the user imported pydantic, so they are recognised by their class's module
and name, and ``BaseModel`` is looked up in ``sys.modules`` only once pydantic is there.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import attrs

__all__ = [
    "FieldDefault",
    "is_depth_limit",
    "is_model_class",
    "is_model_instance",
    "private_default",
    "read_field",
]


def _is_pydantic_object(value: object, class_name: str) -> bool:
    kind = type(value)
    return kind.__name__ == class_name and kind.__module__.split(".")[0] == "pydantic"


def _undefined(value: object) -> bool:
    # pydantic_core.PydanticUndefined marks "no default"; Ellipsis means "required".
    return value is Ellipsis or type(value).__name__ == "PydanticUndefinedType"


@attrs.frozen
class FieldDefault:
    """What a pydantic ``Field(...)`` declares for one field, in attrs' terms.

    Attributes:
        default: The default value, or ``attrs.NOTHING`` when the field is required.
        factory: A zero-argument callable giving the default, or None.
        metadata: ``description``, ``title`` and ``examples`` when given.
    """

    default: Any
    factory: Callable[[], Any] | None
    metadata: dict[str, Any]


def read_field(value: object) -> FieldDefault | None:
    """The declaration of a pydantic ``FieldInfo``; None when ``value`` is not one."""
    if not _is_pydantic_object(value, "FieldInfo"):
        return None
    metadata = {
        key: getattr(value, key)
        for key in ("description", "title", "examples")
        if getattr(value, key, None) is not None
    }
    factory = getattr(value, "default_factory", None)
    default = getattr(value, "default", Ellipsis)
    if factory is not None:
        return FieldDefault(attrs.NOTHING, factory, metadata)
    if _undefined(default):
        return FieldDefault(attrs.NOTHING, None, metadata)
    return FieldDefault(default, None, metadata)


def private_default(value: object) -> tuple[bool, Any, Callable[[], Any] | None]:
    """``(is PrivateAttr, default or attrs.NOTHING, default factory)`` of a class attribute."""
    if not _is_pydantic_object(value, "ModelPrivateAttr"):
        return False, value, None
    factory = getattr(value, "default_factory", None)
    default = getattr(value, "default", Ellipsis)
    return True, attrs.NOTHING if _undefined(default) else default, factory


def _base_model() -> type | None:
    # Without pydantic imported, no class or object can be a pydantic model.
    pydantic = sys.modules.get("pydantic")
    base = getattr(pydantic, "BaseModel", None) if pydantic is not None else None
    return base if isinstance(base, type) else None


def is_model_class(value: object) -> bool:
    """Whether ``value`` is a subclass of pydantic's ``BaseModel``."""
    base = _base_model()
    return base is not None and isinstance(value, type) and issubclass(value, base)


def is_model_instance(value: object) -> bool:
    """Whether ``value`` is an instance of a pydantic ``BaseModel``."""
    base = _base_model()
    return base is not None and isinstance(value, base)


_DEPTH_LIMIT = "Maximum serialization depth exceeded"


def is_depth_limit(error: BaseException) -> bool:
    """Whether ``error`` is pydantic refusing to dump data nested past its depth limit.

    pydantic-core raises a plain ``ValueError`` with a fixed message for it (its other
    serialization failures are ``PydanticSerializationError``); the limit is far below
    Python's recursion limit, so no RecursionError tells of it.
    """
    return type(error) is ValueError and str(error) == _DEPTH_LIMIT

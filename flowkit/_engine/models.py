"""cattrs hooks for pydantic models named in type annotations (event fields typed with a model).

A model is stored as ``model_dump(mode="json")`` and restored with ``model_validate`` of the
class the annotation names: code names the class, the data never does. Without pydantic
imported, no class is a model and the hooks never match.
"""

from __future__ import annotations

from typing import Any

import cattrs

from .._pydantic import is_model_class
from ..errors import ContextSerdeError

__all__ = ["configure_models", "dump_model", "load_model"]


def dump_model(value: Any) -> Any:
    """Plain JSON data for a pydantic model instance."""
    return value.model_dump(mode="json")


def load_model(klass: Any, data: Any, name: str | None = None) -> Any:
    """The instance of the pydantic model ``klass`` that ``data`` was dumped from.

    Raises:
        ContextSerdeError: ``data`` does not validate, naming ``name`` (the class's tag).
    """
    try:
        return klass.model_validate(data)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise ContextSerdeError(f"Malformed {name or klass.__name__!r} value: {exc}") from None


def _structure(data: Any, klass: Any) -> Any:
    return load_model(klass, data)


def configure_models(converter: cattrs.Converter) -> None:
    """Teach ``converter`` the pydantic models named in type annotations.

    Call it before hooks that capture per-class hooks (``configure_tagged_union``).
    """
    converter.register_unstructure_hook_func(is_model_class, dump_model)
    converter.register_structure_hook_func(is_model_class, _structure)

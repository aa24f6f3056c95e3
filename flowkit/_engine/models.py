"""cattrs hooks for pydantic models named in type annotations (event fields typed with a model).

A model is stored as ``model_dump(mode="json")`` and restored with ``model_validate`` of the
class the annotation names: code names the class, the data never does. Without pydantic
imported, no class is a model and the hooks never match.
"""

from __future__ import annotations

from typing import Any

import cattrs

from .._pydantic import is_depth_limit, is_model_class
from ..errors import ContextSerdeError

__all__ = ["ModelDumpError", "configure_models", "dump_model", "load_model"]


class ModelDumpError(ContextSerdeError):
    """pydantic could not dump a model instance; ``freeze`` says where it is in the snapshot.

    Attributes:
        value_type: The model's class.
        too_deep: Whether the cause is data nested past pydantic's depth limit.
    """

    def __init__(self, value_type: type, error: ValueError) -> None:
        self.value_type = value_type
        self.too_deep = is_depth_limit(error)
        name = value_type.__qualname__
        if self.too_deep:
            reason = f"{name} holds a value nested too deeply for pydantic to dump"
        else:
            reason = f"{name} cannot be dumped by pydantic: {error}"
        super().__init__(reason)


def dump_model(value: Any) -> Any:
    """Plain JSON data for a pydantic model instance.

    Raises:
        ModelDumpError: pydantic cannot dump it (a value nested too deeply, a field of a
            type it cannot serialize, a serializer that raises).
    """
    try:
        return value.model_dump(mode="json")
    except ValueError as exc:  # each of pydantic's serialization errors is a ValueError
        raise ModelDumpError(type(value), exc) from exc


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

"""Serializers: how a snapshot stores values whose type a field does not name.

A snapshot is built by a cattrs converter (``serializer.converter``, where users
register hooks for their own types). Values typed ``Any`` (store entries, results,
extra event fields) carry their type tag. For a type flowkit does not know and the
user did not register, :class:`JsonSerializer` (the default) raises
``ContextSerdeError``; :class:`PickleSerializer` pickles it.
"""

from __future__ import annotations

import base64
import json
import pickle
from typing import Any

import cattrs

from ..errors import ContextSerdeError

__all__ = ["BaseSerializer", "JsonSerializer", "PickleSerializer"]


class BaseSerializer:
    """Holds the cattrs converter and the value types a workflow's snapshots may contain.

    Attributes:
        converter: The cattrs converter snapshots are built on. Register structure and
            unstructure hooks on it for types that need them, before a workflow first
            uses the serializer: each workflow builds its snapshot converter from a copy.
    """

    def __init__(self, converter: cattrs.Converter | None = None) -> None:
        self.converter = converter if converter is not None else cattrs.Converter()
        self.value_types: list[type] = []

    def register_type(self, cls: type) -> type:
        """Allow values of ``cls`` in fields typed ``Any``; usable as a class decorator.

        ``cls`` is stored by its tag (its name) and rebuilt by the converter: an attrs
        class, a dataclass, an Enum, or a class with hooks on ``converter``.
        """
        if cls not in self.value_types:
            self.value_types.append(cls)
        return cls

    def encode_unknown(self, value: Any) -> Any:
        """JSON-safe data for a value of a type neither flowkit nor the user registered.

        Raises:
            ContextSerdeError: Always, in this base class.
        """
        raise ContextSerdeError(
            f"Value of type {type(value).__qualname__} is not JSON-serializable"
        )

    def decode_unknown(self, data: dict[str, Any]) -> Any:
        """The value ``encode_unknown`` produced ``data`` from.

        Raises:
            ContextSerdeError: Always, in this base class.
        """
        raise ContextSerdeError(
            f"Tagged value {data.get('$type')!r} needs the serializer that wrote it "
            "(a PickleSerializer wrote this one); pass it to Context.from_dict(serializer=...)."
        )

    def serialize(self, value: Any) -> str:
        """Serialize a JSON-representable value to a JSON string."""
        try:
            return json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise ContextSerdeError(f"Cannot serialize {type(value).__name__}: {exc}") from exc

    def deserialize(self, value: str) -> Any:
        """Parse a JSON string made by :meth:`serialize`."""
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ContextSerdeError(f"Cannot deserialize: {exc}") from exc


class JsonSerializer(BaseSerializer):
    """The default: snapshots hold JSON data only; unknown types are an error."""


class PickleSerializer(JsonSerializer):
    """Stores values of unknown types as base64 pickles.

    Warning:
        Unpickling runs code chosen by whoever wrote the data. Use this serializer
        only for snapshots you wrote yourself and stored where nobody else can
        change them; never for data from users or the network.
    """

    def encode_unknown(self, value: Any) -> Any:
        """A base64 pickle of ``value``."""
        try:
            payload = pickle.dumps(value)
        except Exception as exc:
            raise ContextSerdeError(f"Cannot pickle {type(value).__qualname__}: {exc}") from exc
        return {"$type": "pickle", "value": base64.b64encode(payload).decode("ascii")}

    def decode_unknown(self, data: dict[str, Any]) -> Any:
        """Unpickle what :meth:`encode_unknown` wrote."""
        try:
            return pickle.loads(base64.b64decode(data["value"]))  # documented opt-in
        except Exception as exc:
            raise ContextSerdeError(f"Cannot unpickle a stored value: {exc}") from exc

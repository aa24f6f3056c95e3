"""ValueCodec: JSON-safe data for values typed ``Any`` (store entries, results, extra fields).

A typed field is converted by its type; a value typed ``Any`` carries its type with it:

- ``None``, ``bool``, ``int``, ``float`` and ``str`` are stored as they are;
- lists are lists, and dicts with ``str`` keys are dicts (one holding a ``"$type"`` key
  is wrapped, so it is never mistaken for a tagged value);
- tuples, sets, frozensets, dicts with other keys, ``bytes`` (base64), ``datetime``,
  ``date``, ``time``, ``timedelta``, ``UUID`` and ``Decimal`` become
  ``{"$type": name, "value": ...}``;
- events and the classes registered with ``serializer.register_type`` become
  ``{"$type": tag, "value": ...}``, converted by cattrs; a registered pydantic model
  (a typed state, say) is stored as ``model_dump(mode="json")`` and restored with
  ``model_validate``, its class found by tag in the registry;
- anything else goes to the serializer's ``encode_unknown`` (the JSON serializer
  refuses it; the pickle serializer pickles it).
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from .._pydantic import is_model_class
from ..errors import ContextSerdeError
from ..events import Event
from .models import dump_model, load_model

if TYPE_CHECKING:
    import cattrs


class Registry(Protocol):
    """What values need of ``registry.Registry`` (which imports this module)."""

    @property
    def values(self) -> Mapping[str, type]:
        """The registered value classes by tag."""

    @property
    def tags(self) -> Mapping[type, str]:
        """The tag of each registered class."""

    def value_class(self, tag: object) -> type:
        """The value class of ``tag``."""


_NATIVE = (str, int, float, bool, type(None))
TAG = "$type"

ENCODERS: dict[type, tuple[str, Callable[[Any], Any]]] = {
    dt.datetime: ("datetime", lambda v: v.isoformat()),
    dt.date: ("date", lambda v: v.isoformat()),
    dt.time: ("time", lambda v: v.isoformat()),
    dt.timedelta: ("timedelta", lambda v: v.total_seconds()),
    uuid.UUID: ("uuid", str),
    Decimal: ("decimal", str),
    bytes: ("bytes", lambda v: base64.b64encode(v).decode("ascii")),
}
DECODERS: dict[str, Callable[[Any], Any]] = {
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "timedelta": lambda v: dt.timedelta(seconds=v),
    "uuid": uuid.UUID,
    "decimal": Decimal,
    "bytes": lambda v: base64.b64decode(v.encode("ascii"), validate=True),
}


class UnstorableValueError(ContextSerdeError):
    """A value's type can be neither stored as JSON nor converted by a registered hook."""

    def __init__(self, value_type: type) -> None:
        self.value_type = value_type
        super().__init__(f"Value of type {value_type.__qualname__} is not JSON-serializable")


def refuse_unstructure(value_type: Any) -> Callable[[Any], Any]:
    """A cattrs unstructure fallback: a class with no hook is an error, never passed through."""

    def refuse(value: Any) -> Any:
        raise UnstorableValueError(type(value))

    return refuse


def refuse_structure(value_type: Any) -> Callable[[Any, Any], Any]:
    """A cattrs structure fallback: a class with no hook fails when data for it comes."""

    def refuse(value: Any, _: Any) -> Any:
        raise ContextSerdeError(
            f"Cannot restore a value of type {value_type!r}: it has no structure hook",
            advice="Register one on serializer.converter.",
        )

    return refuse


class ValueCodec:
    """Encode and decode ``Any`` values for one converter and registry."""

    def __init__(
        self,
        converter: cattrs.Converter,
        registry: Registry,
        encode_unknown: Callable[[Any], Any],
        decode_unknown: Callable[[dict[str, Any]], Any],
    ) -> None:
        self.converter = converter
        self.registry = registry
        self.encode_unknown = encode_unknown
        self.decode_unknown = decode_unknown

    def encode(self, value: Any) -> Any:
        """Plain JSON-safe data for ``value``.

        Raises:
            ContextSerdeError: The value's type cannot be stored.
        """
        kind = type(value)
        if kind in _NATIVE:
            return value
        if kind is list:
            return [self.encode(item) for item in value]
        if kind is dict or isinstance(value, dict):
            if all(type(key) is str for key in value):
                encoded = {key: self.encode(item) for key, item in value.items()}
                return {TAG: "dict", "value": encoded} if TAG in value else encoded
            return {
                TAG: "pairs",
                "value": [[self.encode(k), self.encode(v)] for k, v in value.items()],
            }
        if kind is tuple:
            return {TAG: "tuple", "value": [self.encode(item) for item in value]}
        if kind is set or kind is frozenset:
            return {TAG: kind.__name__, "value": [self.encode(item) for item in value]}
        known = ENCODERS.get(kind)
        if known is not None:
            return {TAG: known[0], "value": known[1](value)}
        if isinstance(value, Event):
            return {TAG: "event", "value": self.converter.unstructure(value, Event)}
        tag = self.registry.tags.get(kind)
        if tag is not None and tag in self.registry.values:
            if is_model_class(kind):
                return {TAG: tag, "value": dump_model(value)}
            return {TAG: tag, "value": self.converter.unstructure(value, kind)}
        try:
            return self.encode_unknown(value)
        except UnstorableValueError:
            raise
        except ContextSerdeError:
            raise UnstorableValueError(kind) from None

    def decode(self, data: Any) -> Any:
        """The value ``data`` was encoded from.

        Raises:
            ContextSerdeError: ``data`` names an unknown tag or holds a malformed value.
        """
        kind = type(data)
        if kind in _NATIVE:
            return data
        if kind is list:
            return [self.decode(item) for item in data]
        if kind is not dict:
            raise ContextSerdeError(f"Expected JSON data, found a value of type {kind.__name__}.")
        tag = data.get(TAG)
        if tag is None:
            return {key: self.decode(item) for key, item in data.items()}
        return self._decode_tagged(tag, data)

    def _decode_tagged(self, tag: Any, data: dict[str, Any]) -> Any:
        if "value" not in data:
            raise ContextSerdeError(f"Tagged value {tag!r} has no 'value' key.")
        value = data["value"]
        try:
            if tag == "dict":
                return {key: self.decode(item) for key, item in value.items()}
            if tag == "pairs":
                return {self.decode(k): self.decode(v) for k, v in value}
            if tag == "tuple":
                return tuple(self.decode(item) for item in value)
            if tag == "set":
                return {self.decode(item) for item in value}
            if tag == "frozenset":
                return frozenset(self.decode(item) for item in value)
            decoder = DECODERS.get(tag)
            if decoder is not None:
                return decoder(value)
            if tag == "event":
                return self.converter.structure(value, Event)
            if tag == "pickle":
                return self.decode_unknown(data)
        except ContextSerdeError:
            raise
        except (TypeError, ValueError, AttributeError) as exc:
            raise ContextSerdeError(f"Malformed {tag!r} value: {exc}.") from None
        klass = self.registry.value_class(tag)
        if is_model_class(klass):
            return load_model(klass, value, tag)
        return self.converter.structure(value, klass)

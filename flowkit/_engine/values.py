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

Containers may nest ``MAX_NESTING`` deep in one value. Encoding and decoding count the
levels alike and refuse one more with ``NestedTooDeeply`` (a ``RecursionError``, which the
snapshot code reports as data nested too deeply), so whatever ``encode`` writes, ``decode``
reads back, whatever the depth of the stack each is called from.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Protocol

import cattrs

from .._pydantic import is_model_class
from ..errors import ContextSerdeError
from ..events import Event
from .models import dump_model, load_model


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
MAX_NESTING = 256
"""How many containers (lists, dicts, tuples, sets, tagged values) may nest in one value.

Each level costs ``encode`` and ``decode`` two stack frames, so a value at the limit takes
about 512 of Python's default 1,000, leaving room for whatever called ``to_dict`` or
``from_dict``.
"""

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


class NestedTooDeeply(RecursionError):
    """A value nests containers deeper than ``MAX_NESTING``."""

    def __init__(self) -> None:
        super().__init__(f"A value nests containers more than {MAX_NESTING} deep")


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

    def encode(self, value: Any, depth: int = 0) -> Any:
        """Plain JSON-safe data for ``value``, found inside ``depth`` containers.

        Raises:
            ContextSerdeError: The value's type cannot be stored.
            NestedTooDeeply: It nests containers deeper than ``MAX_NESTING``.
        """
        kind = type(value)
        if kind in _NATIVE:
            return value
        if depth >= MAX_NESTING:
            raise NestedTooDeeply
        inner = depth + 1
        if kind is list:
            return [self.encode(item, inner) for item in value]
        if kind is dict or isinstance(value, dict):
            if all(type(key) is str for key in value):
                encoded = {key: self.encode(item, inner) for key, item in value.items()}
                return {TAG: "dict", "value": encoded} if TAG in value else encoded
            return {
                TAG: "pairs",
                "value": [[self.encode(k, inner), self.encode(v, inner)] for k, v in value.items()],
            }
        if kind is tuple:
            return {TAG: "tuple", "value": [self.encode(item, inner) for item in value]}
        if kind is set or kind is frozenset:
            return {TAG: kind.__name__, "value": [self.encode(item, inner) for item in value]}
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

    def decode(self, data: Any, depth: int = 0) -> Any:
        """The value ``data`` was encoded from, found inside ``depth`` containers.

        Raises:
            ContextSerdeError: ``data`` names an unknown tag or holds a malformed value.
            cattrs.BaseValidationError: The same, found inside a list, a dict or a tagged
                value: its notes name the index, key or ``value`` on the way to it, as
                cattrs' own errors do (``restore.located`` reads them into a path).
            NestedTooDeeply: It nests containers deeper than ``MAX_NESTING``.
        """
        kind = type(data)
        if kind in _NATIVE:
            return data
        if depth >= MAX_NESTING:
            raise NestedTooDeeply
        inner = depth + 1
        if kind is list:
            return self._decode_items(data, inner)
        if kind is not dict:
            raise ContextSerdeError(f"Expected JSON data, found a value of type {kind.__name__}.")
        tag = data.get(TAG)
        if tag is None:
            return self._decode_entries(data, inner)
        if type(tag) is str and tag in _CONTAINERS and "value" in data:
            # Here, not in _decode_tagged: two stack frames a level, as encode() takes.
            try:
                if tag == "pairs":
                    return self._decode_pairs(data["value"], inner)
                if tag == "dict":
                    return self._decode_entries(data["value"], inner)
                return _CONTAINERS[tag](self._decode_items(data["value"], inner))
            except (TypeError, ValueError, AttributeError) as exc:
                malformed = ContextSerdeError(f"Malformed {tag!r} value: {exc}.")
                raise _in_value(malformed, None) from None
            except Exception as exc:
                raise _in_value(exc, None) from None
        return self._decode_tagged(tag, data)

    def _decode_items(self, items: Any, depth: int) -> list[Any]:
        decoded = []
        for index, item in enumerate(items):
            try:
                decoded.append(self.decode(item, depth))
            except Exception as exc:
                raise _in_item(exc, index) from None
        return decoded

    def _decode_entries(self, entries: dict[str, Any], depth: int) -> dict[str, Any]:
        decoded = {}
        for key, item in entries.items():
            try:
                decoded[key] = self.decode(item, depth)
            except Exception as exc:
                raise _in_item(exc, key) from None
        return decoded

    def _decode_pairs(self, pairs: Any, depth: int) -> dict[Any, Any]:
        """A dict with keys other than strings, from its ``[key, value]`` pairs.

        A pair's key and value are one level inside the dict, as ``encode`` counts them.
        """
        decoded: list[tuple[Any, Any]] = []
        for index, pair in enumerate(pairs):
            if type(pair) is not list or len(pair) != 2:
                raise ValueError(f"element #{index} is not a [key, value] list")
            try:
                key = self.decode(pair[0], depth)
            except Exception as exc:
                raise _in_item(_in_item(exc, 0), index) from None
            try:
                value = self.decode(pair[1], depth)
            except Exception as exc:
                raise _in_item(_in_item(exc, 1), index) from None
            decoded.append((key, value))
        return dict(decoded)

    def _decode_tagged(self, tag: Any, data: dict[str, Any]) -> Any:
        if "value" not in data:
            raise ContextSerdeError(f"Tagged value {tag!r} has no 'value' key.")
        if tag == "pickle":  # the serializer reads the whole tagged value
            return self.decode_unknown(data)
        value = data["value"]
        known = isinstance(tag, str) and tag in _BUILT_IN_TAGS
        klass = None if known else self.registry.value_class(tag)
        try:
            if klass is None:
                return self._decode_built_in(tag, value)
            if is_model_class(klass):
                return load_model(klass, value, tag)
            return self.converter.structure(value, klass)
        except Exception as exc:
            raise _in_value(exc, klass) from None

    def _decode_built_in(self, tag: str, value: Any) -> Any:
        try:
            if tag == "event":
                return self.converter.structure(value, Event)
            return DECODERS[tag](value)
        except (ContextSerdeError, cattrs.BaseValidationError):
            raise
        except (TypeError, ValueError, AttributeError) as exc:
            raise ContextSerdeError(f"Malformed {tag!r} value: {exc}.") from None


_CONTAINERS: dict[str, Callable[[list[Any]], Any]] = {
    "tuple": tuple,
    "set": set,
    "frozenset": frozenset,
    "dict": dict,  # decoded by decode() itself, as "pairs" is
    "pairs": dict,
}
_BUILT_IN_TAGS = frozenset(("event", *_CONTAINERS, *DECODERS))


def _in_item(exc: Exception, index: int | str) -> cattrs.IterableValidationError:
    """``exc``, raised by the item ``index`` of a list or dict, noted as cattrs notes it."""
    note = cattrs.IterableValidationNote(f"Decoding item @ index {index!r}", index, None)
    exc.__notes__ = [*getattr(exc, "__notes__", []), note]
    return cattrs.IterableValidationError("While decoding a list or dict", [exc], list)


def _in_value(exc: Exception, klass: type | None) -> cattrs.ClassValidationError:
    """``exc``, raised by the ``value`` of a tagged value of class ``klass`` (None for a
    built-in tag), noted as cattrs notes it."""
    note = cattrs.AttributeValidationNote("Decoding the tagged value", "value", klass)
    exc.__notes__ = [*getattr(exc, "__notes__", []), note]
    return cattrs.ClassValidationError("While decoding a tagged value", [exc], dict)

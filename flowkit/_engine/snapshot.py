"""Snapshots: RunState to plain JSON-safe dicts and back, with a converter bound to a registry.

The format (version 2), one bullet per hook or field:

- the top level is a ``Snapshot``: ``format`` ("flowkit.context"), ``version``,
  ``workflow`` (the workflow's name), ``run_id``, ``is_running``, ``started``,
  ``finished``, ``elapsed`` (seconds of the timeout already used), ``next_id``
  (the next delivery id), ``store``, ``queued``, ``in_progress``, ``collected``,
  ``waiters``, ``stream``, ``statistics`` (optional: ``{"step_runs": {step: n},
  "events": {class name: n}, "failed_step": str | None}``, zeros when absent) and
  ``event_classes`` (optional: ``{tag: "module:QualName"}``, the event classes the run
  used that the registry lacks; see ``event_classes.py``); unknown keys are refused;
- a delivery is ``{"id", "step", "event", "attempts", "claimed_by"}``; ``queued``
  keeps each step's order, ``in_progress`` deliveries are queued again first on
  resume (at-least-once);
- an event is a tagged union: ``{"$type": tag, ...fields, "_data": {...extra fields}}``,
  tags from the workflow's Registry (step signatures, built-in events, classes
  registered on the serializer), or the module-qualified name of a class listed in
  ``event_classes`` (found on restore among loaded Event subclasses, never imported);
  an event of a class neither knows cannot be frozen. No
  field can be named ``$type`` (it is not an identifier), so every field round-trips;
  version 1 put the tag under ``"type"`` and is read with that key (see ``restore.py``);
- ``bool``, ``int``, ``float`` and ``str`` are read strictly: no coercion between
  them (an ``int`` is accepted where a ``float`` is declared); a subclass such as an
  ``IntEnum`` is built from data of its base type;
- a list (a section such as ``waiters``, a field typed ``list[...]``) is read from a
  list only, never from another iterable (an object's keys, a string's characters);
- an attrs class or dataclass (a delivery, a waiter, the statistics, a typed state) is
  read from an object only; ``restore.located`` names the class for anything else;
- a field typed with a pydantic model holds ``model_dump(mode="json")`` and is
  restored with ``model_validate`` of the annotated class (see ``models.py``);
- a field typed ``Any`` (the store, ``StopEvent.result``, extra fields, waiter
  requirements) holds ValueCodec data (see ``values.py``);
- an exception is ``{"type": "module.QualName", "message": str}`` and comes back as
  the builtin or flowkit exception of that name, or as UnreconstructedException;
- a waiter's ``event_type`` is the event tag;
- fields typed ``datetime``, ``date``, ``time`` (ISO 8601 strings), ``timedelta``
  (seconds), ``UUID``, ``Decimal`` (strings) and ``bytes`` (base64) are stored as such.

What the structure cannot say (every waiter and buffered event refers to a delivery
that exists, ids are unique, ...) is checked on the ``Snapshot`` by ``consistency.py``.
"""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from enum import Enum
from typing import Any, Union, get_origin

import attrs
import cattrs
from cattrs.cols import list_structure_factory
from cattrs.strategies import configure_tagged_union

from .. import errors as flowkit_errors
from ..errors import ContextSerdeError
from ..events import Event, UnreconstructedException
from .models import configure_models
from .registry import Registry
from .state import Delivery, RunCounters, Waiter
from .values import (
    DECODERS,
    ENCODERS,
    ValueCodec,
    refuse_structure,
    refuse_unstructure,
)

FORMAT = "flowkit.context"
VERSION = 2
READABLE_VERSIONS = (1, 2)
MAX_EVENTS = 5_000_000
EVENT_TAG = "$type"
# The key of the event tag in each readable version.
EVENT_TAGS = {1: "type", 2: EVENT_TAG}
_reading_tag: ContextVar[str] = ContextVar("flowkit_snapshot_event_tag", default=EVENT_TAG)


@contextmanager
def reading_version(version: int) -> Iterator[None]:
    """Structure events in the form ``version`` wrote them while inside this block."""
    token = _reading_tag.set(EVENT_TAGS[version])
    try:
        yield
    finally:
        _reading_tag.reset(token)


@attrs.define
class Snapshot:
    """The top level of a snapshot dict."""

    format: str
    version: int
    workflow: str
    run_id: str
    is_running: bool
    started: bool
    finished: bool
    elapsed: float
    next_id: int
    store: Any
    queued: list[Delivery]
    in_progress: list[Delivery]
    collected: dict[str, list[Delivery]]
    waiters: list[Waiter]
    stream: list[Event]
    statistics: RunCounters = attrs.Factory(RunCounters)
    event_classes: dict[str, str] = attrs.Factory(dict)


def _unstructure_exception(exc: Exception) -> dict[str, str]:
    kind = type(exc)
    if isinstance(exc, UnreconstructedException) and exc.original_type:
        return {"type": exc.original_type, "message": str(exc)}
    return {"type": f"{kind.__module__}.{kind.__qualname__}", "message": str(exc)}


def _structure_exception(data: Any, _: Any) -> Exception:
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("type"), str)
        or not isinstance(data.get("message", ""), str)
    ):
        raise ContextSerdeError("An exception must be {'type': str, 'message': str}")
    name, message = data["type"], data.get("message", "")
    module, _sep, attr = name.rpartition(".")
    # Only two namespaces are looked in; a name from the data is never imported.
    klass: Any = None
    if module == "builtins":
        klass = getattr(builtins, attr, None)
    elif module == "flowkit.errors" and attr in flowkit_errors.__all__:
        klass = getattr(flowkit_errors, attr)
    if isinstance(klass, type) and issubclass(klass, Exception):
        try:
            return klass(message)
        except Exception:
            pass
    return UnreconstructedException(message, original_type=name)


def _typed_decoder(name: str, decode: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _: Any) -> Any:
        try:
            return decode(value)
        except (TypeError, ValueError, AttributeError) as exc:
            raise ContextSerdeError(f"Malformed {name} value {value!r}: {exc}") from None

    return structure


def json_type(value: Any) -> str:
    """The JSON name of ``value``'s type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _strict(kind: type, accepted: tuple[type, ...], name: str) -> Callable[[Any, Any], Any]:
    """A structure hook taking only values whose type is in ``accepted``; no coercion."""

    def structure(value: Any, cl: Any) -> Any:
        if value.__class__ is kind and cl is kind:  # the common case, first: it is hot
            return value
        if type(value) in accepted:
            # An int for a float, an IntEnum, a str subclass: built from the data.
            return cl(value)
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise ContextSerdeError(f"Expected {name}, found {json_type(value)} {shown}")

    return structure


STRICT_TYPES: tuple[tuple[type, tuple[type, ...], str], ...] = (
    (bool, (bool,), "a boolean (true or false)"),
    (int, (int,), "an integer"),
    (float, (float, int), "a number"),
    (str, (str,), "a string"),
)


def _is_list(kind: Any) -> bool:
    return kind is list or get_origin(kind) is list


def _lists_only(kind: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """cattrs' structure hook for the list type ``kind``, taking only a list.

    cattrs' own takes any iterable: ``{}`` would become an empty list, a string a list
    of its characters.
    """
    structure_list = list_structure_factory(kind, converter)

    def structure(value: Any, cl: Any) -> Any:
        if not isinstance(value, list):
            raise ContextSerdeError("Invalid value for type, expected list")
        return structure_list(value, cl)

    return structure


def configure_converter(
    converter: cattrs.Converter,
    registry: Registry,
    encode_unknown: Callable[[Any], Any],
    decode_unknown: Callable[[dict[str, Any]], Any],
) -> None:
    """Teach ``converter`` flowkit's snapshot format for the classes in ``registry``."""
    codec = ValueCodec(converter, registry, encode_unknown, decode_unknown)
    for kind, accepted, name in STRICT_TYPES:
        converter.register_structure_hook(kind, _strict(kind, accepted, name))
    converter.register_structure_hook_factory(_is_list, lambda t: _lists_only(t, converter))
    for klass, (name, encode) in ENCODERS.items():
        decode = DECODERS[name]
        converter.register_unstructure_hook(klass, encode)
        converter.register_structure_hook(klass, _typed_decoder(name, decode))
    converter.register_unstructure_hook_func(lambda t: t is Any, codec.encode)
    converter.register_structure_hook_func(lambda t: t is Any, lambda v, _: codec.decode(v))
    converter.register_unstructure_hook_func(lambda t: t is Exception, _unstructure_exception)
    converter.register_structure_hook_func(lambda t: t is Exception, _structure_exception)
    # Fields typed with a pydantic model: before the union, whose members' hooks use it.
    configure_models(converter)

    # The registry's event classes form a tagged union. The hooks for fields typed
    # ``Event`` are registered first, so that the union members' generated functions
    # (StepFailedEvent.input_event) use them.
    members = tuple(registry.events.values())
    union = Union[members]  # type: ignore[valid-type]  # noqa: UP007  # built at run time
    union_hooks: dict[str, Any] = {}

    def unstructure_event(event: Event) -> Any:
        registry.tag_of(type(event))  # an unregistered class fails here, naming itself
        return union_hooks["unstructure"](event)

    def structure_event(data: Any, _: Any) -> Event:
        if not isinstance(data, dict):
            raise ContextSerdeError(f"An event must be an object, found {json_type(data)}")
        key = _reading_tag.get()
        if key != EVENT_TAG:  # an older version's snapshot: its tag under its own key
            if EVENT_TAG in data:
                raise ContextSerdeError(f"Unexpected key {EVENT_TAG!r} in a version 1 event")
            data = {EVENT_TAG: data.get(key), **{k: v for k, v in data.items() if k != key}}
        registry.event_class(data.get(EVENT_TAG))  # unknown tags fail here, not as a KeyError
        event: Event = union_hooks["structure"](data, union)
        return event

    converter.register_unstructure_hook_func(lambda t: t is Event, unstructure_event)
    converter.register_structure_hook_func(lambda t: t is Event, structure_event)
    converter.register_unstructure_hook_func(lambda t: t == type[Event], registry.tag_of)
    converter.register_structure_hook_func(
        lambda t: t == type[Event], lambda tag, _: registry.event_class(tag)
    )
    configure_tagged_union(
        union, converter, tag_name=EVENT_TAG, tag_generator=registry.tags.__getitem__
    )
    union_hooks["structure"] = converter.get_structure_hook(union)
    union_hooks["unstructure"] = converter.get_unstructure_hook(union)


def make_converter(
    registry: Registry,
    encode_unknown: Callable[[Any], Any],
    decode_unknown: Callable[[dict[str, Any]], Any],
    base: cattrs.Converter | None = None,
) -> cattrs.Converter:
    """A converter for ``registry``'s snapshots, built on a copy of ``base`` if given.

    The hooks registered on ``base`` (the serializer's converter) are kept. A class
    ``base`` has no hook for is refused, never passed through: cattrs would otherwise
    put the object itself into the snapshot.
    """
    base = base if base is not None else cattrs.Converter()
    converter = base.copy(detailed_validation=True, forbid_extra_keys=True)
    _refuse_unhandled(converter, base)
    try:
        configure_converter(converter, registry, encode_unknown, decode_unknown)
    except cattrs.StructureHandlerNotFoundError as exc:
        raise _unstorable_field(converter, registry, exc) from None
    return converter


def _unstorable_field(
    converter: cattrs.Converter, registry: Registry, exc: cattrs.StructureHandlerNotFoundError
) -> ContextSerdeError:
    """The error for an event class with a field of a type no hook can store (a callable)."""
    owner = "An event class"
    for klass in registry.events.values():
        try:
            converter.get_structure_hook(klass)
        except cattrs.StructureHandlerNotFoundError:
            owner = f"Event class {klass.__qualname__}"
            break
    return ContextSerdeError(
        f"{owner} has a field of type {exc.type_!r}, which a snapshot cannot hold",
        advice="Give the field a type of JSON values, dataclasses, attrs or pydantic models "
        "(or Any, stored by the serializer), or register cattrs hooks for it on the "
        "serializer's converter.",
    )


_HANDLED = (str, bytes, int, float, bool, type(None), Enum, list, dict, tuple, set, frozenset)


def _opaque(kind: Any) -> bool:
    """A plain class cattrs knows nothing about (not attrs, a dataclass, an Enum, ...)."""
    return (
        isinstance(kind, type)
        and get_origin(kind) is None  # list[X] passes isinstance(..., type) on Python 3.10
        and not issubclass(kind, _HANDLED)
        and not attrs.has(kind)
        and not dataclasses.is_dataclass(kind)
    )


def _refuse_unhandled(converter: cattrs.Converter, base: cattrs.Converter) -> None:
    def no_structure_hook(kind: Any) -> bool:
        if not _opaque(kind):
            return False
        try:
            base.get_structure_hook(kind)
        except cattrs.StructureHandlerNotFoundError:
            return True
        return False

    def no_unstructure_hook(kind: Any) -> bool:
        return _opaque(kind) and base.get_unstructure_hook(kind) is cattrs.fns.identity

    converter.register_structure_hook_factory(no_structure_hook, refuse_structure)
    converter.register_unstructure_hook_factory(no_unstructure_hook, refuse_unstructure)

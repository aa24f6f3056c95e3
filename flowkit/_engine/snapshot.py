"""Snapshots: RunState to plain JSON-safe dicts and back, with a converter bound to a registry.

The format (version 1), one bullet per hook or field:

- the top level is a ``Snapshot``: ``format`` ("flowkit.context"), ``version``,
  ``workflow`` (the workflow's name), ``run_id``, ``is_running``, ``started``,
  ``finished``, ``elapsed`` (seconds of the timeout already used), ``next_id``
  (the next delivery id), ``store``, ``queued``, ``in_progress``, ``collected``,
  ``waiters`` and ``stream``; unknown keys are refused;
- a delivery is ``{"id", "step", "event", "attempts", "claimed_by"}``; ``queued``
  keeps each step's order, ``in_progress`` deliveries are queued again first on
  resume (at-least-once);
- an event is a tagged union: ``{"type": tag, ...fields, "_data": {...extra fields}}``,
  tags from the workflow's Registry; a subclass of one of its classes that no step
  signature names is tagged ``module.QualName`` and found again among the loaded
  subclasses of the registry's classes, never imported;
- a field typed ``Any`` (the store, ``StopEvent.result``, extra fields, waiter
  requirements) holds ValueCodec data (see ``values.py``);
- an exception is ``{"type": "module.QualName", "message": str}`` and comes back as
  the builtin or flowkit exception of that name, or as UnreconstructedException;
- a waiter's ``event_type`` is the event tag;
- fields typed ``datetime``, ``date``, ``time`` (ISO 8601 strings), ``timedelta``
  (seconds), ``UUID``, ``Decimal`` (strings) and ``bytes`` (base64) are stored as such.
"""

from __future__ import annotations

import builtins
import dataclasses
import time
from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import Any, Union

import attrs
import cattrs
from cattrs.strategies import configure_tagged_union

from .. import errors as flowkit_errors
from ..errors import ContextSerdeError
from ..events import Event, UnreconstructedException
from .registry import Registry
from .state import Delivery, RunState, Waiter
from .values import (
    DECODERS,
    ENCODERS,
    UnstorableValueError,
    ValueCodec,
    refuse_structure,
    refuse_unstructure,
)

FORMAT = "flowkit.context"
VERSION = 1
MAX_EVENTS = 5_000_000


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


def _unstructure_exception(exc: Exception) -> dict[str, str]:
    kind = type(exc)
    if isinstance(exc, UnreconstructedException) and exc.original_type:
        return {"type": exc.original_type, "message": str(exc)}
    return {"type": f"{kind.__module__}.{kind.__qualname__}", "message": str(exc)}


def _structure_exception(data: Any, _: Any) -> Exception:
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ContextSerdeError("An exception must be {'type': str, 'message': str}.")
    name, message = data["type"], str(data.get("message", ""))
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


def configure_converter(
    converter: cattrs.Converter,
    registry: Registry,
    encode_unknown: Callable[[Any], Any],
    decode_unknown: Callable[[dict[str, Any]], Any],
) -> None:
    """Teach ``converter`` flowkit's snapshot format for the classes in ``registry``."""
    codec = ValueCodec(converter, registry, encode_unknown, decode_unknown)
    for klass, (name, encode) in ENCODERS.items():
        decode = DECODERS[name]
        converter.register_unstructure_hook(klass, encode)
        converter.register_structure_hook(klass, _typed_decoder(name, decode))
    converter.register_unstructure_hook_func(lambda t: t is Any, codec.encode)
    converter.register_structure_hook_func(lambda t: t is Any, lambda v, _: codec.decode(v))
    converter.register_unstructure_hook_func(lambda t: t is Exception, _unstructure_exception)
    converter.register_structure_hook_func(lambda t: t is Exception, _structure_exception)

    # The workflow's own event classes form a tagged union; an event class that no
    # signature names (a waiter_event, say) is tagged by its qualified name. The hooks
    # for fields typed ``Event`` are registered first, so that the union members'
    # generated functions (StepFailedEvent.input_event) use them.
    members = tuple(registry.events.values())
    union = Union[members]  # type: ignore[valid-type]  # noqa: UP007  # built at run time
    union_hooks: dict[str, Any] = {}

    def unstructure_event(event: Event) -> Any:
        klass = type(event)
        if klass in registry.tags:
            return union_hooks["unstructure"](event)
        data = converter.unstructure(event, klass)
        data["type"] = registry.tag_of(klass)
        return data

    def structure_event(data: Any, _: Any) -> Event:
        if not isinstance(data, dict):
            raise ContextSerdeError(f"An event must be a dict, found {type(data).__name__}.")
        klass = registry.event_class(data.get("type"))  # unknown tags fail here
        if klass in registry.tags:
            event: Event = union_hooks["structure"](data, union)
            return event
        fields = {key: value for key, value in data.items() if key != "type"}
        return converter.structure(fields, klass)

    converter.register_unstructure_hook_func(lambda t: t is Event, unstructure_event)
    converter.register_structure_hook_func(lambda t: t is Event, structure_event)
    converter.register_unstructure_hook_func(lambda t: t == type[Event], registry.tag_of)
    converter.register_structure_hook_func(
        lambda t: t == type[Event], lambda tag, _: registry.event_class(tag)
    )
    configure_tagged_union(
        union, converter, tag_name="type", tag_generator=registry.tags.__getitem__
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
    configure_converter(converter, registry, encode_unknown, decode_unknown)
    return converter


_HANDLED = (str, bytes, int, float, bool, type(None), Enum, list, dict, tuple, set, frozenset)


def _opaque(kind: Any) -> bool:
    """A plain class cattrs knows nothing about (not attrs, a dataclass, an Enum, ...)."""
    return (
        isinstance(kind, type)
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


def freeze(state: RunState, workflow: str, converter: cattrs.Converter) -> dict[str, Any]:
    """The snapshot dict of ``state``.

    Raises:
        ContextSerdeError: A value in the state cannot be stored as JSON.
    """
    in_progress = list(state.in_progress.values())
    running = state.in_progress.keys()
    snapshot = Snapshot(
        format=FORMAT,
        version=VERSION,
        workflow=workflow,
        run_id=state.run_id,
        is_running=state.started and not state.finished,
        started=state.started,
        finished=state.finished,
        elapsed=state.elapsed_now(time.monotonic()),
        next_id=state.next_id,
        store=state.store,
        queued=[d for queue in state.queued.values() for d in queue],
        in_progress=in_progress,
        # A buffered event whose step is still running is in in_progress already.
        collected={
            key: kept
            for key, buffer in state.collected.items()
            if (kept := [d for d in buffer.values() if d.id not in running])
        },
        waiters=list(state.waiters.values()),
        stream=list(state.stream),
    )
    try:
        data: dict[str, Any] = converter.unstructure(snapshot)
    except UnstorableValueError as exc:
        path = locate(snapshot, exc.value_type)
        raise ContextSerdeError(
            f"Cannot freeze the context: {exc} at {path}. Store JSON data, register the "
            "class with serializer.register_type(), or give it hooks on serializer.converter.",
            path=path,
        ) from None
    except RecursionError:
        path = locate(snapshot, None)
        raise ContextSerdeError(
            f"Cannot freeze the context: the value at {path} is nested too deeply.", path=path
        ) from None
    return data


_TOO_DEEP = 200


def locate(root: Any, wanted: type | None) -> str:
    """The path of the first value of type ``wanted`` inside ``root`` (for error messages).

    With ``wanted`` None, the path (shortened) of the first value nested too deeply.
    """
    pending: list[tuple[Any, str]] = [(root, "$")]
    seen: set[int] = set()
    while pending:
        value, path = pending.pop()
        if type(value) is wanted:
            return path
        if wanted is None and path.count("[") + path.count(".") > _TOO_DEEP:
            cut = max(path.find("[", 8), 8)
            return path[: cut + 30] + "..."
        if id(value) in seen:
            continue
        seen.add(id(value))
        children: list[tuple[Any, str]] = []
        if isinstance(value, dict):
            children = [
                (v, f"{path}.{k}" if isinstance(k, str) else f"{path}[{k!r}]")
                for k, v in value.items()
            ]
        elif isinstance(value, (list, tuple, deque)):
            children = [(v, f"{path}[{i}]") for i, v in enumerate(value)]
        elif isinstance(value, (set, frozenset)):
            children = [(v, f"{path}[*]") for v in value]
        elif attrs.has(type(value)):
            for field in attrs.fields(type(value)):
                child = getattr(value, field.name)
                if field.name == "_data":  # extra fields read as attributes
                    children.extend((v, f"{path}.{k}") for k, v in child.items())
                else:
                    children.append((child, f"{path}.{field.name}"))
        pending.extend(reversed(children))
    return "$"


def _format_error(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, ContextSerdeError):
        return str(exc)
    return cattrs.v.format_exception(exc, type_)


def _check_header(data: Any, workflow: str) -> None:
    if not isinstance(data, dict):
        raise ContextSerdeError(
            f"A snapshot is a dict from ctx.to_dict(), got {type(data).__name__}.", path="$"
        )
    if data.get("format") != FORMAT:
        raise ContextSerdeError(
            f"Not a flowkit snapshot: $.format is {data.get('format')!r}, expected {FORMAT!r}. "
            "Pass the dict returned by ctx.to_dict().",
            path="$.format",
        )
    version = data.get("version")
    if version != VERSION:
        raise ContextSerdeError(
            f"Unsupported snapshot version {version!r}: this flowkit reads version {VERSION}. "
            "Restore it with the flowkit release that wrote it, or a later one.",
            path="$.version",
        )
    if data.get("workflow") != workflow:
        raise ContextSerdeError(
            f"This snapshot is of workflow {data.get('workflow')!r}, not {workflow!r}. "
            "Restore it with Context.from_dict() on an instance of the workflow that made it.",
            path="$.workflow",
        )
    total = 0
    for key in ("queued", "in_progress", "stream", "waiters"):
        section = data.get(key)
        total += len(section) if isinstance(section, list) else 0
    collected = data.get("collected")
    if isinstance(collected, dict):
        total += sum(len(v) for v in collected.values() if isinstance(v, list))
    if total > MAX_EVENTS:
        raise ContextSerdeError(
            f"The snapshot holds {total} events, more than the limit of {MAX_EVENTS}.", path="$"
        )


def thaw(data: Any, workflow: str, steps: set[str], converter: cattrs.Converter) -> RunState:
    """The RunState a snapshot dict describes; nothing is imported or run.

    Raises:
        ContextSerdeError: The dict is not a valid snapshot of this workflow; the
            message names what is wrong and ``path`` where.
    """
    _check_header(data, workflow)
    try:
        snapshot = converter.structure(data, Snapshot)
    except RecursionError:
        raise ContextSerdeError("The snapshot is nested too deeply to restore.", path="$") from None
    except cattrs.StructureHandlerNotFoundError as exc:
        raise ContextSerdeError(
            f"Cannot restore a value of type {exc.type_!r}: it has no structure hook. Register "
            "one on serializer.converter.",
            path="$",
        ) from None
    except (cattrs.BaseValidationError, ContextSerdeError) as exc:
        messages = (
            cattrs.transform_error(exc, path="$", format_exception=_format_error)
            if isinstance(exc, cattrs.BaseValidationError)
            else [str(exc)]
        )
        message, _sep, path = messages[0].rpartition(" @ ")
        if not _sep:
            message, path = messages[0], "$"
        # Say where right after what: "Unknown event tag 'X' at $.queued[3]. <advice>"
        first, _dot, advice = message.partition(". ")
        located = f"{first.rstrip('.')} at {path}." + (f" {advice}" if advice else "")
        raise ContextSerdeError(located, path=path) from None
    return _to_state(snapshot, steps)


def _to_state(snapshot: Snapshot, steps: set[str]) -> RunState:
    def check(delivery: Delivery, where: str) -> None:
        if delivery.step not in steps:
            raise ContextSerdeError(
                f"The snapshot has an event for step {delivery.step!r} at {where}, which the "
                f"workflow does not have. Its steps are: {', '.join(sorted(steps))}.",
                path=where,
            )
        if not 0 < delivery.id < snapshot.next_id:
            raise ContextSerdeError(
                f"Delivery id {delivery.id} at {where} is not below next_id "
                f"{snapshot.next_id}; the snapshot is corrupt.",
                path=where,
            )

    state = RunState(run_id=snapshot.run_id, store=snapshot.store)
    seen: set[int] = set()
    for index, delivery in enumerate(snapshot.queued):
        check(delivery, f"$.queued[{index}]")
        state.queue_of(delivery.step).append(delivery)
        seen.add(delivery.id)
    for index, delivery in enumerate(snapshot.in_progress):
        check(delivery, f"$.in_progress[{index}]")
        if delivery.id in seen:
            raise ContextSerdeError(
                f"Delivery id {delivery.id} is both queued and in progress; the snapshot is "
                "corrupt.",
                path=f"$.in_progress[{index}]",
            )
        state.in_progress[delivery.id] = delivery
        seen.add(delivery.id)
    for key, buffer in snapshot.collected.items():
        for index, delivery in enumerate(buffer):
            check(delivery, f"$.collected.{key}[{index}]")
        state.collected[key] = {delivery.id: delivery for delivery in buffer}
    for index, waiter in enumerate(snapshot.waiters):
        if waiter.step not in steps:
            raise ContextSerdeError(
                f"The snapshot has a waiter of step {waiter.step!r}, which the workflow does not "
                "have.",
                path=f"$.waiters[{index}]",
            )
        state.waiters[waiter.key] = waiter
    state.stream = deque(snapshot.stream)
    state.next_id = snapshot.next_id
    state.elapsed = snapshot.elapsed
    state.started = snapshot.started
    state.finished = snapshot.finished
    return state

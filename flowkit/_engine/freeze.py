"""Freeze a RunState into a snapshot dict, and thaw one back, checking it as a whole."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import attrs
import cattrs

from ..errors import ContextSerdeError
from .snapshot import FORMAT, MAX_EVENTS, VERSION, Snapshot
from .state import Delivery, RunState
from .values import UnstorableValueError


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
        queued=[d for queue in state.queued.values() for d in queue.values()],
        in_progress=in_progress,
        # A buffered event whose step is still running is in in_progress already.
        collected={
            key: kept
            for key, buffer in state.collected.items()
            if (kept := [d for d in buffer.values() if d.id not in running])
        },
        waiters=list(state.waiters.values()),
        stream=list(state.stream),
        statistics=state.counters,
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
    counters = state.counters
    if not counters.step_runs and not counters.events and counters.failed_step is None:
        del data["statistics"]  # optional: absent means zeros, as in older snapshots
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
        if type(value) is wanted or (wanted is not None and value is wanted):
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
    state = _to_state(snapshot, steps)
    _share_prompts(state, data)
    return state


def _share_prompts(state: RunState, data: dict[str, Any]) -> None:
    """Make each open waiter's prompt the very event still unread in the stream, if it is.

    A prompt written before the freeze and not read yet is in both ``waiters`` and
    ``stream``; sharing the object lets the resumed run see it was already streamed, so
    that it is not streamed a second time when the step asks again.
    """
    raw_stream = data["stream"]
    taken: set[int] = set()
    for raw in data["waiters"]:
        waiter = state.waiters[raw["key"]]
        prompt = raw.get("waiter_event")
        if prompt is None or waiter.resolved is not None:
            continue
        for index, raw_event in enumerate(raw_stream):
            if index not in taken and raw_event == prompt:
                taken.add(index)
                waiter.waiter_event = state.stream[index]
                break


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
        if delivery.id in seen:
            raise ContextSerdeError(
                f"Delivery id {delivery.id} is queued twice; the snapshot is corrupt.",
                path=f"$.queued[{index}]",
            )
        state.queue_of(delivery.step)[delivery.id] = delivery
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
    state.counters = snapshot.statistics
    state.next_id = snapshot.next_id
    state.elapsed = snapshot.elapsed
    state.started = snapshot.started
    state.finished = snapshot.finished
    return state

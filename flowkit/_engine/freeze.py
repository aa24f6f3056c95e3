"""Freeze a RunState into a snapshot dict, and thaw one back, checking it as a whole."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import attrs
import cattrs

from ..errors import ContextSerdeError
from .consistency import check_consistency
from .models import ModelDumpError
from .restore import DEEPEST_SHOWN, read_snapshot, shortened
from .snapshot import FORMAT, VERSION, Snapshot
from .state import RunState
from .values import UnstorableValueError


def freeze(
    state: RunState,
    workflow: str,
    converter: cattrs.Converter,
    event_classes: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The snapshot dict of ``state``; ``event_classes`` lists classes outside the registry.

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
        event_classes=event_classes or {},
    )
    try:
        data: dict[str, Any] = converter.unstructure(snapshot)
    except UnstorableValueError as exc:
        raise ContextSerdeError(
            f"Cannot freeze the context: {exc.reason}",
            path=locate(snapshot, exc.value_type),
            advice="Store JSON data, register the class with serializer.register_type(), or "
            "give it hooks on serializer.converter.",
        ) from None
    except ModelDumpError as exc:
        raise ContextSerdeError(
            f"Cannot freeze the context: {exc.reason}",
            path=locate(snapshot, exc.value_type),
            advice=None
            if exc.too_deep
            else 'Make model_dump(mode="json") succeed on it: give its fields types pydantic '
            "can serialize, or a field_serializer.",
        ) from exc.__cause__
    except RecursionError:
        cycle = find_cycle(snapshot)
        if cycle is not None:
            raise ContextSerdeError(
                "Cannot freeze the context: a value contains itself",
                path=shortened(cycle),
                advice="A snapshot is JSON data, a tree: store a copy without the cycle.",
            ) from None
        raise ContextSerdeError(
            "Cannot freeze the context: a value is nested too deeply",
            path=locate(snapshot, None),
        ) from None
    counters = state.counters
    if not counters.step_runs and not counters.events and counters.failed_step is None:
        del data["statistics"]  # optional: absent means zeros, as in older snapshots
    if not event_classes:
        del data["event_classes"]  # optional: absent when the registry knows every class
    return data


def locate(root: Any, wanted: type | None) -> str:
    """The path of the first value of type ``wanted`` inside ``root`` (for error messages).

    With ``wanted`` None, the path (shortened) of the first value nested too deeply.
    """
    pending: list[tuple[Any, _At | None]] = [(root, None)]
    seen: set[int] = set()
    while pending:
        value, at = pending.pop()
        if type(value) is wanted or (wanted is not None and value is wanted):
            return _joined(at)
        if wanted is None and at is not None and at.depth > DEEPEST_SHOWN:
            return shortened(_joined(at))
        if id(value) in seen:
            continue
        seen.add(id(value))
        pending.extend((child, _At(at, step)) for child, step in reversed(_children(value)))
    return "$"


def find_cycle(root: Any) -> str | None:
    """The path of the first value inside ``root`` that contains itself, if one does.

    The path ends where the value appears inside itself (``$.store.a[0]`` for
    ``a = []; a.append(a)``). Each value is walked once.
    """
    on_path: set[int] = set()  # the values from the root down to the one being walked
    done: set[int] = set()
    # (value, where it is, whether its children were walked: then it leaves on_path)
    pending: list[tuple[Any, _At | None, bool]] = [(root, None, False)]
    while pending:
        value, at, walked = pending.pop()
        if walked:
            on_path.discard(id(value))
            done.add(id(value))
            continue
        if id(value) in on_path:
            return _joined(at)
        if id(value) in done:
            continue
        on_path.add(id(value))
        pending.append((value, at, True))
        pending.extend((child, _At(at, step), False) for child, step in reversed(_children(value)))
    return None


class _At:
    """Where a value is: where its container is, and the step from there (``.k``, ``[0]``).

    Each value walked costs one of these, however deep it is; the path is joined into a
    string only for the value an error names (joining it for every value would cost the
    square of the depth: gigabytes for a list nested 100,000 deep).
    """

    __slots__ = ("container", "depth", "step")

    def __init__(self, container: _At | None, step: str) -> None:
        self.container = container
        self.step = step
        self.depth: int = 1 if container is None else container.depth + 1


def _joined(at: _At | None) -> str:
    steps: list[str] = []
    while at is not None:
        steps.append(at.step)
        at = at.container
    return "$" + "".join(reversed(steps))


def _children(value: Any) -> list[tuple[Any, str]]:
    """The values inside ``value`` (a container, or an attrs instance), with the step to each."""
    children: list[tuple[Any, str]] = []
    if isinstance(value, dict):
        for index, (key, item) in enumerate(value.items()):
            if isinstance(key, str):
                children.append((item, f".{key}"))
            else:  # the key is a value too: a tuple, a frozenset, a class instance
                children.append((key, f"[key #{index}]"))
                children.append((item, f"[{key!r}]"))
        return children
    if isinstance(value, (list, tuple, deque)):
        return [(v, f"[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return [(v, "[*]") for v in value]
    if attrs.has(type(value)):
        for field in attrs.fields(type(value)):
            child = getattr(value, field.name)
            if field.name == "_data":  # extra fields read as attributes
                children.extend((v, f".{k}") for k, v in child.items())
            else:
                children.append((child, f".{field.name}"))
    return children


def thaw(data: Any, workflow: str, steps: set[str], converter: cattrs.Converter) -> RunState:
    """The RunState a snapshot dict describes; nothing is imported or run.

    Raises:
        ContextSerdeError: The dict is not a valid snapshot of this workflow; the
            message names what is wrong and ``path`` where.
    """
    snapshot = read_snapshot(data, workflow, converter)
    check_consistency(snapshot, steps)
    state = _to_state(snapshot)
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


def _to_state(snapshot: Snapshot) -> RunState:
    # read_snapshot and check_consistency checked the snapshot: it only needs copying.
    state = RunState(run_id=snapshot.run_id, store=snapshot.store)
    for delivery in snapshot.queued:
        state.queue_of(delivery.step)[delivery.id] = delivery
    for delivery in snapshot.in_progress:
        state.in_progress[delivery.id] = delivery
    for key, buffer in snapshot.collected.items():
        state.collected[key] = {delivery.id: delivery for delivery in buffer}
    for waiter in snapshot.waiters:
        state.waiters[waiter.key] = waiter
    state.stream = deque(snapshot.stream)
    state.counters = snapshot.statistics
    state.next_id = snapshot.next_id
    state.elapsed = snapshot.elapsed
    state.started = snapshot.started
    state.finished = snapshot.finished
    return state

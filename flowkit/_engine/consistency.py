"""Check that a structured ``Snapshot`` is whole: what it refers to exists, ids are unique.

cattrs checks the type of each value; this checks what types cannot say, so that a
damaged or hand-edited snapshot is refused by ``Context.from_dict`` instead of
restoring into a run that hangs or gives an answer to the wrong step:

- ``elapsed`` is a finite number >= 0 and ``next_id`` >= 1; the store is a dict or a
  state object (not a string, a number, a list, ...);
- ``is_running`` is ``started and not finished``, and a finished run has started;
- every delivery (queued, in progress or buffered by ``collect_events``) names a step
  of the workflow, has an id from 1 to ``next_id - 1`` and ``attempts`` >= 0;
- queued and in-progress ids are unique among them; a buffered event's id is unique
  in its buffer and is not queued or in progress (its execution ended);
- a queued or in-progress delivery claims its own id or nothing; a buffered event
  claimed by a batch names the queued or in-progress delivery that claimed it;
- every waiter's key is unique and begins with the id of its step execution, a
  queued or in-progress delivery of the waiter's step.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Collection
from decimal import Decimal
from typing import NoReturn

from ..errors import ContextSerdeError
from ..events import Event
from .restore import DAMAGED
from .snapshot import Snapshot
from .state import Delivery

# Values that cannot be a run's store (a dict, or the workflow's state object).
_NOT_A_STORE = (
    type(None), bool, int, float, str, bytes, list, tuple, set, frozenset,
    dt.datetime, dt.date, dt.time, dt.timedelta, uuid.UUID, Decimal, Event,
)  # fmt: skip


def check_consistency(snapshot: Snapshot, steps: Collection[str]) -> None:
    """Refuse a snapshot whose parts do not fit together.

    Raises:
        ContextSerdeError: The first inconsistency found; ``path`` says where.
    """
    _check_run(snapshot)
    live = _check_live(snapshot, steps)
    _check_collected(snapshot, steps, live)
    _check_waiters(snapshot, steps, live)


def _refuse(reason: str, path: str, advice: str = DAMAGED) -> NoReturn:
    raise ContextSerdeError(reason, path=path, advice=advice)


def _check_run(snapshot: Snapshot) -> None:
    elapsed = snapshot.elapsed
    if not math.isfinite(elapsed) or elapsed < 0:
        _refuse(f"elapsed must be a finite number of seconds >= 0, not {elapsed!r}", "$.elapsed")
    if snapshot.next_id < 1:
        _refuse(f"next_id must be >= 1, not {snapshot.next_id}", "$.next_id")
    if isinstance(snapshot.store, _NOT_A_STORE):
        _refuse(
            f"The store must be a dict or the workflow's state object, "
            f"not {type(snapshot.store).__name__}",
            "$.store",
        )
    if snapshot.finished and not snapshot.started:
        _refuse("The run is finished but never started", "$.finished")
    if snapshot.is_running != (snapshot.started and not snapshot.finished):
        _refuse(
            f"is_running is {snapshot.is_running}, but started is {snapshot.started} and "
            f"finished is {snapshot.finished}",
            "$.is_running",
        )


def _check_delivery(delivery: Delivery, steps: Collection[str], next_id: int, path: str) -> None:
    if delivery.step not in steps:
        _refuse(
            f"The snapshot has an event for step {delivery.step!r}, which the workflow does "
            "not have",
            path,
            f"Its steps are: {', '.join(sorted(steps))}. Restore the snapshot with the "
            "workflow that wrote it.",
        )
    if not 0 < delivery.id < next_id:
        _refuse(f"Delivery id {delivery.id} is not between 1 and next_id {next_id}", path)
    if delivery.attempts < 0:
        _refuse(f"attempts must be >= 0, not {delivery.attempts}", f"{path}.attempts")


def _check_live(snapshot: Snapshot, steps: Collection[str]) -> dict[int, Delivery]:
    """The queued and in-progress deliveries by id, checked."""
    live: dict[int, Delivery] = {}
    next_id = snapshot.next_id
    for section, deliveries in (("queued", snapshot.queued), ("in_progress", snapshot.in_progress)):
        # from_dict is timed on large snapshots: paths are built only for an error.
        for index, delivery in enumerate(deliveries):
            did = delivery.id
            claimed = delivery.claimed_by
            if (
                delivery.step not in steps
                or not 0 < did < next_id
                or delivery.attempts < 0
                or did in live
                or (claimed is not None and claimed != did)
            ):
                path = f"$.{section}[{index}]"
                _check_delivery(delivery, steps, next_id, path)
                if did in live:
                    _refuse(f"Delivery id {did} is queued or in progress twice", path)
                _refuse(
                    f"Delivery {did} claims {claimed}; a queued or in-progress delivery "
                    "claims only its own id",
                    f"{path}.claimed_by",
                )
            live[did] = delivery
    return live


def _check_collected(snapshot: Snapshot, steps: Collection[str], live: dict[int, Delivery]) -> None:
    next_id = snapshot.next_id
    for key, buffer in snapshot.collected.items():
        seen: set[int] = set()
        for index, delivery in enumerate(buffer):
            path = f"$.collected[{key!r}][{index}]"
            _check_delivery(delivery, steps, next_id, path)
            if delivery.id in seen:
                _refuse(f"Delivery id {delivery.id} is in buffer {key!r} twice", path)
            if delivery.id in live:
                _refuse(
                    f"Delivery id {delivery.id} is both buffered and queued or in progress", path
                )
            seen.add(delivery.id)
            claimer = delivery.claimed_by
            if claimer is not None and (claimer not in live or live[claimer].claimed_by != claimer):
                _refuse(
                    f"Buffered event {delivery.id} is claimed by delivery {claimer}, which is "
                    "not a queued or in-progress delivery that collected a batch",
                    f"{path}.claimed_by",
                )


def _check_waiters(snapshot: Snapshot, steps: Collection[str], live: dict[int, Delivery]) -> None:
    keys: set[str] = set()
    for index, waiter in enumerate(snapshot.waiters):
        path = f"$.waiters[{index}]"
        if waiter.step not in steps:
            _refuse(
                f"The snapshot has a waiter of step {waiter.step!r}, which the workflow does "
                "not have",
                path,
                f"Its steps are: {', '.join(sorted(steps))}. Restore the snapshot with the "
                "workflow that wrote it.",
            )
        if waiter.key in keys:
            _refuse(f"Two waiters have the key {waiter.key!r}", f"{path}.key")
        keys.add(waiter.key)
        delivery = live.get(waiter.delivery_id)
        if delivery is None or delivery.step != waiter.step:
            _refuse(
                f"The waiter of step {waiter.step!r} belongs to delivery {waiter.delivery_id}, "
                f"which is not a queued or in-progress delivery of {waiter.step!r}: nothing "
                "would ever wait on it",
                f"{path}.delivery_id",
            )
        if not waiter.key.startswith(f"{waiter.delivery_id}:"):
            _refuse(
                f"The waiter key {waiter.key!r} does not begin with its delivery id "
                f"{waiter.delivery_id}",
                f"{path}.key",
            )

"""CollectBuffer: one ``collect_events`` buffer, indexed so that a batch costs O(its size).

The buffer's deliveries live in the RunState (``collected[key]``, by id), which is what a
snapshot holds; this index over them is rebuilt from it after a restore. Unclaimed
deliveries are kept in one queue of ids per event class, oldest (lowest id, first
routed) first: ids arrive in order unless several workers of the collecting step
finish out of order, and only then is a queue sorted, once, when a batch is taken.
Claimed deliveries are listed by the id of the step execution that claimed them, so
releasing a batch touches only the batch.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence

from ..events import Event
from .state import Delivery


class CollectBuffer:
    """The index of one collect buffer: unclaimed ids per event class, and claims."""

    def __init__(self, items: dict[int, Delivery]) -> None:
        self.items = items
        self._queues: dict[type[Event], deque[int]] = {}
        self._unsorted: set[type[Event]] = set()
        self._unclaimed: dict[type[Event], int] = {}
        self._free = 0
        self._claims: dict[int, list[int]] = {}
        for item in list(items.values()):  # a restored buffer
            if item.claimed_by is None:
                self.add(item)
            else:
                self._claims.setdefault(item.claimed_by, []).append(item.id)

    def add(self, item: Delivery) -> None:
        """Buffer ``item`` (an unclaimed event that reached the collecting step)."""
        self.items[item.id] = item
        kind = type(item.event)
        queue = self._queues.get(kind)
        if queue is None:
            queue = self._queues[kind] = deque()
        elif queue and item.id < queue[-1]:
            self._unsorted.add(kind)
        queue.append(item.id)
        self._unclaimed[kind] = self._unclaimed.get(kind, 0) + 1
        self._free += 1

    def match(self, expected: Sequence[type[Event]], claimer: int) -> list[Delivery] | None:
        """Claim one unclaimed delivery per entry of ``expected``, oldest first, for ``claimer``.

        Returns the batch in the order of ``expected``, or None (nothing claimed) if an
        event is missing.
        """
        if self._free < len(expected):  # cannot be complete: no need to look
            return None
        needed = Counter(expected)
        for kind, count in needed.items():
            if self._unclaimed.get(kind, 0) < count:
                return None
        taken: dict[type[Event], list[Delivery]] = {}
        for kind, count in needed.items():
            queue = self._queues[kind]
            if kind in self._unsorted:
                self._unsorted.discard(kind)
                queue = self._queues[kind] = deque(sorted(queue))
            found: list[Delivery] = []
            while len(found) < count:
                item = self.items.get(queue.popleft())
                if item is not None and item.claimed_by is None:  # else removed meanwhile
                    found.append(item)
            found.reverse()  # popped from the end below: oldest first
            taken[kind] = found
            self._unclaimed[kind] -= count
        self._free -= len(expected)
        batch = [taken[kind].pop() for kind in expected]
        for item in batch:
            item.claimed_by = claimer
        self._claims[claimer] = [item.id for item in batch]
        return batch

    def claimed(self, claimer: int, expected: Sequence[type[Event]]) -> list[Event] | None:
        """The batch ``claimer`` claimed before (a retry or a restored re-run), in order.

        A restored snapshot holds the claimer's own event as in progress, not buffered:
        it is buffered again, unclaimed, and counts as part of the batch.
        """
        ids = set(self._claims.get(claimer, ()))
        ids.add(claimer)
        items = sorted((self.items[i] for i in ids if i in self.items), key=lambda d: d.id)
        by_kind: dict[type[Event], list[Delivery]] = {}
        for item in reversed(items):
            by_kind.setdefault(type(item.event), []).append(item)
        batch: list[Event] = []
        for kind in expected:
            candidates = by_kind.get(kind)
            if not candidates:
                return None
            batch.append(candidates.pop().event)
        return batch

    def release(self, claimer: int) -> None:
        """Drop the batch ``claimer`` claimed, and its own entry; its execution ended."""
        for ident in self._claims.pop(claimer, ()):
            self.items.pop(ident, None)
        own = self.items.pop(claimer, None)
        if own is not None and own.claimed_by is None:
            self._unclaimed[type(own.event)] -= 1
            self._free -= 1

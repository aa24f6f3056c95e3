"""CollectBuffer: one ``collect_events`` buffer, indexed so that each call costs O(log n).

The buffer's deliveries live in the RunState (``collected[key]``, by id), which is what a
snapshot holds; this index over them is rebuilt from it after a restore. Unclaimed
deliveries are kept in one heap of ids per event class, so the oldest (lowest id, the
first routed) is found without sorting; claimed ones are listed by the id of the
step execution that claimed them, so releasing a batch touches only the batch.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Sequence

from ..events import Event
from .state import Delivery


class CollectBuffer:
    """The index of one collect buffer: unclaimed ids per event class, and claims."""

    def __init__(self, items: dict[int, Delivery]) -> None:
        self.items = items
        self._heaps: dict[type[Event], list[int]] = {}
        self._unclaimed: dict[type[Event], int] = {}
        self._free = 0
        self._claims: dict[int, list[int]] = {}
        for item in items.values():
            self._index(item)

    def _index(self, item: Delivery) -> None:
        if item.claimed_by is None:
            kind = type(item.event)
            heap = self._heaps.get(kind)
            if heap is None:
                heap = self._heaps[kind] = []
            heapq.heappush(heap, item.id)
            self._unclaimed[kind] = self._unclaimed.get(kind, 0) + 1
            self._free += 1
        else:
            self._claims.setdefault(item.claimed_by, []).append(item.id)

    def add(self, item: Delivery) -> None:
        """Buffer ``item`` (an event that reached the collecting step)."""
        self.items[item.id] = item
        self._index(item)

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
            heap = self._heaps[kind]
            found: list[Delivery] = []
            while len(found) < count:
                item = self.items.get(heapq.heappop(heap))
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

"""A bounded queue of raw records that hands them out in batches.

Producers add batches; ``put_many`` waits for room (backpressure), ``free`` lets a
non-blocking producer take only what fits. One consumer takes up to a batch at a time.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence

from collectors.base import RawRecord


class QueueClosedError(RuntimeError):
    """The consumer has stopped for good; nothing more can be added."""


class RecordQueue:
    """FIFO of RawRecords holding about ``capacity`` records (a waiting batch may exceed it)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: deque[RawRecord] = deque()
        self._lock = threading.Lock()
        self._not_full = threading.Condition(self._lock)
        self._not_empty = threading.Condition(self._lock)
        self._closed = False
        #: Highest depth seen (for tests and the status line).
        self.high_water = 0

    def __len__(self) -> int:
        return len(self._items)

    def free(self) -> int:
        """Room left right now."""
        return max(0, self.capacity - len(self._items))

    def wait_for_room(self, timeout: float | None = None) -> bool:
        """Block until the queue has room; False on timeout."""
        with self._not_full:
            if self._closed:
                raise QueueClosedError("the pipeline has stopped")
            return self._not_full.wait_for(lambda: self._closed or len(self._items) < self.capacity, timeout)

    def extend(self, records: Sequence[RawRecord]) -> None:
        """Add records now (the caller made sure of room, or accepts overshoot by one batch)."""
        with self._lock:
            if self._closed:
                raise QueueClosedError("the pipeline has stopped")
            self._items.extend(records)
            depth = len(self._items)
            if depth > self.high_water:
                self.high_water = depth
            self._not_empty.notify()

    def get_batch(self, limit: int, timeout: float) -> list[RawRecord]:
        """Up to ``limit`` records, waiting at most ``timeout`` for the first one."""
        with self._not_empty:
            if not self._items:
                self._not_empty.wait(timeout)
            items = self._items
            count = min(limit, len(items))
            batch = [items.popleft() for _ in range(count)]
            if count:
                self._not_full.notify_all()
            return batch

    def close(self) -> None:
        """Refuse further records and wake every waiting producer."""
        with self._lock:
            self._closed = True
            self._not_full.notify_all()
            self._not_empty.notify_all()

"""Per-source counters: received, bytes, dropped, parse failures, rejected, last event time.

Sources and the pipeline threads update them; the writer saves a snapshot to the store
(``record_source_stats``) every few seconds and at shutdown. They start from the values the
store holds, so they count over restarts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from siem.store.base import SourceStats


class SourceCounters:
    """The counters of one source."""

    __slots__ = ("bytes", "dropped", "last_event_at", "name", "parse_failures", "received", "rejected")

    def __init__(self, name: str, saved: SourceStats | None = None) -> None:
        self.name = name
        self.received = saved.received if saved else 0
        self.bytes = saved.bytes if saved else 0
        self.dropped = saved.dropped if saved else 0
        self.parse_failures = saved.parse_failures if saved else 0
        self.rejected = saved.rejected if saved else 0
        self.last_event_at = saved.last_event_at if saved else None

    def snapshot(self) -> SourceStats:
        """The values now, as the store keeps them."""
        return SourceStats(
            source=self.name,
            received=self.received,
            bytes=self.bytes,
            dropped=self.dropped,
            parse_failures=self.parse_failures,
            last_event_at=self.last_event_at,
            rejected=self.rejected,
        )


class Counters:
    """All sources' counters; updates take one lock per batch."""

    def __init__(self, saved: Iterable[SourceStats] = ()) -> None:
        self._lock = threading.Lock()
        self._saved = {stats.source: stats for stats in saved}
        self._sources: dict[str, SourceCounters] = {}

    def source(self, name: str) -> SourceCounters:
        """The counters of ``name`` (created on first use)."""
        with self._lock:
            counters = self._sources.get(name)
            if counters is None:
                counters = self._sources[name] = SourceCounters(name, self._saved.get(name))
            return counters

    def received(self, name: str, records: int, size: int, at: float) -> None:
        """Count records handed over by a source."""
        counters = self.source(name)
        with self._lock:
            counters.received += records
            counters.bytes += size
            counters.last_event_at = at

    def dropped(self, name: str, records: int) -> None:
        """Count records a full pipeline could not take."""
        counters = self.source(name)
        with self._lock:
            counters.dropped += records

    def parse_failed(self, name: str, records: int) -> None:
        """Count records no parser understood."""
        counters = self.source(name)
        with self._lock:
            counters.parse_failures += records

    def rejected(self, name: str, count: int) -> None:
        """Count inputs refused or cut short at a limit (connections, long messages, gzip bombs)."""
        counters = self.source(name)
        with self._lock:
            counters.rejected += count

    def snapshot(self) -> list[SourceStats]:
        """Every source's values now."""
        with self._lock:
            return [counters.snapshot() for counters in self._sources.values()]

    def total_dropped(self) -> int:
        """Drops over all sources (since the counters started, including saved values)."""
        with self._lock:
            return sum(counters.dropped for counters in self._sources.values())

"""The storage contract every backend (SQLite, Elasticsearch) implements.

One contract test suite (tests/store/test_contract.py) runs against every backend.
Writes are idempotent by id: writing an event, alert or checkpoint again changes nothing,
which is what makes replay after a crash safe (at-least-once in, exactly-once stored).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from siem.alert import Alert
from siem.event import Event


@dataclass(frozen=True, slots=True)
class EventQuery:
    """What to search for. Times are seconds since the epoch (UTC)."""

    since: float | None = None
    until: float | None = None
    #: Exact field matches (flat ECS names); a tuple value means any of them.
    fields: Mapping[str, Any] = field(default_factory=dict)
    #: Full-text search over ``event.original`` (FTS5 syntax on SQLite).
    text: str | None = None
    limit: int = 100
    #: Newest first when True.
    newest_first: bool = True


@dataclass(frozen=True, slots=True)
class SourceStats:
    """Counters of one input as last reported by the pipeline."""

    source: str
    received: int = 0
    bytes: int = 0
    dropped: int = 0
    parse_failures: int = 0
    last_event_at: float | None = None


@dataclass(frozen=True, slots=True)
class StoreStats:
    """What ``siem status`` shows about the store."""

    backend: str
    location: str
    events: int
    alerts: int
    incidents: int
    size_bytes: int
    oldest_event_at: float | None
    newest_event_at: float | None
    schema_version: int


@dataclass(frozen=True, slots=True)
class WriteResult:
    """How many of a batch were new; the rest were already stored (a replay)."""

    written: int
    duplicates: int


class Store(Protocol):
    """A place for events, alerts, incidents, checkpoints and counters."""

    def write(self, batch: Sequence[Event], *, checkpoints: Mapping[str, str] | None = None) -> WriteResult:
        """Store events (ignoring ids already stored) and advance checkpoints, atomically."""
        ...

    def checkpoint(self, name: str) -> str | None:
        """The last committed checkpoint value of a source (e.g. a file offset), if any."""
        ...

    def search(self, query: EventQuery) -> Iterator[Event]:
        """Events matching the query, as flat ECS dicts."""
        ...

    def count(self, query: EventQuery) -> int:
        """How many events match (``limit`` ignored)."""
        ...

    def get_events(self, ids: Sequence[str]) -> list[Event]:
        """The events with these ids that exist, in no particular order."""
        ...

    def write_alerts(self, alerts: Sequence[Alert]) -> WriteResult:
        """Store alerts; an alert whose id exists is updated (count, last_seen, event ids)."""
        ...

    def alerts(self, *, since: float | None = None, level: str | None = None, limit: int = 100) -> list[Alert]:
        """Alerts, newest first; ``since`` filters on last_seen, ``level`` means that level or higher."""
        ...

    def record_source_stats(self, stats: Sequence[SourceStats]) -> None:
        """Save the pipeline's per-source counters (replacing the previous values)."""
        ...

    def source_stats(self) -> list[SourceStats]:
        """The saved per-source counters."""
        ...

    def apply_retention(self, *, max_age_days: int, max_size_mb: int, now: float) -> int:
        """Delete events beyond the age or size limit (0 = none); returns how many."""
        ...

    def stats(self) -> StoreStats:
        """Counts and size for ``siem status``."""
        ...

    def audit(self, actor: str, action: str, target: str, before: Any, after: Any) -> None:
        """Append to the audit log (never updated or deleted through the tool)."""
        ...

    def audit_log(self, target: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Audit entries, newest first, optionally for one target."""
        ...

    def close(self) -> None:
        """Commit what is pending and release the store."""
        ...

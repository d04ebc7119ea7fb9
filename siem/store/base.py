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
from siem.alerts.suppression import Suppression
from siem.event import Event
from siem.incidents.model import Incident, Note
from siem.query.ast import Node


@dataclass(frozen=True, slots=True)
class EventQuery:
    """What to search for. Times are seconds since the epoch (UTC)."""

    since: float | None = None
    until: float | None = None
    #: Exact field matches (flat ECS names); a tuple value means any of them.
    fields: Mapping[str, Any] = field(default_factory=dict)
    #: Full-text search over ``event.original`` (FTS5 syntax on SQLite).
    text: str | None = None
    #: A parsed search-language query (``siem.query.parse_query``), ANDed with the rest.
    expression: Node | None = None
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
    #: Inputs refused or cut short at a limit (connections, over-long messages, gzip bombs).
    rejected: int = 0


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


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit-log line, written in the same transaction as the change it describes."""

    actor: str
    action: str
    target: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class AlertQuery:
    """Which alerts to list. ``level`` means that level or higher."""

    since: float | None = None
    level: str | None = None
    site: str | None = None
    zone: str | None = None
    rule: str | None = None
    #: None: not suppressed only; True: suppressed only; False: both.
    suppressed: bool | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class IncidentQuery:
    """Which incidents to list. Empty ``statuses`` means any; ``severity`` means that or higher."""

    statuses: tuple[str, ...] = ()
    severity: str | None = None
    site: str | None = None
    zone: str | None = None
    assignee: str | None = None
    #: Incidents updated at or after this (wall clock).
    since: float | None = None
    rule_id: str | None = None
    entity: str | None = None
    limit: int = 100


#: Alert fields ``AlertAggregation.group_by`` may name.
ALERT_GROUP_FIELDS = ("site", "zone", "level", "rule_id", "rule_title")


@dataclass(frozen=True, slots=True)
class EventAggregation:
    """Events matching ``query`` counted per group (and time bucket) inside the store.

    ``group_by`` names flat ECS fields (an event without one groups under None). With
    ``interval`` (seconds) the counts are split by event time into buckets starting at
    ``offset + n * interval`` seconds since the epoch (``offset=-25200`` gives days in UTC+7).
    ``top`` keeps only the largest groups by count, leaving out events without the fields
    (not with ``interval``); ``query.limit`` is ignored.
    """

    query: EventQuery = field(default_factory=EventQuery)
    group_by: tuple[str, ...] = ()
    interval: float | None = None
    offset: float = 0.0
    top: int | None = None
    #: Find the newest event time of every group, the one without the fields included
    #: (otherwise a store may leave ``latest`` None for that group when it is costly).
    latest: bool = False


@dataclass(frozen=True, slots=True)
class AlertAggregation:
    """Alerts (not suppressed) seen between ``since`` and ``until`` counted per group of
    ``ALERT_GROUP_FIELDS``; ``top`` keeps the groups with the most alerts."""

    since: float | None = None
    until: float | None = None
    group_by: tuple[str, ...] = ()
    top: int | None = None


@dataclass(frozen=True, slots=True)
class AggregateBucket:
    """One group of an aggregation: its key values (in ``group_by`` order) and counts."""

    keys: tuple[str | None, ...]
    #: Events (or alerts) in the group.
    count: int
    #: Start of the time bucket (epoch seconds) when an interval was asked for.
    start: float | None = None
    #: Events: the newest event time in the group (epoch seconds).
    latest: float | None = None
    #: Alerts: the matches folded into the group's alerts (sum of ``Alert.count``).
    matches: int = 0


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

    def scan(self, query: EventQuery, *, page: int = 1000) -> Iterator[Event]:
        """Every event matching ``query`` (``limit`` and ``newest_first`` ignored), oldest
        first (event time, then write order), read ``page`` events at a time."""
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

    # -- alert groups and suppressions (siem/alerts) -----------------------------------------

    def alert_group(self, rule_id: str, group_key: str, suppression_id: str | None) -> Alert | None:
        """The latest group alert of ``rule_id`` and ``group_key`` (suppressed by
        ``suppression_id``, or not suppressed when None), without its event ids."""
        ...

    def folded_alert_ids(self, ids: Sequence[str]) -> set[str]:
        """Those of ``ids`` (alerts from the detector) already folded into a group."""
        ...

    def save_alert_groups(
        self, groups: Sequence[Alert], members: Mapping[str, str], suppressed: Mapping[str, str]
    ) -> None:
        """Upsert group alerts (adding their event ids), record ``members`` (alert id -> group
        id) and ``suppressed`` (group id -> suppression id, whose hit counts grow), atomically."""
        ...

    def get_alert(self, alert_id: str) -> Alert | None:
        """The alert with this id, or with this unique id prefix (at least 6 characters)."""
        ...

    def find_alerts(self, query: AlertQuery) -> list[Alert]:
        """Alerts matching ``query``, newest last_seen first."""
        ...

    def alert_suppressions(self, alert_ids: Sequence[str]) -> dict[str, str]:
        """Suppression id by alert id, for those of ``alert_ids`` that were suppressed."""
        ...

    def add_suppression(self, suppression: Suppression, audit: AuditEntry) -> None:
        """Store a new suppression and its audit entry."""
        ...

    def remove_suppression(self, suppression_id: str, *, at: float, actor: str) -> Suppression:
        """Mark a suppression removed (kept for the record) and audit it; QueryError if unknown."""
        ...

    def suppressions(self, *, active_at: float | None = None) -> list[Suppression]:
        """Suppressions, newest first; only those active at ``active_at`` when given."""
        ...

    # -- incidents (siem/incidents) ---------------------------------------------------------------

    def insert_incident(self, incident: Incident, *, alert_ids: Sequence[str], audit: AuditEntry) -> bool:
        """Store a new incident linked to ``alert_ids``; False (nothing written) if its id exists."""
        ...

    def update_incident(
        self,
        incident: Incident,
        *,
        expected_version: int,
        audit: AuditEntry,
        note: Note | None = None,
        links: Sequence[tuple[str, str]] = (),
    ) -> Incident:
        """Save ``incident`` if the stored version is still ``expected_version`` (else
        ConflictError), with its audit entry, an optional note and (kind, id) links; returns it
        with the new version."""
        ...

    def get_incident(self, incident_id: str) -> Incident | None:
        """The incident with this id (case-insensitive), if any."""
        ...

    def find_incidents(self, query: IncidentQuery) -> list[Incident]:
        """Incidents matching ``query``: highest severity first, then oldest opened first."""
        ...

    def incident_for_alert(self, alert_id: str) -> Incident | None:
        """The incident an alert is linked to, if any."""
        ...

    def incident_links(self, incident_id: str, kind: str) -> list[str]:
        """Ids of the alerts (``kind='alert'``) or events (``'event'``) linked to an incident."""
        ...

    def incident_notes(self, incident_id: str) -> list[Note]:
        """An incident's notes, oldest first."""
        ...

    # -- aggregations (reports) ---------------------------------------------------------------

    def aggregate_events(self, aggregation: EventAggregation) -> list[AggregateBucket]:
        """Counts of matching events per group (and time bucket), computed by the store."""
        ...

    def aggregate_alerts(self, aggregation: AlertAggregation) -> list[AggregateBucket]:
        """Counts of alerts and of their matches per group, computed by the store."""
        ...

    def close(self) -> None:
        """Commit what is pending and release the store."""
        ...

"""The Store protocol on an Elasticsearch cluster (8.x or 9.x).

Events go to one index per dataset (``siem-events-<dataset>``), searched through the
pattern ``siem-events-*``; on a real cluster ``siem es setup`` installs templates that make
them data streams with a lifecycle policy. Alerts, incidents, notes, links, suppressions,
checkpoints, counters, the audit log and refused events have an index each.

Elasticsearch has no transactions: a batch's checkpoints are written after its events (a
crash in between replays the batch, and replayed events are duplicates by id), and a change
is written before its audit entry. Writes use ``refresh`` from the configuration
("wait_for" by default, so what was written is searchable when the call returns).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from siem import event as ecs
from siem.alert import Alert
from siem.errors import StoreError
from siem.event import Event
from siem.store.base import (
    AggregateBucket,
    AlertAggregation,
    EventAggregation,
    EventQuery,
    SourceStats,
    StoreStats,
    WriteResult,
)
from siem.store.elasticsearch import aggregate, mapping
from siem.store.elasticsearch.bulk import Action, dead_letter_document
from siem.store.elasticsearch.cases import CaseIndices
from siem.store.elasticsearch.config import ElasticsearchConfig
from siem.store.elasticsearch.indices import PAGE
from siem.store.elasticsearch.records import document_alert, level_rank, sort
from siem.store.elasticsearch.seals import MAX_SEQ, SEQ_GAP, SLACK, EsSealReader, Sealer, sealing_paused
from siem.store.elasticsearch.search import (
    TEXT_TYPES,
    adapt_wildcards,
    query_body,
    sort_order,
    wildcard_fields,
)

log = logging.getLogger(__name__)

#: Seconds a page of a hunting query (``search_lucene``) may take, at least.
HUNT_TIMEOUT = 300.0
#: Events deleted per step of size-based retention.
RETENTION_CHUNK = 5000


def _event_id(event: Mapping[str, Any]) -> str:
    ident = event.get(ecs.ID)
    if ident:
        return str(ident)
    # An event without an id (a bug upstream) still gets a stable one, from its content.
    return ecs.make_event_id(json.dumps(dict(event), sort_keys=True, default=str))


def _source_event(source: Mapping[str, Any]) -> Event:
    return {key: value for key, value in source.items() if key not in mapping.INTERNAL_FIELDS}


class ElasticsearchStore(CaseIndices):
    """The Store protocol on an Elasticsearch cluster."""

    backend = "elasticsearch"

    def __init__(self, config: ElasticsearchConfig, *, seal_head: Path | None = None,
                 lifecycle_delete_days: int = 0) -> None:
        """Connect (StoreError naming the hosts if the cluster does not answer). With
        ``config.seals`` each write and audit entry is sealed (seals.py), and the head of the
        chain written to ``seal_head`` (None: no head file). ``lifecycle_delete_days`` is the
        delete age of the lifecycle policy (``store.retention.max_age_days``; 0: none), after
        which ``siem verify`` counts a deleted events index as retired, not removed."""
        super().__init__(config)
        self.seal_head = seal_head
        self.lifecycle_delete_days = lifecycle_delete_days
        if config.seals:
            self.sealer = Sealer(self.cluster, self.names, config, seal_head)

    # -- events ---------------------------------------------------------------------------

    def write(
        self, batch: Sequence[Event], *, checkpoints: Mapping[str, str] | None = None
    ) -> WriteResult:
        """Create the events (existing ids are duplicates), then advance the checkpoints."""
        self.check_open()
        now_ms = int(time.time() * 1000)
        seq = self.next_seq(len(batch) + SEQ_GAP)  # a gap after each batch: seals.py
        actions: list[Action] = []
        for offset, event in enumerate(batch):
            index = self.names.events(event.get(ecs.DATASET))
            self.ensure_index(index, events=True)
            document = dict(event)
            document[mapping.TS_FIELD] = ecs.timestamp_ms(event, now_ms)
            document[mapping.SEQ_FIELD] = seq + offset
            actions.append(Action(index=index, id=_event_id(event), document=document))
        outcome = self._bulk.create(actions)
        if outcome.refused:
            self._dead_letter(outcome.refused)
        if self.sealer is not None:  # after the events are acknowledged, before the checkpoints
            self.sealer.seal_events(outcome.created, outcome.conflicts, range(seq, seq + len(batch)))
        if checkpoints:
            self._put_checkpoints(checkpoints)
        return WriteResult(written=outcome.written, duplicates=outcome.duplicates)

    def _dead_letter(self, refused: Sequence[tuple[Action, int, str]]) -> None:
        self.ensure_index(self.names.deadletter)
        at = time.time()
        operations: list[dict[str, Any]] = []
        for action, status, reason in refused:
            log.warning("event %s refused by the cluster (%d %s); kept in %s",
                        action.id, status, reason, self.names.deadletter)
            operations.append({"index": {"_index": self.names.deadletter}})
            operations.append(dead_letter_document(action, status, reason, at))
        response = self.cluster.call(
            "cannot write refused events to the dead-letter index", self.cluster.client.bulk,
            operations=operations, refresh=self.config.refresh,
        )
        if response.get("errors"):
            raise StoreError(
                f"cannot write refused events to {self.names.deadletter}"
                f" (Elasticsearch at {self.cluster.hosts})"
            )
        self.dead_letters += len(refused)

    def _put_checkpoints(self, checkpoints: Mapping[str, str]) -> None:
        self.ensure_index(self.names.checkpoints)
        now = time.time()
        operations: list[dict[str, Any]] = []
        for name, value in checkpoints.items():
            operations.append({"index": {"_index": self.names.checkpoints, "_id": name}})
            operations.append({"name": name, "value": value, "updated_at": now})
        self.bulk_records("cannot write checkpoints", operations)

    def checkpoint(self, name: str) -> str | None:
        """The last committed checkpoint value of a source, if any."""
        found = self.get_document(self.names.checkpoints, name)
        return None if found is None else str(found["_source"]["value"])

    def search(self, query: EventQuery) -> Iterator[Event]:
        """Events matching the query, newest (or oldest) first, at most ``query.limit``."""
        return iter(self._search_events(query))

    def _search_events(self, query: EventQuery) -> list[Event]:
        self.check_open()
        wanted = max(0, query.limit)
        body = self._query(query)
        sort = sort_order(query.newest_first)
        found: list[Event] = []
        after: list[Any] | None = None
        while len(found) < wanted:
            size = min(PAGE, wanted - len(found))
            extra: dict[str, Any] = {} if after is None else {"search_after": after}
            response = self.cluster.search_call(
                "cannot search events", self.cluster.client.search,
                index=self.names.events_pattern, query=body, sort=sort, size=size,
                ignore_unavailable=True, allow_no_indices=True, track_total_hits=False, **extra,
            )
            hits = response["hits"]["hits"]
            found.extend(_source_event(hit["_source"]) for hit in hits)
            if len(hits) < size:
                break
            after = hits[-1]["sort"]
        return found

    def scan(self, query: EventQuery, *, page: int = 1000) -> Iterator[Event]:
        """Every matching event, oldest first, paged with ``search_after`` on (event time,
        write order) (no point in time: each page sees the index as it is then)."""
        self.check_open()
        return self._pages(self._query(query), max(1, min(page, PAGE)), "cannot scan events")

    def search_lucene(
        self,
        lucene: str,
        *,
        since: float | None = None,
        until: float | None = None,
        site: str | None = None,
        page: int = 1000,
    ) -> Iterator[Event]:
        """Events matching a Lucene ``query_string`` (as pySigma's Lucene backend writes
        them), within the time range and site, oldest first."""
        self.check_open()
        fields: dict[str, Any] = {} if site is None else {ecs.LABEL_SITE: site}
        body = query_body(EventQuery(since=since, until=until, fields=fields))
        filters: list[dict[str, Any]] = list(body["bool"]["filter"]) if "bool" in body else []
        filters.append({"query_string": {"query": lucene, "allow_leading_wildcard": True}})
        # A hunting query may run many regexps over months of events: allow it more time.
        timeout = max(self.config.request_timeout, HUNT_TIMEOUT)
        return self._pages({"bool": {"filter": filters}}, max(1, min(page, PAGE)),
                           "cannot run the hunting query", timeout)

    def _pages(
        self, body: dict[str, Any], size: int, what: str, timeout: float | None = None
    ) -> Iterator[Event]:
        """Pages by event time: each page starts at the last time seen, leaving out the ids
        already read at that time. (Not ``search_after`` on the write order: its values are
        nanoseconds, beyond what a double holds, and an emulator that sorts them as doubles
        would skip events.)"""
        sort = sort_order(False)
        client = self.cluster.client
        search = client.search if timeout is None else client.options(
            request_timeout=timeout).search
        last: Any = None
        seen: list[str] = []
        while True:
            query = body
            if last is not None:
                query = {"bool": {"filter": [body, {"range": {mapping.TS_FIELD: {"gte": last}}}],
                                  "must_not": [{"ids": {"values": seen}}]}}
            response = self.cluster.search_call(
                what, search,
                index=self.names.events_pattern, query=query, sort=sort, size=size,
                ignore_unavailable=True, allow_no_indices=True, track_total_hits=False,
            )
            hits = response["hits"]["hits"]
            for hit in hits:
                yield _source_event(hit["_source"])
            if len(hits) < size:
                return
            newest = hits[-1]["sort"][0]
            at_newest = [str(hit["_id"]) for hit in hits if hit["sort"][0] == newest]
            seen = [*seen, *at_newest] if newest == last else at_newest
            last = newest

    def count(self, query: EventQuery) -> int:
        """How many events match (``limit`` ignored)."""
        self.check_open()
        response = self.cluster.search_call(
            "cannot count events", self.cluster.client.count,
            index=self.names.events_pattern, query=self._query(query),
            ignore_unavailable=True, allow_no_indices=True,
        )
        return int(response["count"])

    def _query(self, query: EventQuery) -> dict[str, Any]:
        """The query DSL of ``query``, its wildcards fitted to the mapped field types."""
        body = query_body(query)
        fields = wildcard_fields(body)
        if not fields:
            return body
        return dict(adapt_wildcards(body, self._non_text_fields(fields)))

    def _non_text_fields(self, fields: set[str]) -> set[str]:
        """Those of ``fields`` mapped in no events index as text or keyword."""
        response = self.cluster.call(
            "cannot read the field mappings", self.cluster.client.indices.get_field_mapping,
            index=self.names.events_pattern, fields=sorted(fields),
            ignore_unavailable=True, allow_no_indices=True,
        )
        types: dict[str, set[str]] = {}
        for index in response.body.values():
            for name, found in index.get("mappings", {}).items():
                leaf = found.get("mapping", {})
                for description in leaf.values():
                    types.setdefault(name, set()).add(str(description.get("type", "")))
        return {name for name, kinds in types.items() if not kinds & TEXT_TYPES}

    def get_events(self, ids: Sequence[str]) -> list[Event]:
        """The events with these ids that exist."""
        self.check_open()
        unique = list(dict.fromkeys(ids))
        found: list[Event] = []
        for start in range(0, len(unique), PAGE):
            chunk = unique[start : start + PAGE]
            response = self.cluster.call(
                "cannot read events", self.cluster.client.search,
                index=self.names.events_pattern, query={"ids": {"values": chunk}},
                size=len(chunk), ignore_unavailable=True, allow_no_indices=True,
            )
            found.extend(_source_event(hit["_source"]) for hit in response["hits"]["hits"])
        return found

    def aggregate_events(self, aggregation: EventAggregation) -> list[AggregateBucket]:
        """Counts of matching events per group (and time bucket), aggregated by the cluster."""
        self.check_open()
        query = self._query(aggregation.query)

        def search(aggs: dict[str, Any]) -> Any:
            return self.cluster.search_call(
                "cannot aggregate events", self.cluster.client.search,
                index=self.names.events_pattern, query=query, aggs=aggs, size=0,
                track_total_hits=True, ignore_unavailable=True, allow_no_indices=True,
            ).body

        return aggregate.event_buckets(search, aggregation)

    def aggregate_alerts(self, aggregation: AlertAggregation) -> list[AggregateBucket]:
        """Counts of not-suppressed alerts and their matches per group, by the cluster."""
        self.check_open()
        query = {"bool": {"filter": aggregate.alert_filters(aggregation)}}

        def search(aggs: dict[str, Any]) -> Any:
            return self.cluster.call(
                "cannot aggregate alerts", self.cluster.client.search,
                index=self.names.alerts, query=query, aggs=aggs, size=0,
                track_total_hits=True, ignore_unavailable=True, allow_no_indices=True,
            ).body

        return aggregate.alert_buckets(search, aggregation)

    # -- alerts ---------------------------------------------------------------------------

    def write_alerts(self, alerts: Sequence[Alert]) -> WriteResult:
        """Insert new alerts; for known ids widen the time span, keep the larger count and
        add the event ids. ``written`` counts new alerts, ``duplicates`` updated ones."""
        if not alerts:
            return WriteResult(written=0, duplicates=0)
        ids = list(dict.fromkeys(alert.id for alert in alerts))
        existing = self.upsert_alerts(alerts, {})
        new = len(ids) - len(existing)
        return WriteResult(written=new, duplicates=len(alerts) - new)

    def alerts(
        self, *, since: float | None = None, level: str | None = None, limit: int = 100
    ) -> list[Alert]:
        """Alerts seen since ``since``, of ``level`` or higher, newest first."""
        filters: list[dict[str, Any]] = []
        if since is not None:
            filters.append({"range": {"last_seen": {"gte": since}}})
        if level is not None:
            filters.append({"range": {"level_rank": {"gte": level_rank(level)}}})
        hits = self.search_records(
            self.names.alerts, filters,
            [sort("last_seen", "desc", "double"), sort("id", "asc")], limit
        )
        return [document_alert(hit["_source"], with_events=True) for hit in hits]

    # -- counters -------------------------------------------------------------------------

    def record_source_stats(self, stats: Sequence[SourceStats]) -> None:
        """Save each source's counters, replacing what was saved for it before."""
        self.ensure_index(self.names.source_stats)
        now = time.time()
        operations: list[dict[str, Any]] = []
        for s in stats:
            operations.append({"index": {"_index": self.names.source_stats, "_id": s.source}})
            operations.append({
                "source": s.source, "received": s.received, "bytes": s.bytes,
                "dropped": s.dropped, "parse_failures": s.parse_failures,
                "last_event_at": s.last_event_at, "rejected": s.rejected, "updated_at": now,
            })
        self.bulk_records("cannot save source counters", operations)

    def source_stats(self) -> list[SourceStats]:
        """The saved per-source counters, by source name."""
        hits = self.search_records(self.names.source_stats, [], [sort("source", "asc")], PAGE)
        return [
            SourceStats(
                source=s["source"], received=s["received"], bytes=s["bytes"],
                dropped=s["dropped"], parse_failures=s["parse_failures"],
                last_event_at=s["last_event_at"],
                rejected=s.get("rejected", 0),  # absent in counters saved before it existed
            )
            for s in (hit["_source"] for hit in hits)
        ]

    # -- retention ------------------------------------------------------------------------

    def apply_retention(self, *, max_age_days: int, max_size_mb: int, now: float) -> int:
        """Delete events older than ``max_age_days`` (delete-by-query), then, best effort,
        the oldest until the event indices' size is under ``max_size_mb``. On a cluster set
        up with ``siem es setup`` the lifecycle policy also deletes whole old indices."""
        self.check_open()
        deleted = 0
        if max_age_days > 0:
            cutoff_ms = int((now - max_age_days * 86400) * 1000)
            deleted += self._retire({"range": {mapping.TS_FIELD: {"lt": cutoff_ms}}}, (cutoff_ms - 1, MAX_SEQ))
        if max_size_mb > 0:
            deleted += self._trim_to_size(max_size_mb * 1024 * 1024)
        return deleted

    def _retire(self, query: dict[str, Any], before: tuple[int, int]) -> int:
        """Delete the events ``query`` matches, (ts, seq) up to ``before``, and seal the removal.
        While sealing, only sealed events go (those of a write in progress wait for the next run)."""
        with sealing_paused(self.sealer) as sealer:
            through = None if sealer is None else sealer.through
            removed = 0
            if sealer is not None and through is not None and sealer.first is not None:
                query = {"bool": {"filter": [query, {"range": {mapping.SEQ_FIELD: {"lte": through + SLACK}}}]}}
                sealed = {"range": {mapping.SEQ_FIELD: {"gte": sealer.first - SLACK}}}
                removed = int(self.cluster.call(
                    "cannot count old events", self.cluster.client.count, index=self.names.events_pattern,
                    query={"bool": {"filter": [query, sealed]}}, ignore_unavailable=True, allow_no_indices=True,
                )["count"])
            response = self.cluster.call(
                "cannot delete old events", self.cluster.client.delete_by_query,
                index=self.names.events_pattern, query=query,
                refresh=True, conflicts="proceed", ignore_unavailable=True, allow_no_indices=True,
            )
            deleted = int(response.get("deleted", 0))
            if deleted and sealer is not None and through is not None:
                sealer.seal_retention(before, through, removed, deleted)
        return deleted

    def _trim_to_size(self, limit_bytes: int) -> int:
        """Delete the oldest events while the reported size is over the limit (sizes shrink
        only after segment merges on a real cluster, so this is best effort)."""
        deleted = 0
        for _ in range(100):
            used = self._size_bytes(self.names.events_pattern)
            events = self.count(EventQuery())
            if used <= limit_bytes or events == 0:
                break
            wanted = min(RETENTION_CHUNK, int((used - limit_bytes) / (used / events)) + 1)
            with sealing_paused(self.sealer) as sealer:
                through = None if sealer is None else sealer.through
                oldest = self._oldest(wanted, through)
                if not oldest:
                    break
                before = max((ts, seq) for ts, seq, _ in oldest)
                response = self.cluster.call(
                    "cannot delete old events", self.cluster.client.delete_by_query,
                    index=self.names.events_pattern,
                    query={"ids": {"values": [ident for _, _, ident in oldest]}},
                    refresh=True, conflicts="proceed", ignore_unavailable=True, allow_no_indices=True,
                )
                count = int(response.get("deleted", 0))
                if count and sealer is not None and through is not None and sealer.first is not None:
                    removed = sum(1 for _, seq, _ in oldest if seq >= sealer.first)
                    sealer.seal_retention(before, through, removed, count)
            deleted += count
            if count == 0:
                break
        return deleted

    def _oldest(self, wanted: int, through: int | None) -> list[tuple[int, int, str]]:
        """(ts, seq, id) of the ``wanted`` oldest events (sealed up to ``through`` when given),
        and of every other one not newer than the newest of them by exact (ts, seq)."""
        filters = [] if through is None else [{"range": {mapping.SEQ_FIELD: {"lte": through + SLACK}}}]

        def fetch(extra: list[dict[str, Any]], size: int) -> list[tuple[int, int, str]]:
            query = {"bool": {"filter": filters + extra}} if filters + extra else {"match_all": {}}
            response = self.cluster.call(
                "cannot find old events", self.cluster.client.search, index=self.names.events_pattern,
                query=query, sort=sort_order(False), size=size,
                source_includes=[mapping.TS_FIELD, mapping.SEQ_FIELD],
                ignore_unavailable=True, allow_no_indices=True, track_total_hits=False)
            keys = ((int(hit["_source"].get(mapping.TS_FIELD, 0)), int(hit["_source"].get(mapping.SEQ_FIELD, 0)),
                     str(hit["_id"])) for hit in response["hits"]["hits"])
            return [key for key in keys if through is None or key[1] <= through]

        oldest = fetch([], wanted)
        if not oldest:
            return []
        # Events of the newest time among them that a coarse sort put after it go too.
        last = max((ts, seq) for ts, seq, _ in oldest)
        same = fetch([{"term": {mapping.TS_FIELD: last[0]}}], PAGE)
        return list(dict.fromkeys([*oldest, *(key for key in same if (key[0], key[1]) <= last)]))

    def _size_bytes(self, pattern: str) -> int:
        response = self.cluster.call(
            "cannot measure the store", self.cluster.client.indices.stats,
            index=pattern, metric="store",
        )
        total = response.get("_all", {}).get("primaries", {}).get("store", {})
        return int(total.get("size_in_bytes", 0))

    # -- integrity ------------------------------------------------------------------------

    def document_seal_reader(self) -> EsSealReader:
        """What ``siem verify`` reads (siem.integrity.documents)."""
        self.check_open()
        return EsSealReader(self.cluster, self.names, self.seal_head, self.lifecycle_delete_days)

    # -- status and audit -----------------------------------------------------------------

    def stats(self) -> StoreStats:
        """Counts and size for ``siem status``."""
        self.check_open()
        response = self.cluster.call(
            "cannot read store statistics", self.cluster.client.search,
            index=self.names.events_pattern, size=0, track_total_hits=True,
            aggs={"oldest": {"min": {"field": mapping.TS_FIELD}},
                  "newest": {"max": {"field": mapping.TS_FIELD}}},
            ignore_unavailable=True, allow_no_indices=True,
        )
        events = int(response["hits"]["total"]["value"])
        aggregations = response.get("aggregations", {})

        def seconds(name: str) -> float | None:
            value = aggregations.get(name, {}).get("value")
            return None if value is None or events == 0 else float(value) / 1000

        return StoreStats(
            backend=self.backend,
            location=self.location,
            events=events,
            alerts=self.count_records(self.names.alerts),
            incidents=self.count_records(self.names.incidents),
            size_bytes=self._size_bytes(self.names.everything),
            oldest_event_at=seconds("oldest"),
            newest_event_at=seconds("newest"),
            schema_version=mapping.SCHEMA_VERSION,
        )

    def close(self) -> None:
        """Stop the bulk workers and close the connections. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._bulk.close()
        self.cluster.close()

    def audit(self, actor: str, action: str, target: str, before: Any, after: Any) -> None:
        """Append one entry to the audit log."""
        self.audit_entry(actor, action, target, before, after)

    def audit_log(self, target: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Audit entries, newest first, optionally for one target."""
        filters = [{"term": {"target": target}}] if target is not None else []
        hits = self.search_records(self.names.audit, filters, [sort("seq", "desc", "long")], limit)
        return [
            {
                "id": s["seq"], "at": s["at"], "actor": s["actor"], "action": s["action"],
                "target": s["target"], "before": json.loads(s["before"]),
                "after": json.loads(s["after"]),
            }
            for s in (hit["_source"] for hit in hits)
        ]


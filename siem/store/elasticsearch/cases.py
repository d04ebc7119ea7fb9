"""Alert groups, suppressions and incidents in the Elasticsearch store.

Without transactions, a change is written first and its audit entry after it. Incident
updates are optimistic: the document is written with ``if_seq_no``/``if_primary_term`` of
the version read, so when another officer's change came first the write is refused (409)
and the loser gets a ConflictError, as with SQLite.
(https://www.elastic.co/guide/en/elasticsearch/reference/current/optimistic-concurrency-control.html)
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from elasticsearch import ConflictError as EsConflictError

from siem.alert import Alert
from siem.alerts.suppression import Suppression
from siem.errors import ConflictError, QueryError, StoreError
from siem.incidents.model import Incident, Note, severity_rank
from siem.store.base import AlertQuery, AuditEntry, IncidentQuery
from siem.store.elasticsearch.indices import PAGE, IndexAccess
from siem.store.elasticsearch.records import (
    alert_document,
    document_alert,
    document_incident,
    document_suppression,
    incident_document,
    level_rank,
    merge_alert,
    note_document,
    sort,
    suppression_document,
)

_PREFIX_MIN = 6
#: Attempts of a read-modify-write that lost a race with another writer.
_RACE_ATTEMPTS = 5


def _link_id(incident_id: str, kind: str, target: str) -> str:
    return hashlib.sha1(f"{incident_id}\x1f{kind}\x1f{target}".encode()).hexdigest()


class CaseIndices(IndexAccess):
    """Store methods for alert groups, suppressions and incidents (see siem/store/base.py)."""

    # -- plumbing -------------------------------------------------------------------------------

    def _ids(self, index: str, ids: Sequence[str]) -> list[dict[str, Any]]:
        """The documents (hits, with seq_no) of ``index`` among ``ids``."""
        found: list[dict[str, Any]] = []
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), PAGE):
            chunk = unique[start : start + PAGE]
            found.extend(self.search_records(index, [{"ids": {"values": chunk}}], [], len(chunk)))
        return found

    def _conflicted(self, what: str, request: Any, **kwargs: Any) -> bool:
        """Run a conditional write (with retries); True if refused with 409 (it exists, or
        it changed since read), False if written."""
        try:
            self.cluster.call(what, request, refresh=self.config.refresh, **kwargs)
        except StoreError as exc:
            if isinstance(exc.__cause__, EsConflictError):
                return True
            raise
        return False

    def _write_audit(self, entry: AuditEntry) -> None:
        self.audit_entry(entry.actor, entry.action, entry.target, entry.before, entry.after)

    def _create_all(self, index: str, documents: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Create documents by id; those that exist already are left as they are."""
        if not documents:
            return
        self.ensure_index(index)
        operations: list[dict[str, Any]] = []
        for ident, document in documents:
            operations.append({"create": {"_index": index, "_id": ident}})
            operations.append(document)
        response = self.cluster.call("cannot write to the store", self.cluster.client.bulk,
                                     operations=operations, refresh=self.config.refresh)
        refused = [item["create"] for item in response["items"]
                   if int(item["create"]["status"]) not in (200, 201, 409)]
        if refused:
            raise StoreError(f"cannot write to {index}: {refused[0].get('error')}"
                             f" (Elasticsearch at {self.cluster.hosts})")

    # -- alert groups ---------------------------------------------------------------------------

    def upsert_alerts(self, alerts: Sequence[Alert], suppressed: Mapping[str, str]) -> set[str]:
        """Insert or merge alerts and set suppression marks not set yet; returns the ids of
        ``alerts`` that existed before. Retried when another writer changed one meanwhile."""
        self.ensure_index(self.names.alerts)
        for _ in range(_RACE_ATTEMPTS):
            hits = self._ids(self.names.alerts, [a.id for a in alerts] + list(suppressed))
            stored = {hit["_id"]: hit for hit in hits}
            existing = {a.id for a in alerts if a.id in stored}
            documents: dict[str, dict[str, Any]] = {}
            for alert in alerts:
                current = documents.get(alert.id)
                if current is None and alert.id in stored:
                    current = stored[alert.id]["_source"]
                documents[alert.id] = (alert_document(alert) if current is None
                                       else merge_alert(current, alert))
            for alert_id, suppression_id in suppressed.items():
                document = documents.get(alert_id)
                if document is None and alert_id in stored:
                    document = dict(stored[alert_id]["_source"])
                if document is not None and document.get("suppression_id") is None:
                    document["suppression_id"] = suppression_id
                    documents[alert_id] = document
            if self._write_checked(self.names.alerts, documents, stored):
                return existing
        raise ConflictError("alerts kept changing while being saved; try again")

    def _write_checked(self, index: str, documents: Mapping[str, dict[str, Any]],
                       stored: Mapping[str, dict[str, Any]]) -> bool:
        """Write documents, each only if unchanged since read (``stored``) or new; False if
        another writer came first (the caller reads again and retries)."""
        operations: list[dict[str, Any]] = []
        for ident, document in documents.items():
            hit = stored.get(ident)
            if hit is None:
                operations.append({"create": {"_index": index, "_id": ident}})
            else:
                operations.append({"index": {"_index": index, "_id": ident,
                                             "if_seq_no": hit["_seq_no"],
                                             "if_primary_term": hit["_primary_term"]}})
            operations.append(document)
        if not operations:
            return True
        response = self.cluster.call("cannot write alerts", self.cluster.client.bulk,
                                     operations=operations, refresh=self.config.refresh)
        raced = False
        for item in response["items"]:
            (result,) = item.values()
            status = int(result["status"])
            if status == 409:
                raced = True
            elif status >= 300:
                raise StoreError(f"cannot write to {index}: {result.get('error')}"
                                 f" (Elasticsearch at {self.cluster.hosts})")
        return not raced

    def alert_group(self, rule_id: str, group_key: str, suppression_id: str | None) -> Alert | None:
        """The latest group alert of a rule and key (suppressed by ``suppression_id`` or not)."""
        filters: list[dict[str, Any]] = [{"term": {"rule_id": rule_id}},
                                         {"term": {"group_key": group_key}}]
        if suppression_id is None:
            filters.append({"bool": {"must_not": [{"exists": {"field": "suppression_id"}}]}})
        else:
            filters.append({"term": {"suppression_id": suppression_id}})
        hits = self.search_records(self.names.alerts, filters,
                                   [sort("last_seen", "desc", "double")], 1)
        return document_alert(hits[0]["_source"], with_events=False) if hits else None

    def folded_alert_ids(self, ids: Sequence[str]) -> set[str]:
        """Those of ``ids`` already folded into a group."""
        return {hit["_id"] for hit in self._ids(self.names.alert_folds, ids)}

    def save_alert_groups(
        self, groups: Sequence[Alert], members: Mapping[str, str], suppressed: Mapping[str, str]
    ) -> None:
        """Upsert group alerts, their members and suppression marks (in that order)."""
        if not groups and not members:
            return
        self.upsert_alerts(groups, suppressed)
        self._create_all(self.names.alert_folds, [
            (alert_id, {"alert_id": alert_id, "group_id": group_id})
            for alert_id, group_id in members.items()
        ])
        hits: dict[str, int] = {}
        for group_id in members.values():
            if group_id in suppressed:
                hits[suppressed[group_id]] = hits.setdefault(suppressed[group_id], 0) + 1
        for suppression_id, count in hits.items():
            self._add_hits(suppression_id, count)

    def _add_hits(self, suppression_id: str, count: int) -> None:
        for _ in range(_RACE_ATTEMPTS):
            found = self.get_document(self.names.suppressions, suppression_id)
            if found is None:
                return
            document = dict(found["_source"])
            document["hits"] = int(document["hits"]) + count
            if self._write_checked(self.names.suppressions, {suppression_id: document},
                                   {suppression_id: found}):
                return
        raise ConflictError(f"suppression {suppression_id} kept changing; try again")

    def get_alert(self, alert_id: str) -> Alert | None:
        """The alert with this id or unique id prefix."""
        found = self.get_document(self.names.alerts, alert_id)
        if found is not None:
            return document_alert(found["_source"], with_events=True)
        if len(alert_id) < _PREFIX_MIN:
            return None
        hits = self.search_records(self.names.alerts, [{"prefix": {"id": alert_id}}],
                                   [sort("id", "asc")], 2)
        if len(hits) > 1:
            raise QueryError(f"alert id prefix {alert_id!r} is ambiguous; give more characters")
        return document_alert(hits[0]["_source"], with_events=True) if hits else None

    def find_alerts(self, query: AlertQuery) -> list[Alert]:
        """Alerts matching ``query``, newest first (without their event ids, for speed)."""
        filters: list[dict[str, Any]] = []
        if query.since is not None:
            filters.append({"range": {"last_seen": {"gte": query.since}}})
        if query.level:
            filters.append({"range": {"level_rank": {"gte": level_rank(query.level)}}})
        for name, value in (("site", query.site), ("zone", query.zone)):
            if value is not None:
                filters.append({"term": {name: value}})
        if query.rule is not None:
            filters.append({"bool": {"should": [
                {"term": {"rule_id": query.rule}},
                # Only ``*`` is a wildcard (as on SQLite): ``?`` and ``\\`` in the value are literal.
                {"wildcard": {"rule_title": {"value": query.rule.replace("\\", "\\\\").replace("?", "\\?"),
                                             "case_insensitive": True}}},
            ], "minimum_should_match": 1}})
        marked = {"exists": {"field": "suppression_id"}}
        if query.suppressed is None:
            filters.append({"bool": {"must_not": [marked]}})
        elif query.suppressed:
            filters.append(marked)
        hits = self.search_records(
            self.names.alerts, filters,
            [sort("last_seen", "desc", "double"), sort("id", "asc")], query.limit,
        )
        return [document_alert(hit["_source"], with_events=False) for hit in hits]

    def alert_suppressions(self, alert_ids: Sequence[str]) -> dict[str, str]:
        """Suppression id by alert id for the suppressed ones among ``alert_ids``."""
        return {
            hit["_id"]: hit["_source"]["suppression_id"]
            for hit in self._ids(self.names.alerts, alert_ids)
            if hit["_source"].get("suppression_id") is not None
        }

    # -- suppressions ---------------------------------------------------------------------------

    def add_suppression(self, suppression: Suppression, audit: AuditEntry) -> None:
        """Store a new suppression, then its audit entry."""
        self.ensure_index(self.names.suppressions)
        if self._conflicted("cannot save the suppression", self.cluster.client.create,
                            index=self.names.suppressions, id=suppression.id,
                            document=suppression_document(suppression)):
            raise QueryError(f"suppression {suppression.id} exists already")
        self._write_audit(audit)

    def remove_suppression(self, suppression_id: str, *, at: float, actor: str) -> Suppression:
        """Mark a suppression removed, then audit it."""
        found = self.get_document(self.names.suppressions, suppression_id)
        if found is None:
            raise QueryError(f"no suppression {suppression_id!r} (see 'siem alerts suppressions')")
        before = document_suppression(found["_source"])
        if before.removed_at is not None:
            raise QueryError(f"suppression {suppression_id} was already removed by {before.removed_by}")
        after = dataclasses.replace(before, removed_at=at, removed_by=actor)
        if not self._write_checked(self.names.suppressions,
                                   {suppression_id: suppression_document(after)},
                                   {suppression_id: found}):
            raise ConflictError(f"suppression {suppression_id} was changed meanwhile; try again")
        self._write_audit(AuditEntry(actor, "suppression.removed", f"suppression:{suppression_id}",
                                     before.to_dict(), after.to_dict()))
        return after

    def suppressions(self, *, active_at: float | None = None) -> list[Suppression]:
        """Suppressions, newest first; only the active ones when ``active_at`` is given."""
        hits = self.search_records(self.names.suppressions, [],
                                   [sort("created_at", "desc", "double"), sort("id", "asc")], PAGE)
        found = [document_suppression(hit["_source"]) for hit in hits]
        if active_at is None:
            return found
        return [s for s in found if s.is_active(active_at)]

    # -- incidents ------------------------------------------------------------------------------

    @staticmethod
    def _incident_key(incident_id: str) -> str:
        return incident_id.strip().lower()

    def insert_incident(self, incident: Incident, *, alert_ids: Sequence[str], audit: AuditEntry) -> bool:
        """Store a new incident (False if the id exists), then its alert links and audit entry."""
        self.ensure_index(self.names.incidents)
        if self._conflicted("cannot save the incident", self.cluster.client.create,
                            index=self.names.incidents, id=self._incident_key(incident.id),
                            document=incident_document(incident)):
            return False
        self._link(incident.id, [("alert", alert_id) for alert_id in alert_ids])
        self._write_audit(audit)
        return True

    def _link(self, incident_id: str, links: Sequence[tuple[str, str]]) -> None:
        self._create_all(self.names.incident_links, [
            (_link_id(incident_id, kind, target),
             {"incident_id": incident_id, "kind": kind, "target_id": target})
            for kind, target in links
        ])

    def update_incident(
        self,
        incident: Incident,
        *,
        expected_version: int,
        audit: AuditEntry,
        note: Note | None = None,
        links: Sequence[tuple[str, str]] = (),
    ) -> Incident:
        """Save ``incident`` if nobody changed it since ``expected_version`` (else ConflictError)."""
        key = self._incident_key(incident.id)
        found = self.get_document(self.names.incidents, key)
        if found is None:
            raise QueryError(f"no incident {incident.id}")
        stored_version = int(found["_source"]["version"])
        if stored_version != expected_version:
            raise self._conflict(incident.id, stored_version, expected_version)
        document = incident_document(incident)
        document["version"] = expected_version + 1
        if self._conflicted("cannot save the incident", self.cluster.client.index,
                            index=self.names.incidents, id=key, document=document,
                            if_seq_no=found["_seq_no"], if_primary_term=found["_primary_term"]):
            now = self.get_document(self.names.incidents, key)
            version = int(now["_source"]["version"]) if now is not None else expected_version
            raise self._conflict(incident.id, version, expected_version)
        if note is not None:
            self.ensure_index(self.names.incident_notes)
            self.cluster.call("cannot save the note", self.cluster.client.index,
                              index=self.names.incident_notes,
                              document=note_document(note, self.next_seq(1)),
                              refresh=self.config.refresh)
        self._link(incident.id, links)
        self._write_audit(audit)
        incident.version = expected_version + 1
        return incident

    @staticmethod
    def _conflict(incident_id: str, version: int, expected: int) -> ConflictError:
        return ConflictError(
            f"incident {incident_id} was changed by someone else (now version {version}, you had"
            f" {expected}); reload it and try again"
        )

    def get_incident(self, incident_id: str) -> Incident | None:
        """The incident with this id (case-insensitive)."""
        found = self.get_document(self.names.incidents, self._incident_key(incident_id))
        return document_incident(found["_source"]) if found is not None else None

    def find_incidents(self, query: IncidentQuery) -> list[Incident]:
        """Incidents matching ``query``, highest severity first, then oldest opened first."""
        filters: list[dict[str, Any]] = []
        if query.statuses:
            filters.append({"terms": {"status": list(query.statuses)}})
        if query.severity:
            filters.append({"range": {"severity_rank": {"gte": severity_rank(query.severity)}}})
        if query.since is not None:
            filters.append({"range": {"updated_at": {"gte": query.since}}})
        for name, value in (("site", query.site), ("zone", query.zone),
                            ("assignee", query.assignee), ("rule_id", query.rule_id),
                            ("entity", query.entity)):
            if value is not None:
                filters.append({"term": {name: value}})
        hits = self.search_records(
            self.names.incidents, filters,
            [sort("severity_rank", "desc", "long"), sort("opened_at", "asc", "double"),
             sort("id", "asc")],
            query.limit,
        )
        return [document_incident(hit["_source"]) for hit in hits]

    def incident_for_alert(self, alert_id: str) -> Incident | None:
        """The incident an alert is linked to."""
        links = self.search_records(self.names.incident_links,
                                    [{"term": {"kind": "alert"}}, {"term": {"target_id": alert_id}}],
                                    [], PAGE)
        incident_ids = sorted({hit["_source"]["incident_id"] for hit in links})
        if not incident_ids:
            return None
        hits = self.search_records(self.names.incidents, [{"terms": {"id": incident_ids}}],
                                   [sort("created_at", "desc", "double")], 1)
        return document_incident(hits[0]["_source"]) if hits else None

    def incident_links(self, incident_id: str, kind: str) -> list[str]:
        """Linked alert or event ids."""
        hits = self.search_records(
            self.names.incident_links,
            [{"term": {"incident_id": incident_id}}, {"term": {"kind": kind}}],
            [sort("target_id", "asc")], PAGE,
        )
        return [hit["_source"]["target_id"] for hit in hits]

    def incident_notes(self, incident_id: str) -> list[Note]:
        """Notes, oldest first."""
        hits = self.search_records(
            self.names.incident_notes, [{"term": {"incident_id": incident_id}}],
            [sort("at", "asc", "double"), sort("seq", "asc", "long")], PAGE,
        )
        return [Note(s["incident_id"], s["at"], s["author"], s["text"])
                for s in (hit["_source"] for hit in hits)]


"""Alerts, incidents and suppressions as Elasticsearch documents, and back."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from siem.alert import LEVELS, Alert
from siem.alerts.suppression import Suppression
from siem.incidents.model import Incident, Note, severity_rank


def level_rank(level: str) -> int:
    """0 (informational) to 4 (critical); unknown levels rank lowest."""
    return LEVELS.index(level) if level in LEVELS else 0


def sort(field: str, order: str, kind: str = "keyword") -> dict[str, Any]:
    """A sort clause that works before any document has the field (``unmapped_type``)."""
    return {field: {"order": order, "unmapped_type": kind}}


def alert_document(alert: Alert, suppression_id: str | None = None) -> dict[str, Any]:
    """The document of an alert; ``matched_fields`` is kept as JSON text (not searched)."""
    return {
        "id": alert.id,
        "rule_id": alert.rule_id,
        "rule_title": alert.rule_title,
        "level": alert.level,
        "level_rank": level_rank(alert.level),
        "first_seen": alert.first_seen,
        "last_seen": alert.last_seen,
        "count": alert.count,
        "site": alert.site,
        "zone": alert.zone,
        "summary": alert.summary,
        "group_key": alert.group_key,
        "matched_fields": json.dumps(alert.matched_fields, default=str),
        "tags": list(alert.tags),
        "event_ids": sorted(set(alert.event_ids)),
        "suppression_id": suppression_id,
    }


def merge_alert(stored: Mapping[str, Any], alert: Alert) -> dict[str, Any]:
    """``stored`` updated by a newer ``alert`` of the same id, as the SQLite store does:
    widen the time span, keep the larger count, add the event ids, take the new level,
    title, summary, fields and tags."""
    merged = dict(stored)
    new = alert_document(alert)
    merged["first_seen"] = min(stored["first_seen"], alert.first_seen)
    merged["last_seen"] = max(stored["last_seen"], alert.last_seen)
    merged["count"] = max(stored["count"], alert.count)
    for key in ("level", "level_rank", "rule_title", "summary", "matched_fields", "tags"):
        merged[key] = new[key]
    merged["event_ids"] = sorted(set(stored["event_ids"]) | set(alert.event_ids))
    return merged


def document_alert(source: Mapping[str, Any], *, with_events: bool) -> Alert:
    """The Alert of a document (without its event ids unless ``with_events``)."""
    return Alert(
        id=source["id"],
        rule_id=source["rule_id"],
        rule_title=source["rule_title"],
        level=source["level"],
        first_seen=source["first_seen"],
        last_seen=source["last_seen"],
        event_ids=tuple(source["event_ids"]) if with_events else (),
        matched_fields=json.loads(source["matched_fields"]),
        tags=tuple(source["tags"]),
        site=source["site"],
        zone=source["zone"],
        summary=source["summary"],
        count=source["count"],
        group_key=source["group_key"],
    )


def incident_document(incident: Incident) -> dict[str, Any]:
    """The document of an incident (its fields plus the severity rank for sorting)."""
    document = dataclasses.asdict(incident)
    document["severity_rank"] = severity_rank(incident.severity)
    return document


_INCIDENT_FIELDS = tuple(f.name for f in dataclasses.fields(Incident))


def document_incident(source: Mapping[str, Any]) -> Incident:
    """The Incident of a document."""
    return Incident(**{name: source[name] for name in _INCIDENT_FIELDS})


def suppression_document(suppression: Suppression) -> dict[str, Any]:
    """The document of a suppression."""
    return suppression.to_dict()


_SUPPRESSION_FIELDS = tuple(f.name for f in dataclasses.fields(Suppression))


def document_suppression(source: Mapping[str, Any]) -> Suppression:
    """The Suppression of a document."""
    return Suppression(**{name: source[name] for name in _SUPPRESSION_FIELDS})


def note_document(note: Note, seq: int) -> dict[str, Any]:
    """The document of a note; ``seq`` orders notes written at the same time."""
    return {"incident_id": note.incident_id, "at": note.at, "author": note.author,
            "text": note.text, "seq": seq}

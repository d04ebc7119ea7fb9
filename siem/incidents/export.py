"""The case file of an incident: facts, SLA, timeline (audit trail), alerts, evidence events and
notes, as one JSON document or as Markdown (CommonMark) for the paper file."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from siem import event as ecs
from siem.incidents.config import SlaTable
from siem.incidents.model import Incident
from siem.incidents.sla import sla_state
from siem.store.base import Store
from siem.ui.format import duration, when

#: Evidence events per alert taken into the case file (the rest stay searchable by id).
EVENTS_PER_ALERT = 50


def case_document(store: Store, incident: Incident, sla: SlaTable, now: float) -> dict[str, Any]:
    """Everything about ``incident`` the store knows, JSON-safe."""
    alerts = [found for ident in store.incident_links(incident.id, "alert")
              if (found := store.get_alert(ident)) is not None]
    linked = store.incident_links(incident.id, "event")
    from_alerts = [event_id for alert in alerts for event_id in alert.event_ids[:EVENTS_PER_ALERT]]
    wanted = list(dict.fromkeys([*linked, *from_alerts]))
    events = sorted(store.get_events(wanted), key=lambda e: str(e.get(ecs.TIMESTAMP, "")))
    audit = sorted(store.audit_log(f"incident:{incident.id}", limit=10000), key=lambda entry: entry["id"])
    return {
        "incident": incident.to_dict(),
        "sla": dataclasses.asdict(sla_state(incident, sla, now)),
        "alerts": [
            {**dataclasses.asdict(alert), "event_ids": list(alert.event_ids), "tags": list(alert.tags)}
            for alert in alerts
        ],
        "evidence_event_ids": linked,
        "events": events,
        "notes": [dataclasses.asdict(note) for note in store.incident_notes(incident.id)],
        "timeline": audit,
        "exported_at": now,
    }


def to_json(document: dict[str, Any]) -> str:
    """The case document as indented JSON (non-ASCII kept readable)."""
    return json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(document: dict[str, Any]) -> str:
    """The case document as Markdown: facts, timeline, alerts, notes, evidence events."""
    incident = document["incident"]
    sla = document["sla"]
    lines = [
        f"# {incident['id']}: {incident['title']}",
        "",
        f"- Severity: **{incident['severity']}**",
        f"- Status: {incident['status']}",
        f"- Assignee: {incident['assignee'] or '-'}",
        f"- Site / zone: {incident['site'] or '-'} / {incident['zone'] or '-'}",
        f"- Entity: {incident['entity'] or '-'}",
        f"- Opened: {when(incident['created_at'])} UTC (reopened {incident['reopen_count']} times)",
        f"- Alerts: {incident['alert_count']} between {when(incident['first_alert_at'])} and "
        f"{when(incident['last_alert_at'])} UTC",
        f"- Time to acknowledge: {duration(sla['time_to_acknowledge'])}; "
        f"time to resolve: {duration(sla['time_to_resolve'])}",
        f"- SLA overdue: acknowledge {'yes' if sla['acknowledge_overdue'] else 'no'}, "
        f"resolve {'yes' if sla['resolve_overdue'] else 'no'}",
        f"- Summary: {incident['summary'] or '-'}",
        "",
        "## Timeline",
        "",
        "| When (UTC) | Who | What | Before | After |",
        "|---|---|---|---|---|",
    ]
    for entry in document["timeline"]:
        lines.append(
            f"| {when(entry['at'])} | {_cell(entry['actor'])} | {_cell(entry['action'])} | "
            f"{_cell(json.dumps(entry['before'], ensure_ascii=False, default=str))} | "
            f"{_cell(json.dumps(entry['after'], ensure_ascii=False, default=str))} |"
        )
    lines += ["", "## Alerts", "", "| Alert | Rule | Severity | Count | First seen | Last seen | Summary |",
              "|---|---|---|---|---|---|---|"]
    for alert in document["alerts"]:
        lines.append(
            f"| {alert['id'][:12]} | {_cell(alert['rule_title'])} | {alert['level']} | {alert['count']} | "
            f"{when(alert['first_seen'])} | {when(alert['last_seen'])} | {_cell(alert['summary'])} |"
        )
        if alert["matched_fields"]:
            matched = ", ".join(f"`{k}={v}`" for k, v in sorted(alert["matched_fields"].items()))
            lines.append(f"|  | matched: {_cell(matched)} |  |  |  |  |  |")
    lines += ["", "## Notes", ""]
    lines += [f"- {when(note['at'])} UTC, {note['author']}: {note['text']}" for note in document["notes"]] or ["-"]
    lines += ["", f"## Evidence events ({len(document['events'])})", ""]
    for event in document["events"]:
        raw = event[ecs.ORIGINAL] if ecs.ORIGINAL in event else json.dumps(event, ensure_ascii=False, default=str)
        mark = " (linked)" if event[ecs.ID] in document["evidence_event_ids"] else ""
        lines.append(f"- `{event[ecs.ID]}`{mark} {event.get(ecs.TIMESTAMP, '')}")
        lines.append(f"  ```\n  {str(raw).replace(chr(10), ' ')}\n  ```")
    lines += ["", f"_Exported {when(document['exported_at'])} UTC by siem._", ""]
    return "\n".join(lines)

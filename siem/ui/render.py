"""Rich tables for ``siem alerts`` and ``siem incidents``, and their ``--json`` documents."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from siem.alert import Alert
from siem.alerts.suppression import Suppression
from siem.i18n import _
from siem.incidents.config import SlaTable
from siem.incidents.model import Incident
from siem.incidents.sla import SlaState, sla_state
from siem.ui.format import duration, severity_style, status_style, when


def alert_document(alert: Alert, suppression_id: str | None = None) -> dict[str, Any]:
    """An alert as a JSON-safe dict (``--json``)."""
    doc = dataclasses.asdict(alert)
    doc["event_ids"] = list(alert.event_ids)
    doc["tags"] = list(alert.tags)
    doc["first_seen_at"] = when(alert.first_seen)
    doc["last_seen_at"] = when(alert.last_seen)
    doc["suppressed_by"] = suppression_id
    return doc


def incident_document(incident: Incident, sla: SlaState) -> dict[str, Any]:
    """An incident with its SLA state as a JSON-safe dict (``--json``)."""
    doc = incident.to_dict()
    doc["sla"] = dataclasses.asdict(sla)
    doc["overdue"] = sla.overdue
    return doc


def _severity(level: str) -> Text:
    return Text(level, style=severity_style(level))


def alerts_table(alerts: Sequence[Alert], suppressed: Mapping[str, str]) -> Table:
    """Alerts one per line: severity, count, last seen, rule, site/zone, summary."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in (_("id"), _("severity"), _("count"), _("last seen"), _("site"), _("zone"), _("summary")):
        table.add_column(name, no_wrap=name != _("summary"), overflow="fold")
    for alert in alerts:
        summary = Text(alert.summary or alert.rule_title)
        if alert.id in suppressed:
            summary.append(f"  [{_('suppressed')} {suppressed[alert.id]}]", style="dim")
        table.add_row(alert.id[:12], _severity(alert.level), str(alert.count), when(alert.last_seen),
                      Text(alert.site or "-"), Text(alert.zone or "-"), summary)
    return table


def alert_detail(alert: Alert, suppression_id: str | None, incident_id: str | None) -> RenderableType:
    """One alert in full: facts, matched fields, tags, event ids."""
    facts = Table(box=None, show_header=False, pad_edge=False)
    facts.add_column(style="bold")
    facts.add_column()
    for label, value in (
        (_("id"), Text(alert.id)),
        (_("rule"), Text(f"{alert.rule_title} ({alert.rule_id})")),
        (_("severity"), _severity(alert.level)),
        (_("count"), Text(str(alert.count))),
        (_("first seen"), Text(when(alert.first_seen))),
        (_("last seen"), Text(when(alert.last_seen))),
        (_("site / zone"), Text(f"{alert.site or '-'} / {alert.zone or '-'}")),
        (_("group"), Text(alert.group_key)),
        (_("tags"), Text(", ".join(alert.tags) or "-")),
        (_("incident"), Text(incident_id or "-")),
        (_("suppressed by"), Text(suppression_id or "-")),
        (_("summary"), Text(alert.summary)),
    ):
        facts.add_row(label, value)
    fields = Table(title=_("matched fields"), box=None, pad_edge=False, title_justify="left")
    fields.add_column(_("field"), style="bold")
    fields.add_column(_("value"))
    for name, value in sorted(alert.matched_fields.items()):
        fields.add_row(Text(name), Text(str(value)))
    events = Text(_("events") + f" ({len(alert.event_ids)}): " + ", ".join(alert.event_ids[:20]))
    if len(alert.event_ids) > 20:
        events.append(" …")
    return Group(facts, Text(), fields, Text(), events)


def incidents_table(incidents: Sequence[Incident], sla: SlaTable, now: float) -> Table:
    """Incidents one per line, with age and SLA overdue marks."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in (_("id"), _("severity"), _("status"), _("age"), _("SLA"), _("assignee"), _("site"),
                 _("alerts"), _("title")):
        table.add_column(name, no_wrap=name != _("title"), overflow="fold")
    for incident in incidents:
        state = sla_state(incident, sla, now)
        table.add_row(
            incident.id, _severity(incident.severity),
            Text(incident.status, style=status_style(incident.status)),
            duration(now - incident.opened_at), sla_text(state),
            Text(incident.assignee or "-"), Text(incident.site or "-"), str(incident.alert_count),
            Text(incident.title),
        )
    return table


def sla_text(state: SlaState) -> Text:
    """``OVERDUE ack``/``OVERDUE resolve`` in red, else ``ok``."""
    if state.acknowledge_overdue:
        return Text(_("OVERDUE ack"), style="bold red")
    if state.resolve_overdue:
        return Text(_("OVERDUE resolve"), style="bold red")
    return Text(_("ok"), style="green")


def incident_facts(incident: Incident, state: SlaState, now: float) -> Table:
    """The facts of one incident as a two-column table."""
    facts = Table(box=None, show_header=False, pad_edge=False)
    facts.add_column(style="bold")
    facts.add_column()
    for label, value in (
        (_("incident"), Text(f"{incident.id}  {incident.title}")),
        (_("severity"), _severity(incident.severity)),
        (_("status"), Text(incident.status, style=status_style(incident.status))),
        (_("assignee"), Text(incident.assignee or "-")),
        (_("site / zone"), Text(f"{incident.site or '-'} / {incident.zone or '-'}")),
        (_("entity"), Text(incident.entity or "-")),
        (_("opened"), Text(f"{when(incident.opened_at)} ({duration(now - incident.opened_at)} " + _("ago") + ")")),
        (_("alerts"), Text(f"{incident.alert_count}: {when(incident.first_alert_at)} .. "
                           f"{when(incident.last_alert_at)}")),
        (_("time to acknowledge"), Text(duration(state.time_to_acknowledge))),
        (_("time to resolve"), Text(duration(state.time_to_resolve))),
        (_("SLA"), sla_text(state)),
        (_("summary"), Text(incident.summary or "-")),
        (_("version"), Text(str(incident.version))),
    ):
        facts.add_row(label, value)
    return facts


def timeline_table(audit: Sequence[Mapping[str, Any]]) -> Table:
    """Audit entries (oldest first) as a timeline; note texts shown in full."""
    table = Table(title=_("timeline"), box=None, pad_edge=False, title_justify="left", header_style="bold")
    for name in (_("when"), _("who"), _("what"), _("details")):
        table.add_column(name, overflow="fold")
    for entry in sorted(audit, key=lambda item: item["id"]):
        table.add_row(when(entry["at"]), Text(entry["actor"]), Text(entry["action"]),
                      Text(change_text(entry)))
    return table


def change_text(entry: Mapping[str, Any]) -> str:
    """``status: new -> acknowledged; note: ...`` from an audit entry's before/after."""
    before = entry["before"] if isinstance(entry["before"], dict) else {}
    after = entry["after"] if isinstance(entry["after"], dict) else {}
    if entry["action"] == "incident.opened":
        return str(after["summary"]) if "summary" in after else ""
    parts = []
    for key, value in after.items():
        if key in ("updated_at", "opened_at", "acknowledged_at", "resolved_at", "first_alert_at",
                   "last_alert_at"):
            continue
        parts.append(f"{key}: {before[key]} -> {value}" if key in before else f"{key}: {value}")
    return "; ".join(parts)


def suppressions_table(items: Sequence[Suppression], now: float) -> Table:
    """Suppressions with their criteria, expiry, hits and state."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in (_("id"), _("state"), _("rule"), _("site"), _("address"), _("daily window"), _("expires"),
                 _("hits"), _("by"), _("reason")):
        table.add_column(name, overflow="fold")
    for item in items:
        if item.removed_at is not None:
            state = Text(_("removed"), style="dim")
        elif not item.is_active(now):
            state = Text(_("expired"), style="dim")
        else:
            state = Text(_("active"), style="green")
        table.add_row(item.id, state, Text(item.rule or "*"), Text(item.site or "*"), Text(item.address or "*"),
                      Text(item.between or "-"), when(item.expires_at) if item.expires_at else _("never"),
                      str(item.hits), Text(item.created_by), Text(item.reason))
    return table


def panel(title: str, body: RenderableType) -> Panel:
    """A titled box around ``body``."""
    return Panel(body, title=title, title_align="left")

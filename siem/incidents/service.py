"""What officers (and the alert stage) do to incidents: open, acknowledge, assign, note,
escalate, resolve, reopen, link. Every change goes to the store with its audit entry in one
transaction; an update that lost a race with another officer is a ConflictError.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

from siem.alert import LEVELS, Alert
from siem.errors import ConflictError, QueryError
from siem.event import make_event_id
from siem.incidents.model import (
    ACKNOWLEDGED,
    CLOSED_STATUSES,
    FALSE_POSITIVE,
    INVESTIGATING,
    NEW,
    RESOLVED,
    Incident,
    Note,
    changed_fields,
    check_transition,
    severity_rank,
)
from siem.store.base import AuditEntry, Store

Clock = Callable[[], float]


def target(incident_id: str) -> str:
    """The audit-log target of an incident."""
    return f"incident:{incident_id}"


def incident_id_for(*parts: str) -> str:
    """A short id (``INC-`` and 8 hex digits), stable for the same parts."""
    return "INC-" + make_event_id("incident", *parts)[:8].upper()


class IncidentService:
    """Changes to incidents on behalf of ``actor`` (an officer, or ``siem`` itself)."""

    def __init__(self, store: Store, actor: str, clock: Clock = time.time) -> None:
        self.store = store
        self.actor = actor
        self.clock = clock

    # -- reading --------------------------------------------------------------------------------

    def get(self, incident_id: str) -> Incident:
        """The incident, or a QueryError naming the id."""
        found = self.store.get_incident(incident_id)
        if found is None:
            raise QueryError(f"no incident {incident_id!r} (see 'siem incidents list')")
        return found

    # -- opening --------------------------------------------------------------------------------

    def open_from_alert(self, alert: Alert, entity: str) -> Incident | None:
        """A new incident for a group alert; None when it already exists (a replay)."""
        now = self.clock()
        incident = Incident(
            id=incident_id_for(alert.id),
            title=alert.rule_title,
            status=NEW,
            severity=alert.level,
            created_at=now,
            updated_at=now,
            opened_at=now,
            rule_id=alert.rule_id,
            entity=entity,
            site=alert.site,
            zone=alert.zone,
            summary=alert.summary,
            first_alert_at=alert.first_seen,
            last_alert_at=alert.last_seen,
            alert_count=alert.count,
        )
        audit = AuditEntry(self.actor, "incident.opened", target(incident.id), None, incident.to_dict())
        if not self.store.insert_incident(incident, alert_ids=[alert.id], audit=audit):
            return None
        return incident

    def open_manual(
        self, title: str, severity: str, *, site: str | None = None, alert_ids: Sequence[str] = ()
    ) -> Incident:
        """An incident opened by hand, optionally gathering existing alerts."""
        if severity not in LEVELS:
            raise QueryError(f"severity must be one of {', '.join(LEVELS)}, not {severity!r}")
        now = self.clock()
        alerts = [self._alert(ident) for ident in alert_ids]
        incident = Incident(
            id=incident_id_for(title, self.actor, repr(now)),
            title=title,
            status=NEW,
            severity=severity,
            created_at=now,
            updated_at=now,
            opened_at=now,
            site=site or next((a.site for a in alerts if a.site), None),
            first_alert_at=min((a.first_seen for a in alerts), default=None),
            last_alert_at=max((a.last_seen for a in alerts), default=None),
            alert_count=sum(a.count for a in alerts),
        )
        audit = AuditEntry(self.actor, "incident.opened", target(incident.id), None, incident.to_dict())
        self.store.insert_incident(incident, alert_ids=[a.id for a in alerts], audit=audit)
        return incident

    def _alert(self, alert_id: str) -> Alert:
        found = self.store.get_alert(alert_id)
        if found is None:
            raise QueryError(f"no alert {alert_id!r} (see 'siem alerts list')")
        return found

    # -- lifecycle ------------------------------------------------------------------------------

    def acknowledge(self, incident_id: str, *, version: int | None = None) -> Incident:
        """new -> acknowledged."""
        return self._move(incident_id, ACKNOWLEDGED, "incident.acknowledged", version=version)

    def investigate(self, incident_id: str, *, version: int | None = None) -> Incident:
        """new/acknowledged -> investigating."""
        return self._move(incident_id, INVESTIGATING, "incident.investigating", version=version)

    def resolve(
        self, incident_id: str, *, false_positive: bool = False, reason: str | None = None,
        version: int | None = None,
    ) -> Incident:
        """An open incident -> resolved (or false_positive), with an optional note."""
        status = FALSE_POSITIVE if false_positive else RESOLVED
        action = "incident.false_positive" if false_positive else "incident.resolved"
        return self._move(incident_id, status, action, version=version, note=reason)

    def reopen(self, incident_id: str, *, reason: str | None = None, version: int | None = None) -> Incident:
        """A resolved or false-positive incident -> new again (its SLA clock restarts)."""
        return self._move(incident_id, NEW, "incident.reopened", version=version, note=reason)

    def _move(
        self, incident_id: str, status: str, action: str, *, version: int | None, note: str | None = None
    ) -> Incident:
        current = self._current(incident_id, version)
        check_transition(current, status)
        now = self.clock()
        changes: dict[str, object] = {"status": status, "updated_at": now}
        if status in (ACKNOWLEDGED, INVESTIGATING) and current.acknowledged_at is None:
            changes["acknowledged_at"] = now
        if status in CLOSED_STATUSES:
            changes["resolved_at"] = now
        if status == NEW:  # reopen
            changes.update(resolved_at=None, opened_at=now, reopen_count=current.reopen_count + 1)
        updated = dataclasses.replace(current, **changes)  # type: ignore[arg-type]
        return self._save(current, updated, action, note=note)

    def assign(self, incident_id: str, assignee: str, *, version: int | None = None) -> Incident:
        """Set (or with an empty name, clear) who handles the incident."""
        current = self._current(incident_id, version)
        updated = dataclasses.replace(current, assignee=assignee.strip() or None, updated_at=self.clock())
        return self._save(current, updated, "incident.assigned")

    def note(self, incident_id: str, text: str, *, version: int | None = None) -> Incident:
        """Add a free-text note."""
        if not text.strip():
            raise QueryError("a note needs some text")
        current = self._current(incident_id, version)
        updated = dataclasses.replace(current, updated_at=self.clock())
        return self._save(current, updated, "incident.note", note=text.strip())

    def escalate(
        self, incident_id: str, *, level: str | None = None, reason: str, version: int | None = None
    ) -> Incident:
        """Raise the severity (one level, or to ``level``) with a note saying why."""
        current = self._current(incident_id, version)
        if not current.is_open:
            raise QueryError(f"incident {current.id} is {current.status}; reopen it before escalating")
        rank = current.severity_rank
        if level is None:
            if rank >= len(LEVELS) - 1:
                raise QueryError(f"incident {current.id} is already {current.severity}")
            level = LEVELS[rank + 1]
        elif level not in LEVELS:
            raise QueryError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
        elif severity_rank(level) <= rank:
            raise QueryError(f"incident {current.id} is {current.severity}; escalate to a higher level")
        updated = dataclasses.replace(current, severity=level, updated_at=self.clock())
        text = f"escalated {current.severity} -> {level}: {reason.strip()}" if reason.strip() else (
            f"escalated {current.severity} -> {level}")
        return self._save(current, updated, "incident.escalated", note=text)

    def link(
        self, incident_id: str, *, event_ids: Sequence[str] = (), alert_ids: Sequence[str] = (),
        version: int | None = None,
    ) -> Incident:
        """Link evidence events (ids in the store) and alerts to the incident."""
        if not event_ids and not alert_ids:
            raise QueryError("name at least one event or alert to link")
        found = {event["event.id"] for event in self.store.get_events(list(event_ids)) if "event.id" in event}
        missing = [ident for ident in event_ids if ident not in found]
        if missing:
            raise QueryError(f"no stored event with id {', '.join(missing)} (see 'siem search')")
        alerts = [self._alert(ident) for ident in alert_ids]
        current = self._current(incident_id, version)
        updated = dataclasses.replace(current, updated_at=self.clock())
        links = [("event", ident) for ident in event_ids] + [("alert", a.id) for a in alerts]
        return self._save(current, updated, "incident.linked", links=links,
                          extra={"events": list(event_ids), "alerts": [a.id for a in alerts]})

    # -- saving ---------------------------------------------------------------------------------

    def _current(self, incident_id: str, version: int | None) -> Incident:
        current = self.get(incident_id)
        if version is not None and version != current.version:
            raise ConflictError(
                f"incident {current.id} was changed by someone else (now version {current.version},"
                f" you had {version}); reload it and try again"
            )
        return current

    def save_change(
        self,
        before: Incident,
        after: Incident,
        action: str,
        *,
        note: str | None = None,
        links: Sequence[tuple[str, str]] = (),
    ) -> Incident:
        """Save ``after`` over ``before`` (ConflictError if it changed since), audited as ``action``."""
        return self._save(before, after, action, note=note, links=links)

    def _save(
        self,
        before: Incident,
        after: Incident,
        action: str,
        *,
        note: str | None = None,
        links: Sequence[tuple[str, str]] = (),
        extra: dict[str, object] | None = None,
    ) -> Incident:
        old, new = changed_fields(before, after)
        if note:
            new["note"] = note
        if extra:
            new.update(extra)
        saved_note = Note(after.id, after.updated_at, self.actor, note) if note else None
        audit = AuditEntry(self.actor, action, target(after.id), old, new)
        return self.store.update_incident(
            after, expected_version=before.version, audit=audit, note=saved_note, links=links
        )

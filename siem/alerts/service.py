"""The alert stage: fold detector alerts into groups, apply suppressions, open or update
incidents, and report what is new so the e-mail stage can notify.

Wire it after the events of a batch are stored (facts are read from the alerts' first events)::

    service = AlertService(store, config)
    result = service.process(alerts)
    dispatcher.submit(result.to_notify, result.incident_ids)

Replays are harmless: an alert already folded is counted as a duplicate and changes nothing,
except that a group it started whose incident or mail a crash cut off (the groups are stored
before the incident and the outbox are written) gets them now (``recovered``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from siem import event as ecs
from siem.alert import Alert
from siem.alerts import grouping
from siem.alerts.suppression import Suppression, matches
from siem.config import Config
from siem.errors import ConflictError
from siem.incidents.model import CLOSED_STATUSES, Incident, severity_rank
from siem.incidents.service import Clock, IncidentService
from siem.store.base import IncidentQuery, Store

log = logging.getLogger(__name__)

#: The audit-log actor of changes the pipeline makes by itself.
SYSTEM_ACTOR = "siem"
_CONFLICT_RETRIES = 5


@dataclass
class ProcessResult:
    """What one call of :meth:`AlertService.process` changed."""

    #: Group alerts created or grown by this call (suppressed ones excluded).
    alerts: list[Alert] = field(default_factory=list)
    #: Ids of the groups in ``alerts`` that this call created.
    new_alert_ids: set[str] = field(default_factory=set)
    #: Group alerts silenced, with the suppression id.
    suppressed: list[tuple[Alert, str]] = field(default_factory=list)
    opened: list[Incident] = field(default_factory=list)
    reopened: list[Incident] = field(default_factory=list)
    #: Incidents whose severity a higher-level alert raised.
    escalated: list[Incident] = field(default_factory=list)
    #: Incident id by group alert id, for every alert in ``alerts`` that has one.
    incident_ids: dict[str, str] = field(default_factory=dict)
    #: Alerts already folded before (a replay).
    duplicates: int = 0
    #: Groups that replayed alerts had started (not in ``alerts``): their mail may not have been
    #: queued before a crash (the dispatcher skips immediate mail already in its outbox).
    recovered: list[Alert] = field(default_factory=list)

    @property
    def to_notify(self) -> list[Alert]:
        """Alerts worth a message: new groups, and groups that reopened or escalated an incident."""
        changed = {incident.id for incident in (*self.opened, *self.reopened, *self.escalated)}
        return [
            alert for alert in self.alerts
            if alert.id in self.new_alert_ids or self.incident_ids.get(alert.id) in changed
        ]


@dataclass
class _Group:
    alert: Alert
    entity: str
    added: int = 0
    is_new: bool = False


class AlertService:
    """Grouping, suppression and incident handling for alerts from the detector."""

    def __init__(self, store: Store, config: Config, clock: Clock = time.time, actor: str = SYSTEM_ACTOR) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.incidents = IncidentService(store, actor, clock)

    def process(self, alerts: Sequence[Alert]) -> ProcessResult:
        """Fold, suppress, store, and open/update/reopen incidents for ``alerts``."""
        result = ProcessResult()
        unique = list({alert.id: alert for alert in alerts}.values())
        known = self.store.folded_alert_ids([alert.id for alert in unique])
        fresh = sorted((a for a in unique if a.id not in known), key=lambda a: (a.first_seen, a.id))
        result.duplicates = len(alerts) - len(fresh)
        if known:
            self._recover([a for a in unique if a.id in known], result)
        if not fresh:
            return result
        now = self.clock()
        events = self._first_events(fresh)
        active = self.store.suppressions(active_at=now)
        window = self.config.alerts.window_minutes * 60.0
        groups: dict[tuple[str, str, str | None], _Group] = {}
        members: dict[str, str] = {}
        for alert in fresh:
            fields = grouping.group_fields(self.config.alerts, alert)
            first_event = events.get(alert.event_ids[0]) if alert.event_ids else None
            facts = grouping.alert_facts(alert, first_event, fields)
            entity = grouping.entity_key(alert, facts, fields)
            key = grouping.group_key(alert.rule_id, entity)
            suppression = _first_match(active, alert, facts, now)
            slot = (alert.rule_id, key, suppression.id if suppression else None)
            group = groups.get(slot)
            if group is None:
                stored = self.store.alert_group(alert.rule_id, key, slot[2])
                group = _Group(stored, entity) if stored is not None else None
            if group is not None and grouping.fits(group.alert, alert, window):
                group.alert = grouping.fold(group.alert, alert)
                group.added += alert.count
            else:
                group = _Group(grouping.start_group(alert, key, slot[2]), entity, alert.count, True)
            groups[slot] = group
            members[alert.id] = group.alert.id
        suppressed = {g.alert.id: slot[2] for slot, g in groups.items() if slot[2] is not None}
        self.store.save_alert_groups([g.alert for g in groups.values()], members, suppressed)
        for slot, group in groups.items():
            if slot[2] is not None:
                result.suppressed.append((group.alert, slot[2]))
                continue
            result.alerts.append(group.alert)
            if group.is_new:
                result.new_alert_ids.add(group.alert.id)
            if severity_rank(group.alert.level) >= severity_rank(self.config.incidents.min_level):
                self._incident_for(group, result)
        return result

    def _recover(self, replayed: Sequence[Alert], result: ProcessResult) -> None:
        """Finish what a crash cut off for groups that ``replayed`` alerts started: open the
        missing incident and report the group for mail (each at most once, so a plain replay
        changes nothing)."""
        now = self.clock()
        events = self._first_events(replayed)
        active = self.store.suppressions(active_at=now)
        for alert in replayed:
            fields = grouping.group_fields(self.config.alerts, alert)
            first_event = events.get(alert.event_ids[0]) if alert.event_ids else None
            facts = grouping.alert_facts(alert, first_event, fields)
            entity = grouping.entity_key(alert, facts, fields)
            key = grouping.group_key(alert.rule_id, entity)
            suppression = _first_match(active, alert, facts, now)
            if suppression is not None:
                continue
            group_alert = self.store.get_alert(grouping.start_group(alert, key, None).id)
            if group_alert is None or any(group_alert.id == seen.id for seen in result.recovered):
                continue  # the alert folded into a group another alert started
            result.recovered.append(group_alert)
            if severity_rank(group_alert.level) < severity_rank(self.config.incidents.min_level):
                continue
            incident = self.store.incident_for_alert(group_alert.id)
            if incident is not None:
                result.incident_ids[group_alert.id] = incident.id
            else:
                log.warning("alert %s: opening the incident a crash cut off", group_alert.id)
                self._incident_for(_Group(group_alert, entity, 0, True), result)

    def _first_events(self, alerts: Sequence[Alert]) -> dict[str, ecs.Event]:
        ids = [alert.event_ids[0] for alert in alerts if alert.event_ids]
        return {str(event[ecs.ID]): event for event in self.store.get_events(ids) if ecs.ID in event}

    # -- incidents ------------------------------------------------------------------------------

    def _incident_for(self, group: _Group, result: ProcessResult) -> None:
        for _attempt in range(_CONFLICT_RETRIES):
            try:
                self._attach(group, result)
                return
            except ConflictError:
                continue  # an officer changed it meanwhile: read it again and redo
        log.error("incident for alert %s kept changing under us; alert stored without it", group.alert.id)

    def _attach(self, group: _Group, result: ProcessResult) -> None:
        alert = group.alert
        incident = self.store.incident_for_alert(alert.id)
        if incident is None:
            incident = self._open_incident_of(alert, group.entity)
        if incident is None:
            opened = self.incidents.open_from_alert(alert, group.entity)
            if opened is not None:
                result.opened.append(opened)
                result.incident_ids[alert.id] = opened.id
            else:
                again = self.store.incident_for_alert(alert.id)
                if again is not None:
                    result.incident_ids[alert.id] = again.id
            return
        result.incident_ids[alert.id] = incident.id
        updated = dataclasses.replace(
            incident,
            updated_at=self.clock(),
            first_alert_at=_earliest(incident.first_alert_at, alert.first_seen),
            last_alert_at=max(incident.last_alert_at or alert.last_seen, alert.last_seen),
            alert_count=incident.alert_count + group.added,
        )
        action = "incident.alert_added"
        note: str | None = None
        reopened = incident.status in CLOSED_STATUSES
        if reopened:
            updated.status = "new"
            updated.resolved_at = None
            updated.opened_at = updated.updated_at
            updated.reopen_count += 1
            action = "incident.reopened"
            note = f"reopened: alert returned ({alert.summary})"
        raised = severity_rank(alert.level) > incident.severity_rank
        if raised:
            updated.severity = alert.level
            if not reopened:
                action = "incident.escalated"
            note = (note + "; " if note else "") + f"severity raised {incident.severity} -> {alert.level} by alert"
        saved = self.incidents.save_change(incident, updated, action, note=note, links=[("alert", alert.id)])
        if reopened:
            result.reopened.append(saved)
        if raised:
            result.escalated.append(saved)

    def _open_incident_of(self, alert: Alert, entity: str) -> Incident | None:
        """The latest incident of the same rule and entity whose last alert is within the window
        (a closed one is then reopened: the same attack came back)."""
        window = self.config.incidents.window_minutes * 60.0
        candidates = self.store.find_incidents(
            IncidentQuery(rule_id=alert.rule_id, entity=entity, limit=50)
        )
        fitting = [
            incident for incident in candidates
            if incident.last_alert_at is None or alert.first_seen <= incident.last_alert_at + window
        ]
        return max(fitting, key=lambda incident: incident.last_alert_at or 0.0, default=None)


def _first_match(active: Sequence[Suppression], alert: Alert, facts: dict[str, Any], now: float) -> Suppression | None:
    return next((s for s in active if matches(s, alert, facts, now)), None)


def _earliest(current: float | None, candidate: float) -> float:
    return candidate if current is None else min(current, candidate)

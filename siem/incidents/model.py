"""The incident record, its notes, and the lifecycle rules (which status may follow which).

Lifecycle: new -> acknowledged -> investigating -> resolved | false_positive; a closed incident
is reopened (back to new) by hand or when one of its alert groups returns.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from siem.alert import LEVELS
from siem.errors import TransitionError

NEW = "new"
ACKNOWLEDGED = "acknowledged"
INVESTIGATING = "investigating"
RESOLVED = "resolved"
FALSE_POSITIVE = "false_positive"

STATUSES = (NEW, ACKNOWLEDGED, INVESTIGATING, RESOLVED, FALSE_POSITIVE)
OPEN_STATUSES = (NEW, ACKNOWLEDGED, INVESTIGATING)
CLOSED_STATUSES = (RESOLVED, FALSE_POSITIVE)

#: status -> the statuses it may move to (reopen is its own action, from a closed status).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    NEW: (ACKNOWLEDGED, INVESTIGATING, RESOLVED, FALSE_POSITIVE),
    ACKNOWLEDGED: (INVESTIGATING, RESOLVED, FALSE_POSITIVE),
    INVESTIGATING: (RESOLVED, FALSE_POSITIVE),
    RESOLVED: (NEW,),
    FALSE_POSITIVE: (NEW,),
}


@dataclass(slots=True)
class Incident:
    """One case: related alerts, who handles it, where it stands. Times are epoch seconds."""

    id: str
    title: str
    status: str
    severity: str
    #: Wall-clock times of the lifecycle.
    created_at: float
    updated_at: float
    #: When it was opened or last reopened (the SLA clock starts here).
    opened_at: float
    rule_id: str | None = None
    #: The group-by values of its alerts, e.g. ``source.ip=203.0.113.9``.
    entity: str = ""
    site: str | None = None
    zone: str | None = None
    assignee: str | None = None
    summary: str = ""
    acknowledged_at: float | None = None
    resolved_at: float | None = None
    #: Event times of its first and last alert.
    first_alert_at: float | None = None
    last_alert_at: float | None = None
    #: Matches folded into its alerts.
    alert_count: int = 0
    reopen_count: int = 0
    #: Bumped by every change; an update naming an older version lost a race.
    version: int = 1

    @property
    def is_open(self) -> bool:
        """Not resolved and not a false positive."""
        return self.status in OPEN_STATUSES

    @property
    def severity_rank(self) -> int:
        """0 (informational) to 4 (critical)."""
        return severity_rank(self.severity)

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON-safe dict."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class Note:
    """Free text an officer (or siem itself) added to an incident."""

    incident_id: str
    at: float
    author: str
    text: str


def severity_rank(level: str) -> int:
    """0 (informational) to 4 (critical); unknown levels rank lowest."""
    return LEVELS.index(level) if level in LEVELS else 0


def check_transition(incident: Incident, target: str) -> None:
    """Raise TransitionError unless ``incident`` may move to ``target``."""
    if target in TRANSITIONS[incident.status]:
        return
    if incident.status in CLOSED_STATUSES:
        hint = "reopen it first"
    elif target == incident.status:
        hint = "nothing to change"
    else:
        hint = f"it can go to: {', '.join(TRANSITIONS[incident.status])}"
    raise TransitionError(f"incident {incident.id} is {incident.status}; cannot make it {target} ({hint})")


def changed_fields(before: Incident, after: Incident) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields that differ, as (before, after) dicts for the audit log."""
    old = before.to_dict()
    new = after.to_dict()
    keys = [key for key in new if old[key] != new[key] and key not in ("updated_at", "version")]
    return {key: old[key] for key in keys}, {key: new[key] for key in keys}

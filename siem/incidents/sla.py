"""Service levels: time to acknowledge and to resolve, and whether an incident is overdue."""

from __future__ import annotations

from dataclasses import dataclass

from siem.incidents.config import SlaTable
from siem.incidents.model import NEW, Incident


@dataclass(frozen=True, slots=True)
class SlaState:
    """Where an incident stands against its SLA at one moment (seconds; None = not yet)."""

    time_to_acknowledge: float | None
    time_to_resolve: float | None
    acknowledge_due: float
    resolve_due: float
    acknowledge_overdue: bool
    resolve_overdue: bool

    @property
    def overdue(self) -> bool:
        """Either deadline has passed while the incident waited."""
        return self.acknowledge_overdue or self.resolve_overdue


def sla_state(incident: Incident, table: SlaTable, now: float) -> SlaState:
    """The SLA state of ``incident`` at ``now``; deadlines count from when it was (re)opened."""
    sla = table.for_severity(incident.severity)
    ack_due = incident.opened_at + sla.acknowledge_minutes * 60
    resolve_due = incident.opened_at + sla.resolve_minutes * 60
    acked = incident.acknowledged_at
    resolved = incident.resolved_at
    return SlaState(
        time_to_acknowledge=None if acked is None else max(0.0, acked - incident.created_at),
        time_to_resolve=None if resolved is None else max(0.0, resolved - incident.created_at),
        acknowledge_due=ack_due,
        resolve_due=resolve_due,
        acknowledge_overdue=incident.status == NEW and now > ack_due,
        resolve_overdue=incident.is_open and now > resolve_due,
    )

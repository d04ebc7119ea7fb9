"""Configuration of incidents (the ``incidents:`` section of siem.yaml): windows and SLAs.

Default service levels (time to acknowledge / time to resolve, counted from when the incident
was opened or reopened): critical 15 min / 4 h, high 1 h / 24 h, medium 8 h / 72 h,
low 24 h / 7 days, informational 24 h / 7 days.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from siem.alert import LEVELS
from siem.errors import ConfigError


@dataclass(frozen=True, slots=True)
class SlaConfig:
    """Minutes allowed to acknowledge and to resolve an incident of one severity."""

    acknowledge_minutes: int
    resolve_minutes: int


def _sla(acknowledge: int, resolve: int) -> SlaConfig:
    return SlaConfig(acknowledge_minutes=acknowledge, resolve_minutes=resolve)


@dataclass(frozen=True, slots=True)
class SlaTable:
    """One SLA per severity."""

    critical: SlaConfig = field(default_factory=lambda: _sla(15, 4 * 60))
    high: SlaConfig = field(default_factory=lambda: _sla(60, 24 * 60))
    medium: SlaConfig = field(default_factory=lambda: _sla(8 * 60, 72 * 60))
    low: SlaConfig = field(default_factory=lambda: _sla(24 * 60, 7 * 24 * 60))
    informational: SlaConfig = field(default_factory=lambda: _sla(24 * 60, 7 * 24 * 60))

    def for_severity(self, severity: str) -> SlaConfig:
        """The SLA of ``severity`` (unknown severities get the informational one)."""
        match severity:
            case "critical":
                return self.critical
            case "high":
                return self.high
            case "medium":
                return self.medium
            case "low":
                return self.low
        return self.informational


@dataclass(frozen=True, slots=True)
class IncidentsConfig:
    """When alerts open incidents, and how fast incidents must be handled."""

    #: An alert joins an open incident of the same rule and entity whose last alert is at most
    #: this many minutes older (event time); otherwise it opens a new incident.
    window_minutes: int = 60
    #: Alerts below this level are stored (see `siem alerts list`) but open no incident: one
    #: failed login is not a case, the brute-force correlation over them is.
    min_level: str = "medium"
    sla: SlaTable = field(default_factory=SlaTable)

    def __post_init__(self) -> None:
        if self.min_level not in LEVELS:
            raise ConfigError(f"incidents.min_level must be one of {', '.join(LEVELS)}, not {self.min_level!r}")
        if self.window_minutes < 0:
            raise ConfigError("incidents.window_minutes must not be negative")

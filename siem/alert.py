"""The alert: one Sigma rule match (or a folded group of them), as the store keeps it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LEVELS = ("informational", "low", "medium", "high", "critical")


@dataclass(slots=True)
class Alert:
    """A rule match. ``id`` is stable for the same rule and events, so replays fold in."""

    id: str
    rule_id: str
    rule_title: str
    level: str
    #: Event time (epoch seconds) of the first and last matching event.
    first_seen: float
    last_seen: float
    event_ids: tuple[str, ...] = ()
    #: The fields of the event that the rule's detection referred to.
    matched_fields: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    site: str | None = None
    zone: str | None = None
    summary: str = ""
    #: How many matches folded into this alert.
    count: int = 1
    #: Key of the grouping window (rule + entity) this alert belongs to.
    group_key: str = ""

    @property
    def severity_rank(self) -> int:
        """0 (informational) to 4 (critical), for sorting."""
        return LEVELS.index(self.level) if self.level in LEVELS else 0

"""Configuration of alert grouping (the ``alerts:`` section of siem.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Fields that name "who against what" when a rule has no ``group_by`` entry of its own.
DEFAULT_GROUP_BY = ("source.ip", "destination.ip", "host.name")


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    """How alerts fold together.

    Alerts of the same rule whose group-by fields have the same values fold into one alert
    (with a count, first and last seen) while each arrives within ``window_minutes`` (event
    time) of the group's last one.
    """

    window_minutes: int = 15
    #: Rule id or title glob -> the fields that key its groups, e.g.
    #: ``{"SSH brute force*": [source.ip, destination.ip]}``. First matching entry wins.
    group_by: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Group-by fields of rules that ``group_by`` does not name (absent fields are skipped).
    default_group_by: tuple[str, ...] = DEFAULT_GROUP_BY

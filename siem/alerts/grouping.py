"""Grouping: alerts of one rule against one entity, close together in event time, fold into one.

The entity is the values of the rule's group-by fields (``alerts.group_by`` in the config,
else ``alerts.default_group_by``), read from the alert's matched fields, then from its first
event. A correlation alert (e.g. a brute-force count per source address) already names its
group, so only its own group fields are used: every window of the same burst then lands in
the same group instead of splitting by whichever event happened to come first.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Mapping
from typing import Any

from siem.alert import Alert
from siem.alerts.config import AlertsConfig
from siem.event import make_event_id

#: Fields kept as "facts" of an alert: its entity candidates and the addresses suppressions test.
FACT_FIELDS = (
    "source.ip",
    "destination.ip",
    "host.name",
    "host.ip",
    "observer.ip",
    "user.name",
    "labels.asset_name",
    "labels.asset_owner",
)


def group_fields(config: AlertsConfig, alert: Alert) -> tuple[str, ...]:
    """The group-by fields of ``alert``'s rule: the first matching ``group_by`` entry, else default."""
    for pattern, fields in config.group_by.items():
        if pattern == alert.rule_id or fnmatch.fnmatchcase(alert.rule_title, pattern):
            return fields
    return config.default_group_by


def is_correlation(alert: Alert) -> bool:
    """Whether ``alert`` came from a correlation rule (its builder key names the group)."""
    return "|" in alert.group_key


def alert_facts(alert: Alert, event: Mapping[str, Any] | None, fields: tuple[str, ...]) -> dict[str, Any]:
    """Field values that describe the alert: matched fields first, then its first event."""
    facts: dict[str, Any] = {}
    for name in dict.fromkeys((*fields, *FACT_FIELDS)):
        if name in alert.matched_fields and alert.matched_fields[name] not in (None, ""):
            facts[name] = alert.matched_fields[name]
        elif event is not None and name in event and event[name] not in (None, ""):
            facts[name] = event[name]
    return facts


def entity_key(alert: Alert, facts: Mapping[str, Any], fields: tuple[str, ...]) -> str:
    """``field=value,...`` over the group-by fields the alert has (empty when it has none)."""
    if is_correlation(alert):
        own = [name for name in fields if name in alert.matched_fields]
        names = own or sorted(alert.matched_fields)
        return ",".join(f"{name}={alert.matched_fields[name]}" for name in names)
    return ",".join(f"{name}={facts[name]}" for name in fields if name in facts)


def group_key(rule_id: str, entity: str) -> str:
    """The stored ``group_key`` of a group alert."""
    return f"{rule_id}|{entity}"


def fits(group: Alert, alert: Alert, window_seconds: float) -> bool:
    """Whether ``alert`` lies within the window of ``group`` (event time, either direction)."""
    return (
        alert.first_seen <= group.last_seen + window_seconds
        and alert.last_seen >= group.first_seen - window_seconds
    )


def start_group(alert: Alert, key: str, suppression_id: str | None) -> Alert:
    """A new group alert holding ``alert`` (id stable for the same first alert)."""
    return dataclasses.replace(
        alert,
        id=make_event_id("alert-group", key, alert.id, suppression_id or ""),
        group_key=key,
        matched_fields=dict(alert.matched_fields),
    )


def fold(group: Alert, alert: Alert) -> Alert:
    """``group`` with ``alert`` folded in: count added, time span widened, highest level kept."""
    level = alert.level if alert.severity_rank > group.severity_rank else group.level
    matched = {**alert.matched_fields, **group.matched_fields}
    return dataclasses.replace(
        group,
        level=level,
        first_seen=min(group.first_seen, alert.first_seen),
        last_seen=max(group.last_seen, alert.last_seen),
        event_ids=tuple(dict.fromkeys((*group.event_ids, *alert.event_ids))),
        matched_fields=matched,
        tags=tuple(dict.fromkeys((*group.tags, *alert.tags))),
        site=group.site or alert.site,
        zone=group.zone or alert.zone,
        summary=alert.summary if alert.last_seen >= group.last_seen else group.summary,
        count=group.count + alert.count,
    )

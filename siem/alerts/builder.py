"""Turn detection matches into Alerts with stable ids, so a replay folds into the same alerts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from siem import event as ecs
from siem.alert import Alert
from siem.detect.model import CorrelationMatch, Match, RuleInfo
from siem.event import make_event_id, timestamp_ms

#: Fields that say who did what to whom, shown in the summary when present.
_ACTOR_FIELDS = (ecs.SOURCE_IP, ecs.USER_NAME)
_TARGET_FIELDS = ("labels.asset_name", ecs.DESTINATION_IP, ecs.HOST_NAME, "Computer", ecs.OBSERVER_HOSTNAME)


def alert_from_match(match: Match) -> Alert:
    """One alert for one rule matching one event."""
    event = match.event
    moment = timestamp_ms(event, 0) / 1000
    event_id = str(event.get(ecs.ID, ""))
    return Alert(
        id=make_event_id("alert", match.rule.id, event_id),
        rule_id=match.rule.id,
        rule_title=match.rule.title,
        level=match.rule.level,
        first_seen=moment,
        last_seen=moment,
        event_ids=(event_id,) if event_id else (),
        matched_fields=dict(match.matched_fields) or _rule_fields(match.rule, event),
        tags=match.rule.tags,
        site=event.get(ecs.LABEL_SITE),
        zone=event.get(ecs.LABEL_ZONE),
        summary=summarize(match.rule.title, event),
        group_key=match.rule.id,
    )


def alert_from_correlation(match: CorrelationMatch) -> Alert:
    """One alert for a correlation rule whose condition was met.

    An update (a hit absorbed by an earlier match, ``match.update``) gives an alert of its one
    event, with an id of its own (so a replay folds it once) and the summary of the whole burst
    so far; grouping folds it into the earlier match's group, which grows in count and time.
    """
    event_ids = tuple(str(m.event.get(ecs.ID, "")) for m in match.matches)
    group = ",".join(f"{key}={value}" for key, value in sorted(match.group.items()))
    last_event = match.matches[-1].event if match.matches else {}
    summary = summarize(match.rule.title, last_event)
    if match.value is not None:
        summary += f": {match.value:g} in {max(match.last_time - match.first_time, 0):.0f}s"
    first = event_ids[0] if event_ids else str(match.last_time if match.update else match.first_time)
    return Alert(
        id=make_event_id("alert-update" if match.update else "alert", match.rule.id, group, first),
        rule_id=match.rule.id,
        rule_title=match.rule.title,
        level=match.rule.level,
        first_seen=match.last_time if match.update else match.first_time,
        last_seen=match.last_time,
        event_ids=event_ids,
        matched_fields=dict(match.group),
        tags=match.rule.tags,
        site=last_event.get(ecs.LABEL_SITE),
        zone=last_event.get(ecs.LABEL_ZONE),
        summary=summary,
        count=len(match.matches) or 1,
        group_key=f"{match.rule.id}|{group}",
    )


def alerts_from(matches: Iterable[Match], correlations: Iterable[CorrelationMatch] = ()) -> list[Alert]:
    """Alerts for the matches of rules that generate alerts, and for correlation matches."""
    alerts = [alert_from_match(match) for match in matches if match.rule.generate]
    alerts.extend(alert_from_correlation(match) for match in correlations if match.rule.generate)
    return alerts


def summarize(title: str, event: Mapping[str, Any]) -> str:
    """``"<title> on <target> (<site>) from <actor>"`` with the parts the event has."""
    parts = [title]
    target = _first_present(event, _TARGET_FIELDS)
    if target is not None:
        parts.append(f"on {target}")
    site = event.get(ecs.LABEL_SITE)
    if site:
        parts.append(f"({site})")
    actor = _first_present(event, _ACTOR_FIELDS)
    if actor is not None:
        parts.append(f"from {actor}")
    return " ".join(parts)


def _first_present(event: Mapping[str, Any], names: Iterable[str]) -> Any:
    for name in names:
        value = event.get(name)
        if value not in (None, ""):
            return value
    return None


def _rule_fields(rule: RuleInfo, event: Mapping[str, Any]) -> dict[str, Any]:
    return {name: event[name] for name in rule.fields if name in event}

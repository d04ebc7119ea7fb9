"""Alerts built from matches: stable ids, summaries, correlation counts."""

from __future__ import annotations

from siem.alerts.builder import alerts_from, summarize
from siem.detect.model import CorrelationMatch, Logsource, Match, RuleInfo

RULE = RuleInfo("r-1", "SSH brute force", "high", "stable", ("attack.t1110",), Logsource("linux"), None)
QUIET = RuleInfo("r-2", "Failed SSH login", "low", "stable", (), Logsource("linux"), None, generate=False)


def event(event_id: str, second: int) -> dict[str, object]:
    return {
        "@timestamp": f"2026-11-25T10:00:{second:02d}.000Z",
        "event.id": event_id,
        "source.ip": "203.0.113.9",
        "labels.asset_name": "ward3-cam-002",
        "labels.site": "ward-3",
        "labels.zone": "camera",
    }


def test_alert_ids_are_stable_across_replays() -> None:
    first = alerts_from([Match(RULE, event("e1", 1))])
    again = alerts_from([Match(RULE, event("e1", 1))])
    other = alerts_from([Match(RULE, event("e2", 1))])
    assert first[0].id == again[0].id != other[0].id
    assert first[0].site == "ward-3" and first[0].zone == "camera"
    assert first[0].event_ids == ("e1",)


def test_rules_that_do_not_generate_make_no_alerts() -> None:
    assert alerts_from([Match(QUIET, event("e1", 1))]) == []


def test_correlation_alert_counts_and_summary() -> None:
    matches = [Match(QUIET, event(f"e{i}", i)) for i in range(5)]
    correlation = CorrelationMatch(RULE, {"source.ip": "203.0.113.9"}, matches, 1_700_000_000.0, 1_700_000_120.0, 5)
    (alert,) = alerts_from([], [correlation])
    assert alert.count == 5
    assert alert.event_ids == tuple(f"e{i}" for i in range(5))
    assert alert.summary == "SSH brute force on ward3-cam-002 (ward-3) from 203.0.113.9: 5 in 120s"
    assert alert.group_key == "r-1|source.ip=203.0.113.9"


def test_summary_uses_what_is_there() -> None:
    assert summarize("Port scan", {}) == "Port scan"
    assert summarize("Port scan", {"destination.ip": "10.1.1.1"}) == "Port scan on 10.1.1.1"

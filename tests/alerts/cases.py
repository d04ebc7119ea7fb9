"""Builders shared by the alert, incident, CLI and triage tests: real events, real rules, a real store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from siem import event as ecs
from siem.alert import Alert
from siem.alerts.builder import alerts_from
from siem.alerts.service import AlertService, ProcessResult
from siem.detect.engine import Detector, detector_for
from siem.detect.loader import load_rules
from siem.detect.model import Logsource, Match, RuleInfo
from siem.store.base import Store

PROJECT = Path(__file__).resolve().parents[2]
RULES = PROJECT / "rules" / "authentication"
BRUTE_FORCE_ID = "cd3f50e7-28d7-43b1-84c0-1476ea6f5efa"
#: 2026-11-20T02:00:00Z, the start of the brute-force regression events.
T0 = 1795140000.0

SSH_RULE = RuleInfo(
    "11111111-0000-4000-8000-000000000001", "SSH login failure", "medium", "stable",
    ("attack.t1110",), Logsource(product="linux", service="sshd"), None,
    fields=("source.ip", "destination.ip", "user.name"),
)


class Clock:
    """A clock tests move by hand (wall time of the service)."""

    def __init__(self, now: float = T0 + 3600) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def ssh_event(index: int, at: float, *, source: str = "203.0.113.9", target: str = "10.2.3.4",
              site: str = "ward-3") -> ecs.Event:
    """A flat sshd failure event as the Linux auth parser makes it."""
    line = f"Failed password for admin from {source} port 4{index:04d} ssh2"
    return {
        ecs.TIMESTAMP: ecs.format_timestamp(at),
        ecs.ID: ecs.make_event_id(line, str(at), target),
        ecs.DATASET: "linux.auth",
        ecs.ORIGINAL: line,
        ecs.SOURCE_IP: source,
        ecs.DESTINATION_IP: target,
        ecs.USER_NAME: "admin",
        ecs.LABEL_SITE: site,
        ecs.LABEL_ZONE: "camera",
        "labels.asset_name": "ward3-cam-002",
        "labels.asset_owner": "Ward 3 nursing office",
        "event.outcome": "failure",
    }


def ssh_alerts(store: Store, events: list[ecs.Event], rule: RuleInfo = SSH_RULE) -> list[Alert]:
    """Store ``events`` and build one alert per event for ``rule`` (as the detector would)."""
    store.write(events)
    return alerts_from([Match(rule, event, matched_fields={
        name: event[name] for name in rule.fields if name in event}) for event in events])


def brute_force_events() -> list[dict[str, Any]]:
    """The camera brute-force regression events shipped with our rules."""
    path = PROJECT / "rules" / "regression_data" / "auth_camera_brute_force" / f"{BRUTE_FORCE_ID}_positive.json"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def camera_detector() -> Detector:
    """The real Sigma engine with our authentication rules."""
    return detector_for(load_rules([RULES]))


def replay(service: AlertService, store: Store, events: list[dict[str, Any]], *, batch: int = 2,
           detector: Detector | None = None) -> Iterator[ProcessResult]:
    """Feed ``events`` in batches: store, detect, then the alert stage, as the pipeline does."""
    engine = detector or camera_detector()
    for start in range(0, len(events), batch):
        chunk = events[start : start + batch]
        store.write(chunk)
        found = engine.detect(chunk)
        yield service.process(alerts_from(found.matches, found.correlations))

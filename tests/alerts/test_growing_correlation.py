"""A continuing brute force grows its correlation alert: the hits the match's quiet period
absorbs fold into the same group (count and last seen), without a new mail each time.

Real rules (rules/authentication), the real detector, a real SQLite store and AlertService.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from siem.alerts import builder
from siem.alerts.detection import AlertingDetector
from siem.alerts.service import AlertService, ProcessResult
from siem.config import Config
from siem.detect.correlation import ALERT_FIELDS
from siem.store.base import AlertQuery
from siem.store.sqlite import SqliteStore
from tests.alerts.cases import BRUTE_FORCE_ID, T0, Clock, camera_detector, ssh_event

ATTEMPTS = 57


@pytest.fixture
def store(data_dir: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(data_dir / "siem.db")
    yield opened
    opened.close()


def attempt(index: int) -> dict[str, object]:
    """A failed SSH login to a camera, as parsed (event category set as the parser does)."""
    return {**ssh_event(index, T0 + 2 * index), "event.category": ["authentication"]}


def run(store: SqliteStore, detector: AlertingDetector, first: int, last: int, batch: int = 10) -> list[ProcessResult]:
    """Failed logins ``first``..``last - 1`` (2 s apart) through store, detector and alert stage."""
    service = AlertService(store, Config(), clock=Clock())
    results = []
    for start in range(first, last, batch):
        events = [attempt(i) for i in range(start, min(start + batch, last))]
        store.write(events)
        results.append(service.process(detector.detect(events)))
    return results


def brute_force_groups(store: SqliteStore) -> list[tuple[int, float, float, str]]:
    return [(a.count, a.first_seen, a.last_seen, a.summary)
            for a in store.find_alerts(AlertQuery(limit=1000)) if a.rule_id == BRUTE_FORCE_ID]


def test_a_continuing_brute_force_grows_one_alert(store: SqliteStore) -> None:
    results = run(store, AlertingDetector(camera_detector()), 0, ATTEMPTS)
    # one group: the match (5 failures) plus the 52 its quiet period absorbed
    [(count, first, last, summary)] = brute_force_groups(store)
    assert count == ATTEMPTS and (first, last) == (T0, T0 + 2 * (ATTEMPTS - 1))
    assert summary.endswith(f"from 203.0.113.9: {ATTEMPTS} in {2 * (ATTEMPTS - 1)}s")
    # mailed once: growing is not news (only new, reopened or escalated groups are)
    notified = [a.id for r in results for a in r.to_notify if a.rule_id == BRUTE_FORCE_ID]
    assert len(notified) == 1
    incident = store.incident_for_alert(notified[0])
    assert incident is not None and incident.alert_count == ATTEMPTS


def test_replayed_updates_fold_once(store: SqliteStore) -> None:
    detector = AlertingDetector(camera_detector())
    run(store, detector, 0, 30)
    saved = detector.state_checkpoints()
    run(store, detector, 30, ATTEMPTS)
    # a crash after the alert stage, before the checkpoint: the restarted detector replays
    # the batches after the saved state, with other batch boundaries
    restarted = AlertingDetector(camera_detector())
    assert restarted.restore(saved.get)
    run(store, restarted, 30, ATTEMPTS, batch=7)
    [(count, _, _, _)] = brute_force_groups(store)
    assert count == ATTEMPTS


def test_hits_keep_every_field_the_alert_summary_reads() -> None:
    read = {*builder._ACTOR_FIELDS, *builder._TARGET_FIELDS, "labels.site", "labels.zone", "event.id"}
    assert read <= set(ALERT_FIELDS)

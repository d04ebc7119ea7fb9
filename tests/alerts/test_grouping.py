"""Grouping and suppression through AlertService on a real SQLite store."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from siem.alerts.config import AlertsConfig
from siem.alerts.service import AlertService
from siem.alerts.suppression import Suppression, check_criteria, in_daily_window
from siem.config import Config
from siem.errors import QueryError
from siem.store.base import AlertQuery, AuditEntry
from siem.store.sqlite import SqliteStore
from tests.alerts.cases import BRUTE_FORCE_ID, T0, Clock, brute_force_events, replay, ssh_alerts, ssh_event


@pytest.fixture
def store(data_dir: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(data_dir / "siem.db")
    yield opened
    opened.close()


def service(store: SqliteStore, clock: Clock | None = None, **alerts: object) -> AlertService:
    config = Config(alerts=AlertsConfig(**alerts))  # type: ignore[arg-type]
    return AlertService(store, config, clock=clock or Clock())


def test_a_burst_folds_into_one_alert_with_count_and_span(store: SqliteStore) -> None:
    events = [ssh_event(i, T0 + 10 * i) for i in range(57)]
    result = service(store).process(ssh_alerts(store, events))
    assert len(result.alerts) == 1
    group = result.alerts[0]
    assert group.count == 57
    assert (group.first_seen, group.last_seen) == (T0, T0 + 560)
    stored = store.get_alert(group.id)
    assert stored is not None and stored.count == 57 and len(stored.event_ids) == 57
    assert len(store.find_alerts(AlertQuery())) == 1
    assert len(result.opened) == 1 and result.incident_ids == {group.id: result.opened[0].id}


def test_batches_within_the_window_fold_and_a_gap_starts_a_new_group(store: SqliteStore) -> None:
    svc = service(store, window_minutes=15)
    first = svc.process(ssh_alerts(store, [ssh_event(i, T0 + i) for i in range(3)]))
    later = svc.process(ssh_alerts(store, [ssh_event(i, T0 + 14 * 60 + i) for i in range(3, 5)]))
    assert later.alerts[0].id == first.alerts[0].id and later.alerts[0].count == 5
    assert later.new_alert_ids == set() and later.to_notify == []
    # 16 minutes after the last one (event time): a new group, but the same open incident.
    gap = svc.process(ssh_alerts(store, [ssh_event(9, T0 + 14 * 60 + 4 + 16 * 60)]))
    assert gap.alerts[0].id != first.alerts[0].id and gap.alerts[0].count == 1
    assert gap.incident_ids[gap.alerts[0].id] == first.incident_ids[first.alerts[0].id]


def test_group_key_follows_the_configured_fields(store: SqliteStore) -> None:
    events = [ssh_event(0, T0, target="10.2.3.4"), ssh_event(1, T0 + 1, target="10.2.3.5")]
    by_default = service(store).process(ssh_alerts(store, events))
    assert len(by_default.alerts) == 2  # destination.ip is part of the default key
    other = SqliteStore(store.path.parent / "other.db")
    try:
        per_source = service(other, group_by={"SSH login*": ("source.ip",)}).process(ssh_alerts(other, events))
        assert len(per_source.alerts) == 1 and per_source.alerts[0].count == 2
        assert per_source.alerts[0].group_key.endswith("|source.ip=203.0.113.9")
    finally:
        other.close()


def test_replayed_alerts_are_duplicates_and_change_nothing(store: SqliteStore) -> None:
    svc = service(store)
    alerts = ssh_alerts(store, [ssh_event(i, T0 + i) for i in range(4)])
    svc.process(alerts)
    again = svc.process(alerts)
    assert again.duplicates == 4 and again.alerts == [] and again.opened == []
    assert store.find_alerts(AlertQuery())[0].count == 4


def test_real_brute_force_replay_opens_one_incident(store: SqliteStore) -> None:
    svc = service(store)
    results = list(replay(svc, store, brute_force_events(), batch=2))
    opened = [incident for result in results for incident in result.opened]
    assert [incident.rule_id for incident in opened] == [BRUTE_FORCE_ID]
    assert opened[0].severity == "high" and opened[0].entity == "source.ip=203.0.113.9"
    notified = [alert.rule_id for result in results for alert in result.to_notify]
    assert notified.count(BRUTE_FORCE_ID) == 1
    # The low-level failed logins are kept as one folded alert, without an incident.
    low = store.find_alerts(AlertQuery(level="low"))
    assert sorted(a.level for a in low) == ["high", "low"]
    assert [a.count for a in low if a.level == "low"] == [len(brute_force_events())]


def suppression(ident: str = "S1", **criteria: object) -> Suppression:
    return Suppression(id=ident, reason="scanner of the IT department", created_by="lan",
                       created_at=T0, **criteria)  # type: ignore[arg-type]


def add(store: SqliteStore, item: Suppression) -> None:
    store.add_suppression(item, AuditEntry("lan", "suppression.created", f"suppression:{item.id}", None,
                                           item.to_dict()))


def test_suppressed_alerts_are_kept_apart_and_open_nothing(store: SqliteStore) -> None:
    add(store, suppression(address="203.0.113.0/24"))
    result = service(store).process(ssh_alerts(store, [ssh_event(i, T0 + i) for i in range(3)]))
    assert result.alerts == [] and result.opened == [] and result.to_notify == []
    assert [(a.count, sid) for a, sid in result.suppressed] == [(3, "S1")]
    assert store.find_alerts(AlertQuery()) == []
    hidden = store.find_alerts(AlertQuery(suppressed=True))
    assert len(hidden) == 1 and store.alert_suppressions([hidden[0].id]) == {hidden[0].id: "S1"}
    assert store.suppressions()[0].hits == 3


def test_suppression_by_rule_site_and_window(store: SqliteStore) -> None:
    add(store, suppression("S-rule", rule="SSH login*", site="ward-9"))
    add(store, suppression("S-night", site="ward-3", between="01:00-03:00"))
    svc = service(store)
    # T0 is 02:00 UTC: inside the night window of ward-3.
    night = svc.process(ssh_alerts(store, [ssh_event(0, T0)]))
    assert [sid for _, sid in night.suppressed] == ["S-night"]
    day = svc.process(ssh_alerts(store, [ssh_event(1, T0 + 6 * 3600)]))
    assert day.suppressed == [] and len(day.alerts) == 1
    ward9 = svc.process(ssh_alerts(store, [ssh_event(2, T0 + 6 * 3600, site="ward-9")]))
    assert [sid for _, sid in ward9.suppressed] == ["S-rule"]


def test_expired_and_removed_suppressions_stop_silencing(store: SqliteStore) -> None:
    clock = Clock(T0)
    add(store, dataclasses.replace(suppression(address="203.0.113.9"), expires_at=T0 + 3600))
    svc = service(store, clock)
    assert len(svc.process(ssh_alerts(store, [ssh_event(0, T0)])).suppressed) == 1
    clock.advance(3601)
    after = svc.process(ssh_alerts(store, [ssh_event(1, T0 + 1)]))
    assert after.suppressed == [] and len(after.alerts) == 1
    add(store, suppression("S2", address="203.0.113.9"))
    removed = store.remove_suppression("S2", at=clock.now, actor="lan")
    assert removed.removed_by == "lan"
    assert svc.process(ssh_alerts(store, [ssh_event(2, T0 + 2)])).suppressed == []
    actions = [entry["action"] for entry in store.audit_log()]
    assert actions.count("suppression.created") == 2 and "suppression.removed" in actions
    with pytest.raises(QueryError, match="already removed"):
        store.remove_suppression("S2", at=clock.now, actor="lan")


def test_suppression_criteria_are_checked() -> None:
    with pytest.raises(QueryError, match="at least one"):
        check_criteria(None, None, None, "01:00-02:00")
    with pytest.raises(QueryError, match="not an IP"):
        check_criteria(None, None, "10.0.0.300", None)
    with pytest.raises(QueryError, match="HH:MM"):
        check_criteria("x", None, None, "25:00-01:00")
    assert in_daily_window("23:00-01:00", T0 - 2 * 3600 - 60 + 3600 * 0)  # 23:59 wraps midnight
    assert not in_daily_window("23:00-01:00", T0)

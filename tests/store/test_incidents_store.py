"""Store methods for incidents, alert groups and suppressions, against every backend (the
``store`` fixture), plus SQLite's schema step 3 upgrading an older file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from siem.alert import Alert
from siem.errors import ConflictError, QueryError
from siem.incidents.model import Incident, Note
from siem.store.base import AlertQuery, AuditEntry, IncidentQuery, Store
from siem.store.sqlite import SqliteStore
from siem.store.sqlite.migrations import migrate

NOW = 1795140000.0


def incident(ident: str, severity: str, *, opened: float, status: str = "new", site: str = "ward-3",
             assignee: str | None = None) -> Incident:
    return Incident(id=ident, title=f"case {ident}", status=status, severity=severity, created_at=opened,
                    updated_at=opened, opened_at=opened, rule_id="r1", entity="source.ip=1.2.3.4",
                    site=site, assignee=assignee)


def opened(ident: str) -> AuditEntry:
    return AuditEntry("siem", "incident.opened", f"incident:{ident}", None, {"id": ident})


def test_step_three_upgrades_a_version_two_file_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, location=str(path), target=2) == 2
    conn.execute("INSERT INTO incidents (id, title, status, severity, created_at, updated_at)"
                 " VALUES ('INC-OLD', 'old case', 'new', 'high', 1, 1)")
    conn.close()
    store = SqliteStore(path)
    try:
        old = store.get_incident("inc-old")
        assert old is not None and old.version == 1 and old.opened_at == 1 and old.entity == ""
        assert store.suppressions() == []
    finally:
        store.close()


def test_incidents_round_trip_sort_and_filter(store: Store) -> None:
    for item in (incident("A", "medium", opened=NOW), incident("B", "critical", opened=NOW + 5),
                 incident("C", "critical", opened=NOW + 1, site="icu", assignee="minh"),
                 incident("D", "low", opened=NOW, status="resolved")):
        assert store.insert_incident(item, alert_ids=["al-" + item.id], audit=opened(item.id))
    assert not store.insert_incident(incident("A", "high", opened=NOW), alert_ids=[], audit=opened("A"))
    assert [i.id for i in store.find_incidents(IncidentQuery())] == ["C", "B", "A", "D"]
    assert [i.id for i in store.find_incidents(IncidentQuery(statuses=("new",), severity="high"))] == ["C", "B"]
    assert [i.id for i in store.find_incidents(IncidentQuery(site="icu"))] == ["C"]
    assert [i.id for i in store.find_incidents(IncidentQuery(assignee="minh"))] == ["C"]
    assert store.incident_for_alert("al-B") == incident("B", "critical", opened=NOW + 5)
    assert [e["action"] for e in store.audit_log()].count("incident.opened") == 4


def test_update_is_atomic_with_note_links_and_audit(store: Store) -> None:
    store.insert_incident(incident("A", "medium", opened=NOW), alert_ids=[], audit=opened("A"))
    current = store.get_incident("A")
    assert current is not None
    current.assignee = "lan"
    saved = store.update_incident(
        current, expected_version=1, audit=AuditEntry("lan", "incident.assigned", "incident:A", {}, {}),
        note=Note("A", NOW, "lan", "mine"), links=[("event", "e1")])
    assert saved.version == 2
    with pytest.raises(ConflictError, match="reload"):
        store.update_incident(current, expected_version=1,
                              audit=AuditEntry("x", "incident.assigned", "incident:A", {}, {}),
                              note=Note("A", NOW, "x", "lost"))
    assert [n.text for n in store.incident_notes("A")] == ["mine"]
    assert [e["actor"] for e in store.audit_log("incident:A")] == ["lan", "siem"]
    assert store.incident_links("A", "event") == ["e1"]
    ghost = incident("Z", "low", opened=NOW)
    with pytest.raises(QueryError, match="no incident Z"):
        store.update_incident(ghost, expected_version=1,
                              audit=AuditEntry("x", "incident.note", "incident:Z", {}, {}))


def test_alert_prefix_lookup_and_level_filter(store: Store) -> None:
    alerts = [Alert(id=f"abcdef{n}0", rule_id="r", rule_title="t", level=level, first_seen=NOW,
                    last_seen=NOW + n, event_ids=(f"e{n}",), group_key="r|x")
              for n, level in enumerate(("low", "high"))]
    store.save_alert_groups(alerts, {"raw-0": "abcdef00", "raw-1": "abcdef10"}, {})
    assert store.folded_alert_ids(["raw-0", "raw-9"]) == {"raw-0"}
    found = store.get_alert("abcdef1")
    assert found is not None and found.event_ids == ("e1",)
    with pytest.raises(QueryError, match="ambiguous"):
        store.get_alert("abcdef")
    assert [a.level for a in store.find_alerts(AlertQuery(level="high"))] == ["high"]
    assert store.alert_group("r", "r|x", None) == Alert(
        id="abcdef10", rule_id="r", rule_title="t", level="high", first_seen=NOW, last_seen=NOW + 1,
        group_key="r|x")

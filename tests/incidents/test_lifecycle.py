"""Incident lifecycle, reopen, escalation, SLA, audit and concurrency on real SQLite files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from siem.alerts.service import AlertService
from siem.config import Config
from siem.errors import ConflictError, QueryError, TransitionError
from siem.incidents.config import SlaTable
from siem.incidents.model import Incident
from siem.incidents.service import IncidentService
from siem.incidents.sla import sla_state
from siem.store.sqlite import SqliteStore
from tests.alerts.cases import SSH_RULE, T0, Clock, ssh_alerts, ssh_event


@pytest.fixture
def store(data_dir: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(data_dir / "siem.db")
    yield opened
    opened.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def open_incident(store: SqliteStore, clock: Clock, count: int = 3) -> Incident:
    result = AlertService(store, Config(), clock=clock).process(
        ssh_alerts(store, [ssh_event(i, T0 + i) for i in range(count)]))
    assert len(result.opened) == 1
    return result.opened[0]


def actions(store: SqliteStore, incident: Incident) -> list[str]:
    return [entry["action"] for entry in reversed(store.audit_log(f"incident:{incident.id}"))]


def test_full_lifecycle_is_audited_with_before_and_after(store: SqliteStore, clock: Clock) -> None:
    incident = open_incident(store, clock)
    officer = IncidentService(store, "lan", clock)
    clock.advance(300)
    acked = officer.acknowledge(incident.id)
    assert acked.status == "acknowledged" and acked.acknowledged_at == clock.now
    officer.assign(incident.id, "minh")
    officer.investigate(incident.id)
    officer.note(incident.id, "Camera firmware 5.4; password changed.")
    clock.advance(3600)
    done = officer.resolve(incident.id, reason="blocked 203.0.113.9 at the firewall")
    assert done.status == "resolved" and done.assignee == "minh"
    assert actions(store, incident) == [
        "incident.opened", "incident.acknowledged", "incident.assigned", "incident.investigating",
        "incident.note", "incident.resolved",
    ]
    log = store.audit_log(f"incident:{incident.id}")
    assert {entry["actor"] for entry in log[:5]} == {"lan"}
    assigned = next(entry for entry in log if entry["action"] == "incident.assigned")
    assert assigned["before"] == {"assignee": None} and assigned["after"] == {"assignee": "minh"}
    assert [note.text for note in store.incident_notes(incident.id)] == [
        "Camera firmware 5.4; password changed.", "blocked 203.0.113.9 at the firewall"]
    state = sla_state(done, SlaTable(), clock.now)
    assert state.time_to_acknowledge == 300 and state.time_to_resolve == 3900 and not state.overdue


@pytest.mark.parametrize(
    ("steps", "target", "message"),
    [
        ((), "investigating-then-ack", "cannot make it acknowledged"),
        (("resolve",), "ack", "reopen it first"),
        (("resolve",), "resolve", "reopen it first"),
        (("ack",), "ack", "nothing to change"),
        ((), "reopen", "cannot make it new"),
    ],
)
def test_invalid_transitions_are_clear_errors(
    store: SqliteStore, clock: Clock, steps: tuple[str, ...], target: str, message: str
) -> None:
    incident = open_incident(store, clock)
    officer = IncidentService(store, "lan", clock)
    run = {"ack": officer.acknowledge, "resolve": officer.resolve, "reopen": officer.reopen}
    for step in steps:
        run[step](incident.id)
    if target == "investigating-then-ack":
        officer.investigate(incident.id)
        target = "ack"
    before = len(store.audit_log())
    with pytest.raises(TransitionError, match=message):
        run[target](incident.id)
    assert len(store.audit_log()) == before  # nothing changed, nothing audited


def test_returning_alert_reopens_a_resolved_incident(store: SqliteStore, clock: Clock) -> None:
    incident = open_incident(store, clock)
    IncidentService(store, "lan", clock).resolve(incident.id, false_positive=False)
    clock.advance(600)
    service = AlertService(store, Config(), clock=clock)
    result = service.process(ssh_alerts(store, [ssh_event(10, T0 + 120)]))
    assert [i.id for i in result.reopened] == [incident.id]
    assert result.to_notify and result.opened == []
    reopened = store.get_incident(incident.id)
    assert reopened is not None
    assert (reopened.status, reopened.reopen_count, reopened.resolved_at, reopened.opened_at) == (
        "new", 1, None, clock.now)
    assert reopened.alert_count == 4
    assert actions(store, incident)[-1] == "incident.reopened"


def test_same_attack_after_resolve_reopens_within_the_window_else_opens_anew(
    store: SqliteStore, clock: Clock
) -> None:
    incident = open_incident(store, clock)  # alerts at T0 .. T0+2
    IncidentService(store, "lan", clock).resolve(incident.id)
    service = AlertService(store, Config(), clock=clock)
    # 30 minutes later (event time): a new alert group, but within the 60-minute incident window.
    back = service.process(ssh_alerts(store, [ssh_event(11, T0 + 1800)]))
    assert back.new_alert_ids and [i.id for i in back.reopened] == [incident.id]
    IncidentService(store, "lan", clock).resolve(incident.id)
    # Three hours after the last alert: a new incident.
    later = service.process(ssh_alerts(store, [ssh_event(12, T0 + 1800 + 3 * 3600)]))
    assert later.reopened == [] and len(later.opened) == 1 and later.opened[0].id != incident.id


def test_higher_level_alert_escalates_and_officer_escalation_adds_a_note(
    store: SqliteStore, clock: Clock
) -> None:
    from dataclasses import replace

    incident = open_incident(store, clock)
    critical = replace(SSH_RULE, level="critical")
    result = AlertService(store, Config(), clock=clock).process(
        ssh_alerts(store, [ssh_event(20, T0 + 30)], rule=critical))
    assert [i.severity for i in result.escalated] == ["critical"]
    officer = IncidentService(store, "lan", clock)
    with pytest.raises(QueryError, match="already critical"):
        officer.escalate(incident.id, reason="again")
    other = open_incident_for(store, clock, "198.51.100.7")
    raised = officer.escalate(other.id, reason="the camera is in the ICU")
    assert raised.severity == "high"
    assert store.incident_notes(other.id)[-1].text == "escalated medium -> high: the camera is in the ICU"
    assert actions(store, other)[-1] == "incident.escalated"


def open_incident_for(store: SqliteStore, clock: Clock, source: str) -> Incident:
    result = AlertService(store, Config(), clock=clock).process(
        ssh_alerts(store, [ssh_event(30, T0 + 40, source=source)]))
    return result.opened[0]


def test_sla_overdue_with_an_injected_clock(store: SqliteStore, clock: Clock) -> None:
    incident = open_incident(store, clock)  # medium: 8 h to acknowledge, 72 h to resolve
    table = SlaTable()
    assert not sla_state(incident, table, clock.now + 8 * 3600 - 1).overdue
    late = sla_state(incident, table, clock.now + 8 * 3600 + 1)
    assert late.acknowledge_overdue and not late.resolve_overdue
    clock.advance(9 * 3600)
    acked = IncidentService(store, "lan", clock).acknowledge(incident.id)
    assert not sla_state(acked, table, clock.now).acknowledge_overdue
    assert sla_state(acked, table, acked.opened_at + 72 * 3600 + 1).resolve_overdue
    assert sla_state(acked, table, clock.now).time_to_acknowledge == 9 * 3600


def test_two_officers_race_and_the_loser_is_told_to_reload(store: SqliteStore, clock: Clock,
                                                           data_dir: Path) -> None:
    incident = open_incident(store, clock)
    second = SqliteStore(data_dir / "siem.db")
    try:
        lan = IncidentService(store, "lan", clock)
        minh = IncidentService(second, "minh", clock)
        seen_by_lan = lan.get(incident.id)
        seen_by_minh = minh.get(incident.id)
        lan.assign(incident.id, "lan", version=seen_by_lan.version)
        with pytest.raises(ConflictError, match="reload"):
            minh.assign(incident.id, "minh", version=seen_by_minh.version)
        # The store itself refuses a stale update even without the service's early check.
        stale = minh.get(incident.id)
        lan.note(incident.id, "taking it")
        with pytest.raises(ConflictError):
            minh.save_change(stale, stale, "incident.note", note="mine")
        current = minh.get(incident.id)
        assert current.assignee == "lan" and current.version == stale.version + 1
        assert [n.author for n in second.incident_notes(incident.id)] == ["lan"]
    finally:
        second.close()


def test_links_need_stored_events_and_manual_incidents(store: SqliteStore, clock: Clock) -> None:
    incident = open_incident(store, clock)
    officer = IncidentService(store, "lan", clock)
    event = ssh_event(0, T0)
    linked = officer.link(incident.id, event_ids=[event["event.id"]])
    assert store.incident_links(linked.id, "event") == [event["event.id"]]
    with pytest.raises(QueryError, match="no stored event"):
        officer.link(incident.id, event_ids=["nope"])
    alert_id = store.incident_links(incident.id, "alert")[0]
    manual = officer.open_manual("Suspicious USB on ward PC", "high", alert_ids=[alert_id[:10]])
    assert manual.alert_count == 3 and manual.site == "ward-3"
    assert store.incident_links(manual.id, "alert") == [alert_id]
    with pytest.raises(QueryError, match="no incident"):
        officer.acknowledge("INC-00000000")

"""The triage app driven by Textual's pilot against a real store file with real incidents."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from siem.alerts.service import AlertService
from siem.config import Config
from siem.incidents.config import SlaTable
from siem.incidents.service import IncidentService
from siem.store.base import IncidentQuery
from siem.store.sqlite import SqliteStore
from siem.ui.triage import TriageApp
from tests.alerts.cases import SSH_RULE, T0, Clock, brute_force_events, replay, ssh_alerts, ssh_event

SIZE = (160, 50)


@pytest.fixture
def store(data_dir: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(data_dir / "siem.db")
    yield opened
    opened.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def filled(store: SqliteStore, clock: Clock) -> SqliteStore:
    """A high brute-force incident (real rules, real events) and a medium SSH one."""
    service = AlertService(store, Config(), clock=clock)
    list(replay(service, store, brute_force_events()))
    service.process(ssh_alerts(store, [ssh_event(i, T0 + i) for i in range(3)]))
    return store


def app_for(store: SqliteStore, clock: Clock, refresh: float = 0) -> TriageApp:
    return TriageApp(store, "lan", SlaTable(), clock=clock, refresh_seconds=refresh)


def actions(store: SqliteStore, incident_id: str) -> list[tuple[str, str]]:
    return [(e["actor"], e["action"]) for e in reversed(store.audit_log(f"incident:{incident_id}"))]


def test_queue_is_sorted_and_keys_change_the_store(filled: SqliteStore, clock: Clock) -> None:
    async def scenario() -> None:
        app = app_for(filled, clock)
        async with app.run_test(size=SIZE) as pilot:
            assert [i.severity for i in app.incidents.values()] == ["high", "medium"]
            top = app.selected
            assert top is not None and top.title == "Brute Force Against Cameras or NVRs"
            await pilot.press("a")
            await pilot.press("s")
            await pilot.press("ctrl+a", "ctrl+k", *"minh", "enter")
            await pilot.press("n")
            await pilot.press(*"called the ward", "enter")
            await pilot.press("e")
            await pilot.press(*"ICU camera", "enter")
            await pilot.pause()
            stored = filled.get_incident(top.id)
            assert stored is not None
            assert (stored.status, stored.assignee, stored.severity) == ("acknowledged", "minh", "critical")
            await pilot.press("r")
            await pilot.press(*"password reset", "enter")
            await pilot.pause()
            assert list(app.incidents) == [i.id for i in filled.find_incidents(IncidentQuery(statuses=("new",)))]
            await pilot.press("f")
            await pilot.press(*"test camera", "enter")
            await pilot.pause()
            assert app.incidents == {}
        assert actions(filled, top.id) == [("siem", "incident.opened")] + [
            ("lan", a) for a in ("incident.acknowledged", "incident.assigned", "incident.note",
                                 "incident.escalated", "incident.resolved")]
        closed = filled.find_incidents(IncidentQuery(statuses=("resolved", "false_positive")))
        assert sorted(i.status for i in closed) == ["false_positive", "resolved"]

    asyncio.run(scenario())


def test_invalid_key_is_reported_and_changes_nothing(filled: SqliteStore, clock: Clock) -> None:
    async def scenario() -> None:
        app = app_for(filled, clock)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            top = app.selected
            assert top is not None
            await pilot.press("a")
            await pilot.press("a")  # already acknowledged
            await pilot.pause()
            assert any("cannot make it acknowledged" in str(n.message) for n in app._notifications)
        assert actions(filled, top.id).count(("lan", "incident.acknowledged")) == 1

    asyncio.run(scenario())


def test_periodic_refresh_shows_new_incidents_and_other_officers_changes(
    filled: SqliteStore, clock: Clock, data_dir: Path
) -> None:
    async def scenario() -> None:
        app = app_for(filled, clock, refresh=0.2)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            assert len(app.incidents) == 2
            other = SqliteStore(data_dir / "siem.db")  # the pipeline, in another connection
            try:
                critical = dataclasses.replace(SSH_RULE, level="critical", title="Ransomware note")
                AlertService(other, Config(), clock=clock).process(
                    ssh_alerts(other, [ssh_event(50, T0 + 50, source="192.0.2.66")], rule=critical))
                for _ in range(30):
                    await pilot.pause(0.1)
                    if len(app.incidents) == 3:
                        break
                assert len(app.incidents) == 3
            finally:
                other.close()
            first = next(iter(app.incidents.values()))
            assert first.title == "Ransomware note"  # critical sorts first

    asyncio.run(scenario())


def test_search_related_events_and_detail_pane(filled: SqliteStore, clock: Clock) -> None:
    async def scenario() -> None:
        app = app_for(filled, clock)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            top = app.selected
            assert top is not None
            text = app.detail(top)
            from rich.console import Console

            console = Console(width=150, record=True)
            console.print(text)
            pane = console.export_text()
            assert "source.ip=203.0.113.9" in pane and "matched" in pane and "incident.opened" in pane
            await pilot.press("slash")
            await pilot.press("enter")  # prefilled with the entity: source.ip=203.0.113.9
            await pilot.pause()
            assert any("events found" in str(n.message) and not str(n.message).startswith("0")
                       for n in app._notifications)

    asyncio.run(scenario())


def test_a_change_that_lost_the_race_is_refused_and_reloaded(
    filled: SqliteStore, clock: Clock, data_dir: Path
) -> None:
    async def scenario() -> None:
        app = app_for(filled, clock)  # no periodic refresh: the screen shows version 1
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            shown = app.selected
            assert shown is not None and shown.version == 1
            other = SqliteStore(data_dir / "siem.db")
            try:
                IncidentService(other, "minh", clock).acknowledge(shown.id)
            finally:
                other.close()
            await pilot.press("e")
            await pilot.press(*"worse", "enter")
            await pilot.pause()
            assert any("someone else" in str(n.message) for n in app._notifications)
            reloaded = app.selected
            assert reloaded is not None and reloaded.version == 2 and reloaded.status == "acknowledged"
        stored = filled.get_incident(shown.id)
        assert stored is not None and stored.severity == "high"
        assert actions(filled, shown.id)[-1] == ("minh", "incident.acknowledged")

    asyncio.run(scenario())


def test_refresh_while_a_prompt_is_open_keeps_the_queue_and_the_note(
    filled: SqliteStore, clock: Clock, data_dir: Path
) -> None:
    """The periodic refresh runs while an officer types a note in the modal prompt."""
    async def scenario() -> None:
        app = app_for(filled, clock, refresh=0.1)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            top = app.selected
            assert top is not None
            await pilot.press("n")
            await pilot.pause()
            other = SqliteStore(data_dir / "siem.db")
            try:
                critical = dataclasses.replace(SSH_RULE, level="critical", title="Ransomware note")
                AlertService(other, Config(), clock=clock).process(
                    ssh_alerts(other, [ssh_event(50, T0 + 50, source="192.0.2.66")], rule=critical))
            finally:
                other.close()
            for _ in range(30):  # several refreshes behind the prompt
                await pilot.pause(0.1)
                if len(app.incidents) == 3:
                    break
            assert len(app.incidents) == 3
            await pilot.press(*"camera reset", "enter")
            await pilot.pause()
        assert ("lan", "incident.note") in actions(filled, top.id)

    asyncio.run(scenario())

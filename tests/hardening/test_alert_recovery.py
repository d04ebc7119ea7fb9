"""A crash between storing alert groups and queueing their incident and mail: the replay of the
same batch (the spool replays it after a restart) finishes both, once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from siem.alerts.service import AlertService
from siem.alerts.stage import AlertStage
from siem.config import Config
from siem.incidents.service import IncidentService
from siem.notify.config import RouteConfig
from siem.notify.dispatcher import EmailDispatcher
from siem.notify.outbox import Outbox
from siem.store.base import AlertQuery, IncidentQuery
from siem.store.sqlite import SqliteStore
from tests.alerts.cases import T0, Clock, ssh_alerts, ssh_event
from tests.notify.conftest import email_config

URGENT = RouteConfig(name="it", recipients=("it@city.example",), min_severity="low", immediate_severity="low")


class Crash(BaseException):
    """Stands for the process dying at this point."""


@pytest.fixture
def store(data_dir: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(data_dir / "siem.db")
    yield opened
    opened.close()


def restart(store: SqliteStore, outbox: Path) -> tuple[AlertStage, EmailDispatcher]:
    """The alert stage and dispatcher a (re)started process builds."""
    dispatcher = EmailDispatcher(email_config(1, routes=(URGENT,)), outbox, clock=Clock())
    return AlertStage(AlertService(store, Config(), clock=Clock()), dispatcher), dispatcher


def test_a_crash_after_the_groups_are_stored_loses_neither_incident_nor_mail(
    store: SqliteStore, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alerts = ssh_alerts(store, [ssh_event(i, T0 + 10 * i) for i in range(6)])
    first, dispatcher = restart(store, data_dir / "outbox")

    def die(self: IncidentService, *args: object) -> None:
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(IncidentService, "open_from_alert", die)
        with pytest.raises(Crash):
            first.handle(alerts)
    [group] = store.find_alerts(AlertQuery())
    assert group.count == 6  # the group is stored...
    assert store.incident_for_alert(group.id) is None and dispatcher.outbox.pending() == []  # ...nothing else

    replayed, dispatcher = restart(store, data_dir / "outbox")
    replayed.handle(alerts)
    incident = store.incident_for_alert(group.id)
    assert incident is not None
    [mail] = dispatcher.outbox.pending()
    assert incident.id in Outbox.load(mail).get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]

    again, dispatcher = restart(store, data_dir / "outbox")
    again.handle(alerts)  # a second replay changes nothing
    assert dispatcher.outbox.pending() == [mail]
    assert len(store.find_incidents(IncidentQuery())) == 1
    assert store.incident_for_alert(group.id) == incident
    assert store.find_alerts(AlertQuery())[0].count == 6


def test_a_replay_after_the_mail_was_queued_sends_nothing_more(store: SqliteStore, data_dir: Path) -> None:
    alerts = ssh_alerts(store, [ssh_event(i, T0 + 10 * i) for i in range(3)])
    first, dispatcher = restart(store, data_dir / "outbox")
    first.handle(alerts)
    queued = dispatcher.outbox.pending()
    assert len(queued) == 1
    replayed, dispatcher = restart(store, data_dir / "outbox")
    replayed.handle(alerts)
    assert dispatcher.outbox.pending() == queued

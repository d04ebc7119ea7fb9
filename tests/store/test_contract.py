"""The storage contract (siem/store/base.py), run against every backend in BACKENDS."""

from __future__ import annotations

from pathlib import Path

import pytest

from siem import event as ecs
from siem.alert import Alert
from siem.errors import QueryError
from siem.store.base import EventQuery, SourceStats, Store, WriteResult
from tests.store.conftest import (
    BASE,
    FTPD,
    SSH_FAIL,
    SU_OPEN,
    VIETNAMESE,
    open_backend,
    syslog_event,
)

DAY = 86400.0


def sample_events() -> list[ecs.Event]:
    """Six events over three days, with the fields the tests search by."""
    return [
        syslog_event(SSH_FAIL, at=BASE, index=0, source__ip="218.188.2.4", process__pid=19939,
                     labels__site="ward-3"),
        syslog_event(SSH_FAIL, at=BASE + 60, index=1, source__ip="218.188.2.4",
                     process__pid=19940, labels__site="ward-3"),
        syslog_event(SU_OPEN, at=BASE + DAY, index=2, user__name="cyrus", labels__site="icu"),
        syslog_event(FTPD, at=BASE + DAY + 5, index=3, source__ip="24.54.76.216",
                     destination__ip="10.0.0.21", destination__port=21),
        syslog_event(VIETNAMESE, at=BASE + 2 * DAY, index=4, host__name="cam-07",
                     user__name="admin", labels__zone="camera"),
        # No event.original: full text falls back to message.
        {
            ecs.TIMESTAMP: ecs.format_timestamp(BASE + 2 * DAY + 1),
            ecs.ID: "no-original-1",
            ecs.DATASET: "netflow",
            ecs.MESSAGE: "flow summary from collector alpha",
            ecs.SOURCE_IP: "10.9.9.9",
        },
    ]


def ids(events: list[ecs.Event]) -> list[str]:
    return [event[ecs.ID] for event in events]


def test_write_is_idempotent_by_event_id(store: Store) -> None:
    events = sample_events()
    assert store.write(events[:4]) == WriteResult(written=4, duplicates=0)
    assert store.write(events[:4]) == WriteResult(written=0, duplicates=4)
    assert store.write(events[2:]) == WriteResult(written=2, duplicates=2)
    assert store.count(EventQuery()) == 6


def test_events_read_back_equal_to_what_was_written(store: Store) -> None:
    events = sample_events()
    store.write(events)
    found = {event[ecs.ID]: event for event in store.search(EventQuery(limit=100))}
    assert found == {event[ecs.ID]: event for event in events}
    assert sorted(ids(store.get_events([events[4][ecs.ID], "missing", events[0][ecs.ID]]))) == (
        sorted([events[4][ecs.ID], events[0][ecs.ID]])
    )


def test_checkpoints_advance_with_the_batch(store: Store) -> None:
    events = sample_events()
    assert store.checkpoint("file:/var/log/auth.log") is None
    store.write(events[:2], checkpoints={"file:/var/log/auth.log": "1200"})
    assert store.checkpoint("file:/var/log/auth.log") == "1200"
    # A replayed batch still moves its checkpoint forward.
    store.write(events[:3], checkpoints={"file:/var/log/auth.log": "1800", "spool": "7"})
    assert store.checkpoint("file:/var/log/auth.log") == "1800"
    assert store.checkpoint("spool") == "7"


def test_search_by_time_range_and_order(store: Store) -> None:
    events = sample_events()
    store.write(events)
    day_two = list(store.search(EventQuery(since=BASE + DAY, until=BASE + DAY + 10)))
    assert ids(day_two) == [events[3][ecs.ID], events[2][ecs.ID]]
    oldest = list(store.search(EventQuery(limit=2, newest_first=False)))
    assert ids(oldest) == [events[0][ecs.ID], events[1][ecs.ID]]
    newest = list(store.search(EventQuery(limit=1)))
    assert ids(newest) == [events[5][ecs.ID]]
    assert store.count(EventQuery(since=BASE + DAY)) == 4


def test_search_by_indexed_and_other_fields(store: Store) -> None:
    events = sample_events()
    store.write(events)

    def found(**fields: object) -> set[str]:
        query = EventQuery(fields={key.replace("__", "."): v for key, v in fields.items()})
        return set(ids(list(store.search(query))))

    assert found(source__ip="218.188.2.4") == {events[0][ecs.ID], events[1][ecs.ID]}
    assert found(user__name="cyrus") == {events[2][ecs.ID]}
    assert found(labels__site=("icu", "ward-3")) == set(ids(events[:3]))
    # Fields without a column of their own.
    assert found(process__pid=19940) == {events[1][ecs.ID]}
    assert found(destination__port=21) == {events[3][ecs.ID]}
    assert found(labels__zone="camera", host__name="cam-07") == {events[4][ecs.ID]}
    assert found(source__ip="218.188.2.4", process__pid=19939) == {events[0][ecs.ID]}
    assert found(**{"no.such.field": "x"}) == set()
    # None matches events without the field.
    assert found(source__ip=None) == {events[2][ecs.ID], events[4][ecs.ID]}
    assert found(destination__port=None, labels__site="ward-3") == set(ids(events[:2]))
    assert store.count(EventQuery(fields={"event.dataset": "netflow"})) == 1


@pytest.mark.parametrize("name", ["source.ip') OR 1=1 --", "a b", "x\"y", "", "$.a"])
def test_field_names_are_validated(store: Store, name: str) -> None:
    with pytest.raises(QueryError):
        list(store.search(EventQuery(fields={name: "x"})))


def test_full_text_search(store: Store) -> None:
    events = sample_events()
    store.write(events)

    def found(text: str, since: float | None = None) -> set[str]:
        return set(ids(list(store.search(EventQuery(text=text, since=since)))))

    assert found("authentication failure") == {events[0][ecs.ID], events[1][ecs.ID]}
    assert found("218.188.2.4") == {events[0][ecs.ID], events[1][ecs.ID]}
    assert found("cyrus OR ftpd") == {events[2][ecs.ID], events[3][ecs.ID]}
    assert found("authentica*") == {events[0][ecs.ID], events[1][ecs.ID]}
    assert found("authentication", since=BASE + 30) == {events[1][ecs.ID]}
    # Vietnamese, with and without diacritics.
    assert found("mật khẩu") == {events[4][ecs.ID]}
    assert found("mat khau") == {events[4][ecs.ID]}
    # Falls back to the message when there is no event.original.
    assert found("collector alpha") == {"no-original-1"}
    assert found("nothing-like-this") == set()
    assert store.count(EventQuery(text="combo")) == 4


def alert(ident: str, *, level: str, first: float, last: float, event_ids: tuple[str, ...],
          count: int = 1) -> Alert:
    return Alert(
        id=ident, rule_id="rule-" + ident, rule_title="SSH brute force", level=level,
        first_seen=first, last_seen=last, event_ids=event_ids,
        matched_fields={"source.ip": "218.188.2.4"}, tags=("attack.t1110",), site="ward-3",
        count=count, group_key="218.188.2.4",
    )


def test_alerts_are_upserted_by_id(store: Store) -> None:
    first = alert("a1", level="high", first=BASE, last=BASE + 10, event_ids=("e1", "e2"), count=2)
    other = alert("a2", level="low", first=BASE, last=BASE + 5, event_ids=("e9",))
    assert store.write_alerts([first, other]) == WriteResult(written=2, duplicates=0)
    later = alert("a1", level="high", first=BASE + 5, last=BASE + 90, event_ids=("e2", "e3"),
                  count=3)
    assert store.write_alerts([later]) == WriteResult(written=0, duplicates=1)
    stored = {a.id: a for a in store.alerts()}
    assert set(stored) == {"a1", "a2"}
    merged = stored["a1"]
    assert (merged.first_seen, merged.last_seen, merged.count) == (BASE, BASE + 90, 3)
    assert merged.event_ids == ("e1", "e2", "e3")
    assert merged.matched_fields == {"source.ip": "218.188.2.4"}
    assert merged.tags == ("attack.t1110",)
    # Newest first; level means "this level or higher"; since filters on last_seen.
    assert [a.id for a in store.alerts()] == ["a1", "a2"]
    assert [a.id for a in store.alerts(level="medium")] == ["a1"]
    assert [a.id for a in store.alerts(since=BASE + 60)] == ["a1"]
    assert [a.id for a in store.alerts(limit=1)] == ["a1"]


def test_source_stats_replace_previous_values(store: Store) -> None:
    assert store.source_stats() == []
    store.record_source_stats([SourceStats("syslog-udp", received=10, bytes=900),
                               SourceStats("file:auth.log", received=3, parse_failures=1)])
    store.record_source_stats([SourceStats("syslog-udp", received=25, bytes=2000, dropped=2,
                                           last_event_at=BASE)])
    assert store.source_stats() == [
        SourceStats("file:auth.log", received=3, parse_failures=1),
        SourceStats("syslog-udp", received=25, bytes=2000, dropped=2, last_event_at=BASE),
    ]


def test_audit_log_newest_first_and_by_target(store: Store) -> None:
    store.audit("lan", "incident.open", "INC-1", None, {"status": "open"})
    store.audit("minh", "incident.assign", "INC-1", {"owner": None}, {"owner": "minh"})
    store.audit("lan", "rule.disable", "rule-42", {"enabled": True}, {"enabled": False})
    entries = store.audit_log()
    assert [e["action"] for e in entries] == ["rule.disable", "incident.assign", "incident.open"]
    only = store.audit_log(target="INC-1", limit=1)
    assert len(only) == 1
    assert only[0]["actor"] == "minh"
    assert only[0]["before"] == {"owner": None}
    assert only[0]["after"] == {"owner": "minh"}


def test_retention_by_age_deletes_only_old_events(store: Store) -> None:
    events = sample_events()
    store.write(events)
    now = BASE + 2 * DAY + 100
    assert store.apply_retention(max_age_days=1, max_size_mb=0, now=now) == 4
    assert set(ids(list(store.search(EventQuery())))) == set(ids(events[4:]))
    # The full-text index forgot the deleted events.
    assert list(store.search(EventQuery(text="authentication"))) == []
    assert store.count(EventQuery(text="mat khau")) == 1
    assert store.apply_retention(max_age_days=1, max_size_mb=0, now=now) == 0
    assert store.apply_retention(max_age_days=0, max_size_mb=0, now=now + 1000 * DAY) == 0


def test_stats(store: Store) -> None:
    empty = store.stats()
    assert (empty.events, empty.alerts, empty.incidents) == (0, 0, 0)
    assert empty.oldest_event_at is None
    events = sample_events()
    store.write(events)
    store.write_alerts([alert("a1", level="high", first=BASE, last=BASE, event_ids=("e1",))])
    stats = store.stats()
    assert (stats.events, stats.alerts) == (6, 1)
    assert stats.oldest_event_at == pytest.approx(BASE)
    assert stats.newest_event_at == pytest.approx(BASE + 2 * DAY + 1)
    assert stats.size_bytes > 0
    assert stats.schema_version >= 1


def test_data_survives_reopening(backend: str, store: Store, data_dir: Path) -> None:
    events = sample_events()
    store.write(events, checkpoints={"spool": "42"})
    store.close()
    reopened = open_backend(backend, data_dir)
    try:
        assert reopened.count(EventQuery()) == 6
        assert reopened.checkpoint("spool") == "42"
        assert reopened.write(events) == WriteResult(written=0, duplicates=6)
    finally:
        reopened.close()

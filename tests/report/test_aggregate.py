"""``Store.aggregate_events`` / ``aggregate_alerts`` on every backend, against counts made by hand."""

from __future__ import annotations

from collections import Counter

import pytest

from siem import event as ecs
from siem.alert import Alert
from siem.alerts.suppression import Suppression
from siem.errors import QueryError
from siem.store.base import AlertAggregation, AlertQuery, AuditEntry, EventAggregation, EventQuery, Store
from tests.store.conftest import BASE

DAY = 86400.0


def _events() -> list[ecs.Event]:
    """30 events over three days, three sites (one event without a site), four addresses."""
    events = []
    for number in range(30):
        at = BASE + number * 7200.0 + 60  # every two hours from 2026-11-20 00:01 UTC
        event: ecs.Event = {
            ecs.ID: f"agg-{number}",
            ecs.TIMESTAMP: ecs.format_timestamp(at),
            ecs.DATASET: "fortinet.firewall" if number % 2 else "linux.auth",
            ecs.SOURCE_IP: f"10.1.0.{number % 4}",
            "destination.port": 443 if number % 3 else 22,
        }
        if number != 29:
            event[ecs.LABEL_SITE] = f"ward-{number % 3 + 1}"
        events.append(event)
    return events


def _expected(events: list[ecs.Event], key: str) -> Counter[str | None]:
    return Counter(None if event.get(key) is None else str(event[key]) for event in events)


def test_counts_per_group_match_what_was_written(store: Store) -> None:
    events = _events()
    store.write(events)
    buckets = store.aggregate_events(EventAggregation(group_by=(ecs.LABEL_SITE,), latest=True))
    assert {bucket.keys[0]: bucket.count for bucket in buckets} == _expected(events, ecs.LABEL_SITE)
    latest = {bucket.keys[0]: bucket.latest for bucket in buckets}
    assert latest[None] == pytest.approx(BASE + 29 * 7200.0 + 60)
    assert latest["ward-1"] == pytest.approx(BASE + 27 * 7200.0 + 60)
    ports = store.aggregate_events(EventAggregation(group_by=("destination.port",)))
    assert {bucket.keys[0]: bucket.count for bucket in ports} == {"22": 10, "443": 20}
    pairs = store.aggregate_events(EventAggregation(group_by=(ecs.LABEL_SITE, ecs.DATASET)))
    assert sum(bucket.count for bucket in pairs) == 30
    assert {b.keys: b.count for b in pairs}[("ward-1", "linux.auth")] == sum(
        1 for n in range(29) if n % 3 == 0 and n % 2 == 0)


def test_days_in_a_time_zone_and_filters(store: Store) -> None:
    events = _events()
    store.write(events)
    # Days of UTC+7 start at 17:00 UTC: the offset is -7 h.
    aggregation = EventAggregation(query=EventQuery(fields={ecs.LABEL_SITE: "ward-2"}),
                                   group_by=(ecs.LABEL_SITE,), interval=DAY, offset=-7 * 3600.0)
    buckets = store.aggregate_events(aggregation)
    expected: Counter[float] = Counter()
    for number in range(30):
        if number != 29 and number % 3 == 1:
            at = BASE + number * 7200.0 + 60
            expected[(at + 7 * 3600) // DAY * DAY - 7 * 3600] += 1
    assert {bucket.start: bucket.count for bucket in buckets} == expected
    assert all(bucket.keys == ("ward-2",) for bucket in buckets)
    whole = store.aggregate_events(EventAggregation(query=EventQuery(since=BASE + DAY)))
    assert [(bucket.keys, bucket.count) for bucket in whole] == [((), 30 - 12)]


def test_top_groups_largest_first_without_missing(store: Store) -> None:
    events = _events()
    events += [{**events[0], ecs.ID: f"extra-{n}"} for n in range(3)]  # 10.1.0.0 leads
    store.write(events)
    top = store.aggregate_events(EventAggregation(group_by=(ecs.SOURCE_IP,), top=2))
    assert [(bucket.keys[0], bucket.count) for bucket in top] == [("10.1.0.0", 11), ("10.1.0.1", 8)]
    sites = store.aggregate_events(EventAggregation(group_by=(ecs.LABEL_SITE,), top=5))
    assert None not in {bucket.keys[0] for bucket in sites}
    assert store.aggregate_events(EventAggregation(query=EventQuery(since=BASE + 99 * DAY))) == []


def test_alert_counts_leave_out_suppressed_and_out_of_range(store: Store) -> None:
    def alert(ident: str, level: str, site: str | None, count: int, first: float) -> Alert:
        return Alert(id=ident, rule_id=f"rule-{level}", rule_title=f"Rule {level}", level=level,
                     first_seen=first, last_seen=first + 60, event_ids=(f"e-{ident}",),
                     matched_fields={}, site=site, count=count, group_key=ident)

    store.write_alerts([
        alert("a1", "high", "ward-1", 3, BASE),
        alert("a2", "high", "ward-1", 2, BASE + 100),
        alert("a3", "low", "ward-2", 5, BASE + 200),
        alert("a4", "critical", None, 1, BASE + 300),
        alert("old", "critical", "ward-1", 9, BASE - 10 * DAY),
    ])
    in_range = AlertAggregation(since=BASE - DAY, until=BASE + DAY, group_by=("site", "level"))
    found = {bucket.keys: (bucket.count, bucket.matches) for bucket in store.aggregate_alerts(in_range)}
    assert found == {("ward-1", "high"): (2, 5), ("ward-2", "low"): (1, 5), (None, "critical"): (1, 1)}
    top = store.aggregate_alerts(AlertAggregation(since=BASE - DAY, group_by=("rule_id", "rule_title"), top=1))
    assert [(bucket.keys, bucket.count, bucket.matches) for bucket in top] == [
        (("rule-high", "Rule high"), 2, 5)]
    total = store.aggregate_alerts(AlertAggregation())
    assert [(bucket.count, bucket.matches) for bucket in total] == [(5, 20)]
    # A suppressed group is not counted.
    store.add_suppression(Suppression(id="sup-1", reason="known scanner", created_by="test", created_at=BASE),
                          AuditEntry("test", "suppress", "sup-1", None, None))
    store.save_alert_groups([alert("a5", "high", "ward-1", 7, BASE)], {}, {"a5": "sup-1"})
    assert [item.id for item in store.find_alerts(AlertQuery(suppressed=True))] == ["a5"]
    found = {bucket.keys: bucket.count for bucket in store.aggregate_alerts(in_range)}
    assert found[("ward-1", "high")] == 2
    assert [(bucket.count, bucket.matches) for bucket in store.aggregate_alerts(AlertAggregation())] == [(5, 20)]


def test_bad_aggregations_are_query_errors(store: Store) -> None:
    with pytest.raises(QueryError, match="group alerts by"):
        store.aggregate_alerts(AlertAggregation(group_by=("summary",)))
    with pytest.raises(QueryError, match="not both"):
        store.aggregate_events(EventAggregation(group_by=(ecs.LABEL_SITE,), interval=DAY, top=3))
    with pytest.raises(QueryError, match="invalid field name"):
        store.aggregate_events(EventAggregation(group_by=("site'); drop table events; --",)))


def test_index_only_counts_agree_with_the_general_query(store: Store) -> None:
    """Counts by one indexed column (SQLite reads only its index) equal those of the general
    path (a field filter forces it), the events without the column included."""
    events = _events()
    store.write(events)
    window = EventQuery(since=BASE, until=BASE + 3 * DAY)
    for name in (ecs.LABEL_SITE, ecs.SOURCE_IP):
        fast = store.aggregate_events(EventAggregation(query=window, group_by=(name,), interval=DAY))
        filtered = EventQuery(since=BASE, until=BASE + 3 * DAY, fields={"destination.port": (22, 443)})
        general = store.aggregate_events(EventAggregation(query=filtered, group_by=(name,), interval=DAY))
        assert [(b.keys, b.start, b.count) for b in fast] == [(b.keys, b.start, b.count) for b in general]
        with_latest = store.aggregate_events(
            EventAggregation(query=window, group_by=(name,), interval=DAY, latest=True))
        assert [(b.keys, b.start, b.count, b.latest) for b in with_latest] == [
            (b.keys, b.start, b.count, b.latest) for b in general]
    whole = store.aggregate_events(EventAggregation(group_by=(ecs.LABEL_SITE,)))
    assert {bucket.keys[0]: bucket.count for bucket in whole} == _expected(events, ecs.LABEL_SITE)

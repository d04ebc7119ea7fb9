"""``Store.scan`` on every backend (every matching event once, oldest first, across pages)
and ``ElasticsearchStore.search_lucene`` (a Lucene query with the time range and site)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from siem import event as ecs
from siem.event import Event
from siem.hunt.stream import time_query
from siem.store.base import Store
from siem.store.elasticsearch.store import ElasticsearchStore
from tests.store import es_cluster
from tests.store.conftest import BASE, open_backend, syslog_event

SITES = ("ward-1", "ward-2", "ward-3")


def events(count: int) -> list[Event]:
    """``count`` events over ``count // 3`` distinct seconds (ties on time), shuffled."""
    made = [
        syslog_event(f"<38>line {n}", at=BASE + n // 3, index=n, labels__site=SITES[n % 3],
                     user__name="Admin" if n % 10 == 0 else "guest")
        for n in range(count)
    ]
    random.Random(7).shuffle(made)
    return made


@pytest.fixture(params=["sqlite", "elasticsearch"])
def store(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[Store]:
    if request.param == "elasticsearch":
        request.getfixturevalue("es_test_cluster")
    opened = open_backend(str(request.param), data_dir)
    yield opened
    opened.close()
    if request.param == "elasticsearch":
        es_cluster.delete_indices(es_cluster.current[0], data_dir)


def stamp(event: Event) -> float:
    return ecs.parse_timestamp(str(event[ecs.TIMESTAMP]))


def test_scan_reads_every_event_once_in_time_order(store: Store) -> None:
    written = events(1200)
    for start in range(0, len(written), 400):
        store.write(written[start : start + 400])
    found = list(store.scan(time_query(None, None, None), page=100))
    assert sorted(str(e[ecs.ID]) for e in found) == sorted(str(e[ecs.ID]) for e in written)
    times = [stamp(event) for event in found]
    assert times == sorted(times)


def test_scan_filters_time_and_site(store: Store) -> None:
    written = events(300)
    store.write(written)
    since, until = BASE + 10, BASE + 49
    found = list(store.scan(time_query(since, until, "ward-2"), page=7))
    wanted = {str(e[ecs.ID]) for e in written
              if since <= stamp(e) <= until and e["labels.site"] == "ward-2"}
    assert wanted and {str(e[ecs.ID]) for e in found} == wanted
    assert len(found) == len(wanted)


def test_search_lucene_with_range_and_site(
    es_test_cluster: es_cluster.Cluster, data_dir: Path
) -> None:
    store = open_backend("elasticsearch", data_dir)
    try:
        assert isinstance(store, ElasticsearchStore)
        written = events(90)
        store.write(written)
        found = list(store.search_lucene("user.name:/[aA][dD][mM][iI][nN]/", since=BASE + 3,
                                         site="ward-1", page=2))
        wanted = {str(e[ecs.ID]) for e in written if e["user.name"] == "Admin"
                  and stamp(e) >= BASE + 3 and e["labels.site"] == "ward-1"}
        assert wanted and {str(e[ecs.ID]) for e in found} == wanted
        assert list(store.search_lucene("user.name:Admin", until=BASE - 1)) == []
    finally:
        store.close()
        es_cluster.delete_indices(es_test_cluster, data_dir)

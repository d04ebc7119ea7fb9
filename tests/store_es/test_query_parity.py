"""The search language's case table (tests/query/test_cases.py), run against the
Elasticsearch store: the same queries must return the same events as on SQLite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from siem.query import parse_query
from siem.store.base import EventQuery
from siem.store.elasticsearch.store import ElasticsearchStore
from tests.query.events import EVENTS
from tests.query.test_cases import CASES
from tests.store import es_cluster


@pytest.fixture(scope="module")
def loaded(
    es_test_cluster: es_cluster.Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ElasticsearchStore]:
    """An Elasticsearch store holding the thirty events of the table."""
    data_dir = tmp_path_factory.mktemp("query-parity")
    store = ElasticsearchStore(es_test_cluster.config(data_dir))
    try:
        assert store.write(EVENTS).written == len(EVENTS)
        yield store
    finally:
        store.close()
        es_cluster.delete_indices(es_test_cluster, data_dir)


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[case[0] for case in CASES])
def test_elasticsearch_store_returns_the_expected_events(
    loaded: ElasticsearchStore, query: str, expected: set[str]
) -> None:
    expression = parse_query(query)
    found = {event["event.id"] for event in loaded.search(EventQuery(expression=expression,
                                                                     limit=1000))}
    assert found == expected
    assert loaded.count(EventQuery(expression=expression)) == len(expected)

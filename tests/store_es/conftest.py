"""Fixtures of the Elasticsearch-only tests: the session's cluster and a fresh store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from siem.store.elasticsearch.config import ElasticsearchConfig
from siem.store.elasticsearch.store import ElasticsearchStore
from tests.store import es_cluster


@pytest.fixture(scope="session")
def es_test_cluster() -> Iterator[es_cluster.Cluster]:
    """The Elasticsearch-compatible cluster of this session (see tests/store/es_cluster.py)."""
    yield from es_cluster.start_cluster()


@pytest.fixture
def es_config(es_test_cluster: es_cluster.Cluster, data_dir: Path) -> Iterator[ElasticsearchConfig]:
    """Store settings with an index prefix of this test's own; its indices deleted after."""
    yield es_test_cluster.config(data_dir)
    es_cluster.delete_indices(es_test_cluster, data_dir)


@pytest.fixture
def es_store(es_config: ElasticsearchConfig) -> Iterator[ElasticsearchStore]:
    """An empty Elasticsearch store, closed after the test."""
    store = ElasticsearchStore(es_config)
    yield store
    store.close()

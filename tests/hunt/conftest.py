"""Fixtures of the hunting tests: the session's Elasticsearch-compatible cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.store import es_cluster


@pytest.fixture(scope="session")
def es_test_cluster() -> Iterator[es_cluster.Cluster]:
    """The cluster of this session (osmem-server unless SIEM_TEST_ES_URL is set)."""
    yield from es_cluster.start_cluster()

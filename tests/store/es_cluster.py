"""The Elasticsearch-compatible cluster the store tests run against.

``SIEM_TEST_ES_URL`` set: that cluster (a real Elasticsearch 8.x/9.x; ``SIEM_TEST_ES_COMPAT``
picks the compatibility header, "8" by default). Otherwise osmem-server, an in-memory
emulator, started once per session on 127.0.0.1 (a free port) and stopped at the end.
Without osmem-server installed the Elasticsearch tests are skipped with a reason, unless
``SIEM_TEST_ES_REQUIRED`` is set (CI), where that, like a failed start, fails the run.

Each store gets its own index prefix (from its data directory), and its indices are
deleted after the test, so tests do not see each other's documents.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from siem.store.elasticsearch.config import ElasticsearchConfig

URL_ENV = "SIEM_TEST_ES_URL"
COMPAT_ENV = "SIEM_TEST_ES_COMPAT"
REQUIRED_ENV = "SIEM_TEST_ES_REQUIRED"


@dataclass(frozen=True)
class Cluster:
    """Where the test cluster is and which compatibility header it takes."""

    url: str
    compatibility: str

    def config(self, data_dir: Path) -> ElasticsearchConfig:
        """Store settings with an index prefix of their own for ``data_dir``."""
        digest = hashlib.sha1(str(data_dir).encode()).hexdigest()[:12]
        return ElasticsearchConfig(
            hosts=(self.url,), index_prefix=f"siem-t{digest}", compatibility=self.compatibility,
            max_retries=2, retry_backoff=0.05, request_timeout=10.0,
        )


#: Set by the session fixture; read by ``open_backend``.
current: list[Cluster] = []


def start_cluster() -> Iterator[Cluster]:
    """Body of the session fixture: yields the cluster, stops osmem afterwards. The
    fixture is declared in tests/store and tests/store_es; the second one shares the
    server the first started (which, set up first, is torn down last)."""
    if current:
        yield current[0]
        return
    url = os.environ.get(URL_ENV)
    if url:
        cluster = Cluster(url, os.environ.get(COMPAT_ENV, "8"))
        current[:] = [cluster]
        yield cluster
        return
    try:
        from osmem_server import OsmemError, OsmemServer
    except ImportError:
        reason = (f"osmem-server is not installed (pip install osmem-server==0.1.6)"
                  f" and {URL_ENV} is not set")
        if os.environ.get(REQUIRED_ENV):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        server = OsmemServer.start(japanese=False, addr="127.0.0.1:0", startup_timeout=30.0)
    except (OsmemError, OSError) as exc:
        pytest.fail(f"osmem-server did not start: {exc}")
    cluster = Cluster(server.url, "none")
    current[:] = [cluster]
    try:
        yield cluster
    finally:
        current.clear()
        server.close()


def delete_indices(cluster: Cluster, data_dir: Path) -> None:
    """Delete what the store of ``data_dir`` made: indices (by name: real clusters refuse
    wildcard deletes by default), and on a real cluster the data streams and templates
    ``siem es setup`` made."""
    from elasticsearch import ApiError

    from siem.store.elasticsearch.client import make_client

    config = cluster.config(data_dir)
    prefix = config.index_prefix
    client = make_client(config)
    try:
        if cluster.compatibility != "none":  # osmem has neither data streams nor ILM
            streams = client.indices.get_data_stream(name=f"{prefix}-*")["data_streams"]
            for stream in streams:
                client.indices.delete_data_stream(name=stream["name"])
        names = list(client.indices.get(index=f"{prefix}-*",
                                        ignore_unavailable=True, allow_no_indices=True))
        for name in names:
            client.indices.delete(index=name, ignore_unavailable=True)
        for remove, kwargs in (
            (client.indices.delete_index_template, {"name": f"{prefix}-events"}),
            (client.cluster.delete_component_template, {"name": f"{prefix}-ecs-settings"}),
            (client.cluster.delete_component_template, {"name": f"{prefix}-ecs-mappings"}),
        ):
            with contextlib.suppress(ApiError):  # not installed by this test
                remove(**kwargs)
    finally:
        client.close()

"""Retries and backoff of the Elasticsearch store, through a real HTTP proxy on loopback
that answers like a busy cluster: 429 for a whole bulk request, 429 for single items, and a
connection dropped before any answer. Behind it is the session's test cluster."""

from __future__ import annotations

import dataclasses
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from siem.errors import StoreError
from siem.store.base import EventQuery, WriteResult
from siem.store.elasticsearch.config import ElasticsearchConfig
from siem.store.elasticsearch.store import ElasticsearchStore
from tests.store_es.test_es_store import event


class BusyCluster:
    """What the proxy does to the next bulk requests (consumed one per request)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.plan: list[str] = []
        self.bulk_requests = 0
        self.lock = threading.Lock()

    def next_trick(self) -> str:
        with self.lock:
            self.bulk_requests += 1
            return self.plan.pop(0) if self.plan else "pass"


def _handler(busy: BusyCluster) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _forward(self, body: bytes | None) -> tuple[int, bytes, Any]:
            request = urllib.request.Request(
                busy.upstream + self.path, data=body, method=self.command,
                headers={"Content-Type": self.headers.get("Content-Type", "application/json")},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status, response.read(), response.headers
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read(), exc.headers

        def _answer(self, status: int, payload: bytes, headers: Any = None) -> None:
            self.send_response(status)
            # The client checks the server's product header: pass the cluster's headers on.
            for name, value in (headers or {"Content-Type": "application/json"}).items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection",
                                        "date", "server"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if self.path.split("?")[0].endswith("/_bulk") and body is not None:
                trick = busy.next_trick()
                if trick == "drop":
                    self.connection.close()
                    return
                if trick == "busy":
                    error = {"error": {"type": "es_rejected_execution_exception",
                                       "reason": "rejected execution (queue full)"}, "status": 429}
                    self._answer(429, json.dumps(error).encode(), {
                        "Content-Type": "application/json", "X-Elastic-Product": "Elasticsearch"})
                    return
                if trick == "first-item-busy":
                    lines = body.decode().splitlines()
                    rest = "\n".join(lines[2:]) + "\n"
                    status, payload, kind = self._forward(rest.encode())
                    answer = json.loads(payload)
                    rejected = {"create": {"_index": "x", "_id": json.loads(lines[0])["create"]["_id"],
                                           "status": 429, "error": {
                                               "type": "es_rejected_execution_exception",
                                               "reason": "queue full"}}}
                    answer["items"].insert(0, rejected)
                    answer["errors"] = True
                    self._answer(status, json.dumps(answer).encode(), kind)
                    return
            status, payload, kind = self._forward(body)
            self._answer(status, payload, kind)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    return Handler


@pytest.fixture
def busy(es_config: ElasticsearchConfig) -> Iterator[BusyCluster]:
    cluster = BusyCluster(es_config.hosts[0])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(cluster))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    cluster.proxy_url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    yield cluster
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def proxied(es_config: ElasticsearchConfig, busy: BusyCluster, retries: int) -> ElasticsearchStore:
    return ElasticsearchStore(dataclasses.replace(
        es_config, hosts=(busy.proxy_url,), max_retries=retries,  # type: ignore[attr-defined]
        retry_backoff=0.01, bulk_docs=100,
    ))


def test_busy_answers_and_lost_connections_are_retried(
    es_config: ElasticsearchConfig, busy: BusyCluster
) -> None:
    store = proxied(es_config, busy, retries=4)
    try:
        busy.plan = ["busy", "drop", "first-item-busy"]
        batch = [event(f"r{n}") for n in range(5)]
        assert store.write(batch) == WriteResult(written=5, duplicates=0)
        # busy, dropped, then 4 items through and 1 refused, then that 1 again.
        assert busy.bulk_requests == 4
        assert store.count(EventQuery()) == 5
        assert store.dead_letters == 0
    finally:
        store.close()


def test_a_cluster_that_stays_busy_is_a_store_error_and_the_checkpoint_stays(
    es_config: ElasticsearchConfig, busy: BusyCluster
) -> None:
    store = proxied(es_config, busy, retries=2)
    try:
        busy.plan = ["busy"] * 3
        with pytest.raises(StoreError, match="429"):
            store.write([event("late-1")], checkpoints={"spool": "99"})
        assert busy.bulk_requests == 3
        assert store.checkpoint("spool") is None
        # Once the cluster has room, the replay goes through.
        assert store.write([event("late-1")], checkpoints={"spool": "99"}).written == 1
        assert store.checkpoint("spool") == "99"
    finally:
        store.close()

"""Behaviour of the Elasticsearch store beyond the shared contract: refused events kept in
the dead-letter index, lost races on incidents, clear errors, the compatibility header."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from siem import event as ecs
from siem.errors import ConfigError, ConflictError, QueryError, StoreError
from siem.incidents.model import Incident
from siem.store.base import AuditEntry, EventQuery, WriteResult
from siem.store.elasticsearch.client import redact
from siem.store.elasticsearch.config import ElasticsearchConfig
from siem.store.elasticsearch.store import ElasticsearchStore
from tests.conftest import free_port

BASE = 1795132800.0


def event(ident: str, **fields: object) -> ecs.Event:
    found: ecs.Event = {
        ecs.TIMESTAMP: ecs.format_timestamp(BASE),
        ecs.ID: ident,
        ecs.DATASET: "syslog",
        ecs.ORIGINAL: f"line {ident}",
    }
    found.update({key.replace("__", "."): value for key, value in fields.items()})
    return found


def test_refused_events_go_to_the_dead_letter_index_with_the_reason(
    es_store: ElasticsearchStore,
) -> None:
    # The first event maps ``labels`` as an object; a plain value there is a mapping conflict.
    good = event("good-1", labels__site="ward-3")
    es_store.write([good])
    bad = event("bad-1")
    bad["labels"] = "not an object"
    result = es_store.write([bad, event("good-2")], checkpoints={"file:a": "10"})
    assert result == WriteResult(written=1, duplicates=0)
    assert es_store.dead_letters == 1
    # The checkpoint still advances: the refused event is kept, not lost.
    assert es_store.checkpoint("file:a") == "10"
    hits = es_store.search_records(es_store.names.deadletter, [], [], 10)
    assert len(hits) == 1
    letter = hits[0]["_source"]
    assert letter["event_id"] == "bad-1"
    assert letter["index"] == es_store.names.events("syslog")
    assert letter["status"] == 400
    assert letter["reason"]
    kept = json.loads(letter["event_json"])
    assert kept["labels"] == "not an object"
    assert kept[ecs.ORIGINAL] == "line bad-1"
    assert es_store.count(EventQuery()) == 2


def test_values_of_the_wrong_type_are_kept_not_refused(es_store: ElasticsearchStore) -> None:
    odd = event("odd-1", source__ip="not-an-address", destination__port="http")
    assert es_store.write([odd]) == WriteResult(written=1, duplicates=0)
    assert es_store.get_events(["odd-1"]) == [odd]
    assert es_store.dead_letters == 0


def test_events_go_to_one_index_per_dataset(es_store: ElasticsearchStore) -> None:
    es_store.write([event("s1"), event("f1", event__dataset="Cisco ASA"), event("n1", event__dataset=None)])
    names = set(es_store.cluster.client.indices.get(index=es_store.names.events_pattern))
    prefix = es_store.config.index_prefix
    assert names == {f"{prefix}-events-syslog", f"{prefix}-events-cisco-asa", f"{prefix}-events-unknown"}
    assert es_store.count(EventQuery()) == 3


def test_large_batches_are_split_and_replays_do_not_duplicate(
    es_config: ElasticsearchConfig,
) -> None:
    store = ElasticsearchStore(dataclasses.replace(es_config, bulk_docs=7, max_in_flight=3))
    try:
        batch = [event(f"e{n}") for n in range(50)]
        assert store.write(batch) == WriteResult(written=50, duplicates=0)
        assert store.write(batch[::-1]) == WriteResult(written=0, duplicates=50)
        assert store.count(EventQuery()) == 50
        # A limit above one page of hits is read with search_after.
        assert len(list(store.search(EventQuery(limit=1000)))) == 50
    finally:
        store.close()


def incident(ident: str) -> Incident:
    return Incident(id=ident, title="brute force", status="new", severity="high",
                    created_at=BASE, updated_at=BASE, opened_at=BASE)


def test_two_officers_updating_one_incident_the_second_loses_clearly(
    es_config: ElasticsearchConfig,
) -> None:
    first, second = ElasticsearchStore(es_config), ElasticsearchStore(es_config)
    try:
        opened = AuditEntry("siem", "incident.opened", "incident:INC-7", None, {})
        assert first.insert_incident(incident("INC-7"), alert_ids=["a1"], audit=opened)
        lan, minh = first.get_incident("INC-7"), second.get_incident("inc-7")
        assert lan is not None and minh is not None and lan == minh
        lan.assignee = "lan"
        minh.assignee = "minh"
        first.update_incident(lan, expected_version=1,
                              audit=AuditEntry("lan", "incident.assigned", "incident:INC-7", {}, {}))
        with pytest.raises(ConflictError, match="reload it"):
            second.update_incident(minh, expected_version=1,
                                   audit=AuditEntry("minh", "incident.assigned", "incident:INC-7", {}, {}))
        stored = second.get_incident("INC-7")
        assert stored is not None and stored.assignee == "lan" and stored.version == 2
        assert [e["actor"] for e in second.audit_log("incident:INC-7")] == ["lan", "siem"]
    finally:
        first.close()
        second.close()


def test_bad_free_text_is_a_query_error(es_store: ElasticsearchStore) -> None:
    es_store.write([event("q1")])
    with pytest.raises(QueryError):
        list(es_store.search(EventQuery(text='"unbalanced (quote')))


def test_unreachable_cluster_names_the_host_and_hides_secrets(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret-value\n")
    port = free_port()
    config = ElasticsearchConfig(
        hosts=(f"http://127.0.0.1:{port}",), username="elastic",
        password_file=str(secret), max_retries=1, retry_backoff=0.01, request_timeout=2.0,
    )
    with pytest.raises(StoreError) as caught:
        ElasticsearchStore(config)
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message
    assert "s3cret-value" not in message
    # A password written into a host URL is refused (secrets come from files), without echoing it.
    with pytest.raises(ConfigError) as refused:
        ElasticsearchConfig(hosts=(f"http://elastic:inline-pass@127.0.0.1:{port}",))
    assert "inline-pass" not in str(refused.value)


def test_missing_password_file_is_a_clear_error(tmp_path: Path) -> None:
    config = ElasticsearchConfig(username="elastic", password_file=str(tmp_path / "absent"))
    with pytest.raises(StoreError, match="cannot read the password file"):
        ElasticsearchStore(config)


def test_redact_removes_credentials_from_urls() -> None:
    assert redact("https://u:p@es.example:9243/base") == "https://es.example:9243/base"
    assert redact("http://127.0.0.1:9200") == "http://127.0.0.1:9200"


def test_the_emulator_refuses_compatibility_headers_the_store_can_turn_off(
    es_config: ElasticsearchConfig,
) -> None:
    """Shows why ``compatibility`` exists: osmem answers as OpenSearch and refuses the
    Elasticsearch media types; with "none" the same client works. (On a real cluster
    (SIEM_TEST_ES_URL) both work, and only the second half runs.)"""
    if es_config.compatibility == "none":
        strict = ElasticsearchStore(dataclasses.replace(es_config, compatibility="8", max_retries=0))
        try:
            with pytest.raises(StoreError, match="406"):
                strict.write([event("c0")])
        finally:
            strict.close()
    store = ElasticsearchStore(es_config)
    try:
        assert store.write([event("c1")]).written == 1
    finally:
        store.close()


def test_size_retention_deletes_the_oldest_until_under_the_limit(
    es_store: ElasticsearchStore,
) -> None:
    filler = "x" * 700
    batch = [event(f"big-{n:05d}", **{"@timestamp": ecs.format_timestamp(BASE + n)})
             for n in range(3000)]
    for item in batch:
        item[ecs.ORIGINAL] = f"{item[ecs.ID]} {filler}"
    es_store.write(batch)
    size = es_store.stats().size_bytes
    assert size > 1024 * 1024, "the test needs more than 1 MB of events"
    deleted = es_store.apply_retention(max_age_days=0, max_size_mb=1, now=BASE + 10**6)
    assert 0 < deleted < 3000
    left = sorted(e[ecs.ID] for e in es_store.search(EventQuery(limit=5000)))
    assert len(left) == 3000 - deleted
    # The newest were kept.
    assert left == [f"big-{n:05d}" for n in range(deleted, 3000)]


def test_config_values_are_checked_with_the_key_and_line(tmp_path: Path) -> None:
    from siem.config import load_config
    from siem.errors import ConfigError

    path = tmp_path / "siem.yaml"
    path.write_text("store:\n  backend: elasticsearch\n  elasticsearch:\n    refresh: false\n")
    with pytest.raises(ConfigError, match="refresh") as caught:
        load_config(str(path))
    assert caught.value.path is not None
    path.write_text("store:\n  elasticsearch:\n    hostz: [http://x:9200]\n")
    with pytest.raises(ConfigError, match=r"store\.elasticsearch\.hostz"):
        load_config(str(path))
    path.write_text("store:\n  elasticsearch:\n    hosts: http://es1:9200\n    refresh: 'false'\n")
    loaded = load_config(str(path)).store.elasticsearch
    assert loaded.hosts == ("http://es1:9200",)
    assert loaded.refresh == "false"

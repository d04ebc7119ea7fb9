"""``siem verify`` on Elasticsearch after whole indices were deleted, as the lifecycle policy of
``siem es setup`` does once its delete age has passed: written by the real store, the index
deleted through the Elasticsearch client, and verified now (a young deletion: someone's doing)
or as of days later (past the delete age: the lifecycle's)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import root
from siem import event as ecs
from siem.integrity.documents import verify_documents
from siem.integrity.verify import iter_lines, verify
from siem.store.elasticsearch.config import ElasticsearchConfig
from siem.store.elasticsearch.seals import head_path
from siem.store.elasticsearch.store import ElasticsearchStore
from tests.integrity.conftest import NOW, make_event

#: Verification this long after the writes: past a delete age of one day (and its margin).
LATER = 2 * 86400


def firewall(index: int, age_days: float = 0.0) -> ecs.Event:
    """An event of a second dataset (its own index)."""
    return {**make_event(index, age_days), ecs.DATASET: "firewall"}


def open_store(config: ElasticsearchConfig, data_dir: Path, delete_days: int) -> ElasticsearchStore:
    return ElasticsearchStore(config, seal_head=head_path(data_dir, config), lifecycle_delete_days=delete_days)


@pytest.fixture
def store(es_config: ElasticsearchConfig, data_dir: Path) -> Iterator[ElasticsearchStore]:
    """Seals 1-3: ten firewall events; five firewall and five linux.auth; ten linux.auth.
    The lifecycle deletes indices one day after rollover."""
    opened = open_store(es_config, data_dir, 1)
    opened.write([firewall(index) for index in range(10)])
    opened.write([firewall(index) for index in range(10, 15)] + [make_event(index) for index in range(15, 20)])
    opened.write([make_event(index) for index in range(20, 30)])
    yield opened
    opened.close()


def delete_index(store: ElasticsearchStore, dataset: str) -> str:
    name = store.names.events(dataset)
    store.cluster.client.indices.delete(index=name)
    assert not store.cluster.client.indices.exists(index=name)
    return name


def test_index_deleted_after_the_delete_age_is_retired_not_broken(store: ElasticsearchStore) -> None:
    name = delete_index(store, "firewall")
    result = verify_documents(store, now=time.time() + LATER)
    assert result.ok, result.to_dict()
    assert [(item.index, item.batches, item.events) for item in result.retired_indices] == [(name, 2, 15)]
    assert (result.batches_retired, result.batches_checked, result.events_checked) == (1, 2, 15)
    data = result.to_dict()
    assert data["retired_by_lifecycle"][0]["index"] == name
    assert data["retired_by_lifecycle"][0]["events"] == 15
    lines = list(iter_lines(result))
    assert lines[0].startswith("OK: 3 seals, 2 batches checked (15 events, 0 audit entries), 1 batches removed")
    assert lines[1].startswith("1 indices deleted by the lifecycle policy after the delete age (2 batches, 15 events)")
    assert lines[2].startswith(f"  {name}: 2 batches, 15 events, the newest written ")


def test_index_deleted_before_the_delete_age_is_broken_naming_it(store: ElasticsearchStore) -> None:
    name = delete_index(store, "firewall")
    result = verify(store)
    first = result.first_broken
    assert not result.ok and first is not None and first.seal == 1
    assert first.reason.startswith(f"index {name} no longer exists (15 sealed events in 2 batches), but events")
    assert "less than the lifecycle's 1 days ago" in first.reason
    assert result.problem_count == 1 and result.retired_indices == []


def test_deleted_index_without_a_delete_age_is_broken(store: ElasticsearchStore, es_config: ElasticsearchConfig,
                                                      data_dir: Path) -> None:
    name = delete_index(store, "firewall")
    without = open_store(es_config, data_dir, 0)
    try:
        first = verify_documents(without, now=time.time() + LATER).first_broken
    finally:
        without.close()
    assert first is not None and first.seal == 1
    assert first.reason.startswith(f"index {name} no longer exists (15 sealed events in 2 batches) and this store "
                                   "has no lifecycle delete age")


def test_documents_missing_from_a_live_index_stay_broken(store: ElasticsearchStore) -> None:
    delete_index(store, "firewall")
    store.cluster.client.delete(index=store.names.events("linux.auth"), id="evt-00017", refresh=True)
    result = verify_documents(store, now=time.time() + LATER)
    first = result.first_broken
    assert first is not None and first.seal == 2
    assert first.reason == f"1 of 10 documents are missing (first: evt-00017 in {store.names.events('linux.auth')})"
    assert [item.events for item in result.retired_indices] == [15]


def test_since_still_counts_the_retired_events_of_older_batches(store: ElasticsearchStore) -> None:
    name = delete_index(store, "firewall")
    result = verify_documents(store, since=time.time() + 60, now=time.time() + LATER)
    assert result.ok, result.to_dict()  # the count check knows the 15 events went with their index
    assert [(item.index, item.events) for item in result.retired_indices] == [(name, 15)]
    assert result.batches_checked == 0


def test_retention_before_the_lifecycle_is_not_counted_twice(es_config: ElasticsearchConfig, data_dir: Path) -> None:
    store = open_store(es_config, data_dir, 1)
    try:
        store.write([firewall(index, age_days=100) for index in range(4)] + [firewall(index) for index in range(4, 10)])
        store.write([make_event(index) for index in range(10, 20)])
        assert store.apply_retention(max_age_days=90, max_size_mb=0, now=NOW) == 4
        name = delete_index(store, "firewall")
        result = verify_documents(store, now=time.time() + LATER)
        assert result.ok, result.to_dict()
        assert [(item.index, item.batches, item.events) for item in result.retired_indices] == [(name, 1, 6)]
        assert result.batches_retired == 1
    finally:
        store.close()


def test_verify_command_names_the_deleted_index(store: ElasticsearchStore, data_dir: Path) -> None:
    name = delete_index(store, "firewall")
    config = store.config
    settings = {"store": {"backend": "elasticsearch", "retention": {"max_age_days": 1}, "elasticsearch": {
        "hosts": list(config.hosts), "index_prefix": config.index_prefix,
        "compatibility": config.compatibility, "max_retries": 1}}}
    path = data_dir / "siem.yaml"
    path.write_text(json.dumps(settings), encoding="utf-8")  # JSON is YAML
    result = CliRunner().invoke(root, ["--config", str(path), "--data-dir", str(data_dir), "verify", "--json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["retired_by_lifecycle"] == []
    assert data["first_broken"]["seal"] == 1
    assert f"index {name} no longer exists" in data["first_broken"]["reason"]
    assert "less than the lifecycle's 1 days ago" in data["first_broken"]["reason"]

"""Integrity seals on the Elasticsearch store: written by the real store, verified, then the
documents and seals edited straight through the Elasticsearch client, as someone with the
cluster's credentials would."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cli import root
from siem.compliance.loader import load_check
from siem.compliance.model import FAIL, PASS
from siem.compliance.runner import ScanContext, run_checks
from siem.errors import StoreError
from siem.incidents.config import SlaTable
from siem.integrity.anchor import read_anchor
from siem.integrity.chain import AUDIT, EVENTS, RETENTION
from siem.integrity.verify import current_head, verify
from siem.store.elasticsearch.config import ElasticsearchConfig
from siem.store.elasticsearch.seals import head_path
from siem.store.elasticsearch.store import ElasticsearchStore
from tests.conftest import PROJECT_ROOT
from tests.integrity.conftest import NOW, make_event

CHECK = PROJECT_ROOT / "rules" / "compliance" / "checks" / "log-integrity.yml"


@pytest.fixture
def sealed(es_config: ElasticsearchConfig, data_dir: Path) -> Iterator[ElasticsearchStore]:
    """A store with three sealed batches of ten events (seals 1-3), its head in ``data_dir``."""
    store = ElasticsearchStore(es_config, seal_head=head_path(data_dir, es_config))
    for batch in range(3):
        store.write([make_event(batch * 10 + index) for index in range(10)])
    yield store
    store.close()


def seal_sources(store: ElasticsearchStore) -> list[dict[str, Any]]:
    response = store.cluster.client.search(index=store.names.seals, sort=[{"seal": "asc"}], size=100,
                                           source_excludes=["members"])
    return [hit["_source"] for hit in response["hits"]["hits"]]


def stored(store: ElasticsearchStore, ident: str) -> tuple[str, dict[str, Any]]:
    response = store.cluster.client.search(index=store.names.events_pattern, query={"ids": {"values": [ident]}})
    (hit,) = response["hits"]["hits"]
    return hit["_index"], hit["_source"]


def test_intact_store_verifies_with_its_head_and_audit(sealed: ElasticsearchStore, data_dir: Path) -> None:
    sealed.audit("officer", "ack", "INC-1", {"status": "open"}, {"status": "acknowledged"})
    result = verify(sealed)
    assert result.ok, result.to_dict()
    assert (result.seals, result.events_checked, result.audit_checked) == (4, 30, 1)
    sources = seal_sources(sealed)
    assert [(s["seal"], s["kind"], s["count"]) for s in sources] == [
        (1, EVENTS, 10), (2, EVENTS, 10), (3, EVENTS, 10), (4, AUDIT, 1)]
    head = read_anchor(head_path(data_dir, sealed.config))
    assert head is not None and result.head is not None
    assert (head.seal, head.chain) == (result.head.seal, result.head.chain)
    assert current_head(sealed) == result.head


def test_replayed_batch_adds_no_seal_and_still_verifies(sealed: ElasticsearchStore) -> None:
    written = sealed.write([make_event(index) for index in range(10, 20)])
    assert (written.written, written.duplicates) == (0, 10)
    assert len(seal_sources(sealed)) == 3
    assert verify(sealed).ok


def test_edited_document_names_its_batch_and_the_document(sealed: ElasticsearchStore) -> None:
    index, source = stored(sealed, "evt-00015")
    source["event.original"] = "nothing happened"
    sealed.cluster.client.index(index=index, id="evt-00015", document=source, refresh=True)
    result = verify(sealed)
    first = result.first_broken
    assert not result.ok and first is not None
    assert (first.seal, first.kind) == (2, EVENTS)
    assert "document evt-00015" in first.reason and "was changed" in first.reason
    assert result.problem_count == 1


def test_deleted_document_names_its_batch(sealed: ElasticsearchStore) -> None:
    index, _ = stored(sealed, "evt-00025")
    sealed.cluster.client.delete(index=index, id="evt-00025", refresh=True)
    first = verify(sealed).first_broken
    assert first is not None and first.seal == 3
    assert "1 of 10 documents are missing (first: evt-00025" in first.reason


def test_added_document_is_caught_by_the_count(sealed: ElasticsearchStore) -> None:
    index, source = stored(sealed, "evt-00003")
    sealed.cluster.client.index(index=index, id="forged-1", document=source, refresh=True)
    first = verify(sealed).first_broken
    assert first is not None and "31 sealed events, the seals say 30" in first.reason


def test_added_document_without_write_order_is_caught(sealed: ElasticsearchStore) -> None:
    index, source = stored(sealed, "evt-00003")
    del source["siem_seq"]
    sealed.cluster.client.index(index=index, id="forged-2", document=source, refresh=True)
    result = verify(sealed)
    assert [problem.reason for problem in result.problems] == [
        "1 events have no write order (siem_seq): they were added outside siem"]


def test_added_document_after_the_last_seal_is_caught(sealed: ElasticsearchStore) -> None:
    index, source = stored(sealed, "evt-00003")
    source["siem_seq"] = source["siem_seq"] + 3600 * 10**9  # an hour later: no write in progress
    sealed.cluster.client.index(index=index, id="forged-3", document=source, refresh=True)
    first = verify(sealed).first_broken
    assert first is not None and first.seal == 4
    assert first.reason == "1 events are stored after the last seal without one"


def test_size_retention_is_sealed_too(sealed: ElasticsearchStore) -> None:
    used = sealed._size_bytes(sealed.names.events_pattern)
    assert used > 0
    deleted = sealed._trim_to_size(used * 2 // 3)
    assert 0 < deleted < 30
    kinds = [s["kind"] for s in seal_sources(sealed)]
    assert len(kinds) > 3 and set(kinds[3:]) == {RETENTION}
    result = verify(sealed)
    assert result.ok, result.to_dict()
    assert result.events_checked == 30 - deleted


def test_removed_last_seal_is_caught_by_the_head_file(sealed: ElasticsearchStore) -> None:
    for ident in range(20, 30):
        index, _ = stored(sealed, f"evt-{ident:05d}")
        sealed.cluster.client.delete(index=index, id=f"evt-{ident:05d}", refresh=True)
    sealed.cluster.client.delete(index=sealed.names.seals, id="3", refresh=True)
    result = verify(sealed)
    first = result.first_broken
    assert first is not None and first.seal == 3
    assert "the head file records seal 3, but the store ends at seal 2" in first.reason


def test_edited_seal_breaks_the_chain(sealed: ElasticsearchStore) -> None:
    sealed.cluster.client.update(index=sealed.names.seals, id="2", doc={"count": 9}, refresh=True)
    first = verify(sealed).first_broken
    assert first is not None and first.seal == 2 and "does not match the chain" in first.reason


def test_retention_is_sealed_and_a_chosen_deletion_is_not_retention(
    es_config: ElasticsearchConfig, data_dir: Path
) -> None:
    store = ElasticsearchStore(es_config, seal_head=head_path(data_dir, es_config))
    try:
        store.write([make_event(index, age_days=100) for index in range(5)])
        store.write([make_event(index, age_days=100 if index < 8 else 0) for index in range(5, 10)])
        store.write([make_event(index) for index in range(10, 15)])
        assert store.apply_retention(max_age_days=90, max_size_mb=0, now=NOW) == 8
        kinds = [s["kind"] for s in seal_sources(store)]
        assert kinds == [EVENTS, EVENTS, EVENTS, RETENTION]
        result = verify(store)
        assert result.ok, result.to_dict()
        assert (result.batches_retired, result.events_checked) == (1, 7)
        # An event the retention kept, younger than its boundary, deleted by hand: not retention.
        index, _ = stored(store, "evt-00012")
        store.cluster.client.delete(index=index, id="evt-00012", refresh=True)
        first = verify(store).first_broken
        assert first is not None and first.seal == 3 and "missing" in first.reason
    finally:
        store.close()


def test_a_stop_between_write_and_seal_is_sealed_at_the_next_write(
    es_config: ElasticsearchConfig, data_dir: Path
) -> None:
    store = ElasticsearchStore(es_config, seal_head=head_path(data_dir, es_config))
    try:
        store.write([make_event(index) for index in range(5)])
        sealer, store.sealer = store.sealer, None  # the batch below is written, its seal never made
        store.write([make_event(index) for index in range(5, 10)])
        store.sealer = sealer
        meanwhile = verify(store)  # just written: maybe a write in progress, so a warning
        assert meanwhile.ok and "5 events written in the last minutes are not sealed yet" in meanwhile.warnings[0]
    finally:
        store.close()
    again = ElasticsearchStore(es_config, seal_head=head_path(data_dir, es_config))
    try:
        again.write([make_event(index) for index in range(5, 12)])  # the replay, and two new
        assert [(s["kind"], s["count"]) for s in seal_sources(again)] == [(EVENTS, 5), (EVENTS, 5), (EVENTS, 2)]
        result = verify(again)
        assert result.ok and not result.warnings, result.to_dict()
    finally:
        again.close()


def test_two_writers_of_audit_entries_chain_one_after_the_other(
    es_config: ElasticsearchConfig, data_dir: Path
) -> None:
    first, second = ElasticsearchStore(es_config), ElasticsearchStore(es_config)
    try:
        first.audit("lan", "note", "INC-1", None, None)
        second.audit("minh", "note", "INC-1", None, None)  # its sealer had not seen seal 1
        first.audit("lan", "note", "INC-2", None, None)
        assert [s["seal"] for s in seal_sources(first)] == [1, 2, 3]
        result = verify(second)
        assert result.ok and result.audit_checked == 3, result.to_dict()
    finally:
        first.close()
        second.close()


def siem(config: ElasticsearchConfig, data_dir: Path, *args: str) -> Result:
    settings = {"store": {"backend": "elasticsearch", "elasticsearch": {
        "hosts": list(config.hosts), "index_prefix": config.index_prefix,
        "compatibility": config.compatibility, "max_retries": 1}}}
    path = data_dir / "siem.yaml"
    path.write_text(json.dumps(settings), encoding="utf-8")  # JSON is YAML
    return CliRunner().invoke(root, ["--config", str(path), "--data-dir", str(data_dir), *args])


def test_verify_command_json_anchor_and_since(sealed: ElasticsearchStore, data_dir: Path, tmp_path: Path) -> None:
    anchor = tmp_path / "anchor.json"
    result = siem(sealed.config, data_dir, "verify", "--json", "--save-anchor", str(anchor))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] and data["seals"] == 3 and data["events_checked"] == 30
    assert data["warnings"] == []  # the command found the head file where the store wrote it
    assert siem(sealed.config, data_dir, "verify", "--anchor", str(anchor)).exit_code == 0
    index, source = stored(sealed, "evt-00001")
    source["source.ip"] = "198.51.100.1"
    sealed.cluster.client.index(index=index, id="evt-00001", document=source, refresh=True)
    later = datetime.fromtimestamp(time.time() + 3600, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    skipped = siem(sealed.config, data_dir, "verify", "--since", later)
    assert skipped.exit_code == 0, skipped.output  # batch 1 sealed before --since: not re-read
    broken = siem(sealed.config, data_dir, "verify", "--json")
    assert broken.exit_code == 1
    assert json.loads(broken.stdout)["first_broken"]["seal"] == 1


def test_log_integrity_check_runs_on_elasticsearch(sealed: ElasticsearchStore, data_dir: Path) -> None:
    check = load_check(CHECK)

    def run() -> tuple[str, float | None, list[str]]:
        context = ScanContext(store=sealed, inventory=None, sla=SlaTable(), data_path=data_dir, now=NOW,
                              since=NOW - 7 * 86400)
        result = run_checks([check], context)[0]
        return result.status, result.value, result.details

    assert run()[:2] == (PASS, 0.0)
    index, _ = stored(sealed, "evt-00004")
    sealed.cluster.client.delete(index=index, id="evt-00004", refresh=True)
    status, value, details = run()
    assert (status, value) == (FAIL, 1.0)
    assert details[0].startswith("BROKEN: seal 1 ")


def test_a_write_whose_seal_failed_is_sealed_by_the_next(sealed: ElasticsearchStore) -> None:
    client = sealed.cluster.client
    client.indices.put_settings(index=sealed.names.seals, settings={"index.blocks.write": True})
    try:
        with pytest.raises(StoreError, match="cannot write the integrity seal"):
            sealed.write([make_event(index) for index in range(30, 35)])
    finally:
        client.indices.put_settings(index=sealed.names.seals, settings={"index.blocks.write": False})
    sealed.write([make_event(index) for index in range(35, 37)])
    assert [(s["kind"], s["count"]) for s in seal_sources(sealed)][3:] == [(EVENTS, 5), (EVENTS, 2)]
    result = verify(sealed)
    assert result.ok and not result.warnings, result.to_dict()


def test_sealing_off_writes_no_seal(es_config: ElasticsearchConfig, data_dir: Path) -> None:
    store = ElasticsearchStore(dataclasses.replace(es_config, seals=False), seal_head=head_path(data_dir, es_config))
    try:
        store.write([make_event(index) for index in range(3)])
        store.audit("officer", "note", "INC-1", None, None)
        assert not store.cluster.client.indices.exists(index=store.names.seals)
        result = verify(store)
        assert result.ok and result.seals == 0
        assert result.warnings == ["nothing is sealed yet: seals are made as events are stored"]
        assert not head_path(data_dir, es_config).exists()
    finally:
        store.close()

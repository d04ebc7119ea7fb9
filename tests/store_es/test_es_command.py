"""``siem es setup`` and ``siem es status`` against the test cluster, through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from cli import root
from siem.errors import ExitCode
from siem.store.elasticsearch.config import ElasticsearchConfig
from siem.store.elasticsearch.setup import UNSUPPORTED
from siem.store.elasticsearch.store import ElasticsearchStore
from tests.conftest import free_port
from tests.store_es.test_es_store import event

PROJECT = Path(__file__).resolve().parents[2]


def siem(config: ElasticsearchConfig, data_dir: Path, *args: str) -> Result:
    settings = {
        "store": {
            "backend": "elasticsearch",
            "elasticsearch": {
                "hosts": list(config.hosts),
                "index_prefix": config.index_prefix,
                "compatibility": config.compatibility,
                "max_retries": 1,
            },
        }
    }
    path = data_dir / "siem.yaml"
    path.write_text(json.dumps(settings), encoding="utf-8")  # JSON is YAML
    return CliRunner().invoke(
        root, ["--config", str(path), "--data-dir", str(data_dir), *args],
        env={"COLUMNS": "200"},
    )


def test_setup_is_idempotent_and_reports_what_the_server_lacks(
    es_config: ElasticsearchConfig, data_dir: Path
) -> None:
    outcomes = []
    for _ in range(2):
        result = siem(es_config, data_dir, "es", "setup", "--json")
        assert result.exit_code == 0, result.output
        outcomes.append([json.loads(line) for line in result.stdout.splitlines()])
    assert outcomes[0] == outcomes[1]
    by_kind = {item["kind"]: item for item in outcomes[0]}
    prefix = es_config.index_prefix
    assert by_kind["index template"] == {"kind": "index template", "name": f"{prefix}-events",
                                         "outcome": "installed", "detail": ""}
    assert by_kind["component template"]["outcome"] == "installed"
    if es_config.compatibility == "none":  # the osmem emulator: no ILM, no data streams
        assert by_kind["lifecycle policy"]["outcome"] == UNSUPPORTED
        assert by_kind["data streams"]["outcome"] == UNSUPPORTED
    # The store still writes and searches through the installed template.
    store = ElasticsearchStore(es_config)
    try:
        assert store.write([event("after-setup", source__ip="10.1.2.3")]).written == 1
        mapping = store.cluster.client.indices.get_mapping(index=store.names.events("syslog"))
        (only,) = mapping.body.values()
        assert only["mappings"]["properties"]["source"]["properties"]["ip"]["type"] == "ip"
    finally:
        store.close()


def test_status_shows_cluster_indices_and_templates(
    es_config: ElasticsearchConfig, data_dir: Path
) -> None:
    store = ElasticsearchStore(es_config)
    try:
        store.write([event("s1"), event("s2", event__dataset="dns")])
    finally:
        store.close()
    result = siem(es_config, data_dir, "es", "status", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    prefix = es_config.index_prefix
    docs = {row["index"]: row["docs"] for row in found["indices"]}
    assert docs[f"{prefix}-events-syslog"] == 1
    assert docs[f"{prefix}-events-dns"] == 1
    assert found["templates"][f"index template {prefix}-events"] == "missing"
    assert found["version"]
    table = siem(es_config, data_dir, "es", "status")
    assert table.exit_code == 0, table.output
    assert f"{prefix}-events-dns" in table.stdout


def test_unreachable_cluster_is_one_clear_line(data_dir: Path) -> None:
    port = free_port()
    config = ElasticsearchConfig(hosts=(f"http://127.0.0.1:{port}",), index_prefix="x")
    siem(config, data_dir, "es", "status")  # writes siem.yaml
    done = subprocess.run(
        [sys.executable, "-m", "cli", "--config", str(data_dir / "siem.yaml"), "es", "status"],
        cwd=PROJECT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == ExitCode.STORE
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert f"127.0.0.1:{port}" in errors[0]
    assert "Traceback" not in done.stderr

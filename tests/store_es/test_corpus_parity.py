"""Real logs (loghub OpenSSH and Linux, 4,000 lines) ingested through the real pipeline into
a SQLite store and an Elasticsearch store: the same searches return the same events, and a
second ingest of the same files stores nothing new on either."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli import root
from tests.store import es_cluster

pytestmark = pytest.mark.corpus

QUERIES = [
    "event.outcome:failure",
    "sshd",
    "source.ip:183.62.0.0/16",
    "user.name:root AND NOT event.outcome:success",
    '"Failed password"',
    "invalid*",
    "process.pid:>25000",
    "source.port:[50000 TO *]",
    "event.action:*",
    "host.name:LabSZ AND NOT source.ip:173.234.31.186",
]


def siem(config: Path, data_dir: Path, *args: str) -> Result:
    result = CliRunner().invoke(root, ["--config", str(config), "--data-dir", str(data_dir), *args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def stores(
    corpus_dir: Path, es_test_cluster: es_cluster.Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, tuple[Path, Path]]]:
    """Backend -> (config file, data dir), each holding the two logs."""
    logs = [corpus_dir / "loghub" / "OpenSSH" / "OpenSSH_2k.log",
            corpus_dir / "loghub" / "Linux" / "Linux_2k.log"]
    made: dict[str, tuple[Path, Path]] = {}
    for backend in ("sqlite", "elasticsearch"):
        data_dir = tmp_path_factory.mktemp(f"corpus-{backend}")
        es = es_test_cluster.config(data_dir)
        settings = {"store": {"backend": backend, "elasticsearch": {
            "hosts": list(es.hosts), "index_prefix": es.index_prefix,
            "compatibility": es.compatibility}}}
        config = data_dir / "siem.yaml"
        config.write_text(json.dumps(settings), encoding="utf-8")
        first, again = (
            json.loads(siem(config, data_dir, "ingest", "--json", *map(str, logs))
                       .stdout.strip().splitlines()[-1])
            for _ in range(2)
        )
        assert (first["stored"], first["duplicates"]) == (4000, 0), first
        assert (again["stored"], again["duplicates"]) == (0, 4000), again
        made[backend] = (config, data_dir)
    yield made
    es_cluster.delete_indices(es_test_cluster, made["elasticsearch"][1])


@pytest.mark.parametrize("query", QUERIES)
def test_same_events_on_both_stores(stores: dict[str, tuple[Path, Path]], query: str) -> None:
    found: dict[str, list[str]] = {}
    for backend, (config, data_dir) in stores.items():
        out = siem(config, data_dir, "search", query, "--json", "--limit", "100000")
        found[backend] = sorted(json.loads(line)["event.id"] for line in out.stdout.splitlines()
                                if line.strip())
    assert found["sqlite"], f"{query!r} should find events in the corpus"
    assert found["elasticsearch"] == found["sqlite"]

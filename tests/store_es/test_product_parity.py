"""The product on Elasticsearch behaves as on SQLite: the same brute-force log, ingested
twice through the real command line with our Sigma rules and the example inventory, gives
the same alerts and incident, and the same triage (acknowledge, note, resolve) leaves the
same timeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cli import root
from tests.conftest import PROJECT_ROOT
from tests.store import es_cluster
from tests.test_end_to_end import ATTACKER, brute_force_log


def run(config: Path, *args: str) -> str:
    result = CliRunner().invoke(root, ["--config", str(config), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def story(config: Path, log: Path) -> dict[str, Any]:
    """What an officer sees: ingest twice, list, triage, show."""
    first = lines(run(config, "ingest", "--json", str(log)))[-1]
    again = lines(run(config, "ingest", "--json", str(log)))[-1]
    alerts = lines(run(config, "alerts", "list", "--json"))
    incidents = lines(run(config, "incidents", "list", "--json"))
    assert len(incidents) == 1, incidents
    ident = str(incidents[0]["id"])
    run(config, "incidents", "ack", ident)
    run(config, "incidents", "note", ident, "chặn ở tường lửa phường 3")
    run(config, "incidents", "resolve", ident, "--reason", "blocked at the ward firewall")
    shown = json.loads(run(config, "incidents", "show", ident, "--json"))
    found = lines(run(config, "search", f"source.ip:{ATTACKER}", "--json", "--limit", "1000"))
    return {
        "ingest": (first["stored"], first["duplicates"], again["stored"], again["duplicates"]),
        "alerts": sorted((a["rule_title"], a["level"], a["count"], a["site"]) for a in alerts),
        "incident": {key: shown["incident"][key]
                     for key in ("title", "status", "severity", "site", "zone", "alert_count")},
        "timeline": [(e["actor"], e["action"]) for e in shown["timeline"]],
        "events": sorted(event["event.id"] for event in found),
    }


def test_ingest_detect_alert_and_triage_match_sqlite(
    es_test_cluster: es_cluster.Cluster, tmp_path: Path
) -> None:
    log = brute_force_log(tmp_path / "auth.log", failures=30)
    seen: dict[str, dict[str, Any]] = {}
    es_dir = tmp_path / "elasticsearch"
    for backend in ("sqlite", "elasticsearch"):
        data_dir = tmp_path / backend
        data_dir.mkdir()
        es = es_test_cluster.config(es_dir)
        config = data_dir / "siem.yaml"
        config.write_text(json.dumps({
            "data_dir": str(data_dir),
            "inventory": str(PROJECT_ROOT / "examples" / "inventory.yaml"),
            "officer": "officer-an",
            "detection": {"rules": [str(PROJECT_ROOT / "rules")]},
            "store": {"backend": backend, "elasticsearch": {
                "hosts": list(es.hosts), "index_prefix": es.index_prefix,
                "compatibility": es.compatibility}},
        }), encoding="utf-8")
        try:
            seen[backend] = story(config, log)
        finally:
            if backend == "elasticsearch":
                es_cluster.delete_indices(es_test_cluster, es_dir)
    assert seen["sqlite"]["ingest"] == (31, 0, 0, 31)
    assert seen["sqlite"]["alerts"], "the brute force should raise alerts"
    assert seen["sqlite"]["incident"]["status"] == "resolved"
    assert seen["elasticsearch"] == seen["sqlite"]

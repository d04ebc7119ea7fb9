"""``siem hunt`` end to end: our rules' regression events stored in SQLite (and in
Elasticsearch), hunted through the CLI; hits become alerts and incidents through the alert
stage, and hunting again opens nothing new."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cli import root
from siem.commands.detect import load_event_file
from siem.config import Config, StoreConfig
from siem.detect.loader import load_rules
from siem.detect.regression import find_cases
from siem.event import Event
from siem.store.factory import open_store
from siem.store.sqlite.store import SqliteStore
from tests.conftest import PROJECT_ROOT
from tests.store import es_cluster

RULES = PROJECT_ROOT / "rules"
#: The regression events lie on 2026-11-20.
WINDOW = ("--since", "2026-11-19", "--until", "2026-11-22")


def regression_cases() -> tuple[list[Event], dict[str, int]]:
    """Our rules' regression events, and the rules with a positive case (rule id -> count)."""
    events: dict[str, Event] = {}
    positive: dict[str, int] = {}
    for case in find_cases(RULES / "regression_data"):
        for case_file in case.files:
            for event in load_event_file(case_file.path, case_file.kind):
                events.setdefault(str(event["event.id"]), event)
            if case_file.match_count:
                positive[case.rule_id] = case_file.match_count
    return list(events.values()), positive


def hunt(data_dir: Path, *args: str, config: Path | None = None, code: int = 0) -> Result:
    prefix = ["--config", str(config)] if config is not None else []
    result = CliRunner().invoke(root, [*prefix, "--data-dir", str(data_dir), "hunt", *args])
    assert result.exit_code == code, result.output
    return result


def report(result: Result) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


@pytest.fixture
def sqlite_dir(data_dir: Path) -> Path:
    events, _ = regression_cases()
    store = SqliteStore(data_dir / "siem.db")
    try:
        store.write(events)
    finally:
        store.close()
    return data_dir


def test_hunt_on_sqlite_raises_alerts_once(sqlite_dir: Path) -> None:
    _, positive = regression_cases()
    infos = load_rules([RULES]).infos
    # Base rules that only feed correlations (generate: false) raise nothing themselves.
    alerting = {ident for ident in positive if infos[ident].generate}
    first = report(hunt(sqlite_dir, "--rules", str(RULES), *WINDOW, "--json"))
    assert first["engine"] == "stream"
    hit_rules = {row["rule_id"] for row in first["by_rule"]}
    # Every alerting rule with a positive regression case fires on the stored events.
    assert len(alerting) >= 10
    assert alerting <= hit_rules, alerting - hit_rules
    assert first["alerts"] >= len(positive)
    assert first["new_alert_groups"] > 0
    assert first["incidents_opened"] > 0
    store = SqliteStore(sqlite_dir / "siem.db")
    try:
        before = store.stats()
    finally:
        store.close()
    assert before.incidents == first["incidents_opened"]

    again = report(hunt(sqlite_dir, "--rules", str(RULES), *WINDOW, "--json"))
    assert again["hits"] == first["hits"]
    assert (again["new_alert_groups"], again["incidents_opened"]) == (0, 0)
    assert again["duplicates"] == again["alerts"]
    store = SqliteStore(sqlite_dir / "siem.db")
    try:
        after = store.stats()
    finally:
        store.close()
    assert (after.alerts, after.incidents) == (before.alerts, before.incidents)


def test_hunt_filters_time_and_site(sqlite_dir: Path) -> None:
    everything = report(hunt(sqlite_dir, "--rules", str(RULES), *WINDOW, "--json",
                             "--no-alerts"))
    assert everything["events_scanned"] > 0
    later = report(hunt(sqlite_dir, "--rules", str(RULES), "--since", "2026-11-21", "--json",
                        "--no-alerts"))
    assert (later["events_scanned"], later["hits"]) == (0, 0)
    ward4 = report(hunt(sqlite_dir, "--rules", str(RULES), *WINDOW, "--site", "ward-4",
                        "--json", "--no-alerts"))
    assert 0 < ward4["events_scanned"] < everything["events_scanned"]
    nowhere = report(hunt(sqlite_dir, "--rules", str(RULES), *WINDOW, "--site", "nowhere",
                          "--json", "--no-alerts"))
    assert (nowhere["events_scanned"], nowhere["hits"]) == (0, 0)


def test_table_and_summary(sqlite_dir: Path) -> None:
    result = hunt(sqlite_dir, "--rules", str(RULES), *WINDOW)
    assert "rule id" in result.stdout
    assert "hit(s)" in result.stderr and "incident(s) opened" in result.stderr


def test_backend_engine_needs_elasticsearch(sqlite_dir: Path) -> None:
    siem = Path(sys.executable).parent / "siem"
    done = subprocess.run(
        [str(siem), "--data-dir", str(sqlite_dir), "hunt", "--rules", str(RULES),
         "--engine", "backend"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode != 0
    assert "needs the Elasticsearch store" in done.stderr


@pytest.fixture
def es_dir(es_test_cluster: es_cluster.Cluster, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    data_dir = tmp_path / "es-data"
    data_dir.mkdir()
    es = es_test_cluster.config(data_dir)
    settings = {"store": {"backend": "elasticsearch", "elasticsearch": {
        "hosts": list(es.hosts), "index_prefix": es.index_prefix,
        "compatibility": es.compatibility}}}
    config = data_dir / "siem.yaml"
    config.write_text(json.dumps(settings), encoding="utf-8")
    store = open_store(Config(store=StoreConfig(backend="elasticsearch", elasticsearch=es)),
                       data_dir)
    try:
        store.write(regression_cases()[0])
    finally:
        store.close()
    yield config, data_dir
    es_cluster.delete_indices(es_test_cluster, data_dir)


def test_hunt_on_elasticsearch_matches_sqlite(
    es_dir: tuple[Path, Path], sqlite_dir: Path
) -> None:
    config, data_dir = es_dir
    on_sqlite = report(hunt(sqlite_dir, "--rules", str(RULES), *WINDOW, "--json",
                            "--no-alerts"))
    first = report(hunt(data_dir, "--rules", str(RULES), *WINDOW, "--json", config=config))
    assert first["engine"] == "backend"
    engines = {row["engine"] for row in first["by_rule"]}
    assert engines == {"backend", "stream"}  # correlations fall back to the stream engine
    assert {row["rule_id"] for row in first["not_expressible"]} >= {
        row["rule_id"] for row in first["by_rule"] if row["engine"] == "stream"}
    hits = {row["rule_id"]: row["hits"] for row in first["by_rule"]}
    assert hits == {row["rule_id"]: row["hits"] for row in on_sqlite["by_rule"]}
    assert first["incidents_opened"] > 0
    again = report(hunt(data_dir, "--rules", str(RULES), *WINDOW, "--json", config=config))
    assert (again["new_alert_groups"], again["incidents_opened"]) == (0, 0)
    assert again["duplicates"] == again["alerts"] == first["alerts"]

"""``siem alerts`` against a real store file, through click's CliRunner with --data-dir."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli import root
from siem.alerts.service import AlertService
from siem.config import Config
from siem.errors import QueryError
from siem.store.sqlite import SqliteStore
from tests.alerts.cases import ssh_alerts, ssh_event

NOW = time.time()


@pytest.fixture
def filled(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("SIEM_CONFIG", "SIEM_HOME", "SIEM_LANG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(data_dir)
    (data_dir / "siem.yaml").write_text("officer: lan\n")
    store = SqliteStore(data_dir / "siem.db")
    try:
        AlertService(store, Config()).process(ssh_alerts(store, [ssh_event(i, NOW - 900 + i) for i in range(7)]))
    finally:
        store.close()
    yield data_dir


def run(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(root, ["--data-dir", str(data_dir), *args], env={"COLUMNS": "200"})


def process_more(data_dir: Path, source: str, index: int) -> None:
    store = SqliteStore(data_dir / "siem.db")
    try:
        AlertService(store, Config()).process(ssh_alerts(store, [ssh_event(index, NOW - 60, source=source)]))
    finally:
        store.close()


def test_list_and_show(filled: Path) -> None:
    table = run(filled, "alerts", "list")
    assert table.exit_code == 0, table.output
    assert "SSH login failure on ward3-cam-002 (ward-3) from 203.0.113.9" in table.stdout
    rows = [json.loads(line) for line in run(filled, "alerts", "list", "--json").stdout.splitlines()]
    assert [(row["count"], row["site"], row["suppressed_by"]) for row in rows] == [(7, "ward-3", None)]
    assert run(filled, "alerts", "list", "--severity", "high", "--json").stdout == ""
    assert run(filled, "alerts", "list", "--zone", "camera", "--json").stdout.count("\n") == 1
    shown = run(filled, "alerts", "show", rows[0]["id"][:10], "--json")
    document = json.loads(shown.stdout)
    assert len(document["event_ids"]) == 7 and document["incident"].startswith("INC-")
    detail = run(filled, "alerts", "show", rows[0]["id"][:10])
    assert "matched fields" in detail.stdout and "203.0.113.9" in detail.stdout
    missing = run(filled, "alerts", "show", "ffffffffffff")
    assert isinstance(missing.exception, QueryError)


def test_suppress_and_unsuppress_are_audited(filled: Path) -> None:
    config = ["--config", str(filled / "siem.yaml")]
    made = run(filled, *config, "alerts", "suppress", "--address", "198.51.100.0/24", "--reason",
               "IT vulnerability scanner", "--expires", "7d", "--json")
    assert made.exit_code == 0, made.output
    item = json.loads(made.stdout)
    assert item["created_by"] == "lan" and item["expires_at"] > NOW + 6 * 86400
    process_more(filled, "198.51.100.7", 20)
    hidden = [json.loads(line) for line in run(filled, "alerts", "list", "--suppressed", "--json").stdout.splitlines()]
    assert [row["suppressed_by"] for row in hidden] == [item["id"]]
    listed = run(filled, "alerts", "suppressions")
    assert item["id"] in listed.stdout and "IT vulnerability scanner" in listed.stdout
    assert run(filled, *config, "alerts", "unsuppress", item["id"]).exit_code == 0
    assert run(filled, "alerts", "suppressions", "--json").stdout == ""
    everything = [json.loads(line) for line in run(filled, "alerts", "suppressions", "--all", "--json")
                  .stdout.splitlines()]
    assert everything[0]["removed_by"] == "lan" and everything[0]["hits"] == 1
    store = SqliteStore(filled / "siem.db")
    try:
        log = store.audit_log(f"suppression:{item['id']}")
    finally:
        store.close()
    assert [(e["actor"], e["action"]) for e in log] == [("lan", "suppression.removed"), ("lan", "suppression.created")]


def test_suppress_rejects_bad_criteria(filled: Path) -> None:
    nothing = run(filled, "alerts", "suppress", "--reason", "x")
    assert isinstance(nothing.exception, QueryError)
    past = run(filled, "alerts", "suppress", "--site", "icu", "--reason", "x", "--expires", "2020-01-01")
    assert past.exit_code == 2 and "past" in past.output
    no_reason = run(filled, "alerts", "suppress", "--site", "icu")
    assert no_reason.exit_code == 2

"""``siem status`` against a real store file in a temporary data directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli import root
from siem import event as ecs
from siem.alert import Alert
from siem.store.base import SourceStats
from siem.store.sqlite import SqliteStore
from siem.store.sqlite.migrations import LATEST

T0 = 1795132800.0  # 2026-11-20T00:00:00Z


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    monkeypatch.delenv("SIEM_CONFIG", raising=False)
    monkeypatch.delenv("SIEM_HOME", raising=False)
    monkeypatch.chdir(data_dir)


def status(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(
        root, ["--data-dir", str(data_dir), "status", *args], env={"COLUMNS": "200"}
    )


def fill(data_dir: Path) -> None:
    store = SqliteStore(data_dir / "siem.db")
    store.write([
        {ecs.TIMESTAMP: ecs.format_timestamp(T0 + i * 60), ecs.ID: f"e{i}",
         ecs.DATASET: "syslog", ecs.ORIGINAL: f"<13>line {i}"}
        for i in range(5)
    ])
    store.write_alerts([Alert(id="a1", rule_id="r1", rule_title="Brute force", level="high",
                              first_seen=T0, last_seen=T0 + 60, event_ids=("e1",))])
    store.record_source_stats([
        SourceStats("syslog-udp:127.0.0.1:5514", received=1234, bytes=98765, dropped=7,
                    parse_failures=3, last_event_at=T0 + 240, rejected=11),
    ])
    store.close()


def test_status_table(clean_env: None, data_dir: Path) -> None:
    fill(data_dir)
    result = status(data_dir)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "sqlite" in out
    assert str(data_dir / "siem.db") in out
    assert "2026-11-20T00:00:00.000Z" in out  # oldest event
    assert "2026-11-20T00:04:00.000Z" in out  # newest event
    assert "syslog-udp:127.0.0.1:5514" in out
    assert "1,234" in out
    assert "96.5 KB" in out


def test_status_json(clean_env: None, data_dir: Path) -> None:
    fill(data_dir)
    result = status(data_dir, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    store = document["store"]
    assert (store["backend"], store["events"], store["alerts"], store["incidents"]) == (
        "sqlite", 5, 1, 0)
    assert store["schema_version"] == LATEST
    assert store["oldest_event"] == "2026-11-20T00:00:00.000Z"
    assert store["size_bytes"] > 0
    [source] = document["sources"]
    assert source == {
        "source": "syslog-udp:127.0.0.1:5514", "received": 1234, "bytes": 98765, "dropped": 7,
        "parse_failures": 3, "last_event_at": T0 + 240, "rejected": 11,
        "last_event": "2026-11-20T00:04:00.000Z",
    }


def test_status_of_a_new_data_dir(clean_env: None, data_dir: Path) -> None:
    fresh = data_dir / "new"
    result = status(fresh, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["store"]["events"] == 0
    assert document["store"]["newest_event"] is None
    assert document["sources"] == []
    table = status(fresh)
    assert "No source counters yet" in table.stdout

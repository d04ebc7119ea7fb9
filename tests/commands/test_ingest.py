"""``siem ingest``: files through the pipeline into a real store, idempotent on replay."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from cli import root
from siem.config import Config
from siem.errors import ConfigError, SourceError
from siem.store.base import EventQuery
from siem.store.factory import open_store


def ingest(data_dir: Path, *args: str) -> dict[str, int]:
    result = CliRunner().invoke(root, ["--data-dir", str(data_dir), "ingest", "--json", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary: dict[str, int] = json.loads(result.stdout.strip().splitlines()[-1])
    return summary


def test_ingest_twice_stores_once(corpus_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(corpus_dir / "loghub" / "Linux" / "Linux_2k.log", logs / "linux.log")
    shutil.copy(corpus_dir / "loghub" / "OpenSSH" / "OpenSSH_2k.log", logs / "openssh.log")
    first = ingest(data_dir, str(logs / "*.log"))
    assert first == {"records": 4000, "stored": 4000, "duplicates": 0, "parse_failures": 0, "alerts": 0}
    second = ingest(data_dir, str(logs / "*.log"))
    assert second["records"] == 4000
    assert (second["stored"], second["duplicates"]) == (0, 4000)
    store = open_store(Config(data_dir=str(data_dir)), data_dir)
    try:
        assert store.count(EventQuery()) == 4000
        assert store.count(EventQuery(fields={"event.dataset": "linux.auth"})) > 2000
    finally:
        store.close()


def test_unparsed_lines_are_kept_and_counted(corpus_dir: Path, data_dir: Path) -> None:
    summary = ingest(data_dir, str(corpus_dir / "loghub" / "Apache" / "Apache_2k.log"), "--format", "auto")
    assert summary["records"] == 2000
    assert summary["stored"] == 2000
    assert summary["parse_failures"] == 2000  # no Apache error-log parser yet: kept as 'unknown'


def test_text_summary_and_missing_files(data_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "one.log"
    log.write_text("<13>Nov 25 10:00:00 host app: hello\n")
    result = CliRunner().invoke(root, ["--data-dir", str(data_dir), "ingest", str(log)])
    assert result.exit_code == 0
    assert "records: 1  events stored: 1  duplicates: 0  parse failures: 0" in result.stdout
    missing = CliRunner().invoke(root, ["--data-dir", str(data_dir), "ingest", str(tmp_path / "nope*.log")])
    assert isinstance(missing.exception, SourceError)
    assert "no file matches" in str(missing.exception)


def test_unknown_time_zone_is_refused(data_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "one.log"
    log.write_text("<13>Nov 25 10:00:00 host app: hello\n")
    result = CliRunner().invoke(root, ["--data-dir", str(data_dir), "ingest", "--timezone", "Mars/Olympus", str(log)])
    assert isinstance(result.exception, ConfigError)
    assert "unknown time zone 'Mars/Olympus'" in str(result.exception)


def test_time_zone_applies_to_ingested_lines(data_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "hcm.log"
    log.write_text("<13>2026-11-25T16:30:00 host app: local time\n")
    ingest(data_dir, "--timezone", "Asia/Ho_Chi_Minh", str(log))
    store = open_store(Config(data_dir=str(data_dir)), data_dir)
    try:
        [event] = store.search(EventQuery())
    finally:
        store.close()
    assert event["@timestamp"] == "2026-11-25T09:30:00.000Z"

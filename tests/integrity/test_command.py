"""``siem verify`` and the ``log-integrity`` compliance check, on a real store in a data directory."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli import root
from siem.compliance.loader import load_check
from siem.compliance.model import FAIL, PASS
from siem.compliance.runner import ScanContext, run_checks
from siem.incidents.config import SlaTable
from siem.store.sqlite import SqliteStore
from tests.conftest import PROJECT_ROOT
from tests.integrity.conftest import NOW, make_event, tamper

CHECK = PROJECT_ROOT / "rules" / "compliance" / "checks" / "log-integrity.yml"


@pytest.fixture
def filled(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A data directory whose store holds two sealed batches; no config file or env is read."""
    monkeypatch.delenv("SIEM_CONFIG", raising=False)
    monkeypatch.delenv("SIEM_HOME", raising=False)
    monkeypatch.chdir(data_dir)
    store = SqliteStore(data_dir / "siem.db")
    store.write([make_event(index) for index in range(5)])
    store.write([make_event(index) for index in range(5, 10)])
    store.close()
    yield data_dir


def siem_verify(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(root, ["--data-dir", str(data_dir), "verify", *args])


def test_intact_store_exits_0_and_prints_the_head(filled: Path) -> None:
    result = siem_verify(filled)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: 2 seals, 2 batches checked (10 events")
    assert "head: seal 2 chain " in result.stdout


def test_broken_store_exits_1_naming_the_first_broken_batch(filled: Path) -> None:
    tamper(filled / "siem.db", "UPDATE events SET original = 'edited' WHERE id = 'evt-00007'")
    result = siem_verify(filled)
    assert result.exit_code == 1, result.output
    first_line = result.stdout.splitlines()[0]
    assert first_line.startswith("BROKEN: seal 2 (events 6–10, sealed ")
    assert first_line.endswith("rows were changed (the digest differs)")
    assert "head:" not in result.stdout


def test_json_result(filled: Path) -> None:
    tamper(filled / "siem.db", "DELETE FROM events WHERE id = 'evt-00001'")
    result = siem_verify(filled, "--json", "--since", "1h")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert data["first_broken"]["seal"] == 1
    assert data["first_broken"]["first"] == 1 and data["first_broken"]["last"] == 5


def test_saved_anchor_catches_a_truncation(filled: Path, tmp_path: Path) -> None:
    anchor = tmp_path / "elsewhere" / "head.json"
    anchor.parent.mkdir()
    assert siem_verify(filled, "--save-anchor", str(anchor)).exit_code == 0
    tamper(filled / "siem.db", "DROP TRIGGER seals_no_delete", "DELETE FROM events WHERE seq > 5",
           "DELETE FROM seals WHERE id = 2")
    (filled / "siem.db.seal-head").unlink()
    assert siem_verify(filled).exit_code == 0  # without the anchor, this cannot be told
    result = siem_verify(filled, "--anchor", str(anchor))
    assert result.exit_code == 1
    assert "the anchor records seal 2, but the store ends at seal 1" in result.stdout


def test_bad_since_is_a_usage_error(filled: Path) -> None:
    result = siem_verify(filled, "--since", "yesterday-ish")
    assert result.exit_code == 2
    assert "--since" in result.output


def test_exit_status_through_the_installed_entry_point(filled: Path) -> None:
    tamper(filled / "siem.db", "DELETE FROM events WHERE id = 'evt-00009'")
    done = subprocess.run([sys.executable, str(PROJECT_ROOT / "cli.py"), "--data-dir", str(filled), "verify"],
                          capture_output=True, text=True, timeout=60, check=False, cwd=filled)
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("BROKEN: seal 2 ")


def test_compliance_check_passes_then_fails(filled: Path) -> None:
    check = load_check(CHECK)

    def run() -> tuple[str, float | None, list[str]]:
        store = SqliteStore(filled / "siem.db")
        try:
            context = ScanContext(store=store, inventory=None, sla=SlaTable(), data_path=filled, now=NOW,
                                  since=NOW - 7 * 86400)
            result = run_checks([check], context)[0]
        finally:
            store.close()
        return result.status, result.value, result.details

    assert run()[:2] == (PASS, 0.0)
    tamper(filled / "siem.db", "UPDATE events SET doc = '{}' WHERE id = 'evt-00002'")
    status, value, details = run()
    assert (status, value) == (FAIL, 1.0)
    assert details[0].startswith("BROKEN: seal 1 ")

"""A real ``siem run`` process starting a scheduled ``siem scan`` (a 6-field, seconds cron
expression keeps it to seconds), then stopping cleanly on SIGTERM."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from siem.schedule.state import LOG_DIR, load_state
from tests.conftest import PROJECT_ROOT, free_port


def test_siem_run_starts_scheduled_jobs(tmp_path: Path, data_dir: Path) -> None:
    checks = tmp_path / "checks"
    checks.mkdir()
    shutil.copy(PROJECT_ROOT / "rules" / "compliance" / "checks" / "cleartext-management.yml", checks)
    report = tmp_path / "report.json"
    config = tmp_path / "siem.yaml"
    config.write_text(
        f"sources:\n  - {{type: syslog, transport: tcp, port: {free_port()}}}\n"
        "store: {retention: {max_age_days: 0}}\n"
        "schedule:\n"
        f"  - {{name: scan-often, cron: '*/2 * * * * *', command: 'scan --checks {checks} --format json"
        f" --output {report}'}}\n", encoding="utf-8")
    stderr = tmp_path / "stderr.txt"
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "cli.py"), "--config", str(config), "--data-dir", str(data_dir), "run"],
            stdout=subprocess.DEVNULL, stderr=err, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        state = None
        while time.monotonic() < deadline and process.poll() is None:
            state = load_state(data_dir).get("scan-often") if (data_dir / "schedule").exists() else None
            if state is not None and state.result == "ok":
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"no scheduled run finished: {stderr.read_text()}")
        assert state is not None and state.exit_code == 0
        assert json.loads(report.read_text(encoding="utf-8"))["results"][0]["id"] == "cleartext-management"
        assert "schedule: scan-often at " in stderr.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
    assert code == 0, stderr.read_text()
    assert "--- " in (data_dir / LOG_DIR / "scan-often.log").read_text(encoding="utf-8")

"""``siem triage`` as a real process on a pseudo-terminal: it shows the queue, a key acknowledges
the top incident in the store (audited as the configured officer), and q quits cleanly."""

from __future__ import annotations

import os
import pty
import select
import sys
import time
from pathlib import Path

import pytest

from siem.alerts.service import AlertService
from siem.config import Config
from siem.store.sqlite import SqliteStore
from tests.alerts.cases import ssh_alerts, ssh_event
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")


def read_until(fd: int, wanted: bytes, seconds: float) -> bytes:
    """Output of the child until ``wanted`` appears (or the time is up)."""
    seen = b""
    deadline = time.monotonic() + seconds
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_triage_runs_acknowledges_and_quits(data_dir: Path) -> None:
    (data_dir / "siem.yaml").write_text("officer: lan\n")
    store = SqliteStore(data_dir / "siem.db")
    try:
        opened = AlertService(store, Config()).process(
            ssh_alerts(store, [ssh_event(i, time.time() - 60 + i) for i in range(4)])).opened
    finally:
        store.close()
    incident_id = opened[0].id
    pid, fd = pty.fork()
    if pid == 0:  # the child: siem triage on the pseudo-terminal
        os.environ.update(COLUMNS="150", LINES="40", TERM="xterm-256color")
        os.execv(sys.executable, [sys.executable, str(PROJECT_ROOT / "cli.py"), "--config",
                                  str(data_dir / "siem.yaml"), "--data-dir", str(data_dir), "triage"])
    try:
        screen = read_until(fd, incident_id.encode(), 30)
        assert incident_id.encode() in screen
        os.write(fd, b"a")
        read_until(fd, b"acknowledged.", 15)
        os.write(fd, b"q")
        read_until(fd, b"\x00never", 15)  # drain until the child exits
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    store = SqliteStore(data_dir / "siem.db")
    try:
        stored = store.get_incident(incident_id)
        log = store.audit_log(f"incident:{incident_id}")
    finally:
        store.close()
    assert stored is not None and stored.status == "acknowledged"
    assert (log[0]["actor"], log[0]["action"]) == ("lan", "incident.acknowledged")

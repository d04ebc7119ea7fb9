"""Real centre and ward processes on loopback, with a throwaway CA for mutual TLS."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from siem import event as ecs
from siem.config import Config
from siem.store.base import EventQuery
from siem.store.factory import open_store
from tests.conftest import PROJECT_ROOT, free_port
from tests.forward.certs import Pair, TestCA


@dataclass
class Pki:
    ca: TestCA
    centre: Pair
    ward: Pair
    directory: Path


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca = TestCA(tmp_path / "pki")
    return Pki(ca, ca.issue("centre", server=True), ca.issue("ward-3", server=False), tmp_path / "pki")


@dataclass
class Process:
    """A ``siem run`` subprocess and where its stderr goes."""

    args: list[str]
    cwd: Path
    stderr: Path
    process: subprocess.Popen[bytes] = field(init=False)

    def start(self) -> Process:
        with self.stderr.open("ab") as err:
            self.process = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=err, cwd=self.cwd)
        deadline = time.monotonic() + 30
        while "listening on" not in self.log_since_start():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                pytest.fail(f"siem run did not start: {self.stderr.read_text()}")
            time.sleep(0.05)
        return self

    def log_since_start(self) -> str:
        text = self.stderr.read_text()
        return text.rpartition("--- start ---")[2]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


class Processes:
    """Starts centre and ward processes and kills whatever is left at the end."""

    def __init__(self, tmp_path: Path, pki: Pki) -> None:
        self.tmp_path = tmp_path
        self.pki = pki
        self.started: list[Process] = []
        self.centre_port = free_port()

    def _run(self, name: str, config: str, data_dir: Path, *extra: str) -> Process:
        path = self.tmp_path / f"{name}.yaml"
        path.write_text(config)
        stderr = self.tmp_path / f"{name}-stderr.txt"
        with stderr.open("a") as handle:
            handle.write("--- start ---\n")
        args = [sys.executable, str(PROJECT_ROOT / "cli.py"), "--config", str(path), "--data-dir", str(data_dir)]
        process = Process([*args, "run", *extra], self.tmp_path, stderr).start()
        self.started.append(process)
        return process

    def centre(self, data_dir: Path) -> Process:
        pki = self.pki
        tls = f"{{cert_file: '{pki.centre.cert}', key_file: '{pki.centre.key}', ca_file: '{pki.ca.ca_file}'}}"
        config = (
            "sources:\n"
            f"  - {{type: forwarder, name: wards, host: '127.0.0.1', port: {self.centre_port}, tls: {tls}}}\n"
            "pipeline: {flush_interval: 0.05}\n"
            "store: {retention: {max_age_days: 0}}\n"
            "detection: {rules: []}\n"
        )
        return self._run("centre", config, data_dir)

    def ward(self, data_dir: Path, syslog_port: int, *, buffer_mb: float = 64, extra: str = "") -> Process:
        pki = self.pki
        config = (
            "site: ward-3\n"
            "sources:\n"
            f"  - {{type: syslog, name: ward-tcp, transport: tcp, host: '127.0.0.1', port: {syslog_port}}}\n"
            f"{extra}"
            "forwarder:\n"
            f"  host: '127.0.0.1'\n  port: {self.centre_port}\n"
            f"  cert_file: '{pki.ward.cert}'\n  key_file: '{pki.ward.key}'\n  ca_file: '{pki.ca.ca_file}'\n"
            f"  buffer_max_mb: {buffer_mb}\n  alarm_percent: 50\n  reconnect_max_seconds: 0.5\n  timeout: 10\n"
        )
        return self._run("ward", config, data_dir, "--role", "forwarder")

    def kill_all(self) -> None:
        for process in self.started:
            process.kill()


@pytest.fixture
def processes(tmp_path: Path, pki: Pki) -> Iterator[Processes]:
    running = Processes(tmp_path, pki)
    yield running
    running.kill_all()


def stored(data_dir: Path) -> list[dict[str, object]]:
    """The centre's events, oldest first (event time, then write order)."""
    store = open_store(Config(data_dir=str(data_dir)), data_dir)
    try:
        return list(store.scan(EventQuery()))
    finally:
        store.close()


def messages(events: list[dict[str, object]]) -> list[str]:
    """The ``message`` of each event."""
    return [str(event.get(ecs.MESSAGE)) for event in events]

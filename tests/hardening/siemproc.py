"""A real ``siem run`` process for the hardening tests: config, start, stop, what it stored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from siem import event as ecs
from siem.config import Config
from siem.store.base import EventQuery
from siem.store.factory import open_store
from tests.conftest import PROJECT_ROOT

#: A syslog line; ``n`` makes each one unique.
LINE = b"<13>Nov 25 10:00:00 host app[7]: hardening %07d\n"


@dataclass
class SiemProcess:
    """One ``siem run`` child; ``stderr`` collects its log."""

    process: subprocess.Popen[bytes]
    stderr: Path
    data_dir: Path

    def log(self) -> str:
        return self.stderr.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


def start_siem(
    config_text: str, work: Path, data_dir: Path, *, env: dict[str, str] | None = None, wait_for: str = "listening on"
) -> SiemProcess:
    """Write ``config_text`` to ``work/siem.yaml``, start ``siem run`` and wait until it listens."""
    config = work / "siem.yaml"
    config.write_text(config_text)
    stderr = work / f"siem-{time.monotonic_ns()}.log"
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "cli.py"), "--config", str(config), "--data-dir", str(data_dir), "run",
             "--no-status-line"],
            stdout=subprocess.DEVNULL, stderr=err, cwd=work, env={**os.environ, **(env or {})},
        )  # fmt: skip
    child = SiemProcess(process, stderr, data_dir)
    deadline = time.monotonic() + 60
    while wait_for not in child.log():
        if process.poll() is not None or time.monotonic() > deadline:
            child.kill()
            pytest.fail(f"siem run did not start: {child.log()}")
        time.sleep(0.05)
    return child


@dataclass(frozen=True)
class Proc:
    """A process as /proc shows it: pid, start time (in clock ticks: tells a reused pid apart)
    and command line."""

    pid: int
    started: int
    cmdline: str

    def running(self) -> bool:
        """Whether this very process still runs (a zombie, or a new process on its pid, does not)."""
        stat = _stat(self.pid)
        return stat is not None and stat[2] == self.started and stat[0] not in "ZX"


def _stat(pid: int) -> tuple[str, int, int] | None:
    """State, parent pid and start time of ``pid`` from /proc/PID/stat; None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1]), int(fields[19])


def children(pid: int) -> list[Proc]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        if stat is None or stat[1] != pid:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        found.append(Proc(int(entry.name), stat[2], cmdline))
    return found


def stored_messages(data_dir: Path) -> list[str]:
    """``message`` of every stored event."""
    store = open_store(Config(data_dir=str(data_dir)), data_dir)
    try:
        return [str(event.get(ecs.MESSAGE)) for event in store.search(EventQuery(limit=10_000_000))]
    finally:
        store.close()


def stored_count(data_dir: Path) -> int:
    """How many events the store holds."""
    store = open_store(Config(data_dir=str(data_dir)), data_dir)
    try:
        return store.count(EventQuery())
    finally:
        store.close()

"""Disk full: a real ``siem run`` on a small tmpfs; sources pause, nothing accepted is lost, and
ingestion resumes when space returns. Needs root (CI runs as root) to mount the tmpfs."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.hardening.siemproc import LINE, start_siem, stored_count, stored_messages

#: Big enough for everything the test sends once the ballast is gone (RAM is used only as written).
DISK_MB = 320
#: Free space left beside the ballast when the test starts sending.
LEFT_MB = 4
CHUNK = 100


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A fresh tmpfs of DISK_MB mounted under ``tmp_path`` (skipped unless root and mount works)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs the suite as root)")
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m,mode=0700", "tmpfs", str(disk)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=30, check=False)


def fill(disk: Path, leave_bytes: int) -> Path:
    """A ballast file that leaves about ``leave_bytes`` free on ``disk``."""
    info = os.statvfs(disk)
    size = info.f_bavail * info.f_frsize - leave_bytes
    ballast = disk / "ballast"
    with ballast.open("wb") as handle:
        block = b"\0" * (1024 * 1024)
        while size > 0:
            size -= handle.write(block[: min(size, len(block))])
    return ballast


class Sender(threading.Thread):
    """Streams numbered lines over one TCP connection, CHUNK at a time, until told to stop.

    ``accepted`` is how many lines were in chunks whose ``sendall`` completed.
    """

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.accepted = 0
        self.finish = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=120) as sock:
                while not self.finish.is_set():
                    sock.sendall(b"".join(LINE % n for n in range(self.accepted, self.accepted + CHUNK)))
                    self.accepted += CHUNK
        except BaseException as exc:  # reported by the test
            self.error = exc

    def stalled(self, seconds: float) -> bool:
        """Whether no chunk completed during ``seconds`` (the sender is blocked)."""
        before = self.accepted
        time.sleep(seconds)
        return self.accepted == before


@pytest.mark.parametrize("reserve_mb", [2, 0], ids=["spool-reserve", "no-reserve"])
def test_full_disk_pauses_sources_keeps_everything_and_resumes(
    small_disk: Path, tmp_path: Path, reserve_mb: int
) -> None:
    """With a reserve the spool stops taking records first and the store commits into the
    reserve; without one the store meets the full disk, retries, and the queue fills, so the
    sources wait on it. Either way the log says the disk is full and the sender blocks."""
    data_dir = small_disk / "siem-data"
    port = free_port()
    config = (
        f"sources:\n  - {{type: syslog, name: tcp-in, transport: tcp, host: 127.0.0.1, port: {port}}}\n"
        "detection: {rules: []}\n"
        f"pipeline: {{flush_interval: 0.1, queue_size: 5000, spool_min_free_mb: {reserve_mb}}}\n"
        "store: {retention: {max_age_days: 0}}\n"
    )
    siem = start_siem(config, tmp_path, data_dir)
    sender = Sender(port)
    try:
        ballast = fill(small_disk, LEFT_MB * 1024 * 1024)
        sender.start()
        deadline = time.monotonic() + 90
        while not ("is full" in siem.log() and sender.stalled(2.0)):
            assert siem.alive(), f"siem run died on a full disk: {siem.log()}"
            assert sender.error is None, sender.error
            assert time.monotonic() < deadline, f"the disk never filled: {siem.log()}"
        assert siem.alive(), f"siem run died on a full disk: {siem.log()}"
        if reserve_mb:
            assert "sources pause until space returns" in siem.log()
        paused_at = sender.accepted
        assert sender.stalled(1.0), "the sender should stay blocked while the disk is full"

        ballast.unlink()  # space returns
        deadline = time.monotonic() + 60
        while sender.accepted < paused_at + 20 * CHUNK:
            assert sender.error is None, sender.error
            assert time.monotonic() < deadline, f"ingestion did not resume: {siem.log()}"
            time.sleep(0.05)
        sender.finish.set()
        sender.join(60)
        assert sender.error is None, sender.error
        total = sender.accepted
        deadline = time.monotonic() + 90
        while stored_count(data_dir) < total and time.monotonic() < deadline:
            assert siem.alive(), siem.log()
            time.sleep(0.2)
        assert siem.stop() == 0, siem.log()
    finally:
        sender.finish.set()
        siem.kill()
    if reserve_mb:
        assert "sources resume" in siem.log()
    messages = stored_messages(data_dir)
    print(f"paused at {paused_at} lines; {total} accepted in all")
    assert len(messages) == total  # each once
    assert sorted(messages) == [f"hardening {n:07d}" for n in range(total)]

"""``siem run`` as a real process: real senders on loopback, SIGTERM and kill -9 recovery."""

from __future__ import annotations

import logging
import logging.handlers
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from siem import event as ecs
from siem.config import Config
from siem.pipeline.spool import Spool
from siem.store.base import EventQuery
from siem.store.factory import open_store
from tests.conftest import PROJECT_ROOT, free_port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    stderr: Path
    data_dir: Path
    ports: dict[str, int]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=30)


def write_config(path: Path, ports: dict[str, int]) -> None:
    sources = "".join(
        f"  - {{type: syslog, name: {name}, transport: {name.split('-')[0]}, "
        f"host: '{'::1' if name.endswith('6') else '127.0.0.1'}', port: {port}}}\n"
        for name, port in ports.items()
    )
    # No retention: the test lines carry fixed dates that may be old when the tests run.
    path.write_text(
        f"sources:\n{sources}pipeline: {{flush_interval: 0.1}}\nstore: {{retention: {{max_age_days: 0}}}}\n"
    )


def start_server(tmp_path: Path, data_dir: Path, ports: dict[str, int]) -> Server:
    config = tmp_path / "siem.yaml"
    write_config(config, ports)
    stderr = tmp_path / f"stderr-{time.monotonic_ns()}.txt"
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "cli.py"), "--config", str(config), "--data-dir", str(data_dir), "run"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=tmp_path,
        )
    deadline = time.monotonic() + 30
    while "listening on" not in stderr.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"siem run did not start: {stderr.read_text()}")
        time.sleep(0.05)
    return Server(process, stderr, data_dir, ports)


@pytest.fixture
def server(tmp_path: Path, data_dir: Path) -> Iterator[Server]:
    ports = {
        "udp-4": free_port(socket.SOCK_DGRAM),
        "tcp-4": free_port(),
        "udp-6": free_port(socket.SOCK_DGRAM, "::1"),
        "tcp-6": free_port(host="::1"),
    }
    running = start_server(tmp_path, data_dir, ports)
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def stored_messages(data_dir: Path) -> list[str]:
    store = open_store(Config(data_dir=str(data_dir)), data_dir)
    try:
        return [str(e.get(ecs.MESSAGE)) for e in store.search(EventQuery(limit=1_000_000))]
    finally:
        store.close()


def test_senders_over_udp_tcp_ipv4_ipv6_are_stored(server: Server) -> None:
    ports = server.ports
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"<13>Nov 25 10:00:00 host app: udp4 datagram", ("127.0.0.1", ports["udp-4"]))
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as udp6:
        udp6.sendto(b"<13>1 2026-11-25T10:00:00Z host app - - - udp6 datagram", ("::1", ports["udp-6"]))
    with socket.create_connection(("127.0.0.1", ports["tcp-4"])) as tcp:
        tcp.sendall(b"<13>Nov 25 10:00:00 host app: tcp lf 1\n<13>Nov 25 10:00:00 host app: tcp lf 2\n")
    with socket.create_connection(("::1", ports["tcp-6"])) as tcp6:
        frame = b"<13>Nov 25 10:00:00 host app: tcp6 octet"
        tcp6.sendall(b"%d %s" % (len(frame), frame))
    expected = {"udp4 datagram", "udp6 datagram", "tcp lf 1", "tcp lf 2", "tcp6 octet"}
    # Python's own SysLogHandler as a sender, over UDP and TCP.
    for kind, port, text in (
        (socket.SOCK_DGRAM, ports["udp-4"], "handler udp"),
        (socket.SOCK_STREAM, ports["tcp-4"], "handler tcp"),
    ):
        handler = logging.handlers.SysLogHandler(address=("127.0.0.1", port), socktype=kind)
        handler.append_nul = kind == socket.SOCK_STREAM
        handler.setFormatter(logging.Formatter("pyapp: %(message)s"))
        handler.emit(logging.LogRecord("t", logging.WARNING, __file__, 1, text, None, None))
        handler.close()
        expected.add(text)
    if shutil.which("logger"):  # util-linux logger: RFC 5424 over UDP, TCP with octet counting
        for flag, text in (("--udp", "logger udp"), ("--tcp", "logger tcp")):
            port = ports["udp-4"] if flag == "--udp" else ports["tcp-4"]
            command = ["logger", "-n", "127.0.0.1", "-P", str(port), flag, "-t", "ward3", text]
            if flag == "--tcp":
                command.insert(-1, "--octet-count")
            subprocess.run(command, check=True, timeout=10)
            expected.add(text)
    deadline = time.monotonic() + 10
    while not expected <= set(stored_messages(server.data_dir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.stop() == 0
    assert expected <= set(stored_messages(server.data_dir))
    assert "stopped:" in server.stderr.read_text()


def test_sigterm_commits_everything_received(server: Server) -> None:
    total = 20_000
    payload = b"".join(b"<13>Nov 25 10:00:00 host app[7]: graceful %06d\n" % n for n in range(total))
    with socket.create_connection(("127.0.0.1", server.ports["tcp-4"])) as tcp:
        tcp.sendall(payload)
    assert server.stop(signal.SIGTERM) == 0  # right away: most lines are still queued
    messages = stored_messages(server.data_dir)
    assert len(messages) == total
    assert len(set(messages)) == total


def test_kill_9_then_restart_stores_every_line_exactly_once(server: Server, tmp_path: Path) -> None:
    total = 30_000
    payload = b"".join(b"<13>Nov 25 10:00:00 host app[7]: crash %06d\n" % n for n in range(total))
    with socket.create_connection(("127.0.0.1", server.ports["tcp-4"])) as tcp:
        tcp.sendall(payload)
    spool = Spool(server.data_dir / "spool")
    deadline = time.monotonic() + 30
    while sum(len(batch) for batch in spool.replay(None)) < total:  # journaled, maybe not stored
        assert time.monotonic() < deadline, "the spool never held every line"
        time.sleep(0.02)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=10)
    before = len(stored_messages(server.data_dir))
    restarted = start_server(tmp_path, server.data_dir, server.ports)
    deadline = time.monotonic() + 60
    while len(stored_messages(server.data_dir)) < total and time.monotonic() < deadline:
        time.sleep(0.2)
    assert restarted.stop() == 0
    messages = stored_messages(server.data_dir)
    print(f"stored before kill -9: {before} of {total}")
    assert len(messages) == total
    assert sorted(messages) == [f"crash {n:06d}" for n in range(total)]
    assert "replaying" in restarted.stderr.read_text() or before == total


def test_port_in_use_fails_with_a_clear_message(tmp_path: Path, data_dir: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        config = tmp_path / "siem.yaml"
        write_config(config, {"tcp-4": port})
        result = subprocess.run(
            [sys.executable, str(PROJECT_ROOT / "cli.py"), "--config", str(config), "--data-dir", str(data_dir), "run"],
            capture_output=True, text=True, timeout=30, env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
    assert result.returncode == 6
    assert f"cannot listen on tcp://127.0.0.1:{port}" in result.stderr


def test_run_applies_retention(tmp_path: Path, data_dir: Path) -> None:
    store = open_store(Config(data_dir=str(data_dir)), data_dir)
    old = {ecs.ID: "old", ecs.TIMESTAMP: "2020-01-01T00:00:00.000Z", ecs.DATASET: "syslog", ecs.ORIGINAL: "x"}
    new = {ecs.ID: "new", ecs.TIMESTAMP: ecs.format_timestamp(time.time()), ecs.DATASET: "syslog", ecs.ORIGINAL: "y"}
    store.write([old, new])
    store.close()
    config = tmp_path / "siem.yaml"
    config.write_text("sources: []\nstore: {retention: {max_age_days: 30}}\n")
    process = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "cli.py"), "--config", str(config), "--data-dir", str(data_dir), "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while stored_ids(data_dir) != {"new"} and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert stored_ids(data_dir) == {"new"}


def stored_ids(data_dir: Path) -> set[str]:
    store = open_store(Config(data_dir=str(data_dir)), data_dir)
    try:
        return {str(e[ecs.ID]) for e in store.search(EventQuery(limit=100))}
    finally:
        store.close()

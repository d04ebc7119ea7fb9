"""Live capture on the loopback interface: the capture source and ``siem capture``.

These need root or CAP_NET_RAW (CI runs as root) and skip with the reason otherwise. Traffic
goes only to 127.0.0.1, on a free port the BPF filter selects, a bounded number of packets.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.registry import create_parser
from collectors.sources.capture import CaptureSource
from collectors.sources.contract import SourceOptions
from siem import event as ecs
from siem.config import Config, PipelineConfig
from siem.errors import SourceError
from siem.pipeline import Pipeline
from siem.store.base import EventQuery, Store
from siem.store.factory import open_store
from tests.collectors.waiting import wait_until
from tests.conftest import PROJECT_ROOT, free_port

DATAGRAMS = 5
PAYLOAD = 200
#: Ethernet (zeroed on loopback) + IPv4 + UDP headers and the payload.
UDP_FRAME = 14 + 20 + 8 + PAYLOAD


def _can_capture() -> str | None:
    """Why live capture cannot run here, or None when it can."""
    if not hasattr(socket, "AF_PACKET"):
        return "no packet sockets on this system"
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)).close()
    except PermissionError:
        return "live capture needs root or CAP_NET_RAW"
    return None


pytestmark = pytest.mark.skipif(_can_capture() is not None, reason=str(_can_capture()))


@pytest.fixture
def store(data_dir: Path) -> Iterator[Store]:
    opened = open_store(Config(data_dir=str(data_dir)), data_dir)
    yield opened
    opened.close()


def send_traffic(port: int) -> bytes:
    """DATAGRAMS UDP datagrams and one TCP connection with a request, to 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for _ in range(DATAGRAMS):
            udp.sendto(b"u" * PAYLOAD, ("127.0.0.1", port))
    request = b"GET /snapshot.jpg HTTP/1.1\r\nHost: cam-w3-001\r\n\r\n"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen(1)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            server, _ = listener.accept()
            with server:
                client.sendall(request)
                assert server.recv(4096) == request
    return request


def flows_to(store: Store, port: int) -> dict[str, dict[str, object]]:
    """Flow records towards ``port`` by transport."""
    events = store.search(EventQuery(fields={ecs.DATASET: "network.flow"}, limit=10_000))
    return {str(e["network.transport"]): e for e in events if e.get(ecs.DESTINATION_PORT) == port}


def test_loopback_capture_stores_flows_with_packets_and_bytes(store: Store) -> None:
    port = free_port()  # free for TCP; the UDP datagrams to it are simply refused
    options = SourceOptions(name="capture:lo", kind="capture", interface="lo", bpf=f"port {port}")
    source = CaptureSource(options)
    source.open()
    pipeline = Pipeline(store, create_parser, config=PipelineConfig(flush_interval=0.05))
    pipeline.start()
    pipeline.add_source(source, spooled=False)
    try:
        request = send_traffic(port)
    finally:
        pipeline.stop()  # reads what the kernel holds, then flushes the open flows
    flows = flows_to(store, port)
    udp = flows["udp"]
    # Each datagram counted once although loopback shows it going out and coming in.
    assert udp["network.packets"] == DATAGRAMS
    assert udp["network.bytes"] == DATAGRAMS * UDP_FRAME
    assert udp[ecs.SOURCE_IP] == udp[ecs.DESTINATION_IP] == "127.0.0.1"
    tcp = flows["tcp"]
    assert int(str(tcp["source.packets"])) >= 3  # SYN, ACK, the request
    assert int(str(tcp["source.bytes"])) >= len(request) + 3 * (14 + 20 + 20)
    assert "S" in str(tcp["flow.tcp.source_flags"])
    http = list(store.search(EventQuery(fields={ecs.DATASET: "network.http"}, limit=10)))
    assert any(e.get("url.path") == "/snapshot.jpg" for e in http)
    assert pipeline.totals.parse_failures == 0


def test_unknown_interface_and_bad_filter_are_clear_errors() -> None:
    with pytest.raises(SourceError, match="no network interface named 'nosuch0'"):
        CaptureSource(SourceOptions(name="c", kind="capture", interface="nosuch0")).open()
    with pytest.raises(SourceError, match="bad capture filter"):
        CaptureSource(SourceOptions(name="c", kind="capture", interface="lo", bpf="port banana")).open()


def _siem(data_dir: Path, *args: str) -> list[str]:
    return [sys.executable, str(PROJECT_ROOT / "cli.py"), "--data-dir", str(data_dir), *args]


def test_siem_capture_runs_the_pipeline_until_sigterm(tmp_path: Path, data_dir: Path) -> None:
    port = free_port()
    stderr = tmp_path / "stderr.txt"
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            _siem(data_dir, "capture", "--interface", "lo", "--bpf", f"port {port}", "--json"),
            stdout=subprocess.PIPE,
            stderr=err,
        )
    try:
        wait_until(lambda: "capturing on" in stderr.read_text() or process.poll() is not None, timeout=30)
        assert process.poll() is None, stderr.read_text()
        send_traffic(port)
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr.read_text()
    counts = json.loads(out)
    assert counts["packets"] >= DATAGRAMS + 4
    assert counts["stored"] >= 2
    store = open_store(Config(data_dir=str(data_dir)), data_dir)
    try:
        udp = flows_to(store, port)["udp"]
        assert udp["network.packets"] == DATAGRAMS
        assert udp["network.bytes"] == DATAGRAMS * UDP_FRAME
        assert [s.source for s in store.source_stats()] == ["capture:lo"]
    finally:
        store.close()


def test_siem_capture_stops_after_count_packets(tmp_path: Path, data_dir: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    process = subprocess.Popen(
        _siem(data_dir, "capture", "-i", "lo", "--bpf", f"udp port {port}", "--count", "3", "--json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        assert b"capturing on" in process.stderr.readline()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for _ in range(DATAGRAMS):  # more than --count; only 3 are counted
                udp.sendto(b"c" * PAYLOAD, ("127.0.0.1", port))
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert json.loads(out)["packets"] == 3


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux) to drop CAP_NET_RAW")
def test_without_privilege_the_error_says_how_to_grant_it(data_dir: Path) -> None:
    # The same user without the capability: what an unprivileged operator gets.
    drop = ["setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw"]
    result = subprocess.run(
        [*drop, *_siem(data_dir, "capture", "-i", "lo", "--duration", "1")], capture_output=True, timeout=60
    )
    stderr = result.stderr.decode()
    assert result.returncode != 0
    assert "CAP_NET_RAW" in stderr
    assert "setcap cap_net_raw+ep" in stderr

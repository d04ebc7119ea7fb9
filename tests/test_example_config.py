"""examples/siem.yaml loads, and ``siem run`` with a config derived from it takes syslog over UDP,
TCP and TLS, tails a file, reads a pcap, labels every event with its site and zone, and
``siem status --json`` shows each source with counts (a real process, real sockets, real files)."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from siem import event as ecs
from siem.config import Config, load_config
from siem.enrich.inventory import Inventory
from siem.store.base import EventQuery
from siem.store.factory import open_store
from tests.conftest import PROJECT_ROOT, free_port

EXAMPLE = PROJECT_ROOT / "examples" / "siem.yaml"
INVENTORY = PROJECT_ROOT / "examples" / "inventory.yaml"


def test_the_example_config_loads_with_every_kind_of_source() -> None:
    config = load_config(str(EXAMPLE))
    kinds = {(source.type, source.transport if source.type == "syslog" else "") for source in config.sources}
    assert kinds == {("syslog", "udp"), ("syslog", "tcp"), ("syslog", "tls"), ("file", ""), ("pcap", "")}
    assert len({source.label for source in config.sources}) == len(config.sources)
    assert config.inventory is not None and (PROJECT_ROOT / config.inventory).resolve() == INVENTORY
    Inventory.load(INVENTORY)  # the inventory it names is valid
    assert all((PROJECT_ROOT / path).is_dir() for path in config.detection.rules)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """The example's one-line openssl command, run into ``directory``."""
    cert, key = directory / "server.pem", directory / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=siem",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def build_pcap(path: Path) -> int:
    """A ward-1 camera's UDP flow to the SIEM server and a DNS query; returns the event count."""
    from scapy.layers.dns import DNS, DNSQR
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from scapy.utils import wrpcap

    start = time.time() - 60  # recent: retention keeps it
    frames = []
    for n in range(3):
        frame = Ether() / IP(src="10.1.64.11", dst="10.0.2.10") / UDP(sport=40000, dport=514) / Raw(b"c" * 50)
        frame.time = start + n
        frames.append(frame)
    query = Ether() / IP(src="10.1.64.12", dst="10.0.2.53") / UDP(sport=40001, dport=53)
    query = query / DNS(id=1, rd=1, qd=DNSQR(qname="ntp.example."))
    query.time = start + 5
    frames.append(query)
    wrpcap(str(path), frames)
    return 3  # two flow records and one DNS query


def derived_config(tmp_path: Path, ports: dict[str, int], log: Path, captures: Path) -> Path:
    """The example with free loopback ports, a fresh certificate and temporary files."""
    raw: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    cert, key = make_certificate(tmp_path)
    for source in raw["sources"]:
        if source["type"] == "syslog":
            source["host"] = "127.0.0.1"
            source["port"] = ports[source["transport"]]
            if source["transport"] == "tls":
                source["tls"] = {"cert_file": str(cert), "key_file": str(key)}
        elif source["type"] == "file":
            source["paths"] = [str(log)]
        elif source["type"] == "pcap":
            source["paths"] = [str(captures / "*.pcap")]
    raw["inventory"] = str(INVENTORY)
    raw["pipeline"]["flush_interval"] = 0.1
    path = tmp_path / "siem.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def stored_events(data_dir: Path) -> list[dict[str, Any]]:
    store = open_store(Config(data_dir=str(data_dir)), data_dir)
    try:
        return list(store.search(EventQuery(limit=100_000)))
    finally:
        store.close()


def _line(host: str, program: str, text: str) -> bytes:
    return f"<38>Nov 25 10:00:00 {host} {program}[7]: {text}".encode()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_run_with_the_example_config_labels_every_event(tmp_path: Path, data_dir: Path) -> None:
    ports = {"udp": free_port(socket.SOCK_DGRAM), "tcp": free_port(), "tls": free_port()}
    log = tmp_path / "auth.log"
    log.write_text("")
    captures = tmp_path / "captures"
    captures.mkdir()
    pcap_events = build_pcap(captures / "ward1.pcap")
    config = derived_config(tmp_path, ports, log, captures)
    stderr = tmp_path / "stderr.txt"
    siem = [sys.executable, str(PROJECT_ROOT / "cli.py"), "--config", str(config), "--data-dir", str(data_dir)]
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            [*siem, "run", "--no-status-line"], stdout=subprocess.DEVNULL, stderr=err, cwd=tmp_path
        )
    try:
        deadline = time.monotonic() + 60
        while "listening on" not in stderr.read_text():
            assert process.poll() is None and time.monotonic() < deadline, stderr.read_text()
            time.sleep(0.05)
        # Host names and addresses the example inventory knows (ward 1, the city centre).
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(_line("ward1-fw", "sshd", "Failed password for root from 10.1.128.7 port 4242 ssh2"),
                       ("127.0.0.1", ports["udp"]))  # fmt: skip
        with socket.create_connection(("127.0.0.1", ports["tcp"]), timeout=10) as tcp:
            tcp.sendall(_line("ward1-nvr-01", "app", "e2e over tcp") + b"\n")
        context = ssl.create_default_context(cafile=str(tmp_path / "server.pem"))
        tls_address = ("127.0.0.1", ports["tls"])
        with (
            socket.create_connection(tls_address, timeout=10) as raw_tls,
            context.wrap_socket(raw_tls, server_hostname="127.0.0.1") as tls,
        ):
            frame = _line("soc-siem-01", "app", "e2e over tls")
            tls.sendall(b"%d %s" % (len(frame), frame))
        with log.open("a") as handle:
            handle.write(
                "Nov 25 10:00:00 city-fw-01 sshd[9]: Accepted password for admin from 10.0.16.9 port 51000 ssh2\n"
            )

        def complete() -> bool:
            events = stored_events(data_dir)
            network = [e for e in events if str(e[ecs.DATASET]).startswith("network.")]
            return len(events) - len(network) >= 4 and len(network) >= pcap_events

        deadline = time.monotonic() + 30
        while not complete():
            assert process.poll() is None and time.monotonic() < deadline, stderr.read_text()
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, stderr.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    events = stored_events(data_dir)
    inputs = {str(e[ecs.INPUT]).split(":", 1)[0] for e in events}
    assert {"udp", "tcp", "tls", "file"} <= inputs, inputs
    assert not [e for e in events if e[ecs.DATASET] == ecs.UNKNOWN_DATASET]
    for event in events:  # every test record names a host or an address the inventory knows
        assert event.get(ecs.LABEL_SITE) in {"ward-1", "city-centre"}, event
        assert ecs.LABEL_ZONE in event, event
    camera = [e for e in events if e[ecs.DATASET] == "network.flow" and e.get(ecs.SOURCE_IP) == "10.1.64.11"]
    assert [(e[ecs.LABEL_SITE], e[ecs.LABEL_ZONE], e["network.packets"]) for e in camera] == [("ward-1", "camera", 3)]

    status = subprocess.run([*siem, "status", "--json"], check=True, capture_output=True, timeout=60, cwd=tmp_path)
    sources = {row["source"]: row for row in json.loads(status.stdout)["sources"]}
    for name in ("syslog-udp", "syslog-tcp", "syslog-tls", "local-logs", "captures"):
        assert sources[name]["received"] >= 1, sources
        assert sources[name]["bytes"] > 0
        assert sources[name]["dropped"] == 0

"""A real ward forwarder and a real centre on loopback: outages, refusals and a full buffer."""

from __future__ import annotations

import json
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from collectors.sources import forward_wire as wire
from siem import event as ecs
from siem.forward.status import read_state
from siem.pipeline.spool import Spool
from tests.conftest import PROJECT_ROOT, free_port
from tests.forward.certs import TestCA
from tests.forward.conftest import Pki, Processes, messages, stored
from tests.hardening.siemproc import stored_count

LINE = b"<13>Nov 25 10:00:00 cam-gw app[7]: ward line %06d\n"
PADDING = "x" * 900
LONG_LINE = b"<13>Nov 25 10:00:00 cam-gw app[7]: ward line %06d " + PADDING.encode() + b"\n"


def send_lines(port: int, total: int, *, chunk: int, pause: float, line: bytes = LINE) -> threading.Thread:
    """Send ``total`` syslog lines over one TCP connection in the background, ``chunk`` at a time."""

    def run() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as tcp:
            for start in range(0, total, chunk):
                tcp.sendall(b"".join(line % n for n in range(start, min(total, start + chunk))))
                time.sleep(pause)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_centre_killed_mid_stream_loses_and_duplicates_nothing(tmp_path: Path, processes: Processes) -> None:
    total = 20_000
    centre_data, ward_data = tmp_path / "centre-data", tmp_path / "ward-data"
    centre = processes.centre(centre_data)
    syslog_port = free_port()
    ward = processes.ward(ward_data, syslog_port)
    sender = send_lines(syslog_port, total, chunk=500, pause=0.05)

    wait_for(lambda: stored_count(centre_data) >= 2_000, 30, "the first events at the centre")
    centre.process.send_signal(signal.SIGKILL)
    centre.process.wait(timeout=10)
    at_kill = stored_count(centre_data)
    time.sleep(1.5)  # the link is down: the ward keeps buffering
    down = read_state(ward_data)
    assert down is not None and down["connected"] is False and down["last_error"]

    restarted = processes.centre(centre_data)
    sender.join(timeout=30)
    wait_for(lambda: stored_count(centre_data) >= total, 45, f"{total} events at the centre")
    state = read_state(ward_data)
    wait_for(lambda: (read_state(ward_data) or {}).get("buffer_bytes") == 0, 10, "the ward's buffer to empty")
    assert ward.stop() == 0
    assert restarted.stop() == 0

    events = stored(centre_data)
    print(f"stored at the kill: {at_kill} of {total}; ward state: {state}")
    assert at_kill < total, "the centre was not killed mid-stream"
    assert len(events) == total
    # Every line once, in the order the ward received them (one forwarder, sequence order).
    assert messages(events) == [f"ward line {n:06d}" for n in range(total)]
    first = events[0]
    assert first[ecs.LABEL_SITE] == "ward-3"
    assert first[ecs.ORIGINAL] == (LINE % 0).decode().rstrip("\n")
    assert str(first[ecs.INPUT]).startswith("tcp://127.0.0.1")
    assert "unreachable" in ward.log_since_start()


def test_a_client_without_a_valid_certificate_is_refused(tmp_path: Path, processes: Processes, pki: Pki) -> None:
    processes.centre(tmp_path / "centre-data")
    stranger = TestCA(tmp_path / "other-pki", name="Other CA").issue("ward-3", server=False)
    for certificate in (None, stranger):
        context = ssl.create_default_context(cafile=str(pki.ca.ca_file))
        if certificate is not None:
            context.load_cert_chain(certificate.cert, certificate.key)
        # TLS 1.3 reports a refused client certificate on the first read after the handshake.
        with (
            socket.create_connection(("127.0.0.1", processes.centre_port), timeout=10) as raw,
            pytest.raises((ssl.SSLError, ConnectionError)),
            context.wrap_socket(raw, server_hostname="localhost") as stream,
        ):
            stream.sendall(wire.json_frame(wire.HELLO, {"version": wire.VERSION, "name": "intruder"}))
            stream.settimeout(10)
            found = wire.FrameReader(stream).read()
            pytest.fail(f"the centre answered a client it should refuse: {found!r}")
    # A ward with the CA's certificate is welcomed.
    context = ssl.create_default_context(cafile=str(pki.ca.ca_file))
    context.load_cert_chain(pki.ward.cert, pki.ward.key)
    with (
        socket.create_connection(("127.0.0.1", processes.centre_port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as stream,
    ):
        stream.sendall(wire.json_frame(wire.HELLO, {"version": wire.VERSION, "name": "ward-3"}))
        stream.settimeout(10)
        found = wire.FrameReader(stream).read()
    assert found is not None and found[0] == wire.WELCOME
    assert wire.json_body(found[1]) == {"version": wire.VERSION, "acked": None}


def test_a_full_buffer_raises_the_alarm_slows_the_sender_and_loses_nothing(
    tmp_path: Path, processes: Processes
) -> None:
    total = 3_000
    centre_data, ward_data = tmp_path / "centre-data", tmp_path / "ward-data"
    syslog_port = free_port()
    # No centre yet; a 256 KB buffer (about 130 events of 2 KB) and a short queue, so that the full
    # buffer reaches the TCP sender.
    ward = processes.ward(ward_data, syslog_port, buffer_mb=0.25, extra="pipeline: {queue_size: 200, batch_size: 50}\n")
    sender = send_lines(syslog_port, total, chunk=200, pause=0, line=LONG_LINE)
    wait_for(lambda: (read_state(ward_data) or {}).get("full_waits", 0) > 0, 30, "the buffer to fill")
    state = read_state(ward_data)
    assert state is not None
    assert state["alarm"] is True and state["alarms"] >= 1
    assert state["buffer_bytes"] <= state["buffer_max_bytes"]
    time.sleep(1.5)  # counters are saved every second
    status = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "cli.py"), "--data-dir", str(ward_data), "status", "--json"],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    document = json.loads(status.stdout)
    forwarder = document["forwarder"]
    assert forwarder["alarm"] is True and forwarder["connected"] is False
    # Backpressure: the ward stopped reading (the rest waits in the sender's socket), dropped nothing.
    (source,) = [row for row in document["sources"] if row["source"] == "ward-tcp"]
    assert source["received"] < total / 2 and source["dropped"] == 0
    assert "buffer 1" in ward.log_since_start() or "% full" in ward.log_since_start()

    processes.centre(centre_data)
    sender.join(timeout=40)
    assert not sender.is_alive()
    wait_for(lambda: stored_count(centre_data) >= total, 40, f"{total} events at the centre")
    wait_for(lambda: (read_state(ward_data) or {}).get("alarm") is False, 10, "the alarm to clear")
    assert ward.stop() == 0
    events = stored(centre_data)
    assert messages(events) == [f"ward line {n:06d} {PADDING}" for n in range(total)]


def test_a_ward_killed_mid_stream_resends_from_its_spool_and_buffer(tmp_path: Path, processes: Processes) -> None:
    total = 20_000
    centre_data, ward_data = tmp_path / "centre-data", tmp_path / "ward-data"
    processes.centre(centre_data)
    syslog_port = free_port()
    ward = processes.ward(ward_data, syslog_port)
    send_lines(syslog_port, total, chunk=total, pause=0).join(timeout=30)
    spool = Spool(ward_data / "spool")
    # Once the spool holds every line, nothing is left in the kernel that a kill could lose.
    wait_for(lambda: sum(len(batch) for batch in spool.replay(None)) >= total, 30, "the ward's spool to fill")
    wait_for(lambda: stored_count(centre_data) >= 1_000, 30, "the first events at the centre")
    ward.process.send_signal(signal.SIGKILL)
    ward.process.wait(timeout=10)
    at_kill = stored_count(centre_data)

    restarted = processes.ward(ward_data, syslog_port)
    wait_for(lambda: stored_count(centre_data) >= total, 45, f"{total} events at the centre")
    assert restarted.stop() == 0
    print(f"stored at the ward's kill: {at_kill} of {total}")
    assert at_kill < total, "the ward was not killed mid-stream"
    assert messages(stored(centre_data)) == [f"ward line {n:06d}" for n in range(total)]


def test_the_centre_acknowledges_a_resent_batch_without_storing_it_twice(
    tmp_path: Path, processes: Processes, pki: Pki
) -> None:
    centre_data = tmp_path / "centre-data"
    processes.centre(centre_data)
    context = ssl.create_default_context(cafile=str(pki.ca.ca_file))
    context.load_cert_chain(pki.ward.cert, pki.ward.key)
    events = [
        {ecs.ID: f"resent-{n}", ecs.TIMESTAMP: "2026-11-25T10:00:00.000Z", ecs.DATASET: "syslog",
         ecs.ORIGINAL: f"resent {n}", ecs.MESSAGE: f"resent {n}", ecs.LABEL_SITE: "ward-3"}
        for n in range(3)
    ]  # fmt: skip
    end = (1_700_000_000_000, 4096)

    def link(id_prefix: str) -> tuple[dict[str, object], tuple[int, bytes] | None]:
        payloads = [json.dumps({**event, ecs.ID: f"{id_prefix}{n}"}).encode() for n, event in enumerate(events)]
        with (
            socket.create_connection(("127.0.0.1", processes.centre_port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as stream,
        ):
            reader = wire.FrameReader(stream)
            stream.sendall(wire.json_frame(wire.HELLO, {"version": wire.VERSION, "name": "ward-3"}))
            welcome = reader.read()
            assert welcome is not None and welcome[0] == wire.WELCOME
            stream.sendall(wire.batch_frame(end, payloads))
            return wire.json_body(welcome[1]), reader.read()

    first_welcome, first_ack = link("resent-")
    assert first_welcome["acked"] is None
    assert first_ack == (wire.ACK, wire.ack_frame(end)[5:])
    # As after a lost ack: the same batch position again. Even with other event ids it is not
    # stored, since the centre remembers the position it committed for this ward.
    second_welcome, second_ack = link("again-")
    assert second_welcome["acked"] == f"{end[0]}:{end[1]}"
    assert second_ack == (wire.ACK, wire.ack_frame(end)[5:])
    stored_events = stored(centre_data)
    assert messages(stored_events) == ["resent 0", "resent 1", "resent 2"]
    assert [event[ecs.ID] for event in stored_events] == ["resent-0", "resent-1", "resent-2"]


def test_an_idle_ward_notices_the_centre_going_away_and_comes_back(tmp_path: Path, processes: Processes) -> None:
    centre_data, ward_data = tmp_path / "centre-data", tmp_path / "ward-data"
    centre = processes.centre(centre_data)
    processes.ward(ward_data, free_port())
    wait_for(lambda: (read_state(ward_data) or {}).get("connected") is True, 15, "the link")
    assert centre.stop() == 0
    wait_for(lambda: (read_state(ward_data) or {}).get("connected") is False, 5, "the ward to see the link down")
    processes.centre(centre_data)
    wait_for(lambda: (read_state(ward_data) or {}).get("connected") is True, 15, "the link to come back")
    assert (read_state(ward_data) or {}).get("connects") == 2

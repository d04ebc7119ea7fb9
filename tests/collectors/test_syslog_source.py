"""RFC 6587 framing and the syslog listeners on real loopback sockets (IPv4 and IPv6)."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.base import RawRecord
from collectors.sources.contract import SourceOptions
from collectors.sources.framing import Framer
from collectors.sources.syslog import TcpSyslogSource, UdpSyslogSource, create_source, strip_octet_count
from siem.errors import SourceError


class CollectingEmitter:
    """Receives what a source emits (the pipeline is not under test here)."""

    def __init__(self, room: int = 1_000_000) -> None:
        self.records: list[RawRecord] = []
        self.room = room
        self.dropped = 0
        self.rejections = 0
        self.lock = threading.Lock()

    def put(self, record: RawRecord) -> None:
        self.put_many([record])

    def offer(self, record: RawRecord) -> bool:
        return self.offer_many([record]) == 1

    def put_many(self, records: Sequence[RawRecord]) -> None:
        with self.lock:
            self.records.extend(records)

    def offer_many(self, records: Sequence[RawRecord]) -> int:
        with self.lock:
            taken = list(records[: max(0, self.room - len(self.records))])
            self.records.extend(taken)
            self.dropped += len(records) - len(taken)
            return len(taken)

    def free(self) -> int:
        return 1_000_000  # never holds UDP back: what exceeds ``room`` is offered and dropped

    def lost(self, count: int) -> None:
        with self.lock:
            self.dropped += count

    def checkpoint(self, name: str) -> str | None:
        return None

    def rejected(self, count: int = 1) -> None:
        with self.lock:
            self.rejections += count

    def wait_for(self, count: int, timeout: float = 5.0) -> list[RawRecord]:
        deadline = time.monotonic() + timeout
        while len(self.records) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.records


# -- framing ------------------------------------------------------------------------------


def test_octet_counting_across_reads() -> None:
    framer = Framer(1024)
    frames = framer.feed(b"11 <13>hello A12 <13>hello")
    assert frames == [(b"<13>hello A", False)]
    assert framer.octet_counting is True
    assert framer.feed(b" BC") == [(b"<13>hello BC", False)]
    assert framer.feed(b"") == []


def test_newline_nul_and_crlf_framing() -> None:
    framer = Framer(1024)
    assert framer.feed(b"<13>a\n<13>b\r\n<13>c\x00<13>d") == [(b"<13>a", False), (b"<13>b", False), (b"<13>c", False)]
    assert framer.octet_counting is False
    assert framer.feed(b"e\n") == [(b"<13>de", False)]
    assert framer.feed(b"<13>tail") == []
    assert framer.finish() == [(b"<13>tail", False)]


def test_long_messages_are_truncated_and_flagged() -> None:
    framer = Framer(8)
    assert framer.feed(b"<13>0123456789") == [(b"<13>0123", True)]
    assert framer.feed(b"rest of it\n<13>ok\n") == [(b"<13>ok", False)]
    octets = Framer(8)
    assert octets.feed(b"16 <13>0123456789") == [(b"<13>0123", True)]
    assert octets.feed(b"ab5 <13>x") == [(b"<13>x", False)]


def test_broken_octet_count_falls_back_to_lines() -> None:
    framer = Framer(1024)
    assert framer.feed(b"1x <13>not a count\n<13>next\n") == [(b"1x <13>not a count", False), (b"<13>next", False)]
    assert framer.octet_counting is False


# -- listeners ------------------------------------------------------------------------------


@pytest.fixture
def running() -> Iterator[list[tuple[object, threading.Thread, threading.Event]]]:
    started: list[tuple[object, threading.Thread, threading.Event]] = []
    yield started
    for _, thread, stop in started:
        stop.set()
        thread.join(5)


def start(source: UdpSyslogSource | TcpSyslogSource, emit: CollectingEmitter, running: list) -> None:  # type: ignore[type-arg]
    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(emit, stop), daemon=True)
    thread.start()
    running.append((source, thread, stop))


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_udp_datagrams_become_records(host: str, running: list) -> None:  # type: ignore[type-arg]
    source = create_source(SourceOptions(name="u", transport="udp", host=host, port=0, max_message_bytes=64))
    emit = CollectingEmitter()
    start(source, emit, running)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sender:
        sender.sendto(b"<13>Nov 25 10:00:00 h app: one\n", (host, source.port))
        sender.sendto(b"<13>Nov 25 10:00:00 h app: \xff\xfe bad utf-8", (host, source.port))
        sender.sendto(b"<13>" + b"x" * 100, (host, source.port))
    records = emit.wait_for(3)
    assert [r.text[:28] for r in records][:1] == ["<13>Nov 25 10:00:00 h app: o"]
    assert records[0].text.endswith("one")
    assert records[1].raw_bytes == b"<13>Nov 25 10:00:00 h app: \xff\xfe bad utf-8"
    assert "\ufffd" in records[1].text
    assert records[2].truncated and len(records[2].text) == 64
    expected = "udp://[::1]" if host == "::1" else "udp://127.0.0.1"
    assert {r.origin for r in records} == {expected}
    assert len({r.key for r in records}) == 3


def test_udp_offer_counts_drops(running: list) -> None:  # type: ignore[type-arg]
    source = create_source(SourceOptions(name="u", transport="udp", port=0))
    emit = CollectingEmitter(room=5)
    start(source, emit, running)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for number in range(20):
            sender.sendto(b"<13>msg %d" % number, ("127.0.0.1", source.port))
    deadline = time.monotonic() + 5
    while len(emit.records) + emit.dropped < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(emit.records) == 5
    assert emit.dropped == 15


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_tcp_both_framings_per_connection(host: str, running: list) -> None:  # type: ignore[type-arg]
    source = create_source(SourceOptions(name="t", transport="tcp", host=host, port=0))
    emit = CollectingEmitter()
    start(source, emit, running)
    address = (host, source.port)
    with socket.create_connection(address) as lines, socket.create_connection(address) as counted:
        lines.sendall(b"<13>line one\n<13>line two\r\n<13>li")
        counted.sendall(b"13 <13>octet one13 <13>octet two")
        lines.sendall(b"ne three\n<13>no final newline")
    records = emit.wait_for(6)
    texts = sorted(r.text for r in records)
    assert texts == sorted(
        ["<13>line one", "<13>line two", "<13>line three", "<13>no final newline", "<13>octet one", "<13>octet two"]
    )
    assert all(r.origin.startswith("tcp://") for r in records)


def test_port_in_use_is_a_source_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        with pytest.raises(SourceError, match=r"cannot listen on tcp://127\.0\.0\.1"):
            create_source(SourceOptions(name="t", transport="tcp", port=port))


def test_tls_needs_certificate() -> None:
    with pytest.raises(SourceError, match="cert_file"):
        create_source(SourceOptions(name="s", transport="tls", port=0))


def make_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 made with the openssl command."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make certificates")
def test_tls_listener_with_client_certificates(tmp_path: Path, running: list) -> None:  # type: ignore[type-arg]
    server_cert, server_key = make_certificate(tmp_path, "server")
    client_cert, client_key = make_certificate(tmp_path, "client")
    options = SourceOptions(
        name="tls",
        transport="tls",
        port=0,
        tls_cert_file=str(server_cert),
        tls_key_file=str(server_key),
        tls_ca_file=str(client_cert),
        tls_require_client_cert=True,
    )
    source = create_source(options)
    emit = CollectingEmitter()
    start(source, emit, running)
    context = ssl.create_default_context(cafile=str(server_cert))
    # Without a client certificate the handshake fails and nothing is received.
    with (
        pytest.raises((ssl.SSLError, ConnectionError)),
        socket.create_connection(("127.0.0.1", source.port)) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"17 <13>no certificate")
        tls.recv(1)
    context.load_cert_chain(str(client_cert), str(client_key))
    frame = b"<13>1 2026-11-25T10:00:00Z host app - - - over tls"
    with (
        socket.create_connection(("127.0.0.1", source.port)) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"%d %s" % (len(frame), frame))
    records = emit.wait_for(1)
    assert [(r.text, r.origin) for r in records] == [(frame.decode(), "tls://127.0.0.1")]


def test_udp_octet_count_prefix_is_removed() -> None:
    assert strip_octet_count(b"9 <13>hello") == b"<13>hello"
    assert strip_octet_count(b"12 apples are red") == b"12 apples are red"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(min_size=1, max_size=30).filter(lambda b: b"\n" not in b and b"\x00" not in b), max_size=8),
    st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=10),
    st.booleans(),
)
def test_framing_does_not_depend_on_how_the_stream_is_cut(
    messages: list[bytes], cuts: list[int], octet_counting: bool
) -> None:
    messages = [b"<" + m.strip(b"\r") + b">" for m in messages]  # a message starting '<' as senders do
    if octet_counting:
        stream = b"".join(b"%d %s" % (len(m), m) for m in messages)
    else:
        stream = b"".join(m + b"\n" for m in messages)
    framer, frames, position, index = Framer(1024), [], 0, 0
    while position < len(stream):
        size = cuts[index % len(cuts)]
        frames += framer.feed(stream[position : position + size])
        position += size
        index += 1
    frames += framer.finish()
    assert [frame for frame, truncated in frames] == messages
    assert not any(truncated for _, truncated in frames)

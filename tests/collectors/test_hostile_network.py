"""Hostile syslog peers on real loopback sockets (issue 8): huge and never-ending frames,
floods of idle connections, NUL bytes and invalid UTF-8. Each test also checks that a normal
client is still served and that what was refused or cut is counted (``emit.rejected``)."""

from __future__ import annotations

import base64
import contextlib
import resource
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from collectors.registry import create_parser
from collectors.sources.contract import SourceOptions
from collectors.sources.framing import Framer
from collectors.sources.syslog import TcpSyslogSource, UdpSyslogSource, create_source
from siem import event as ecs
from siem.config import Config, PipelineConfig
from siem.pipeline import Pipeline
from siem.store.base import EventQuery
from siem.store.factory import open_store
from tests.collectors.test_syslog_source import CollectingEmitter
from tests.collectors.waiting import wait_until

TEN_MB = 10 * 1024 * 1024
LIMIT = 65536


@pytest.fixture
def serve() -> Iterator[Callable[[SourceOptions], tuple[TcpSyslogSource | UdpSyslogSource, CollectingEmitter]]]:
    """Start listeners in threads; stop them at the end of the test."""
    started: list[tuple[threading.Thread, threading.Event]] = []

    def start(options: SourceOptions) -> tuple[TcpSyslogSource | UdpSyslogSource, CollectingEmitter]:
        source = create_source(options)
        emit = CollectingEmitter()
        stop = threading.Event()
        thread = threading.Thread(target=source.run, args=(emit, stop), daemon=True)
        thread.start()
        started.append((thread, stop))
        return source, emit

    yield start
    for _, stop in started:
        stop.set()
    for thread, _ in started:
        thread.join(10)
        assert not thread.is_alive(), "a listener did not stop"


def texts(emit: CollectingEmitter) -> list[str]:
    with emit.lock:
        return [record.text for record in emit.records]


def send_normal_message(port: int, text: bytes, source_ip: str = "127.0.0.1") -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source_ip, 0)) as client:
        client.sendall(text + b"\n")


# -- framing: memory stays bounded whatever the peer sends ---------------------------------------


@pytest.mark.parametrize("opening", [b"<13>", b"999999999 <13>"], ids=["newline", "octet-count"])
def test_framer_buffers_at_most_the_limit_of_a_never_ending_frame(opening: bytes) -> None:
    framer = Framer(LIMIT)
    chunk = b"A" * (256 * 1024)
    frames = framer.feed(opening)
    largest = 0
    for _ in range(80):  # 20 MB, never a newline, never the counted end
        frames += framer.feed(chunk)
        largest = max(largest, len(framer._buffer))
    assert largest <= LIMIT + len(opening)
    assert frames == [(opening[opening.index(b"<") :] + b"A" * (LIMIT - 4), True)]


# -- TCP: a 10 MB line and a never-ending frame -------------------------------------------------


@pytest.mark.parametrize("framing", ["newline", "octet-count"])
def test_tcp_ten_megabyte_message_is_cut_flagged_and_counted(framing: str, serve: Callable) -> None:  # type: ignore[type-arg]
    source, emit = serve(SourceOptions(name="t", transport="tcp", port=0, max_message_bytes=LIMIT))
    huge = b"<13>Nov 25 10:00:00 host app: " + b"x" * TEN_MB
    if framing == "newline":
        stream = huge + b"\n<13>Nov 25 10:00:00 host app: after\n"
    else:
        after = b"<13>Nov 25 10:00:00 host app: after"
        stream = b"%d %s%d %s" % (len(huge), huge, len(after), after)
    with socket.create_connection(("127.0.0.1", source.port), timeout=10) as hostile:
        sender = threading.Thread(target=hostile.sendall, args=(stream,))
        sender.start()
        send_normal_message(source.port, b"<13>Nov 25 10:00:00 host app: other client")  # served meanwhile
        sender.join(20)
    wait_until(lambda: len(emit.records) == 3)
    by_text = {record.text[:40]: record for record in emit.records}
    cut = by_text["<13>Nov 25 10:00:00 host app: xxxxxxxxxx"]
    assert cut.truncated and len(cut.text) == LIMIT
    assert not by_text["<13>Nov 25 10:00:00 host app: after"].truncated
    assert "<13>Nov 25 10:00:00 host app: other clie" in by_text
    assert emit.rejections == 1


@pytest.mark.parametrize("opening", [b"<13>endless ", b"999999999 <13>endless "], ids=["newline", "octet-count"])
def test_tcp_never_ending_frame_is_discarded_while_others_are_served(opening: bytes, serve: Callable) -> None:  # type: ignore[type-arg]
    source, emit = serve(SourceOptions(name="t", transport="tcp", port=0, max_message_bytes=LIMIT))
    with socket.create_connection(("127.0.0.1", source.port), timeout=10) as hostile:
        hostile.sendall(opening)
        for _ in range(80):  # 20 MB and the frame still has not ended; the connection stays open
            hostile.sendall(b"y" * (256 * 1024))
        send_normal_message(source.port, b"<13>Nov 25 10:00:00 host app: normal")
        wait_until(lambda: len(emit.records) == 2)
        assert sorted(texts(emit))[0] == "<13>Nov 25 10:00:00 host app: normal"
        [cut] = [record for record in emit.records if record.truncated]
        assert cut.text.startswith("<13>endless yyy") and len(cut.text) == LIMIT
        assert emit.rejections == 1


# -- thousands of idle connections --------------------------------------------------------------


def _raise_open_files(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"needs {needed} open files, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _all_closed_by_server(clients: list[socket.socket], timeout: float) -> bool:
    """Whether every client sees end of file (or a reset) within ``timeout``."""
    waiting = set(clients)
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        poller = select.poll()
        by_fd = {client.fileno(): client for client in waiting}
        for fd in by_fd:
            poller.register(fd, select.POLLIN)
        for fd, _ in poller.poll(200):
            client = by_fd[fd]
            try:
                ended = client.recv(1) == b""
            except ConnectionResetError:
                ended = True
            if ended:
                waiting.discard(client)
    return not waiting


def test_two_thousand_idle_connections(serve: Callable) -> None:  # type: ignore[type-arg]
    _raise_open_files(6000)
    options = SourceOptions(
        name="t", transport="tcp", port=0, max_connections=1000, max_connections_per_ip=500, idle_timeout=1.5
    )
    source, emit = serve(options)
    assert isinstance(source, TcpSyslogSource)
    clients: list[socket.socket] = []
    try:
        for _ in range(2000):  # from another loopback address than the normal client
            clients.append(socket.create_connection(("127.0.0.1", source.port), 10, ("127.0.0.2", 0)))
        wait_until(lambda: emit.rejections >= 1500)
        assert 0 < source.limits.open <= 500  # (some may already be closed as idle on a slow machine)
        send_normal_message(source.port, b"<13>Nov 25 10:00:00 host app: still served")
        wait_until(lambda: texts(emit) == ["<13>Nov 25 10:00:00 host app: still served"])
        # The 500 admitted connections are closed once idle past the timeout, the others at once.
        assert _all_closed_by_server(clients, timeout=15)
        wait_until(lambda: source.limits.open == 0)
        assert emit.rejections == 2000
    finally:
        for client in clients:
            client.close()


def test_connection_limit_over_all_peers(serve: Callable) -> None:  # type: ignore[type-arg]
    options = SourceOptions(name="t", transport="tcp", port=0, max_connections=20, idle_timeout=0)
    source, emit = serve(options)
    assert isinstance(source, TcpSyslogSource)
    idle = [socket.create_connection(("127.0.0.1", source.port), 5, (f"127.0.0.{2 + n % 5}", 0)) for n in range(20)]
    try:
        wait_until(lambda: source.limits.open == 20)
        with contextlib.suppress(OSError):  # accepted by the kernel, closed at once by the listener
            send_normal_message(source.port, b"<13>Nov 25 10:00:00 host app: refused while full")
        wait_until(lambda: emit.rejections == 1)
        for client in idle[:5]:
            client.close()
        wait_until(lambda: source.limits.open == 15)
        send_normal_message(source.port, b"<13>Nov 25 10:00:00 host app: room again")
        wait_until(lambda: texts(emit) == ["<13>Nov 25 10:00:00 host app: room again"])
        time.sleep(0.5)  # idle_timeout 0: the idle ones are never closed
        assert source.limits.open == 15
    finally:
        for client in idle:
            client.close()


# -- NUL bytes and invalid UTF-8, through the real pipeline into the store -----------------------


def test_nul_and_invalid_utf8_over_udp_and_tcp_are_stored(data_dir: Path) -> None:
    store = open_store(Config(data_dir=str(data_dir)), data_dir)
    pipeline = Pipeline(store, create_parser, config=PipelineConfig(flush_interval=0.05), spool_dir=data_dir / "spool")
    pipeline.start()
    udp = create_source(SourceOptions(name="udp", transport="udp", port=0))
    tcp = create_source(SourceOptions(name="tcp", transport="tcp", port=0))
    pipeline.add_source(udp, spooled=True)
    pipeline.add_source(tcp, spooled=True)
    try:
        hostile = b"<13>Nov 25 10:00:00 host app: bad \xff\xfe\xc3 utf-8 and a nul \x00 inside"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(hostile, ("127.0.0.1", udp.port))
            sender.sendto(b"\x00\x01 control \x00 bytes\x00\x00", ("127.0.0.1", udp.port))
            sender.sendto(b"\xff" * 100, ("127.0.0.1", udp.port))
        with socket.create_connection(("127.0.0.1", tcp.port), timeout=5) as client:
            client.sendall(b"%d %s" % (len(hostile), hostile))  # octet counting keeps the NUL inside
        with socket.create_connection(("127.0.0.1", tcp.port), timeout=5) as client:
            client.sendall(b"<13>Nov 25 10:00:00 host app: \xc0\xaf overlong\x00<13>Nov 25 10:00:00 host app: next\n")
        wait_until(lambda: store.count(EventQuery()) == 6)
        events = list(store.search(EventQuery(limit=100)))
    finally:
        pipeline.stop()
        store.close()
    originals = sorted(str(event.get(ecs.ORIGINAL, event.get(ecs.MESSAGE))) for event in events)
    expected_hostile = hostile.decode("utf-8", "replace")
    assert originals.count(expected_hostile) == 2  # UDP and TCP: replacement characters, NUL kept
    assert "\ufffd" * 100 in originals
    assert "\x00\x01 control \x00 bytes" in originals  # trailing NULs (padding) are dropped
    assert any(text.endswith("\ufffd\ufffd overlong") for text in originals)  # NUL ends a line-framed message
    assert any(text.endswith("app: next") for text in originals)
    # the bytes as received are kept beside the replaced text (not for the valid UTF-8 line)
    kept = sorted(base64.b64decode(event[ecs.ORIGINAL_BASE64]) for event in events if ecs.ORIGINAL_BASE64 in event)
    assert kept.count(hostile) == 2
    assert b"\xff" * 100 in kept
    assert any(raw.endswith(b"\xc0\xaf overlong") for raw in kept)
    assert len(kept) == 4  # NUL bytes alone are valid UTF-8: no copy for those lines


# -- the limits are configured per source --------------------------------------------------------


def test_limits_come_from_the_configuration(tmp_path: Path) -> None:
    from siem.config import load_config
    from siem.errors import ConfigError
    from siem.pipeline.sources import source_options

    config_file = tmp_path / "siem.yaml"
    config_file.write_text(
        "sources:\n  - type: syslog\n    transport: tls\n    max_connections: 50\n    max_connections_per_ip: 5\n"
        "    idle_timeout_seconds: 30\n    max_gzip_bytes: 1000000\n    max_gzip_ratio: 50\n"
        "    tls: {handshake_timeout_seconds: 2.5}\n"
    )
    options = source_options(load_config(str(config_file)).sources[0])
    assert (options.max_connections, options.max_connections_per_ip, options.idle_timeout) == (50, 5, 30.0)
    assert (options.max_gzip_bytes, options.max_gzip_ratio, options.tls_handshake_timeout) == (1_000_000, 50, 2.5)
    for bad, message in (
        ("max_connections: 0", "sources[0].max_connections must be at least 1, not 0"),
        ("idle_timeout_seconds: -1", "sources[0].idle_timeout_seconds must be 0 (never) or more seconds"),
        ("tls: {handshake_timeout_seconds: 0}", "sources[0].tls.handshake_timeout_seconds must be more than 0"),
    ):
        config_file.write_text(f"sources:\n  - type: syslog\n    {bad}\n")
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
            load_config(str(config_file))

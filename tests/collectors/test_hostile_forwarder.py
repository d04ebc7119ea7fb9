"""Hostile clients against the centre's forwarder listener (mutual TLS) on loopback: connections
over the limits (in all and per address), garbage or a stalled handshake, no client certificate,
no HELLO, and a silent link. The same limits as the syslog TLS listener (collectors/sources/limits.py);
the listener keeps serving a real ward and counts each refusal."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from collectors.sources import forward_wire as wire
from collectors.sources.contract import SourceOptions
from collectors.sources.forwarded import ForwardedSource
from tests.collectors.test_syslog_source import CollectingEmitter
from tests.collectors.waiting import closed_by_server_within, wait_until
from tests.forward.certs import Pair, TestCA

HANDSHAKE_TIMEOUT = 0.75
EVENT = b'{"@timestamp": "2026-11-25T10:00:00Z", "message": "from ward-3"}'


class Pki:
    def __init__(self, directory: Path) -> None:
        self.ca = TestCA(directory)
        self.centre = self.ca.issue("centre", server=True)
        self.ward = self.ca.issue("ward-3", server=False)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


Listener = tuple[ForwardedSource, CollectingEmitter]


@pytest.fixture
def start(pki: Pki) -> Iterator[Callable[..., Listener]]:
    """Starts a forwarder listener with the given limits (stopped and joined after the test)."""
    running: list[tuple[threading.Thread, threading.Event]] = []

    def started(**limits: Any) -> Listener:
        limits.setdefault("tls_handshake_timeout", HANDSHAKE_TIMEOUT)
        options = SourceOptions(
            name="wards", kind="forwarder", port=0, tls_cert_file=str(pki.centre.cert),
            tls_key_file=str(pki.centre.key), tls_ca_file=str(pki.ca.ca_file), **limits,
        )  # fmt: skip
        source = ForwardedSource(options)
        emit = CollectingEmitter()
        stop = threading.Event()
        thread = threading.Thread(target=source.run, args=(emit, stop), daemon=True)
        thread.start()
        running.append((thread, stop))
        return source, emit

    yield started
    for thread, stop in running:
        stop.set()
        thread.join(15)
        assert not thread.is_alive()


def ward_context(pki: Pki, pair: Pair | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca.ca_file))
    if pair is not None:
        context.load_cert_chain(str(pair.cert), str(pair.key))
    return context


def connect(port: int, bind: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(bind, 0))


def hello(tls: ssl.SSLSocket) -> wire.FrameReader:
    """Say HELLO and read the WELCOME."""
    tls.sendall(wire.json_frame(wire.HELLO, {"version": wire.VERSION, "name": "ward-3"}))
    reader = wire.FrameReader(tls)
    tls.settimeout(5)
    welcome = reader.read()
    assert welcome is not None and welcome[0] == wire.WELCOME
    return reader


def send_batch(port: int, pki: Pki, number: int, bind: str = "127.0.0.1") -> None:
    """A well-behaved ward: HELLO, one batch, close."""
    with connect(port, bind) as raw, ward_context(pki, pki.ward).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        hello(tls)
        tls.sendall(wire.batch_frame((1, number), [EVENT]))


def test_connections_over_the_limits_are_closed_at_once_and_counted(
    start: Callable[..., Listener], pki: Pki
) -> None:
    source, emit = start(max_connections=3, max_connections_per_ip=2, tls_handshake_timeout=10.0)
    held = [connect(source.port), connect(source.port)]  # two from 127.0.0.1, silent in the handshake
    try:
        wait_until(lambda: source.limits.open == 2)
        with connect(source.port) as third:  # a third from the same address
            assert closed_by_server_within(third, 3) < 3
        wait_until(lambda: emit.rejections == 1)
        send_batch(source.port, pki, 1, bind="127.0.0.2")  # another address: served (the third place)
        [record] = emit.wait_for(1)
        assert record.text == EVENT.decode() and record.origin == "forwarder://ward-3"
        wait_until(lambda: source.limits.open == 2)
        held += [connect(source.port, "127.0.0.3"), connect(source.port, "127.0.0.4")]
        # Two held + one new make three: the fourth is over the total, whatever its address.
        wait_until(lambda: emit.rejections == 2)
        assert source.limits.open == 3
    finally:
        for client in held:
            client.close()
    wait_until(lambda: source.limits.open == 0)


def test_garbage_and_a_stalled_handshake_are_cut_off_while_a_ward_is_served(
    start: Callable[..., Listener], pki: Pki
) -> None:
    source, emit = start()
    with connect(source.port) as garbage:
        garbage.sendall(b"<13>plain syslog on the forwarder port\n")
        assert closed_by_server_within(garbage, 5) < 5
    with connect(source.port) as stalled:  # says nothing
        send_batch(source.port, pki, 1)
        emit.wait_for(1)
        assert closed_by_server_within(stalled, 5) < HANDSHAKE_TIMEOUT + 2
    wait_until(lambda: emit.rejections == 2)
    assert [record.text for record in emit.records] == [EVENT.decode()]
    wait_until(lambda: source.limits.open == 0)


def test_a_client_without_a_certificate_is_refused_and_counted(start: Callable[..., Listener], pki: Pki) -> None:
    source, emit = start()
    with connect(source.port) as raw, ward_context(pki, None).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        # TLS 1.3: the server checks the client certificate after the client's side finished.
        assert closed_by_server_within(tls, 5) < 5
    wait_until(lambda: emit.rejections == 1)
    assert emit.records == []


def test_no_hello_within_the_handshake_time_is_refused(start: Callable[..., Listener], pki: Pki) -> None:
    source, emit = start()
    with connect(source.port) as raw, ward_context(pki, pki.ward).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.settimeout(5)
        started = time.monotonic()
        found = wire.FrameReader(tls).read()
        assert found is not None and found[0] == wire.ERROR
        assert "no HELLO" in wire.json_body(found[1])["message"]
        assert time.monotonic() - started < HANDSHAKE_TIMEOUT + 2
    wait_until(lambda: emit.rejections == 1)


def test_a_silent_link_is_closed_after_the_idle_timeout(start: Callable[..., Listener], pki: Pki) -> None:
    source, emit = start(idle_timeout=1.0)
    with connect(source.port) as raw, ward_context(pki, pki.ward).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        hello(tls)
        tls.sendall(wire.batch_frame((1, 1), [EVENT]))
        emit.wait_for(1)
        started = time.monotonic()
        # The batch is never acknowledged here (no store), so the link is not idle yet: it stays.
        time.sleep(1.5)
        assert source.limits.open == 1 and emit.rejections == 0
    wait_until(lambda: source.limits.open == 0)
    with connect(source.port) as raw, ward_context(pki, pki.ward).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        hello(tls)
        started = time.monotonic()
        waited = closed_by_server_within(tls, 5)
    assert 0.9 < waited < 4 and time.monotonic() - started < 5
    wait_until(lambda: emit.rejections == 1)
    send_batch(source.port, pki, 2)  # the ward comes back and is served
    wait_until(lambda: len(emit.records) == 2)

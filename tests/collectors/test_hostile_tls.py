"""Hostile TLS clients against the syslog TLS listener (RFC 5425) on loopback (issue 8): garbage
instead of a handshake, a stalled or dripping handshake, an old protocol version (TLS 1.1), and
NUL bytes and invalid UTF-8 inside the tunnel. The listener keeps serving and counts each."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.sources.contract import SourceOptions
from collectors.sources.syslog import TcpSyslogSource, create_source
from tests.collectors.test_syslog_source import CollectingEmitter, make_certificate
from tests.collectors.waiting import closed_by_server_within, wait_until

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command for certificates")

HANDSHAKE_TIMEOUT = 0.75


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"), "server")


@pytest.fixture
def listener(certificate: tuple[Path, Path]) -> Iterator[tuple[TcpSyslogSource, CollectingEmitter]]:
    cert, key = certificate
    options = SourceOptions(
        name="tls", transport="tls", port=0, tls_cert_file=str(cert), tls_key_file=str(key),
        tls_handshake_timeout=HANDSHAKE_TIMEOUT,
    )  # fmt: skip
    source = create_source(options)
    assert isinstance(source, TcpSyslogSource)
    emit = CollectingEmitter()
    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(emit, stop), daemon=True)
    thread.start()
    yield source, emit
    stop.set()
    thread.join(10)
    assert not thread.is_alive()


def client_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


def send_over_tls(port: int, certificate: tuple[Path, Path], payload: bytes) -> None:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        client_context(certificate).wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(payload)


def test_garbage_instead_of_a_handshake(listener: tuple[TcpSyslogSource, CollectingEmitter],
                                        certificate: tuple[Path, Path]) -> None:  # fmt: skip
    source, emit = listener
    for garbage in (b"<13>plain syslog on the TLS port\n", b"\x16\x03\x01\xff\xff" + bytes(range(256)) * 4):
        with socket.create_connection(("127.0.0.1", source.port), timeout=5) as client:
            client.sendall(garbage)
            assert closed_by_server_within(client, 5) < 5
    wait_until(lambda: emit.rejections == 2)
    send_over_tls(source.port, certificate, b"<13>Nov 25 10:00:00 host app: fine\n")
    wait_until(lambda: [r.text for r in emit.records] == ["<13>Nov 25 10:00:00 host app: fine"])
    assert source.limits.open == 0


def test_stalled_handshake_is_cut_off_while_others_are_served(
    listener: tuple[TcpSyslogSource, CollectingEmitter], certificate: tuple[Path, Path]
) -> None:
    source, emit = listener
    with socket.create_connection(("127.0.0.1", source.port), timeout=5) as stalled:  # says nothing
        send_over_tls(source.port, certificate, b"<13>Nov 25 10:00:00 host app: meanwhile\n")
        wait_until(lambda: len(emit.records) == 1)
        waited = closed_by_server_within(stalled, 5)
    assert waited < HANDSHAKE_TIMEOUT + 2
    # The socket closes inside wrap_socket, a moment before the listener counts the rejection.
    wait_until(lambda: emit.rejections == 1)


def test_dripping_handshake_has_one_deadline(listener: tuple[TcpSyslogSource, CollectingEmitter]) -> None:
    source, emit = listener
    # A ClientHello sent a byte every 0.1 s: each read is quick, the handshake as a whole is not.
    hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 500
    with socket.create_connection(("127.0.0.1", source.port), timeout=5) as client:
        started = time.monotonic()
        try:
            for byte in hello:
                client.sendall(bytes([byte]))
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert time.monotonic() - started < HANDSHAKE_TIMEOUT + 2
    wait_until(lambda: emit.rejections == 1)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_1_1_is_refused_and_tls_1_2_accepted(listener: tuple[TcpSyslogSource, CollectingEmitter],
                                                  certificate: tuple[Path, Path]) -> None:  # fmt: skip
    source, emit = listener
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    try:
        old.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this OpenSSL speak TLS 1.1 at all
        old.minimum_version = ssl.TLSVersion.TLSv1_1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ssl.SSLError, ValueError) as exc:
        pytest.skip(f"this OpenSSL cannot make a TLS 1.1 client: {exc}")
    with socket.create_connection(("127.0.0.1", source.port), timeout=5) as raw, pytest.raises(ssl.SSLError) as refused:
        old.wrap_socket(raw).close()
    if "NO_PROTOCOLS_AVAILABLE" in str(refused.value).upper():
        pytest.skip("this OpenSSL build has no TLS 1.1 client")
    assert "protocol version" in str(refused.value).lower()  # the server's alert, not a local refusal
    wait_until(lambda: emit.rejections == 1)
    exact = client_context(certificate)
    exact.minimum_version = exact.maximum_version = ssl.TLSVersion.TLSv1_2
    with (
        socket.create_connection(("127.0.0.1", source.port), timeout=5) as raw,
        exact.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() == "TLSv1.2"
        tls.sendall(b"<13>Nov 25 10:00:00 host app: tls 1.2\n")
    wait_until(lambda: [r.text for r in emit.records] == ["<13>Nov 25 10:00:00 host app: tls 1.2"])


def test_nul_and_invalid_utf8_inside_tls(listener: tuple[TcpSyslogSource, CollectingEmitter],
                                         certificate: tuple[Path, Path]) -> None:  # fmt: skip
    source, emit = listener
    hostile = b"<13>Nov 25 10:00:00 host app: \xff\xfe\x00 nul and bad bytes"
    send_over_tls(source.port, certificate, b"%d %s" % (len(hostile), hostile))
    [record] = emit.wait_for(1)
    assert record.raw_bytes == hostile
    assert record.text == hostile.decode("utf-8", "replace") and "\x00" in record.text


def test_garbage_after_the_handshake_ends_only_that_connection(
    listener: tuple[TcpSyslogSource, CollectingEmitter], certificate: tuple[Path, Path]
) -> None:
    source, emit = listener
    with (
        socket.create_connection(("127.0.0.1", source.port), timeout=5) as raw,
        client_context(certificate).wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"<13>Nov 25 10:00:00 host app: before garbage\n")
        os.write(tls.fileno(), b"\x17\x03\x03\x00\x10not a tls record at all")  # beside the TLS layer
        assert closed_by_server_within(tls, 5) < 5
    send_over_tls(source.port, certificate, b"<13>Nov 25 10:00:00 host app: next client\n")
    wait_until(lambda: sorted(r.text for r in emit.records) == [
        "<13>Nov 25 10:00:00 host app: before garbage", "<13>Nov 25 10:00:00 host app: next client"])
    wait_until(lambda: source.limits.open == 0)

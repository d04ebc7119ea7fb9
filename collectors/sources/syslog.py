"""Syslog listeners: UDP (RFC 5426), TCP (RFC 6587) and TLS (RFC 5425), IPv4 and IPv6.

The socket is bound when the source is created, so a port in use is a SourceError at start-up
and ``url`` names the real port (port 0 picks a free one). UDP hands datagrams over with
``offer`` (never blocks; a full pipeline drops and counts), TCP and TLS with ``put`` (blocks,
so a slow pipeline stops reading and TCP flow control slows the sender). One thread per TCP
connection; each read may carry many messages and is handed over as one batch.

UDP cannot slow a sender, so a burst the pipeline cannot take at once waits in the socket's
receive buffer (``receive_buffer_bytes``, asked with SO_RCVBUFFORCE where the process may, else
SO_RCVBUF, which the kernel caps at ``net.core.rmem_max``; the size granted is logged). The
receive loop reads no more datagrams than the pipeline has room for (``emit.free``), so while
the pipeline is full they stay in that buffer instead of being read only to be dropped; it reads
until the socket is empty (or a batch is full) with nothing but ``recvfrom`` per datagram, then
builds the records and hands them over in one call. Datagrams the full buffer had no room for
are lost in the kernel; on Linux the loop reads the socket's drop count (SO_MEMINFO) as it goes
and counts them as dropped (``emit.lost``), beside those a full pipeline refused. While
stopping, the loop reads everything left and offers it (what does not fit is dropped and counted).

Hostile peers are bounded: connections beyond ``max_connections`` (all peers) or
``max_connections_per_ip`` (one address) are closed at once, a connection silent for
``idle_timeout`` is closed, a TLS handshake must finish within ``tls_handshake_timeout`` (TLS 1.2
at least), and a message is cut at ``max_message_bytes`` with the rest of it discarded (see
``framing``). Each of these is counted with ``emit.rejected``. The connection limits and the
accept loop are shared with the forwarder listener (``limits``).
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Callable

from collectors.base import RawRecord
from collectors.sources.contract import BatchEmitter, SourceOptions
from collectors.sources.framing import Framer
from collectors.sources.limits import (
    Address,
    ConnectionLimits,
    accept_connections,
    idle_too_long,
    peer_ip,
    tls_handshake,
)
from siem.errors import SourceError

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.25
#: Most datagrams read before they are handed over (then reading goes on at once).
_UDP_BATCH = 2048
#: The largest UDP payload.
_DATAGRAM_BYTES = 65535
#: Peer addresses whose origin text is kept (``udp://host``); the cache is emptied beyond.
_PEER_CACHE = 4096
_READ_BYTES = 256 * 1024
#: While the pipeline is full, how long to wait before looking for room again.
_HOLD_SECONDS = 0.005
#: Least time between two warnings about an overflowing receive buffer.
_OVERFLOW_WARNING_SECONDS = 60.0
_LINUX = sys.platform.startswith("linux")
#: SO_RCVBUFFORCE (Linux): SO_RCVBUF beyond net.core.rmem_max, for a process with CAP_NET_ADMIN.
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33 if _LINUX else None)
#: SO_MEMINFO (Linux 4.6+): the socket's memory figures; the ninth is its count of dropped datagrams.
_SO_MEMINFO = getattr(socket, "SO_MEMINFO", 55 if _LINUX else None)
_MEMINFO = struct.Struct("=9I")
#: After stop, how long a connection may still deliver what its peer sent.
_DRAIN_SECONDS = 2.0


def decode(data: bytes) -> tuple[str, bytes | None]:
    """The text of a message, and the raw bytes when they were not valid UTF-8."""
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace"), data


def strip_octet_count(data: bytes) -> bytes:
    """``data`` without a leading ``MSG-LEN SP`` that counts exactly the rest."""
    space = data.find(b" ", 0, 11)
    if space > 0 and data[:space].isdigit() and int(data[:space]) == len(data) - space - 1:
        return data[space + 1 :]
    return data


def set_receive_buffer(sock: socket.socket, size: int) -> int:
    """Ask for a receive buffer of ``size`` bytes; returns the usable size granted.

    SO_RCVBUFFORCE first (it passes ``net.core.rmem_max`` when the process has CAP_NET_ADMIN),
    else SO_RCVBUF, which the kernel caps at ``net.core.rmem_max``. Linux reports twice the
    usable size (its bookkeeping overhead), so the report is halved there.
    """
    forced = False
    if _SO_RCVBUFFORCE is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, size)
            forced = True
        except OSError:  # EPERM: not privileged
            pass
    if not forced:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    granted = int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
    return granted // 2 if _LINUX else granted


def kernel_drops(sock: socket.socket) -> int | None:
    """How many datagrams the kernel dropped for ``sock`` (its receive buffer was full), or None
    where the kernel does not tell (not Linux, or older than 4.6)."""
    if _SO_MEMINFO is None:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, _SO_MEMINFO, _MEMINFO.size)
    except OSError:
        return None
    return int(_MEMINFO.unpack(raw)[8]) if len(raw) == _MEMINFO.size else None


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _origin_host(address: Address) -> str:
    host = peer_ip(address)
    return f"[{host}]" if ":" in host else host


class _Listener:
    """Common parts: options, the bound socket, record building."""

    transport = "udp"
    #: UDP: the receive buffer the kernel granted (bytes usable for datagrams).
    receive_buffer = 0

    def __init__(self, options: SourceOptions, kind: socket.SocketKind) -> None:
        self.options = options
        self.name = options.name
        self._socket = socket.socket(_family(options.host), kind)
        try:
            if kind == socket.SOCK_STREAM:
                self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            else:
                self.receive_buffer = set_receive_buffer(self._socket, options.receive_buffer_bytes)
            self._socket.bind((options.host, options.port))
        except OSError as exc:
            self._socket.close()
            raise SourceError(
                f"cannot listen on {self.transport}://{options.host}:{options.port}: {exc.strerror}"
            ) from exc
        self.port = int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        """Where it listens, e.g. ``udp://127.0.0.1:5514``."""
        host = self.options.host
        return f"{self.transport}://{f'[{host}]' if ':' in host else host}:{self.port}"

    def _record(self, data: bytes, origin: str, received: float, key: str, truncated: bool) -> RawRecord:
        """One message as a record of this source (text not UTF-8 keeps its bytes)."""
        options = self.options
        text, raw = decode(data)
        return RawRecord(
            text=text,
            origin=origin,
            received=received,
            key=key,
            raw_bytes=raw,
            truncated=truncated,
            format=options.format,
            timezone=options.timezone,
            source=options.name,
        )

    def _records(
        self, frames: list[tuple[bytes, bool]], origin: str, received: float, emit: BatchEmitter
    ) -> list[RawRecord]:
        """Records of ``frames``; truncated ones are counted as rejected."""
        records = []
        cut = 0
        for index, (frame, truncated) in enumerate(frames):
            if truncated:
                cut += 1
            records.append(self._record(frame, origin, received, f"{received:.6f}:{index}", truncated))
        if cut:
            emit.rejected(cut)
        return records


class UdpSyslogSource(_Listener):
    """Syslog over UDP (RFC 5426): one datagram is one message."""

    transport = "udp"

    def __init__(self, options: SourceOptions) -> None:
        super().__init__(options, socket.SOCK_DGRAM)
        self._socket.setblocking(False)
        self._peers: dict[Address, str] = {}
        #: The kernel's count of datagrams this socket dropped, as last read (and counted); None
        #: where the kernel does not tell.
        self.kernel_drops = kernel_drops(self._socket)
        self._overflow_warned = -_OVERFLOW_WARNING_SECONDS
        asked = options.receive_buffer_bytes
        if self.receive_buffer < asked:
            log.warning(
                "%s: receive buffer %d bytes, not the %d asked (receive_buffer_bytes): the kernel caps it at"
                " net.core.rmem_max unless siem runs with CAP_NET_ADMIN; raise it with"
                " sysctl -w net.core.rmem_max=%d, or bursts beyond the buffer are lost",
                self.url, self.receive_buffer, asked, asked,
            )  # fmt: skip
        else:
            log.info("%s: receive buffer %d bytes", self.url, self.receive_buffer)

    def run(self, emit: BatchEmitter, stop: threading.Event) -> None:
        """Receive until ``stop``; then read what the kernel still holds, and close."""
        poller = select.poll()
        poller.register(self._socket, select.POLLIN)
        try:
            while True:
                stopping = stop.is_set()
                if not stopping and not poller.poll(_POLL_SECONDS * 1000):
                    continue
                if self.kernel_drops is not None:
                    self._count_kernel_drops(emit)
                room = _UDP_BATCH if stopping else min(_UDP_BATCH, emit.free())
                if room <= 0:  # the pipeline is full: the datagrams wait in the receive buffer
                    stop.wait(_HOLD_SECONDS)
                    continue
                datagrams = self._drain(room)
                if datagrams:
                    emit.offer_many(self._udp_records(datagrams, emit))
                elif stopping:
                    if self.kernel_drops is not None:
                        self._count_kernel_drops(emit)
                    return
        finally:
            self._socket.close()

    def _drain(self, most: int) -> list[tuple[bytes, Address]]:
        """Up to ``most`` datagrams waiting in the socket, with only ``recvfrom`` per datagram."""
        receive = self._socket.recvfrom
        datagrams: list[tuple[bytes, Address]] = []
        append = datagrams.append
        try:
            for _ in range(most):
                append(receive(_DATAGRAM_BYTES))
        except BlockingIOError:
            pass
        return datagrams

    def _count_kernel_drops(self, emit: BatchEmitter) -> None:
        """Count (as lost) what the kernel dropped since the last look, and warn now and then."""
        total = kernel_drops(self._socket)
        if total is None or self.kernel_drops is None:
            return
        new = (total - self.kernel_drops) & 0xFFFFFFFF  # a 32-bit counter
        self.kernel_drops = total
        if not new:
            return
        emit.lost(new)
        now = time.monotonic()
        if now - self._overflow_warned >= _OVERFLOW_WARNING_SECONDS:
            self._overflow_warned = now
            log.warning(
                "%s: the receive buffer (%d bytes) overflowed while the pipeline was full: %d datagrams"
                " lost so far (counted as dropped); a larger receive_buffer_bytes holds longer bursts",
                self.url, self.receive_buffer, total,
            )  # fmt: skip

    def _udp_records(self, datagrams: list[tuple[bytes, Address]], emit: BatchEmitter) -> list[RawRecord]:
        """Records of ``datagrams`` (trailing CR, LF and NUL and an octet count removed, cut at
        ``max_message_bytes``); empty ones are skipped, cut ones counted as rejected."""
        options = self.options
        limit = options.max_message_bytes
        received = time.time()
        prefix = f"{received:.6f}:"
        peers = self._peers
        records: list[RawRecord] = []
        cut = 0
        for index, (data, address) in enumerate(datagrams):
            data = data.rstrip(b"\r\n\x00")
            if not data:
                continue
            if 0x31 <= data[0] <= 0x39:  # an RFC 6587 octet count some senders add
                data = strip_octet_count(data)
            truncated = len(data) > limit
            if truncated:
                data = data[:limit]
                cut += 1
            origin = peers.get(address)
            if origin is None:
                if len(peers) >= _PEER_CACHE:
                    peers.clear()
                origin = peers[address] = f"udp://{_origin_host(address)}"
            records.append(self._record(data, origin, received, prefix + str(index), truncated))
        if cut:
            emit.rejected(cut)
        return records


class TcpSyslogSource(_Listener):
    """Syslog over TCP (RFC 6587), or over TLS (RFC 5425) when a context is given."""

    transport = "tcp"

    def __init__(self, options: SourceOptions, tls: ssl.SSLContext | None = None) -> None:
        if tls is not None:
            self.transport = "tls"
        super().__init__(options, socket.SOCK_STREAM)
        self._tls = tls
        self._socket.listen(1024)
        self._socket.settimeout(_POLL_SECONDS)
        self.limits = ConnectionLimits(options.max_connections, options.max_connections_per_ip)

    def run(self, emit: BatchEmitter, stop: threading.Event) -> None:
        """Accept connections until ``stop``; then let each connection finish its reads."""

        def serve(connection: socket.socket, ip: str, address: Address) -> None:
            self._serve(connection, f"{self.transport}://{_origin_host(address)}", emit, stop)

        accept_connections(self._socket, self.limits, url=self.url, thread_name=self.name, serve=serve,
                           emit=emit, stop=stop)  # fmt: skip

    def _serve(self, connection: socket.socket, origin: str, emit: BatchEmitter, stop: threading.Event) -> None:
        stream: socket.socket = connection
        try:
            if self._tls is not None:
                tls = tls_handshake(self._tls, connection, self.options.tls_handshake_timeout, url=self.url,
                                    peer=origin, emit=emit)  # fmt: skip
                if tls is None:
                    return
                stream = tls
            stream.settimeout(_POLL_SECONDS)
            self._read(stream, origin, emit, stop)
        except (ssl.SSLError, OSError) as exc:
            log.warning("%s: connection from %s ended: %s", self.url, origin, exc)
        finally:
            stream.close()

    def _read(self, stream: socket.socket, origin: str, emit: BatchEmitter, stop: threading.Event) -> None:
        framer = Framer(self.options.max_message_bytes)
        idle_timeout = self.options.idle_timeout
        deadline: float | None = None
        last_data = time.monotonic()
        while True:
            if deadline is None and stop.is_set():
                deadline = time.monotonic() + _DRAIN_SECONDS
            elif deadline is not None and time.monotonic() > deadline:
                break
            try:
                data = stream.recv(_READ_BYTES)
            except TimeoutError:
                if stop.is_set():  # nothing more arrived within the poll time: done
                    break
                if idle_too_long(last_data, idle_timeout):
                    emit.rejected()
                    log.info("%s: closing %s, silent for %g s", self.url, origin, idle_timeout)
                    break
                continue
            except ssl.SSLWantReadError:
                continue
            if not data:
                break
            last_data = time.monotonic()
            frames = framer.feed(data)
            if frames:
                emit.put_many(self._records(frames, origin, time.time(), emit))
        rest = framer.finish()
        if rest:
            emit.put_many(self._records(rest, origin, time.time(), emit))


def tls_context(options: SourceOptions) -> ssl.SSLContext:
    """Server TLS context from the configured certificate, key and (optional) client CA."""
    if not options.tls_cert_file or not options.tls_key_file:
        raise SourceError(f"source {options.name}: tls needs tls.cert_file and tls.key_file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # No TLS 1.3 session tickets: a sender never reads them, and a socket closed with unread
    # data is reset (RST), which makes our kernel drop the lines it had not yet handed to us.
    context.num_tickets = 0
    try:
        context.load_cert_chain(options.tls_cert_file, options.tls_key_file)
        if options.tls_ca_file:
            context.load_verify_locations(options.tls_ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise SourceError(f"source {options.name}: cannot load TLS certificate or key: {exc}") from exc
    if options.tls_require_client_cert:
        if not options.tls_ca_file:
            raise SourceError(f"source {options.name}: tls.require_client_cert needs tls.ca_file")
        context.verify_mode = ssl.CERT_REQUIRED
    return context


_FACTORIES: dict[str, Callable[[SourceOptions], _Listener]] = {
    "udp": UdpSyslogSource,
    "tcp": TcpSyslogSource,
    "tls": lambda options: TcpSyslogSource(options, tls_context(options)),
}


def create_source(options: SourceOptions) -> UdpSyslogSource | TcpSyslogSource:
    """The listener for ``options.transport``, bound and ready to run."""
    factory = _FACTORIES.get(options.transport)
    if factory is None:
        raise SourceError(f"source {options.name}: unknown syslog transport {options.transport!r}")
    source = factory(options)
    assert isinstance(source, UdpSyslogSource | TcpSyslogSource)
    return source

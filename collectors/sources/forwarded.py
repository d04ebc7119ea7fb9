"""The centre's end of the ward forwarder link: a mutual-TLS listener for enriched events.

Each ward forwarder (``siem run --role forwarder``) connects with its client certificate; the
certificate's common name is the forwarder's identity. The link is described in
``collectors/sources/forward_wire.py``. Events arrive already parsed and enriched (their ids,
site labels and ``event.original`` are kept); they are handed to the pipeline as ``ecs-json``
records, so detection, alerting and the store work on them as on local ones.

A batch is acknowledged only after the store committed it: its last record carries the
checkpoint ``forwarder:<name>`` = its end position, which the pipeline commits in the same
transaction as the events. The checkpoint also tells a reconnecting forwarder where the centre
stands (WELCOME), and a batch at or before it is acknowledged without being stored again.
The forwarder keeps its events until they are acknowledged, so these records skip the spool.

Hostile peers are bounded as on the syslog TLS listener, with the same code (``limits``):
``max_connections`` / ``max_connections_per_ip`` (more are closed at once), the TLS handshake
within ``tls_handshake_timeout`` (TLS 1.2 at least), then HELLO within the same time, and a link
that sends nothing for ``idle_timeout`` while no batch waits for its acknowledgement is closed
(the ward reconnects when it has events again). Each of these is counted with ``emit.rejected``.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections import deque

from collectors.base import RawRecord
from collectors.sources import forward_wire as wire
from collectors.sources.contract import BatchEmitter, SourceOptions
from collectors.sources.limits import Address, ConnectionLimits, accept_connections, idle_too_long, tls_handshake
from siem.errors import SourceError

log = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "forwarder:"
FORMAT = "ecs-json"
_POLL_SECONDS = 0.25
_ACK_POLL_SECONDS = 0.005
#: After stop, how long a connection waits to acknowledge what the pipeline still commits.
_DRAIN_SECONDS = 5.0


def checkpoint_name(forwarder: str) -> str:
    """The checkpoint holding the end position of a forwarder's last committed batch."""
    return f"{CHECKPOINT_PREFIX}{forwarder}"


def peer_name(stream: ssl.SSLSocket) -> str:
    """The common name of the peer's (verified) certificate."""
    certificate = stream.getpeercert() or {}
    for rdn in certificate.get("subject", ()):
        for attribute in rdn:
            if attribute[0] == "commonName" and attribute[1]:
                return str(attribute[1])
    raise wire.WireError("the client certificate has no common name (the forwarder's name)")


def tls_context(options: SourceOptions) -> ssl.SSLContext:
    """Server context that requires a client certificate signed by ``tls.ca_file`` (TLS >= 1.2)."""
    if not options.tls_cert_file or not options.tls_key_file or not options.tls_ca_file:
        raise SourceError(
            f"source {options.name}: a forwarder listener needs tls.cert_file, tls.key_file and tls.ca_file"
            " (the CA that signed the wards' client certificates)"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    try:
        context.load_cert_chain(options.tls_cert_file, options.tls_key_file)
        context.load_verify_locations(options.tls_ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise SourceError(f"source {options.name}: cannot load TLS certificate, key or CA: {exc}") from exc
    return context


class ForwardedSource:
    """Listens for ward forwarders; one thread per connection."""

    def __init__(self, options: SourceOptions) -> None:
        self.options = options
        self.name = options.name
        self._tls = tls_context(options)
        family = socket.AF_INET6 if ":" in options.host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind((options.host, options.port))
            self._socket.listen(1024)
        except OSError as exc:
            self._socket.close()
            raise SourceError(f"cannot listen on forwarder://{options.host}:{options.port}: {exc.strerror}") from exc
        self._socket.settimeout(_POLL_SECONDS)
        self.port = int(self._socket.getsockname()[1])
        self.limits = ConnectionLimits(options.max_connections, options.max_connections_per_ip)
        self._active: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """Where it listens, e.g. ``forwarder://127.0.0.1:6514``."""
        host = self.options.host
        return f"forwarder://{f'[{host}]' if ':' in host else host}:{self.port}"

    def run(self, emit: BatchEmitter, stop: threading.Event) -> None:
        """Accept forwarders until ``stop``; then let each connection finish."""

        def serve(connection: socket.socket, ip: str, address: Address) -> None:
            self._serve(connection, f"{address[0]}:{address[1]}", emit, stop)

        accept_connections(self._socket, self.limits, url=self.url, thread_name=self.name, serve=serve,
                           emit=emit, stop=stop)  # fmt: skip

    def _serve(self, connection: socket.socket, peer: str, emit: BatchEmitter, stop: threading.Event) -> None:
        stream: socket.socket = connection
        try:
            tls = tls_handshake(self._tls, connection, self.options.tls_handshake_timeout, url=self.url, peer=peer,
                                emit=emit)  # fmt: skip
            if tls is None:
                return
            stream = tls
            name = peer_name(tls)
            self._link(tls, name, peer, emit, stop)
        except wire.WireError as exc:
            log.warning("%s: forwarder %s broke the protocol: %s", self.url, peer, exc)
            _send_error(stream, str(exc))
        except (ssl.SSLError, OSError) as exc:
            log.warning("%s: connection from %s ended: %s", self.url, peer, exc)
        finally:
            stream.close()

    def _claim(self, name: str) -> threading.Event:
        """Make this connection the forwarder's only one (an older one is told to stop)."""
        with self._lock:
            previous = self._active.get(name)
            if previous is not None:
                previous.set()
            current = self._active[name] = threading.Event()
            return current

    def _link(self, stream: ssl.SSLSocket, name: str, peer: str, emit: BatchEmitter, stop: threading.Event) -> None:
        reader = wire.FrameReader(stream)
        stream.settimeout(self.options.tls_handshake_timeout)
        hello = reader.read()
        if hello is None:
            emit.rejected()
            raise wire.WireError(f"no HELLO within {self.options.tls_handshake_timeout:g} s")
        if hello[0] != wire.HELLO:
            raise wire.WireError("expected HELLO")
        version = wire.json_body(hello[1]).get("version")
        if version != wire.VERSION:
            raise wire.WireError(f"unsupported protocol version {version!r} (this centre speaks {wire.VERSION})")
        superseded = self._claim(name)
        checkpoint = checkpoint_name(name)
        committed = _position(emit.checkpoint(checkpoint))
        stream.sendall(wire.json_frame(wire.WELCOME, {"version": wire.VERSION, "acked": _text(committed)}))
        log.info("%s: forwarder %s connected from %s (committed up to %s)", self.url, name, peer, _text(committed))
        origin = f"forwarder://{name}"
        pending: deque[wire.Position] = deque()
        drain_until: float | None = None
        last_data = time.monotonic()
        while not superseded.is_set():
            committed = self._send_acks(stream, emit, checkpoint, pending, committed)
            if stop.is_set():  # stop reading; acknowledge what the pipeline still commits
                drain_until = drain_until or time.monotonic() + _DRAIN_SECONDS
                if not pending or time.monotonic() > drain_until:
                    return
                time.sleep(_ACK_POLL_SECONDS)
                continue
            stream.settimeout(_ACK_POLL_SECONDS if pending else _POLL_SECONDS)
            try:
                found = reader.read()
            except ConnectionError:
                return
            if found is None:
                if not pending and idle_too_long(last_data, self.options.idle_timeout):
                    emit.rejected()
                    log.info("%s: closing forwarder %s, silent for %g s", self.url, name, self.options.idle_timeout)
                    return
                continue
            last_data = time.monotonic()
            kind, body = found
            if kind != wire.BATCH:
                raise wire.WireError(f"expected BATCH, got frame kind {kind}")
            end, payloads = wire.parse_batch(body)
            if pending and end <= pending[-1]:
                raise wire.WireError("batch positions must grow")
            if committed is None or end > committed:  # else stored already: only acknowledged again
                if not payloads:
                    raise wire.WireError("an empty batch")
                emit.put_many(self._records(payloads, origin, end, checkpoint))
            pending.append(end)

    def _records(self, payloads: list[bytes], origin: str, end: wire.Position, checkpoint: str) -> list[RawRecord]:
        received = time.time()
        key = wire.format_position(end)
        records = []
        for index, payload in enumerate(payloads):
            records.append(
                RawRecord(
                    text=payload.decode("utf-8", "replace"),
                    origin=origin,
                    received=received,
                    key=f"{key}:{index}",
                    format=FORMAT,
                    timezone=self.options.timezone,
                    source=self.name,
                )
            )
        if records:
            records[-1].checkpoint = (checkpoint, key)
        return records

    def _send_acks(
        self,
        stream: ssl.SSLSocket,
        emit: BatchEmitter,
        checkpoint: str,
        pending: deque[wire.Position],
        committed: wire.Position | None,
    ) -> wire.Position | None:
        """Acknowledge the pending batches the store has committed; returns the committed position."""
        if not pending:
            return committed
        now = _position(emit.checkpoint(checkpoint))
        if now is None:
            return committed
        while pending and pending[0] <= now:
            stream.sendall(wire.ack_frame(pending.popleft()))
        return now if committed is None or now > committed else committed


def _position(text: str | None) -> wire.Position | None:
    return wire.parse_position(text) if text else None


def _text(position: wire.Position | None) -> str | None:
    return wire.format_position(position) if position is not None else None


def _send_error(stream: socket.socket, message: str) -> None:
    try:
        stream.settimeout(1.0)
        stream.sendall(wire.json_frame(wire.ERROR, {"message": message}))
    except (OSError, ssl.SSLError):
        pass


def create_source(options: SourceOptions) -> ForwardedSource:
    """The forwarder listener of ``options``, bound and ready to run."""
    return ForwardedSource(options)

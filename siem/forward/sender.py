"""The forwarder's link to the centre: reads the buffer in order and sends it over mutual TLS.

One thread. It connects (client certificate, the centre's certificate checked against
``forwarder.ca_file`` and, by default, its host name; TLS 1.2 or later), says HELLO and learns
from WELCOME how far the centre's store has committed this forwarder's batches. It then sends
batches (``forwarder.batch_size`` events) with up to ``forwarder.window`` in flight; each ACK
moves the buffer's acknowledged position, which deletes spent segments. On any failure it
reconnects with a doubling wait (0.5 s up to ``forwarder.reconnect_max_seconds``) and resends
everything not acknowledged, from the acknowledged position: in order, and the centre stores
each event once.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass

from collectors.sources import forward_wire as wire
from siem.errors import ConfigError, SiemError
from siem.forward.config import ForwarderConfig
from siem.forward.outbox import Outbox, Position

log = logging.getLogger(__name__)

_FIRST_WAIT = 0.5
_IDLE_POLL = 0.5


@dataclass
class LinkState:
    """What the link did (read by the monitor for the state file and ``siem status``)."""

    central: str
    connected: bool = False
    connects: int = 0
    sent_batches: int = 0
    acked_batches: int = 0
    acked_events: int = 0
    last_error: str | None = None
    last_ack_at: float | None = None
    down_since: float | None = None


def client_context(config: ForwarderConfig) -> ssl.SSLContext:
    """The forwarder's TLS context: client certificate, CA-verified centre, TLS >= 1.2."""
    config.check_tls()
    assert config.cert_file and config.key_file and config.ca_file
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = config.check_hostname
    try:
        context.load_verify_locations(config.ca_file)
        context.load_cert_chain(config.cert_file, config.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"forwarder: cannot load the TLS certificate, key or CA: {exc}") from exc
    if not config.check_hostname:
        log.warning("forwarder.check_hostname is off: any certificate of the CA is taken as the centre")
    return context


class Sender:
    """Sends the buffer to the centre until stopped; see the module docstring."""

    def __init__(self, config: ForwarderConfig, outbox: Outbox, context: ssl.SSLContext, *, name: str) -> None:
        self.config = config
        self.outbox = outbox
        self.context = context
        self.name = name
        host = config.host
        self.state = LinkState(central=f"tls://{f'[{host}]' if ':' in host else host}:{config.port}")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="forwarder-sender", daemon=True)

    def start(self) -> None:
        """Start sending in the background."""
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop sending (what is not acknowledged stays in the buffer for the next start)."""
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        wait = _FIRST_WAIT
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                with self._connect() as stream:
                    self._session(stream)
            except (OSError, ssl.SSLError, wire.WireError) as exc:
                self._link_down(exc)
            except SiemError as exc:  # the buffer could not be read or its position saved
                log.error("forwarder: %s; retrying", exc)
                self._link_down(exc)
            except Exception as exc:  # a bug must not stop the sending for good
                log.exception("forwarder: the sender failed; retrying")
                self._link_down(exc)
            if time.monotonic() - started > self.config.reconnect_max_seconds:
                wait = _FIRST_WAIT  # the link held a while: start the waits afresh
            self._stop.wait(wait)
            wait = min(wait * 2, self.config.reconnect_max_seconds)

    def _link_down(self, exc: BaseException) -> None:
        state = self.state
        message = f"{type(exc).__name__}: {exc}" if not str(exc).startswith(type(exc).__name__) else str(exc)
        if state.connected or state.down_since is None:
            log.warning(
                "forwarder: the centre at %s is unreachable (%s); events are kept in the buffer and resent",
                state.central,
                message,
            )
            state.down_since = time.time()
        state.connected = False
        state.last_error = message

    def _connect(self) -> ssl.SSLSocket:
        config = self.config
        raw = socket.create_connection((config.host, config.port), timeout=config.timeout)
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return self.context.wrap_socket(raw, server_hostname=config.server_name or config.host)
        except BaseException:
            raw.close()
            raise

    def _hello(self, stream: ssl.SSLSocket, reader: wire.FrameReader) -> None:
        stream.sendall(wire.json_frame(wire.HELLO, {"version": wire.VERSION, "name": self.name}))
        found = reader.read()
        if found is None:
            raise TimeoutError(f"no answer from the centre within {self.config.timeout:.0f} s")
        kind, body = found
        if kind == wire.ERROR:
            raise wire.WireError(f"the centre refused the link: {wire.json_body(body).get('message')}")
        if kind != wire.WELCOME:
            raise wire.WireError(f"expected WELCOME, got frame kind {kind}")
        acked = wire.json_body(body).get("acked")
        if isinstance(acked, str):
            position = wire.parse_position(acked)
            if self.outbox.acked < position <= self.outbox.end:
                # The centre stored more than we heard of (an ack lost in a crash): skip it.
                self.outbox.acknowledge(position)

    def _check_open(self, stream: ssl.SSLSocket, reader: wire.FrameReader) -> None:
        """While idle, notice a centre that closed the link (ConnectionError) or said why (WireError)."""
        stream.settimeout(0.0)
        found = reader.read()
        if found is None:
            return
        kind, body = found
        if kind == wire.ERROR:
            raise wire.WireError(f"the centre closed the link: {wire.json_body(body).get('message')}")
        raise wire.WireError(f"unexpected frame kind {kind} while idle")

    def _session(self, stream: ssl.SSLSocket) -> None:
        config = self.config
        state = self.state
        reader = wire.FrameReader(stream)
        stream.settimeout(config.timeout)
        self._hello(stream, reader)
        if state.down_since is not None:
            log.warning("forwarder: connected to the centre at %s; sending the buffer", state.central)
        state.connected, state.down_since, state.last_error = True, None, None
        state.connects += 1
        next_position: Position = self.outbox.acked
        in_flight: deque[tuple[Position, int]] = deque()
        last_progress = time.monotonic()
        while not self._stop.is_set():
            while len(in_flight) < config.window:
                batch = self.outbox.read(next_position, config.batch_size)
                if batch is None:
                    break
                stream.settimeout(config.timeout)
                stream.sendall(wire.batch_frame(batch.end, batch.payloads))
                in_flight.append((batch.end, len(batch.payloads)))
                next_position = batch.end
                state.sent_batches += 1
            if not in_flight:
                if not self.outbox.wait_for_data(next_position, _IDLE_POLL):
                    self._check_open(stream, reader)
                last_progress = time.monotonic()
                continue
            stream.settimeout(_IDLE_POLL)
            found = reader.read()
            if found is None:
                if time.monotonic() - last_progress > config.timeout:
                    raise TimeoutError(f"no acknowledgement from the centre within {config.timeout:.0f} s")
                continue
            kind, body = found
            if kind == wire.ERROR:
                raise wire.WireError(f"the centre closed the link: {wire.json_body(body).get('message')}")
            if kind != wire.ACK:
                raise wire.WireError(f"expected ACK, got frame kind {kind}")
            position = wire.parse_ack(body)
            expected, events = in_flight[0]
            if position != expected:
                raise wire.WireError(f"acknowledgement out of order: {position}, expected {expected}")
            in_flight.popleft()
            self.outbox.acknowledge(position)
            state.acked_batches += 1
            state.acked_events += events
            state.last_ack_at = time.time()
            last_progress = time.monotonic()

"""Connection limits of the stream listeners (syslog over TCP and TLS, the ward forwarder link).

A listener admits a connection only while fewer than ``max_connections`` are open in all and
fewer than ``max_connections_per_ip`` from the peer's address; a connection over a limit is
closed at once. :func:`accept_connections` is the accept loop both listeners share: it admits,
serves each connection on its own thread, gives its place back when the thread ends, and
counts every refusal with ``emit.rejected`` (logged at most once a minute, so a flood is one
line, not thousands).
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable

from collectors.sources.contract import BatchEmitter

log = logging.getLogger(__name__)

#: A peer address as ``socket.accept`` returns it (IPv4 or IPv6).
Address = tuple[str, int] | tuple[str, int, int, int]
#: Serves one admitted connection: the socket, the peer's address (text) and the raw address.
Handler = Callable[[socket.socket, str, Address], None]

#: Least seconds between two warnings about refused connections (a flood logs one line a minute).
REFUSAL_LOG_SECONDS = 60.0


def peer_ip(address: Address) -> str:
    """The peer's address as text (an IPv4-mapped IPv6 address as plain IPv4)."""
    host = address[0]
    return host[7:] if host.startswith("::ffff:") and "." in host else host


class ConnectionLimits:
    """Open connections of one listener, in all and per peer address; admits up to the limits."""

    def __init__(self, total: int, per_ip: int) -> None:
        self.total = total
        self.per_ip = per_ip
        self._lock = threading.Lock()
        self._open = 0
        self._by_ip: dict[str, int] = {}

    @property
    def open(self) -> int:
        """Connections open now."""
        return self._open

    def admit(self, ip: str) -> bool:
        """Take a place for a connection from ``ip``; False when a limit is reached."""
        with self._lock:
            from_ip = self._by_ip.get(ip, 0)
            if self._open >= self.total or from_ip >= self.per_ip:
                return False
            self._open += 1
            self._by_ip[ip] = from_ip + 1
            return True

    def release(self, ip: str) -> None:
        """Give back the place of a closed connection from ``ip``."""
        with self._lock:
            self._open -= 1
            left = self._by_ip[ip] - 1
            if left:
                self._by_ip[ip] = left
            else:
                del self._by_ip[ip]


class _Refusals:
    """Counts refused connections and warns about them at most once a minute."""

    def __init__(self, url: str, limits: ConnectionLimits) -> None:
        self.url = url
        self.limits = limits
        self._since_logged = 0
        self._logged_at = -REFUSAL_LOG_SECONDS

    def refuse(self, ip: str, emit: BatchEmitter) -> None:
        emit.rejected()
        self._since_logged += 1
        now = time.monotonic()
        if now - self._logged_at >= REFUSAL_LOG_SECONDS:
            log.warning(
                "%s: refused %d connection(s) over the limits (last from %s; %d open, at most %d, %d per address)",
                self.url, self._since_logged, ip, self.limits.open, self.limits.total, self.limits.per_ip,
            )  # fmt: skip
            self._since_logged, self._logged_at = 0, now


def accept_connections(
    listener: socket.socket,
    limits: ConnectionLimits,
    *,
    url: str,
    thread_name: str,
    serve: Handler,
    emit: BatchEmitter,
    stop: threading.Event,
) -> None:
    """Accept on ``listener`` until ``stop``; serve each admitted connection on its own thread.

    ``listener`` must have a timeout (it is polled for ``stop``). A connection over the limits,
    or one no thread can be started for, is closed and counted as rejected. On return the
    listener is closed and every connection thread has ended.
    """
    refusals = _Refusals(url, limits)
    threads: list[threading.Thread] = []

    def run_one(connection: socket.socket, ip: str, address: Address) -> None:
        try:
            serve(connection, ip, address)
        finally:
            limits.release(ip)

    try:
        while not stop.is_set():
            try:
                connection, address = listener.accept()
            except TimeoutError:
                continue
            except OSError as exc:
                log.warning("%s: accept failed: %s", url, exc)
                continue
            ip = peer_ip(address)
            if not limits.admit(ip):
                refusals.refuse(ip, emit)  # counted before the close a client can observe
                connection.close()
                continue
            thread = threading.Thread(
                target=run_one, args=(connection, ip, address), name=f"{thread_name}-{address[0]}:{address[1]}",
                daemon=True,
            )  # fmt: skip
            try:
                thread.start()
            except RuntimeError as exc:  # no more threads: refuse like a limit
                limits.release(ip)
                log.warning("%s: cannot serve %s: %s", url, ip, exc)
                refusals.refuse(ip, emit)
                connection.close()
                continue
            threads = [t for t in threads if t.is_alive()]
            threads.append(thread)
    finally:
        listener.close()
        for thread in threads:
            thread.join()


def tls_handshake(
    context: ssl.SSLContext, connection: socket.socket, timeout: float, *, url: str, peer: str, emit: BatchEmitter
) -> ssl.SSLSocket | None:
    """The server side of a TLS handshake that must finish within ``timeout`` seconds in all
    (CPython keeps one deadline for the whole handshake); None, counted as rejected, when it fails."""
    connection.settimeout(timeout)
    try:
        return context.wrap_socket(connection, server_side=True)
    except (ssl.SSLError, OSError) as exc:
        emit.rejected()
        log.warning("%s: TLS handshake with %s failed: %s", url, peer, exc)
        return None


def idle_too_long(last_data: float, idle_timeout: float) -> bool:
    """Whether a connection whose last data came at ``last_data`` (monotonic) has been silent
    for more than ``idle_timeout`` seconds (0: never)."""
    return bool(idle_timeout) and time.monotonic() - last_data > idle_timeout

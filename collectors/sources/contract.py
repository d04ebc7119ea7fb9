"""What the built-in sources take (options) and hand records to (a batch emitter).

``collectors`` cannot read ``siem.config``; the pipeline converts a ``SourceConfig`` into these
options. The emitter extends ``collectors.base.Emitter`` with batches (one network read often
carries many messages) and a read-only view of committed checkpoints (file offsets).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from collectors.base import Emitter, RawRecord


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """Settings of one source; a field a source type does not use is ignored."""

    name: str
    #: The source type in the registry: syslog, file, pcap, capture.
    kind: str = "syslog"
    #: syslog: udp, tcp or tls.
    transport: str = "udp"
    host: str = "127.0.0.1"
    port: int = 5514
    #: file, pcap: paths or globs.
    paths: tuple[str, ...] = ()
    format: str = "auto"
    timezone: str = "UTC"
    max_message_bytes: int = 65536
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_ca_file: str | None = None
    tls_require_client_cert: bool = False
    #: file: keep following the files (``siem run``) or read them once (``siem ingest``).
    follow: bool = True
    #: file: resume from committed checkpoints (``siem run``) or start at offset 0.
    resume: bool = True
    #: file: seconds between looks for new data, new files and rotation.
    poll_interval: float = 0.25
    #: capture: the network interface to listen on (``eth0``, ``lo``).
    interface: str = ""
    #: capture: a BPF filter in tcpdump syntax (empty = every packet).
    bpf: str = ""
    #: capture: stop after this many packets (0 = until stopped).
    packet_limit: int = 0
    #: tcp, tls: open connections at once, over all peers and per peer address (more are refused).
    max_connections: int = 1000
    max_connections_per_ip: int = 100
    #: tcp, tls: seconds a connection may stay silent before it is closed (0 = never).
    idle_timeout: float = 900.0
    #: tls: seconds a client has to finish the TLS handshake.
    tls_handshake_timeout: float = 10.0
    #: file: most bytes one gzip-compressed file may expand to; reading stops there.
    max_gzip_bytes: int = 1024**3
    #: file: most expansion (decompressed / compressed size) of a gzip file past its first MiB.
    max_gzip_ratio: int = 200
    #: udp: the socket receive buffer asked for (holds a burst the pipeline has not read yet).
    receive_buffer_bytes: int = 8 * 1024 * 1024


class BatchEmitter(Emitter, Protocol):
    """An emitter that also takes batches and tells committed checkpoints."""

    def put_many(self, records: Sequence[RawRecord]) -> None:
        """Hand over records, blocking while the pipeline is full (backpressure)."""
        ...

    def offer_many(self, records: Sequence[RawRecord]) -> int:
        """Hand over what fits without blocking; returns how many were taken (rest counted)."""
        ...

    def free(self) -> int:
        """How many records the pipeline takes now without dropping (UDP reads no more than this
        and leaves the rest in the socket's receive buffer)."""
        ...

    def lost(self, count: int) -> None:
        """Count records lost before they could be handed over (a UDP receive buffer that
        overflowed); they are counted as dropped."""
        ...

    def checkpoint(self, name: str) -> str | None:
        """The committed value of checkpoint ``name``, if any."""
        ...

    def rejected(self, count: int = 1) -> None:
        """Count inputs refused or cut short at a limit: connections refused, closed when idle
        or failing the TLS handshake, messages truncated, compressed files stopped."""
        ...


class BatchSource(Protocol):
    """A built-in source: runs until ``stop`` is set, handing batches to the emitter."""

    name: str

    def run(self, emit: BatchEmitter, stop: threading.Event) -> None:
        """Receive records and emit them; return when stop is set (after a last drain)."""
        ...

"""capture source: live packet capture on one interface into packet metadata events.

A Linux packet socket (AF_PACKET, packet(7)) receives the interface's frames; a BPF filter in
tcpdump syntax (pcap-filter(7)), compiled by libpcap through scapy, is attached to the socket
so the kernel drops what is not wanted. Frames feed ``PacketMetadataExtractor``; the events it
completes (DNS, HTTP, TLS, ... as they happen, flow records when they end) go to the pipeline
as ``ecs-json`` records with the blocking ``put_many``. On stop, open flows are flushed.

As libpcap does, frames the loopback interface shows twice (once going out, once coming in)
are taken once. Opening a packet socket needs root or the CAP_NET_RAW capability.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from typing import Any

from collectors.base import RawRecord
from collectors.parsers.ecs_json import NAME as ECS_JSON
from collectors.parsers.ecs_json import encode
from collectors.pcap import ExtractorStats, PacketMetadataExtractor
from collectors.sources.contract import BatchEmitter, SourceOptions
from siem.errors import SourceError
from siem.event import Event

log = logging.getLogger(__name__)

ETH_P_ALL = 0x0003
#: Largest frame read (loopback MTU is 65536; bigger frames are cut, their length kept).
SNAPLEN = 262_144
#: Seconds a receive waits before the loop looks at ``stop`` and expires idle flows.
_POLL_SECONDS = 0.25
#: Events handed over at once, and the longest time (seconds) an event waits for its batch.
BATCH = 500
_BATCH_SECONDS = 0.5
#: Longest time spent on stop reading the packets the kernel already holds.
_DRAIN_SECONDS = 1.0
#: ARPHRD (Linux device type) -> pcap LINKTYPE of its frames.
_LINKTYPES = {1: 1, 772: 1, 65534: 101, 776: 101, 512: 9, 801: 105, 803: 127, 280: 113}

PRIVILEGE_HELP = (
    "live capture needs root or the CAP_NET_RAW capability: run siem as root, or give a "
    "dedicated copy of Python the capability with "
    "'sudo setcap cap_net_raw+ep /opt/siem/bin/python3' and run siem with it"
)


class CaptureSource:
    """Captures packets on ``options.interface`` until stopped (or ``packet_limit`` packets)."""

    def __init__(self, options: SourceOptions) -> None:
        if not options.interface:
            raise SourceError(f"source {options.name}: no network interface to capture on")
        self.options = options
        self.name = options.name
        #: Packets, bytes, flows and events seen so far (read by ``siem capture``).
        self.stats = ExtractorStats()
        #: Packets the kernel dropped because siem did not read them fast enough.
        self.kernel_drops = 0
        self._socket: socket.socket | None = None
        self._linktype = 1
        self._loopback = False

    @property
    def url(self) -> str:
        """What it captures, for the ready line."""
        bpf = f" ({self.options.bpf})" if self.options.bpf else ""
        return f"capture://{self.options.interface}{bpf}"

    def open(self) -> None:
        """Open the packet socket with its filter (SourceError: no privilege, no interface, bad filter)."""
        if self._socket is not None:
            return
        interface = self.options.interface
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        except PermissionError as exc:
            raise SourceError(f"cannot capture on {interface}: {PRIVILEGE_HELP}") from exc
        except (OSError, AttributeError) as exc:  # AttributeError: no AF_PACKET (not Linux)
            raise SourceError(f"cannot open a packet socket on this system: {exc}") from exc
        try:
            try:
                socket.if_nametoindex(interface)
            except OSError as exc:
                raise SourceError(f"no network interface named {interface!r}") from exc
            arphrd = _device_type(interface)
            self._linktype = _LINKTYPES.get(arphrd, 1)
            self._loopback = arphrd == 772
            if self.options.bpf:
                _attach_filter(sock, self.options.bpf, self._linktype)
            sock.bind((interface, ETH_P_ALL))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.ENODEV:
                raise SourceError(f"no network interface named {interface!r}") from exc
            raise SourceError(f"cannot capture on {interface}: {exc.strerror}") from exc
        except SourceError:
            sock.close()
            raise
        sock.settimeout(_POLL_SECONDS)
        self._socket = sock

    def close(self) -> None:
        """Close the packet socket (after saving the kernel's drop count)."""
        if self._socket is not None:
            self.kernel_drops += _kernel_drops(self._socket)
            self._socket.close()
            self._socket = None

    def run(self, emit: BatchEmitter, stop: threading.Event) -> None:
        """Capture until ``stop`` is set or the packet limit is reached, then flush the flows."""
        self.open()
        assert self._socket is not None
        sock = self._socket
        extractor = PacketMetadataExtractor()
        extractor.stats = self.stats
        buffer = bytearray(SNAPLEN)
        view = memoryview(buffer)
        limit = self.options.packet_limit
        pending: list[Event] = []
        due = time.monotonic() + _BATCH_SECONDS
        draining, drain_until = False, 0.0
        try:
            while not (limit and self.stats.packets >= limit):
                if stop.is_set() and not draining:  # take what the kernel holds, then end
                    draining = True
                    drain_until = time.monotonic() + _DRAIN_SECONDS
                    sock.setblocking(False)
                if draining and time.monotonic() > drain_until:  # a busy link never runs dry
                    break
                try:
                    size, address = sock.recvfrom_into(buffer, SNAPLEN, socket.MSG_TRUNC)
                except TimeoutError:
                    extractor.flows.sweep(time.time())  # records come out with the next packet
                except BlockingIOError:
                    break  # drained
                else:
                    if self._loopback and address[2] == socket.PACKET_OUTGOING:
                        continue
                    data = bytes(view[: min(size, SNAPLEN)])
                    pending.extend(extractor.feed(time.time(), self._linktype, data, size))
                if pending and (len(pending) >= BATCH or time.monotonic() >= due):
                    self._emit(emit, pending)
                    pending = []
                    due = time.monotonic() + _BATCH_SECONDS
        finally:
            self.close()
        pending.extend(extractor.flush())
        self._emit(emit, pending)

    def _emit(self, emit: BatchEmitter, events: list[Event]) -> None:
        if not events:
            return
        origin = f"capture://{self.options.interface}"
        received = time.time()
        emit.put_many(
            [
                RawRecord(
                    text=encode(event),
                    origin=origin,
                    received=received,
                    key=str(event["event.id"]),
                    format=ECS_JSON,
                    source=self.options.name,
                )
                for event in events
            ]
        )


def _device_type(interface: str) -> int:
    """The ARPHRD type of an interface (Linux sysfs)."""
    try:
        with open(f"/sys/class/net/{interface}/type", encoding="ascii") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return 1


def _attach_filter(sock: socket.socket, bpf: str, linktype: int) -> None:
    """Compile ``bpf`` with libpcap and attach it to the socket (SO_ATTACH_FILTER)."""
    try:
        from scapy.arch.common import compile_filter, free_filter
        from scapy.data import SO_ATTACH_FILTER
        from scapy.error import Scapy_Exception
        from scapy.libs.structures import sock_fprog
    except (ImportError, OSError) as exc:
        raise SourceError(f"cannot compile the filter {bpf!r}: libpcap is not available ({exc})") from exc
    try:
        program: Any = compile_filter(bpf, linktype=linktype)
    except (Scapy_Exception, ImportError) as exc:
        raise SourceError(f"bad capture filter {bpf!r}: {exc}") from exc
    try:
        program_ref: Any = sock_fprog(program.bf_len, program.bf_insns)
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, program_ref)
    finally:
        free_filter(program)


def _kernel_drops(sock: socket.socket) -> int:
    """Packets the kernel dropped on this socket since the last call (PACKET_STATISTICS)."""
    try:
        raw = sock.getsockopt(_SOL_PACKET, _PACKET_STATISTICS, 8)
    except OSError:
        return 0
    return int.from_bytes(raw[4:8], "little")


_SOL_PACKET = 263
_PACKET_STATISTICS = 6


def create_source(options: SourceOptions) -> CaptureSource:
    """The live capture source for ``options``."""
    return CaptureSource(options)

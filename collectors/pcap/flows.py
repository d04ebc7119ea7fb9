"""Bidirectional flow records with active and idle timeouts, as NetFlow v9 and IPFIX meter them.

References: RFC 7011 section 5 and RFC 5470 section 5.1.1 (flow expiration: idle timeout,
active timeout, end of flow detected by TCP FIN/RST, resource constraints); RFC 5103
(bidirectional flow export: one record, counters for each direction); Zeek's ``conn.log``
``conn_state`` values for the TCP state summary.

A flow is keyed by the unordered pair of (address, port) plus the IP protocol; the side that
sent the first packet (or the SYN) is the source. Bytes are the frame lengths on the wire, the
same quantity tshark's conversation tables count. After both FINs or a RST, the record stays
open ``close_delay`` seconds (Zeek's ``tcp_close_delay``) to keep the trailing ACKs, and a new
SYN after the close starts a new record.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass

from collectors.pcap.community_id import community_id
from siem import event as ecs
from siem.event import Event, format_timestamp, make_event_id

FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20

#: IANA protocol numbers -> ECS ``network.transport`` (lowercase keyword).
TRANSPORTS = {
    1: "icmp",
    2: "igmp",
    6: "tcp",
    17: "udp",
    47: "gre",
    50: "esp",
    51: "ah",
    58: "ipv6-icmp",
    89: "ospf",
    103: "pim",
    112: "vrrp",
    132: "sctp",
}

#: Flow key: (low address, low port, high address, high port, protocol).
FlowKey = tuple[bytes, int, bytes, int, int]


@dataclass(frozen=True, slots=True)
class FlowTimeouts:
    """Expiry rules; ``None`` disables one (``FlowTimeouts.infinite()`` for whole-file flows)."""

    #: A record is exported after this many seconds even if the flow goes on (NetFlow: 30 min).
    active: float | None = 1800.0
    #: A record ends after this many seconds without a packet.
    idle: float | None = 300.0
    #: Seconds a TCP record stays open after it closed (FIN both ways or RST).
    close_delay: float | None = 5.0
    #: Most records held at once; the oldest is exported when a new one would exceed it.
    max_flows: int = 1_000_000

    @classmethod
    def infinite(cls) -> FlowTimeouts:
        """No timeouts: one record per connection, like tshark's conversation tables."""
        return cls(active=None, idle=None, close_delay=None)


class Flow:
    """Counters of one flow; ``a`` is the side that started it."""

    __slots__ = (
        "a_addr",
        "a_bytes",
        "a_flags",
        "a_mac",
        "a_packets",
        "a_port",
        "app",
        "b_addr",
        "b_bytes",
        "b_flags",
        "b_mac",
        "b_packets",
        "b_port",
        "checked",
        "cid",
        "closed_at",
        "fins",
        "first",
        "key",
        "last",
        "proto",
        "protocol",
        "session",
        "version",
    )

    def __init__(
        self,
        key: FlowKey,
        version: int,
        a_addr: bytes,
        a_port: int,
        b_addr: bytes,
        b_port: int,
        proto: int,
        first: float,
    ) -> None:
        self.key = key
        self.version = version
        self.a_addr, self.a_port, self.b_addr, self.b_port = a_addr, a_port, b_addr, b_port
        self.proto = proto
        self.first = first
        self.last = first
        self.a_packets = self.a_bytes = self.a_flags = 0
        self.b_packets = self.b_bytes = self.b_flags = 0
        self.a_mac: bytes | None = None
        self.b_mac: bytes | None = None
        self.fins = 0
        self.closed_at: float | None = None
        #: Application found in the payload ("" not yet known, "none" given up).
        self.app = ""
        #: Payload segments looked at while the application was unknown.
        self.checked = 0
        #: Per-application state (pending requests, partial heads); owned by the extractor.
        self.session: object | None = None
        self.cid: str | None = None
        #: Application protocol found in the payload (ECS ``network.protocol``), if any.
        self.protocol = ""


def tcp_state(flow: Flow) -> str:
    """A Zeek-like ``conn_state`` from the flags each side sent."""
    orig, resp = flow.a_flags, flow.b_flags
    if not orig & SYN:
        return "OTH"
    if orig & RST and not (resp & SYN):
        return "RSTOS0"
    if resp & RST and not (resp & SYN):
        return "REJ"
    if not resp & SYN:
        return "SH" if orig & FIN else "S0"
    if orig & RST:
        return "RSTO"
    if resp & RST:
        return "RSTR"
    if orig & FIN and resp & FIN:
        return "SF"
    if orig & FIN:
        return "S2"
    if resp & FIN:
        return "S3"
    return "S1"


def _flag_letters(flags: int) -> str:
    return "".join(
        letter
        for bit, letter in ((SYN, "S"), (ACK, "A"), (FIN, "F"), (RST, "R"), (PSH, "P"), (URG, "U"))
        if flags & bit
    )


def mac_text(raw: bytes) -> str:
    """MAC address in the ECS form ``00-11-22-AA-BB-CC``."""
    return raw.hex("-").upper()


class FlowTable:
    """Meters packets into flows and hands each finished record to ``export``."""

    def __init__(self, export: Callable[[Flow, str], None], timeouts: FlowTimeouts) -> None:
        self._export = export
        self.timeouts = timeouts
        self.flows: dict[FlowKey, Flow] = {}
        #: Packet time of the next sweep for expired records.
        self.next_sweep = 0.0

    def account(
        self,
        ts: float,
        version: int,
        src: bytes,
        sport: int,
        dst: bytes,
        dport: int,
        proto: int,
        flags: int,
        size: int,
        src_mac: bytes | None,
        dst_mac: bytes | None,
    ) -> tuple[Flow, bool]:
        """Count one packet; returns its flow and whether the packet went from side ``a``."""
        if (src, sport) <= (dst, dport):
            key: FlowKey = (src, sport, dst, dport, proto)
        else:
            key = (dst, dport, src, sport, proto)
        flow = self.flows.get(key)
        if flow is not None:
            reason = self._expired(flow, ts, flags)
            if reason:
                del self.flows[key]
                self._export(flow, reason)
                flow = None
        if flow is None:
            if len(self.flows) >= self.timeouts.max_flows:
                oldest = next(iter(self.flows))
                self._export(self.flows.pop(oldest), "table-full")
            # A SYN-ACK first means we missed the SYN: the receiver started the connection.
            if proto == 6 and flags & (SYN | ACK) == (SYN | ACK):
                flow = Flow(key, version, dst, dport, src, sport, proto, ts)
                flow.a_mac, flow.b_mac = dst_mac, src_mac
            else:
                flow = Flow(key, version, src, sport, dst, dport, proto, ts)
                flow.a_mac, flow.b_mac = src_mac, dst_mac
            self.flows[key] = flow
        if ts > flow.last:
            flow.last = ts
        forward = src == flow.a_addr and sport == flow.a_port
        if forward:
            flow.a_packets += 1
            flow.a_bytes += size
            flow.a_flags |= flags
        else:
            flow.b_packets += 1
            flow.b_bytes += size
            flow.b_flags |= flags
        if proto == 6 and flags & (FIN | RST) and flow.closed_at is None:
            if flags & RST:
                flow.closed_at = ts
            else:
                flow.fins |= 1 if forward else 2
                if flow.fins == 3:
                    flow.closed_at = ts
        return flow, forward

    def _expired(self, flow: Flow, ts: float, flags: int) -> str:
        timeouts = self.timeouts
        if flow.closed_at is not None:
            if flags & SYN and not flags & ACK:
                return "tcp-closed"
            if timeouts.close_delay is not None and ts - flow.closed_at > timeouts.close_delay:
                return "tcp-closed"
        if timeouts.idle is not None and ts - flow.last > timeouts.idle:
            return "idle-timeout"
        if timeouts.active is not None and ts - flow.first > timeouts.active:
            return "active-timeout"
        return ""

    def sweep(self, now: float) -> None:
        """Export the records that expired by ``now`` (cheap when called often)."""
        if now < self.next_sweep:
            return
        self.next_sweep = now + 1.0
        expired = [
            (flow, reason)
            for flow in self.flows.values()
            if (reason := self._expired(flow, now, 0))
        ]
        for flow, reason in expired:
            del self.flows[flow.key]
            self._export(flow, reason)

    def flush(self) -> None:
        """Export every open record (end of file or capture)."""
        flows = list(self.flows.values())
        self.flows.clear()
        for flow in flows:
            self._export(flow, "end-of-capture")


def flow_community_id(flow: Flow) -> str | None:
    """The flow's Community ID, computed once."""
    if flow.cid is None:
        flow.cid = community_id(flow.a_addr, flow.b_addr, flow.proto, flow.a_port, flow.b_port)
    return flow.cid


def address_text(raw: bytes) -> str:
    """Printable IPv4 or IPv6 address of 4 or 16 raw bytes."""
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


def flow_event(flow: Flow, reason: str) -> Event:
    """The ECS event of a finished flow record (dataset ``network.flow``)."""
    transport = TRANSPORTS.get(flow.proto, str(flow.proto))
    source, destination = address_text(flow.a_addr), address_text(flow.b_addr)
    start = format_timestamp(flow.first)
    event: Event = {
        ecs.TIMESTAMP: start,
        ecs.ID: make_event_id(
            "flow",
            transport,
            source,
            str(flow.a_port),
            destination,
            str(flow.b_port),
            repr(flow.first),
        ),
        ecs.KIND: "event",
        ecs.CATEGORY: ["network"],
        ecs.TYPE: ["connection", "end"],
        ecs.DATASET: "network.flow",
        ecs.MODULE: "network",
        ecs.ACTION: "network_flow",
        "event.start": start,
        "event.end": format_timestamp(flow.last),
        "event.duration": round((flow.last - flow.first) * 1e9),
        ecs.TRANSPORT: transport,
        "network.type": "ipv4" if flow.version == 4 else "ipv6",
        "network.iana_number": str(flow.proto),
        "network.packets": flow.a_packets + flow.b_packets,
        "network.bytes": flow.a_bytes + flow.b_bytes,
        ecs.SOURCE_IP: source,
        "source.packets": flow.a_packets,
        "source.bytes": flow.a_bytes,
        ecs.DESTINATION_IP: destination,
        "destination.packets": flow.b_packets,
        "destination.bytes": flow.b_bytes,
        "flow.end_reason": reason,
    }
    if flow.proto in (6, 17, 132):
        event[ecs.SOURCE_PORT] = flow.a_port
        event[ecs.DESTINATION_PORT] = flow.b_port
        cid = flow_community_id(flow)
        if cid:
            event["network.community_id"] = cid
    if flow.a_mac:
        event["source.mac"] = mac_text(flow.a_mac)
    if flow.b_mac:
        event["destination.mac"] = mac_text(flow.b_mac)
    if flow.protocol:
        event["network.protocol"] = flow.protocol
    if flow.proto == 6:
        event["flow.tcp.state"] = tcp_state(flow)
        event["flow.tcp.source_flags"] = _flag_letters(flow.a_flags)
        event["flow.tcp.destination_flags"] = _flag_letters(flow.b_flags)
    return event

"""Packets in, ECS events out: flow records plus DNS, HTTP, RTSP, TLS, SSH, DHCP and ARP metadata.

``PacketMetadataExtractor`` is fed ``(timestamp, link type, frame bytes)`` one packet at a time,
from a file (``read_pcap``) or a live capture, and returns the events each packet completes;
``flush()`` ends the capture. Headers are decoded by ``decode`` with ``struct``; payloads are
looked at only where an application parser may apply. Nothing a packet contains can raise:
damaged packets and payloads are counted in ``ExtractorStats`` and skipped.

Event fields besides ECS (documented for rules and dashboards):
- ``network.flow``: ``flow.end_reason`` (idle-timeout, active-timeout, tcp-closed, table-full,
  end-of-capture), ``flow.tcp.state`` (Zeek conn_state), ``flow.tcp.source_flags`` and
  ``flow.tcp.destination_flags`` (letters S A F R P U).
- ``network.ssh``: ``ssh.client`` and ``ssh.server``, the identification strings (RFC 4253 4.2).
- ``network.dhcp``: see ``collectors.pcap.dhcp``; ``network.arp``: see ``collectors.pcap.arp``.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from collectors.pcap import dhcp, dns, http, tls
from collectors.pcap.arp import ArpBindings, parse_arp
from collectors.pcap.decode import (
    ETH_ARP,
    ETH_IPV4,
    ETH_IPV6,
    KNOWN_LINKTYPES,
    WIFI_LINKTYPES,
    Packet,
    decode_ip,
    link_payload,
)
from collectors.pcap.flows import (
    SYN,
    TRANSPORTS,
    Flow,
    FlowTable,
    FlowTimeouts,
    address_text,
    flow_community_id,
    flow_event,
    mac_text,
)
from siem import event as ecs
from siem.errors import ParseError
from siem.event import Event, format_timestamp, make_event_id

DNS_PORTS = frozenset((53, 5353, 5355))
DHCP_PORTS = frozenset((67, 68))
#: Simple Service Discovery Protocol (UPnP): HTTP requests over UDP.
SSDP_PORT = 1900
#: Payload segments of an unknown TCP application inspected before giving up on it.
MAX_UNKNOWN_SEGMENTS = 6
#: Requests of one HTTP connection kept while waiting for their responses.
MAX_PENDING_REQUESTS = 64
#: Largest TLS hello or HTTP head kept across segments.
MAX_BUFFER = 65_536
#: Pending IP fragment sets kept for reassembly of UDP payloads (DNS, DHCP).
MAX_FRAGMENT_SETS = 256
#: 9999-12-31T23:59:59Z, the last moment an ECS timestamp can carry.
MAX_TIMESTAMP = 253_402_300_799.0
_U16 = struct.Struct("!H").unpack_from


@dataclass(slots=True)
class ExtractorStats:
    """What the extractor saw; none of these stop it."""

    packets: int = 0
    bytes: int = 0
    #: Frames of a link type or EtherType that carries no IP or ARP (STP, LLDP, ...).
    not_ip: int = 0
    #: Frames too short for their headers, or with impossible lengths.
    damaged: int = 0
    #: Application payloads that looked like a protocol but did not parse.
    bad_payloads: int = 0
    gratuitous_arp: int = 0
    flows: int = 0
    events: int = 0
    unknown_linktypes: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Context:
    """Who sent a packet: the ECS source and destination of a metadata event."""

    ts: float
    src: str
    sport: int
    dst: str
    dport: int
    transport: str
    community_id: str | None
    payload: bytes


@dataclass(slots=True)
class _Session:
    """Application state of one TCP flow (index 0: side ``a``, 1: side ``b``)."""

    high_seq: list[int | None] = field(default_factory=lambda: [None, None])
    buffers: list[bytearray | None] = field(default_factory=lambda: [None, None])
    buffer_context: list[_Context | None] = field(default_factory=lambda: [None, None])
    http_pending: deque[tuple[_Context, dict[str, Any], bool]] = field(default_factory=deque)
    tls_client: tuple[_Context, dict[str, Any]] | None = None
    ssh: list[str | None] = field(default_factory=lambda: [None, None])
    ssh_context: _Context | None = None
    dns_streams: list[bytearray] = field(default_factory=lambda: [bytearray(), bytearray()])


@dataclass(slots=True)
class _Fragments:
    first: Packet | None = None
    orphans: list[tuple[float, Packet, int]] = field(default_factory=list)
    pieces: dict[int, bytes] = field(default_factory=dict)
    last_end: int | None = None
    size: int = 0


class PacketMetadataExtractor:
    """Meters packets into flows and extracts application metadata, for files or live capture."""

    def __init__(self, timeouts: FlowTimeouts | None = None, *, applications: bool = True) -> None:
        self.stats = ExtractorStats()
        self.applications = applications
        self._out: list[Event] = []
        self.flows = FlowTable(self._flow_done, timeouts or FlowTimeouts())
        self.arp = ArpBindings()
        self.dhcp_servers = dhcp.DhcpServers()
        self._fragments: dict[tuple[bytes, bytes, int, int], _Fragments] = {}

    # -- input -------------------------------------------------------------------------------

    def feed(
        self, ts: float, linktype: int, data: bytes, wirelen: int | None = None
    ) -> list[Event]:
        """Process one frame captured at ``ts``; returns the events it completed (often none)."""
        stats = self.stats
        stats.packets += 1
        size = wirelen if wirelen is not None else len(data)
        stats.bytes += size
        if not 0.0 <= ts < MAX_TIMESTAMP:
            stats.damaged += 1  # a damaged timestamp field (beyond year 9999)
            return []
        link = link_payload(linktype, data)
        if link is None:
            if linktype in WIFI_LINKTYPES:
                stats.not_ip += 1
            elif linktype in KNOWN_LINKTYPES:
                stats.damaged += 1
            else:
                stats.unknown_linktypes[linktype] = stats.unknown_linktypes.get(linktype, 0) + 1
            return self._take()
        ethertype, offset, src_mac, dst_mac = link
        if ethertype in (ETH_IPV4, ETH_IPV6):
            packet = decode_ip(data, offset, src_mac, dst_mac)
            if packet is None:
                stats.damaged += 1
            else:
                self._ip_packet(ts, packet, size)
        elif ethertype == ETH_ARP:
            self._arp(ts, data, offset)
        else:
            stats.not_ip += 1
        if ts >= self.flows.next_sweep:
            self.flows.sweep(ts)
        return self._take()

    def flush(self) -> list[Event]:
        """End of capture: export open flows and pending metadata; returns those events."""
        for key in list(self._fragments):
            self._drop_fragments(key)
        self.flows.flush()
        return self._take()

    def _take(self) -> list[Event]:
        if not self._out:
            return []
        out, self._out = self._out, []
        self.stats.events += len(out)
        return out

    # -- network and transport ------------------------------------------------------------------

    def _ip_packet(self, ts: float, packet: Packet, size: int) -> None:
        fragment = packet.fragment
        if fragment is not None:
            self._fragment(ts, packet, size)
            return
        flow, forward = self.flows.account(
            ts,
            packet.version,
            packet.src,
            packet.sport,
            packet.dst,
            packet.dport,
            packet.proto,
            packet.flags,
            size,
            packet.src_mac,
            packet.dst_mac,
        )
        if not self.applications or not packet.payload or flow.app == "none":
            return
        if packet.proto == 17:
            self._udp_payload(ts, packet, flow, packet.payload)
        elif packet.proto == 6:
            self._tcp_payload(ts, packet, flow, forward)

    def _fragment(self, ts: float, packet: Packet, size: int) -> None:
        """Count a fragment in its datagram's flow; reassemble UDP payloads for the parsers.

        Fragments after the first carry no ports: they are held until the first fragment names
        the flow (or counted under ports 0 if it never comes), so each is counted exactly once.
        """
        assert packet.fragment is not None
        ident, offset, more = packet.fragment
        key = (packet.src, packet.dst, ident, packet.proto)
        pending = self._fragments.get(key)
        if pending is None:
            if len(self._fragments) >= MAX_FRAGMENT_SETS:
                self._drop_fragments(next(iter(self._fragments)))
            pending = self._fragments[key] = _Fragments()
        if offset == 0:
            pending.first = packet
            flow = self._account(ts, packet, packet.sport, packet.dport, size)
            for orphan_ts, orphan, orphan_size in pending.orphans:
                self._account(orphan_ts, orphan, packet.sport, packet.dport, orphan_size)
            pending.orphans.clear()
            piece_offset = 8 if packet.proto == 17 else 0
        else:
            first = pending.first
            if first is None:
                pending.orphans.append((ts, packet, size))
                if len(pending.orphans) > 64:
                    self._drop_fragments(key)
                    return
            else:
                flow = self._account(ts, packet, first.sport, first.dport, size)
            piece_offset = offset
        if packet.proto != 17 or not self.applications:
            return
        pending.size += len(packet.payload)
        if pending.size > MAX_BUFFER:
            self._drop_fragments(key)
            return
        pending.pieces[piece_offset] = packet.payload
        if not more:
            pending.last_end = piece_offset + len(packet.payload)
        first = pending.first
        if first is None or pending.last_end is None:
            return
        position, parts = 8, []
        for start in sorted(pending.pieces):
            if start != position:
                return  # a hole: wait for the missing fragment
            parts.append(pending.pieces[start])
            position += len(pending.pieces[start])
        del self._fragments[key]
        if position == pending.last_end and first.sport:
            self._udp_payload(ts, first, flow, b"".join(parts))

    def _account(self, ts: float, packet: Packet, sport: int, dport: int, size: int) -> Flow:
        flow, _forward = self.flows.account(
            ts,
            packet.version,
            packet.src,
            sport,
            packet.dst,
            dport,
            packet.proto,
            packet.flags,
            size,
            packet.src_mac,
            packet.dst_mac,
        )
        return flow

    def _drop_fragments(self, key: tuple[bytes, bytes, int, int]) -> None:
        """Forget a fragment set; fragments still waiting for their first are counted now."""
        pending = self._fragments.pop(key)
        for orphan_ts, orphan, orphan_size in pending.orphans:
            self._account(orphan_ts, orphan, 0, 0, orphan_size)

    # -- applications -----------------------------------------------------------------------

    def _context(self, ts: float, packet: Packet, flow: Flow, payload: bytes) -> _Context:
        return _Context(
            ts,
            address_text(packet.src),
            packet.sport,
            address_text(packet.dst),
            packet.dport,
            TRANSPORTS.get(packet.proto, str(packet.proto)),
            flow_community_id(flow),
            payload,
        )

    def _emit(
        self,
        dataset: str,
        context: _Context,
        fields: dict[str, Any],
        kind_types: tuple[str, ...] = ("protocol",),
    ) -> None:
        event: Event = {
            ecs.TIMESTAMP: format_timestamp(context.ts),
            ecs.ID: make_event_id(
                dataset,
                fields.get(ecs.ACTION, ""),
                repr(context.ts),
                context.src,
                str(context.sport),
                context.dst,
                str(context.dport),
                context.payload,
            ),
            ecs.KIND: "event",
            ecs.CATEGORY: ["network"],
            ecs.TYPE: list(kind_types),
            ecs.DATASET: dataset,
            ecs.MODULE: "network",
            ecs.SOURCE_IP: context.src,
            ecs.DESTINATION_IP: context.dst,
            ecs.TRANSPORT: context.transport,
        }
        if context.sport or context.dport:
            event[ecs.SOURCE_PORT] = context.sport
            event[ecs.DESTINATION_PORT] = context.dport
        if context.community_id:
            event["network.community_id"] = context.community_id
        event.update(fields)
        self._out.append(event)

    def _udp_payload(self, ts: float, packet: Packet, flow: Flow, payload: bytes) -> None:
        sport, dport = packet.sport, packet.dport
        if sport in DNS_PORTS or dport in DNS_PORTS:
            self._dns(ts, packet, flow, payload)
        elif sport in DHCP_PORTS and dport in DHCP_PORTS:
            self._dhcp(ts, packet, flow, payload)
        elif dport == SSDP_PORT and payload.startswith(http.REQUEST_STARTS):
            fields = http.parse_request(payload)
            if fields is not None:
                fields["network.protocol"] = flow.protocol = "ssdp"
                self._http_emit(self._context(ts, packet, flow, payload), fields)

    def _dns(self, ts: float, packet: Packet, flow: Flow, message: bytes) -> None:
        try:
            fields = dns.parse_message(message)
        except ParseError:
            self.stats.bad_payloads += 1
            return
        fields["network.protocol"] = flow.protocol = "dns"
        self._emit("network.dns", self._context(ts, packet, flow, message), fields)

    def _dhcp(self, ts: float, packet: Packet, flow: Flow, payload: bytes) -> None:
        try:
            fields = dhcp.parse_dhcp(payload)
        except ParseError:
            self.stats.bad_payloads += 1
            return
        context = self._context(ts, packet, flow, payload)
        message_type = fields.get("dhcp.message_type", "BOOTP")
        fields["network.protocol"] = flow.protocol = "dhcp"
        fields[ecs.ACTION] = "dhcp-" + message_type.lower()
        self._emit("network.dhcp", context, fields)
        source_mac = mac_text(packet.src_mac) if packet.src_mac else None
        if self.dhcp_servers.observe(fields, context.src, source_mac):
            server = fields.get("dhcp.server_id") or context.src
            found: dict[str, Any] = {
                ecs.ACTION: "dhcp-server-seen",
                "network.protocol": "dhcp",
                "server.ip": server,
                "dhcp.server_id": server,
                "dhcp.server_count": len(self.dhcp_servers.servers),
                "dhcp.servers": sorted(self.dhcp_servers.servers),
            }
            if source_mac:
                found["server.mac"] = source_mac
            self._emit("network.dhcp", context, found, ("info",))

    def _arp(self, ts: float, data: bytes, offset: int) -> None:
        packet = parse_arp(data, offset)
        if packet is None:
            self.stats.damaged += 1
            return
        if packet.gratuitous:
            self.stats.gratuitous_arp += 1
        change = self.arp.observe(packet)
        if change is None:
            return
        action, previous = change
        payload = data[offset : offset + 28]
        event: Event = {
            ecs.TIMESTAMP: format_timestamp(ts),
            ecs.ID: make_event_id("network.arp", repr(ts), payload),
            ecs.KIND: "event",
            ecs.CATEGORY: ["network"],
            ecs.TYPE: ["info" if previous is None else "change"],
            ecs.DATASET: "network.arp",
            ecs.MODULE: "network",
            ecs.ACTION: action,
            "network.protocol": "arp",
            ecs.SOURCE_IP: packet.sender_ip,
            "source.mac": packet.sender_mac,
            ecs.DESTINATION_IP: packet.target_ip,
            "arp.operation": {1: "request", 2: "reply"}.get(
                packet.operation, str(packet.operation)
            ),
            "arp.gratuitous": packet.gratuitous,
            "arp.gratuitous_count": self.arp.gratuitous.get(packet.sender_ip, 0),
        }
        if previous is not None:
            event["arp.previous_mac"] = previous
        self._out.append(event)

    def _tcp_payload(self, ts: float, packet: Packet, flow: Flow, forward: bool) -> None:
        payload = packet.payload
        session = flow.session
        if not isinstance(session, _Session):
            session = flow.session = _Session()
        side = 0 if forward else 1
        end = (packet.seq + len(payload)) & 0xFFFFFFFF
        high = session.high_seq[side]
        if high is not None and (end == high or (end - high) & 0xFFFFFFFF >= 0x80000000):
            return  # a retransmission of bytes already seen
        session.high_seq[side] = end
        buffered = session.buffers[side]
        if buffered is not None:
            buffered += payload
            context = session.buffer_context[side]
            assert context is not None
            if self._buffered_done(session, side, flow, bytes(buffered), context):
                session.buffers[side] = session.buffer_context[side] = None
            return
        if flow.app == "dns" or (flow.app == "" and (packet.sport == 53 or packet.dport == 53)):
            flow.app = flow.protocol = "dns"
            self._dns_stream(ts, packet, flow, session.dns_streams[side], payload)
        elif payload.startswith(http.REQUEST_STARTS) or payload.startswith(http.RESPONSE_STARTS):
            flow.app = flow.protocol = "http"
            self._start(session, side, flow, self._context(ts, packet, flow, payload))
        elif flow.app in ("", "tls") and tls.record_length(payload) is not None:
            flow.app = flow.protocol = "tls"
            self._start(session, side, flow, self._context(ts, packet, flow, payload))
        elif flow.app in ("", "ssh") and payload.startswith(b"SSH-"):
            flow.app = flow.protocol = "ssh"
            self._ssh(session, side, flow, payload, self._context(ts, packet, flow, payload))
        elif flow.app == "":
            self._give_up(flow)

    def _start(self, session: _Session, side: int, flow: Flow, context: _Context) -> None:
        """Parse a head or hello that starts in this segment, or keep it for the next ones."""
        if not self._buffered_done(session, side, flow, context.payload, context):
            session.buffers[side] = bytearray(context.payload)
            session.buffer_context[side] = context

    def _dns_stream(
        self, ts: float, packet: Packet, flow: Flow, stream: bytearray, payload: bytes
    ) -> None:
        """DNS over TCP: messages with a two-byte length, possibly split across segments."""
        stream += payload
        while len(stream) >= 2 and len(stream) >= 2 + _U16(stream, 0)[0]:
            length = _U16(stream, 0)[0]
            message = bytes(stream[2 : 2 + length])
            del stream[: 2 + length]
            self._dns(ts, packet, flow, message)
        if len(stream) > MAX_BUFFER + 2:
            stream.clear()

    def _give_up(self, flow: Flow) -> None:
        flow.checked += 1
        if flow.checked >= MAX_UNKNOWN_SEGMENTS:
            flow.app = "none"
            flow.session = None

    def _buffered_done(
        self, session: _Session, side: int, flow: Flow, data: bytes, context: _Context
    ) -> bool:
        """Parse a head or hello once it is whole; False asks for more bytes."""
        if len(data) > MAX_BUFFER:
            return True  # give up on this one; never hold more
        if flow.app == "http":
            if not http.head_complete(data) and len(data) < http.MAX_HEAD:
                return False
            if data.startswith(http.RESPONSE_STARTS):
                self._http_response(session, side, flow, data)
            else:
                fields = http.parse_request(data)
                if fields is None:
                    self.stats.bad_payloads += 1
                else:
                    session.http_pending.append((context, fields, side == 0))
                    flow.protocol = fields["network.protocol"]
                    if len(session.http_pending) > MAX_PENDING_REQUESTS:
                        self._http_emit(*session.http_pending.popleft()[:2])
            return True
        try:
            message = tls.handshake_message(data)
        except ParseError:
            self.stats.bad_payloads += 1
            return True
        if message is None:
            return False
        kind, body = message
        try:
            hello = tls.parse_hello(kind, body)
        except ParseError:
            self.stats.bad_payloads += 1
            return True
        if kind == tls.CLIENT_HELLO:
            if session.tls_client is not None:
                self._tls_emit(session.tls_client[0], session.tls_client[1])
            session.tls_client = (context, tls.client_fields(hello))
        else:
            server = tls.server_fields(hello)
            if session.tls_client is not None:
                client_context, fields = session.tls_client
                session.tls_client = None
                fields.update(server)
                self._tls_emit(client_context, fields)
            else:
                self._tls_emit(context, server)
            flow.app = "none"  # both hellos seen: the rest is encrypted
            self._flow_metadata_done(flow)
        return True

    def _tls_emit(self, context: _Context, fields: dict[str, Any]) -> None:
        fields["network.protocol"] = "tls"
        self._emit("network.tls", context, fields)

    def _http_response(self, session: _Session, side: int, flow: Flow, data: bytes) -> None:
        status = http.parse_status(data)
        if status is not None and 100 <= status < 200 and status != 101:
            return  # an interim response: the final one follows
        pending = session.http_pending
        # The oldest request sent by the other side is the one this response answers.
        for index, (context, fields, from_a) in enumerate(pending):
            if from_a != (side == 0):
                del pending[index]
                if status is not None:
                    fields["http.response.status_code"] = status
                self._http_emit(context, fields)
                return

    def _http_emit(self, context: _Context, fields: dict[str, Any]) -> None:
        dataset = "network.http"  # RTSP too (network.protocol says which)
        if "url.domain" in fields and fields["url.original"].startswith("/"):
            fields["url.full"] = (
                f"{fields['network.protocol']}://{fields['url.domain']}{fields['url.original']}"
            )
        self._emit(dataset, context, fields, ("access", "protocol"))

    def _ssh(
        self, session: _Session, side: int, flow: Flow, payload: bytes, context: _Context
    ) -> None:
        line = payload.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "backslashreplace")
        if session.ssh[side] is None:
            session.ssh[side] = line
            if side == 0 or session.ssh_context is None:
                session.ssh_context = context
        if session.ssh[0] is not None and session.ssh[1] is not None:
            self._ssh_emit(session, flow)
            flow.app = "none"
            flow.session = None

    def _ssh_emit(self, session: _Session, flow: Flow) -> None:
        context = session.ssh_context
        if context is None:
            return
        client, server = session.ssh
        client_port = flow.a_port
        # Without the SYN, side a is whoever spoke first; a well-known port marks the server.
        if flow.a_port < 1024 <= flow.b_port and not flow.a_flags & SYN:
            client, server = server, client
            client_port = flow.b_port
        if context.sport != client_port:
            context = _Context(
                context.ts,
                context.dst,
                context.dport,
                context.src,
                context.sport,
                context.transport,
                context.community_id,
                context.payload,
            )
        fields: dict[str, Any] = {"network.protocol": "ssh", "network.application": "ssh"}
        if client is not None:
            fields["ssh.client"] = client
        if server is not None:
            fields["ssh.server"] = server
        self._emit("network.ssh", context, fields)
        session.ssh_context = None

    def _flow_metadata_done(self, flow: Flow) -> None:
        """Emit what a flow's session still holds (requests without response, lone hellos)."""
        session = flow.session
        if not isinstance(session, _Session):
            return
        for side, buffered in enumerate(session.buffers):
            context = session.buffer_context[side]
            if buffered is not None and context is not None and flow.app == "http":
                fields = http.parse_request(bytes(buffered))
                if fields is not None:
                    session.http_pending.append((context, fields, side == 0))
            session.buffers[side] = session.buffer_context[side] = None
        while session.http_pending:
            context, fields, _from_a = session.http_pending.popleft()
            self._http_emit(context, fields)
        if session.tls_client is not None:
            self._tls_emit(*session.tls_client)
            session.tls_client = None
        if session.ssh_context is not None:
            self._ssh_emit(session, flow)
        if flow.app == "none":
            flow.session = None

    def _flow_done(self, flow: Flow, reason: str) -> None:
        self._flow_metadata_done(flow)
        self.stats.flows += 1
        self._out.append(flow_event(flow, reason))

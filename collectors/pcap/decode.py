"""Link, network and transport headers decoded with ``struct`` from the raw bytes.

References:
- Link types: https://www.tcpdump.org/linktypes.html (EN10MB 1, NULL 0, LOOP 108, RAW 101/12/14,
  IPV4 228, IPV6 229, LINUX_SLL 113, LINUX_SLL2 276, IEEE802_11 105, IEEE802_11_RADIOTAP 127).
- Ethernet II and IEEE 802.1Q/802.1ad VLAN tags; RFC 2516 (PPPoE); RFC 3032 (MPLS).
- IEEE 802.11-2020 section 9.2 (MAC frame format) and RFC 1042 (LLC/SNAP).
- RFC 791 (IPv4), RFC 8200 (IPv6 and its extension headers), RFC 9293 (TCP), RFC 768 (UDP),
  RFC 2784 (GRE), RFC 2003/2473 (IP in IP), RFC 826 (ARP).

Only what flows and the application parsers need is decoded; anything else (a truncated
header, an unknown protocol) gives ``None`` or a packet without transport, never an exception.
"""

from __future__ import annotations

import struct

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_ARP = 0x0806
ETH_VLANS = frozenset((0x8100, 0x88A8, 0x9100))
ETH_PPPOE_SESSION = 0x8864
ETH_MPLS = frozenset((0x8847, 0x8848))

PROTO_TCP = 6
PROTO_UDP = 17
PROTO_SCTP = 132
#: IPv6 extension headers that are skipped by their length field.
IPV6_EXTENSIONS = frozenset((0, 43, 60, 135, 139, 140))
PROTO_IPV6_FRAGMENT = 44
PROTO_AH = 51
PROTO_GRE = 47
PROTO_IPIP = 4
PROTO_IPV6_IN_IP = 41

_U16 = struct.Struct("!H").unpack_from
_U32 = struct.Struct("!I").unpack_from
_IPV4 = struct.Struct("!BxHHHBB").unpack_from
_PORTS = struct.Struct("!HH").unpack_from
_TCP = struct.Struct("!HHIIBB").unpack_from

#: Link types whose frames start with the IP header (version in the first nibble).
RAW_IP_LINKTYPES = frozenset((101, 12, 14, 228, 229))
#: IEEE 802.11 without and with a radiotap header: frames other than data are not IP.
WIFI_LINKTYPES = frozenset((105, 127))
#: Every link type ``link_payload`` decodes.
KNOWN_LINKTYPES = RAW_IP_LINKTYPES | WIFI_LINKTYPES | {1, 0, 108, 113, 276}
NULL_IPV4 = 2
NULL_IPV6 = frozenset((24, 28, 30))


class Packet:
    """One decoded IP packet: the addresses, the transport and where its payload is."""

    __slots__ = (
        "dport",
        "dst",
        "dst_mac",
        "flags",
        "fragment",
        "payload",
        "proto",
        "seq",
        "sport",
        "src",
        "src_mac",
        "version",
    )

    def __init__(
        self,
        version: int,
        src: bytes,
        dst: bytes,
        proto: int,
        sport: int,
        dport: int,
        flags: int,
        seq: int,
        payload: bytes,
        fragment: tuple[int, int, bool] | None,
        src_mac: bytes | None,
        dst_mac: bytes | None,
    ) -> None:
        self.version = version
        self.src = src
        self.dst = dst
        self.proto = proto
        self.sport = sport
        self.dport = dport
        #: TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20).
        self.flags = flags
        self.seq = seq
        #: Transport payload (application bytes); for fragments, the IP payload.
        self.payload = payload
        #: ``(id, offset in bytes, more fragments)`` when the IP packet is a fragment.
        self.fragment = fragment
        self.src_mac = src_mac
        self.dst_mac = dst_mac


def link_payload(linktype: int, data: bytes) -> tuple[int, int, bytes | None, bytes | None] | None:
    """``(ethertype, offset of the network header, source MAC, destination MAC)`` of a frame."""
    if linktype == 1:
        if len(data) < 14:
            return None
        ethertype = _U16(data, 12)[0]
        offset = 14
        while ethertype in ETH_VLANS:
            if len(data) < offset + 4:
                return None
            ethertype = _U16(data, offset + 2)[0]
            offset += 4
        if ethertype == ETH_PPPOE_SESSION:
            if len(data) < offset + 8:
                return None
            ppp = _U16(data, offset + 6)[0]
            offset += 8
            ethertype = {0x0021: ETH_IPV4, 0x0057: ETH_IPV6}.get(ppp, 0)
        elif ethertype in ETH_MPLS:
            while True:
                if len(data) < offset + 4:
                    return None
                bottom = data[offset + 2] & 1
                offset += 4
                if bottom:
                    break
            ethertype = _ip_ethertype(data, offset)
        return ethertype, offset, data[6:12], data[0:6]
    if linktype in RAW_IP_LINKTYPES:
        return _ip_ethertype(data, 0), 0, None, None
    if linktype == 113:  # Linux cooked capture v1
        if len(data) < 16:
            return None
        return _U16(data, 14)[0], 16, None, None
    if linktype == 276:  # Linux cooked capture v2
        if len(data) < 20:
            return None
        return _U16(data, 0)[0], 20, None, None
    if linktype in (0, 108):  # BSD loopback: address family in host (0) or network order
        if len(data) < 4:
            return None
        family = struct.unpack_from("<I" if linktype == 0 and data[0] else "!I", data)[0]
        if family == NULL_IPV4:
            return ETH_IPV4, 4, None, None
        if family in NULL_IPV6:
            return ETH_IPV6, 4, None, None
        return None
    if linktype == 105:
        return _wifi_payload(data, 0)
    if linktype == 127:  # radiotap header, then 802.11
        if len(data) < 4:
            return None
        return _wifi_payload(data, struct.unpack_from("<H", data, 2)[0])
    return None


def _ip_ethertype(data: bytes, offset: int) -> int:
    if len(data) <= offset:
        return 0
    version = data[offset] >> 4
    return ETH_IPV4 if version == 4 else ETH_IPV6 if version == 6 else 0


def _wifi_payload(data: bytes, offset: int) -> tuple[int, int, bytes | None, bytes | None] | None:
    """Data frames of IEEE 802.11 with an RFC 1042 LLC/SNAP header; others give None."""
    if len(data) < offset + 24:
        return None
    control, flags = data[offset], data[offset + 1]
    if (control >> 2) & 3 != 2 or flags & 0x40 or (control >> 4) & 4:
        return None  # not data, protected, or a frame without a body
    header = 24
    if flags & 3 == 3:
        header += 6
    if (control >> 4) & 8:  # QoS data
        header += 2
        if flags & 0x80:
            header += 4
    start = offset + header
    if data[start : start + 6] != b"\xaa\xaa\x03\x00\x00\x00" or len(data) < start + 8:
        return None
    return _U16(data, start + 6)[0], start + 8, None, None


def decode_ip(
    data: bytes, offset: int, src_mac: bytes | None, dst_mac: bytes | None
) -> Packet | None:
    """The IPv4 or IPv6 packet at ``offset``, following IP-in-IP and GRE to the inner packet."""
    for _depth in range(4):
        if len(data) < offset + 20:
            return None
        version = data[offset] >> 4
        fragment: tuple[int, int, bool] | None = None
        if version == 4:
            first, total, ident, frag, _ttl, proto = _IPV4(data, offset)
            header = (first & 0x0F) * 4
            if header < 20 or total < header:
                return None
            src = data[offset + 12 : offset + 16]
            dst = data[offset + 16 : offset + 20]
            start = offset + header
            end = min(offset + total, len(data)) if total else len(data)  # 0: TSO, use all
            if frag & 0x3FFF:
                fragment = (ident, (frag & 0x1FFF) * 8, bool(frag & 0x2000))
        elif version == 6:
            if len(data) < offset + 40:
                return None
            length = _U16(data, offset + 4)[0]
            proto = data[offset + 6]
            src = data[offset + 8 : offset + 24]
            dst = data[offset + 24 : offset + 40]
            start = offset + 40
            end = min(start + length, len(data)) if length else len(data)
            while proto in IPV6_EXTENSIONS or proto in (PROTO_IPV6_FRAGMENT, PROTO_AH):
                if end < start + 8:
                    return None
                if proto == PROTO_IPV6_FRAGMENT:
                    frag = _U16(data, start + 2)[0]
                    ident = _U32(data, start + 4)[0]
                    if frag & 0xFFF9:
                        fragment = (ident, frag & 0xFFF8, bool(frag & 1))
                    proto = data[start]
                    start += 8
                    if fragment is not None and fragment[1]:
                        break
                elif proto == PROTO_AH:
                    proto, size = data[start], (data[start + 1] + 2) * 4
                    start += size
                else:
                    proto, size = data[start], (data[start + 1] + 1) * 8
                    start += size
        else:
            return None
        if start > end:
            return None
        if fragment is not None and fragment[1]:
            return Packet(
                version, src, dst, proto, 0, 0, 0, 0, data[start:end], fragment, src_mac, dst_mac
            )
        if proto == PROTO_TCP:
            if end < start + 20:
                return Packet(version, src, dst, proto, 0, 0, 0, 0, b"", fragment, src_mac, dst_mac)
            sport, dport, seq, _ack, data_offset, flags = _TCP(data, start)
            payload_start = start + (data_offset >> 4) * 4
            payload = data[payload_start:end] if payload_start < end else b""
            return Packet(
                version,
                src,
                dst,
                proto,
                sport,
                dport,
                flags,
                seq,
                payload,
                fragment,
                src_mac,
                dst_mac,
            )
        if proto in (PROTO_UDP, PROTO_SCTP):
            if end < start + 8:
                return Packet(version, src, dst, proto, 0, 0, 0, 0, b"", fragment, src_mac, dst_mac)
            sport, dport = _PORTS(data, start)
            if proto == PROTO_UDP:
                udp_len = _U16(data, start + 4)[0]
                if fragment is None and start + 8 <= start + udp_len < end:
                    end = start + udp_len
                payload = data[start + 8 : end]
            else:
                payload = data[start + 12 : end]
            return Packet(
                version, src, dst, proto, sport, dport, 0, 0, payload, fragment, src_mac, dst_mac
            )
        if fragment is None and (proto in (PROTO_IPIP, PROTO_IPV6_IN_IP)):
            offset = start
            continue
        if fragment is None and proto == PROTO_GRE and end >= start + 4:
            gre_flags, gre_proto = _U16(data, start)[0], _U16(data, start + 2)[0]
            if gre_flags & 0x0007 == 0 and gre_proto in (ETH_IPV4, ETH_IPV6):
                offset = (
                    start
                    + 4
                    + 4 * bool(gre_flags & 0x8000)
                    + 4 * bool(gre_flags & 0x2000)
                    + 4 * bool(gre_flags & 0x1000)
                )
                continue
        return Packet(
            version, src, dst, proto, 0, 0, 0, 0, data[start:end], fragment, src_mac, dst_mac
        )
    return None

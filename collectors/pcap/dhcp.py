"""DHCPv4 messages and the DHCP servers seen on a segment.

References: RFC 2131 (DHCP, message format in section 2), RFC 951 (BOOTP), RFC 2132 (options:
12 host name, 50 requested address, 51 lease time, 53 message type, 54 server identifier,
60 vendor class, 61 client identifier), RFC 4388 (leasequery message types 10-13).

Field names (not in ECS, documented here): ``dhcp.message_type`` (``DISCOVER``...),
``dhcp.transaction_id`` (hex), ``dhcp.hostname``, ``dhcp.requested_address``,
``dhcp.assigned_address`` (yiaddr), ``dhcp.client_address`` (ciaddr), ``dhcp.server_id``,
``dhcp.lease_time`` (seconds), ``dhcp.vendor_class``, ``dhcp.client_id`` (hex); the client's
hardware address goes to ECS ``client.mac``.
"""

from __future__ import annotations

import socket
from typing import Any

from siem.errors import ParseError

MAGIC_COOKIE = b"\x63\x82\x53\x63"
MESSAGE_TYPES = {
    1: "DISCOVER",
    2: "OFFER",
    3: "REQUEST",
    4: "DECLINE",
    5: "ACK",
    6: "NAK",
    7: "RELEASE",
    8: "INFORM",
    9: "FORCERENEW",
    10: "LEASEQUERY",
    11: "LEASEUNASSIGNED",
    12: "LEASEUNKNOWN",
    13: "LEASEACTIVE",
}
#: Message types only a server sends.
SERVER_MESSAGES = frozenset(
    ("OFFER", "ACK", "NAK", "LEASEUNASSIGNED", "LEASEUNKNOWN", "LEASEACTIVE")
)


def _ip(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET, raw)


def parse_dhcp(payload: bytes) -> dict[str, Any]:
    """ECS fields of a DHCP message (UDP payload); ParseError when it is not one."""
    if len(payload) < 240 or payload[236:240] != MAGIC_COOKIE:
        raise ParseError("not a DHCP message (too short or no magic cookie)")
    op, htype, hlen = payload[0], payload[1], payload[2]
    fields: dict[str, Any] = {
        "dhcp.op": "request" if op == 1 else "reply",
        "dhcp.transaction_id": payload[4:8].hex(),
    }
    ciaddr, yiaddr = payload[12:16], payload[16:20]
    if any(ciaddr):
        fields["dhcp.client_address"] = _ip(ciaddr)
    if any(yiaddr):
        fields["dhcp.assigned_address"] = _ip(yiaddr)
    if htype == 1 and hlen == 6:
        fields["client.mac"] = payload[28:34].hex("-").upper()
    offset = 240
    while offset < len(payload):
        code = payload[offset]
        if code == 255:
            break
        if code == 0:
            offset += 1
            continue
        if offset + 2 > len(payload):
            break
        size = payload[offset + 1]
        value = payload[offset + 2 : offset + 2 + size]
        offset += 2 + size
        if len(value) < size:
            break
        if code == 53 and size >= 1:
            fields["dhcp.message_type"] = MESSAGE_TYPES.get(value[0], str(value[0]))
        elif code == 12:
            fields["dhcp.hostname"] = value.rstrip(b"\x00").decode("utf-8", "backslashreplace")
        elif code == 50 and size == 4:
            fields["dhcp.requested_address"] = _ip(value)
        elif code == 54 and size == 4:
            fields["dhcp.server_id"] = _ip(value)
        elif code == 51 and size == 4:
            fields["dhcp.lease_time"] = int.from_bytes(value, "big")
        elif code == 60:
            fields["dhcp.vendor_class"] = value.decode("utf-8", "backslashreplace")
        elif code == 61:
            fields["dhcp.client_id"] = value.hex()
    return fields


class DhcpServers:
    """Remembers the DHCP servers answering on one segment (one capture or interface)."""

    def __init__(self) -> None:
        self.servers: dict[str, str | None] = {}

    def observe(self, fields: dict[str, Any], source_ip: str, source_mac: str | None) -> bool:
        """Record the server of a reply; True when this server was not seen before."""
        if fields.get("dhcp.message_type") not in SERVER_MESSAGES:
            return False
        server = fields.get("dhcp.server_id") or source_ip
        if server in self.servers:
            return False
        self.servers[server] = source_mac
        return True

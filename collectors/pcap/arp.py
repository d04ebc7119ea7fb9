"""ARP packets and the IP-to-MAC bindings they announce.

Reference: RFC 826 (ARP over Ethernet: hardware type 1, protocol 0x0800, sizes 6 and 4);
RFC 5227 section 3 (ARP announcements, "gratuitous ARP": sender and target IP are the same).

Field names (not in ECS, documented here): ``arp.operation`` (``request``/``reply``),
``arp.gratuitous``, ``arp.previous_mac`` and ``arp.gratuitous_count`` (per IP so far).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ArpPacket:
    """The fields of one Ethernet/IPv4 ARP packet."""

    operation: int
    sender_mac: str
    sender_ip: str
    target_mac: str
    target_ip: str

    @property
    def gratuitous(self) -> bool:
        """An announcement: the sender asks about or answers for its own address."""
        return self.sender_ip == self.target_ip


def parse_arp(data: bytes, offset: int) -> ArpPacket | None:
    """The ARP packet at ``offset``, or None when it is not Ethernet/IPv4 ARP or is cut short."""
    if len(data) < offset + 28:
        return None
    if data[offset : offset + 6] != b"\x00\x01\x08\x00\x06\x04":
        return None
    operation = int.from_bytes(data[offset + 6 : offset + 8], "big")
    return ArpPacket(
        operation,
        data[offset + 8 : offset + 14].hex("-").upper(),
        socket.inet_ntop(socket.AF_INET, data[offset + 14 : offset + 18]),
        data[offset + 18 : offset + 24].hex("-").upper(),
        socket.inet_ntop(socket.AF_INET, data[offset + 24 : offset + 28]),
    )


class ArpBindings:
    """IP -> MAC bindings learnt from ARP senders, with a count of gratuitous ARP."""

    def __init__(self) -> None:
        self.bindings: dict[str, str] = {}
        self.gratuitous: dict[str, int] = {}

    def observe(self, packet: ArpPacket) -> tuple[str, str | None] | None:
        """``(action, previous MAC)`` when the packet adds or changes a binding, else None."""
        if packet.gratuitous:
            self.gratuitous[packet.sender_ip] = self.gratuitous.get(packet.sender_ip, 0) + 1
        if packet.sender_ip == "0.0.0.0":  # RFC 5227 probe: no binding is claimed
            return None
        previous = self.bindings.get(packet.sender_ip)
        if previous == packet.sender_mac:
            return None
        self.bindings[packet.sender_ip] = packet.sender_mac
        return ("arp-binding-new" if previous is None else "arp-binding-changed"), previous

"""Readers of the pcap and pcapng capture file formats, straight from the bytes.

References:
- pcap: draft-ietf-opsawg-pcap (the libpcap file format, "tcpdump" magic 0xa1b2c3d4 for
  microseconds and 0xa1b23c4d for nanoseconds, either byte order).
- pcapng: draft-ietf-opsawg-pcapng (Section Header, Interface Description, Enhanced Packet,
  Simple Packet and the obsolete Packet block; ``if_tsresol`` and ``if_tsoffset`` options).

The file is memory-mapped and walked with ``struct``; this is several times faster than
scapy's ``RawPcapReader`` (see ``bench/pcap.py --readers``). A damaged file never raises
half-way: the damage is counted in ``ReadStats`` and reading stops or skips, as the format
allows. A file that is not a capture at all raises ``ParseError`` before any packet.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from siem.errors import ParseError, SourceError

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BYTE_ORDER = 0x1A2B3C4D

#: No real link carries frames this large; a bigger length means a damaged or hostile file.
MAX_PACKET = 262_144

#: (timestamp in seconds, link type, captured bytes, length on the wire)
RawPacket = tuple[float, int, bytes, int]


@dataclass(slots=True)
class ReadStats:
    """What a reader met besides good packets."""

    packets: int = 0
    #: Records cut short by the end of the file or with impossible lengths.
    damaged: int = 0
    #: Blocks of pcapng types we do not read (name resolution, statistics, custom...).
    skipped_blocks: int = 0
    #: Why reading stopped early, if it did.
    errors: list[str] = field(default_factory=list)


def read_packets(path: str | Path, stats: ReadStats | None = None) -> Iterator[RawPacket]:
    """Packets of a pcap or pcapng file, in file order.

    Raises ``SourceError`` when the file cannot be opened and ``ParseError`` when it is
    not a capture file.
    """
    stats = stats if stats is not None else ReadStats()
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise SourceError(f"cannot open capture file: {exc.strerror}", path=path) from exc
    with handle:
        head = handle.read(24)
        if len(head) < 4:
            raise ParseError("not a pcap or pcapng file (too short)", path=path)
        magic_le = struct.unpack_from("<I", head)[0]
        if magic_le == PCAPNG_SHB:
            reader = _pcapng_packets
        elif magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS) or struct.unpack_from(">I", head)[0] in (
            PCAP_MAGIC_US,
            PCAP_MAGIC_NS,
        ):
            reader = _pcap_packets
        else:
            raise ParseError(f"not a pcap or pcapng file (magic {head[:4].hex()})", path=path)
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            yield from reader(data, stats, path)


def _pcap_packets(data: mmap.mmap, stats: ReadStats, path: Path) -> Iterator[RawPacket]:
    size = len(data)
    if size < 24:
        raise ParseError("pcap file header is cut short", path=path)
    order = "<" if struct.unpack_from("<I", data, 0)[0] in (PCAP_MAGIC_US, PCAP_MAGIC_NS) else ">"
    magic, _major, _minor, _zone, _sigfigs, _snaplen, linktype = struct.unpack_from(
        order + "IHHiIII", data, 0
    )
    # The upper bits of the link type field may carry FCS information (pcap draft 4).
    linktype &= 0x0FFFFFFF
    scale = 1e-9 if magic == PCAP_MAGIC_NS else 1e-6
    record = struct.Struct(order + "IIII")
    unpack = record.unpack_from
    offset = 24
    while offset + 16 <= size:
        seconds, fraction, caplen, wirelen = unpack(data, offset)
        offset += 16
        if caplen > MAX_PACKET:
            stats.damaged += 1
            stats.errors.append(f"record at byte {offset - 16} claims {caplen} bytes; stopped")
            return
        end = offset + caplen
        if end > size:
            stats.damaged += 1
            stats.errors.append(f"last record at byte {offset - 16} is cut short")
            return
        stats.packets += 1
        yield seconds + fraction * scale, linktype, data[offset:end], max(wirelen, caplen)
        offset = end
    if offset != size:
        stats.damaged += 1
        stats.errors.append(f"{size - offset} stray bytes at the end of the file")


@dataclass(slots=True)
class _Interface:
    linktype: int
    snaplen: int
    scale: float
    offset: float


def _pcapng_packets(data: mmap.mmap, stats: ReadStats, path: Path) -> Iterator[RawPacket]:
    size = len(data)
    offset = 0
    order = "<"
    interfaces: list[_Interface] = []
    while offset + 12 <= size:
        block_type = struct.unpack_from(order + "I", data, offset)[0]
        if block_type == PCAPNG_SHB:
            if offset + 28 > size:
                break
            bom = struct.unpack_from("<I", data, offset + 8)[0]
            if bom == PCAPNG_BYTE_ORDER:
                order = "<"
            elif bom == 0x4D3C2B1A:
                order = ">"
            else:
                if offset == 0:
                    raise ParseError("not a pcapng file (bad byte-order magic)", path=path)
                stats.errors.append(f"bad section header at byte {offset}; stopped")
                stats.damaged += 1
                return
            interfaces = []
        block_len = struct.unpack_from(order + "I", data, offset + 4)[0]
        if block_len < 12 or block_len % 4 or offset + block_len > size:
            stats.damaged += 1
            stats.errors.append(f"block at byte {offset} has a bad length {block_len}; stopped")
            return
        body = offset + 8
        end = offset + block_len - 4
        if block_type == 6:  # Enhanced Packet Block
            if end - body < 20:
                stats.damaged += 1
            else:
                iface, high, low, caplen, wirelen = struct.unpack_from(order + "IIIII", data, body)
                start = body + 20
                if iface >= len(interfaces) or start + caplen > end:
                    stats.damaged += 1
                else:
                    info = interfaces[iface]
                    stats.packets += 1
                    stamp = ((high << 32) | low) * info.scale + info.offset
                    yield stamp, info.linktype, data[start : start + caplen], max(wirelen, caplen)
        elif block_type == 3:  # Simple Packet Block: no timestamp, interface 0
            if not interfaces or end - body < 4:
                stats.damaged += 1
            else:
                wirelen = struct.unpack_from(order + "I", data, body)[0]
                info = interfaces[0]
                caplen = min(wirelen, end - body - 4)
                if info.snaplen:
                    caplen = min(caplen, info.snaplen)
                stats.packets += 1
                yield 0.0, info.linktype, data[body + 4 : body + 4 + caplen], wirelen
        elif block_type == 2:  # obsolete Packet Block
            if end - body < 20:
                stats.damaged += 1
            else:
                iface, _drops, high, low, caplen, wirelen = struct.unpack_from(
                    order + "HHIIII", data, body
                )
                start = body + 20
                if iface >= len(interfaces) or start + caplen > end:
                    stats.damaged += 1
                else:
                    info = interfaces[iface]
                    stats.packets += 1
                    stamp = ((high << 32) | low) * info.scale + info.offset
                    yield stamp, info.linktype, data[start : start + caplen], max(wirelen, caplen)
        elif block_type == 1:  # Interface Description Block
            if end - body < 8:
                stats.damaged += 1
                interfaces.append(_Interface(-1, 0, 1e-6, 0.0))
            else:
                linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", data, body)
                scale, shift = _interface_options(data, body + 8, end, order)
                interfaces.append(_Interface(linktype, snaplen, scale, shift))
        elif block_type != PCAPNG_SHB:
            stats.skipped_blocks += 1
        offset += block_len
    if offset != size:
        stats.damaged += 1
        stats.errors.append(f"{size - offset} stray bytes at the end of the file")


def _interface_options(data: mmap.mmap, offset: int, end: int, order: str) -> tuple[float, float]:
    """``(seconds per tick, seconds added)`` from an IDB's if_tsresol and if_tsoffset."""
    scale, shift = 1e-6, 0.0
    while offset + 4 <= end:
        code, length = struct.unpack_from(order + "HH", data, offset)
        value = offset + 4
        if code == 0:
            break
        if value + length > end:
            break
        if code == 9 and length >= 1:  # if_tsresol
            resolution = data[value]
            scale = 2.0 ** -(resolution & 0x7F) if resolution & 0x80 else 10.0**-resolution
        elif code == 14 and length >= 8:  # if_tsoffset
            shift = float(struct.unpack_from(order + "q", data, value)[0])
        offset = value + ((length + 3) & ~3)
    return scale, shift

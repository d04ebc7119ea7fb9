"""Deep mode: the application protocol of each flow as tshark's dissectors name it.

Runs ``tshark -T fields -e frame.protocols`` once over the file (Wireshark's 2,000+ dissectors
recognise far more protocols than our fast path) and keeps, per TCP/UDP 5-tuple, the deepest
protocol tshark named. Slow; only used with ``read_pcap(..., deep=True)``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from siem.errors import SourceError

#: Layers that say nothing about the application.
_CARRIERS = frozenset(
    (
        "eth",
        "ethertype",
        "ip",
        "ipv6",
        "tcp",
        "udp",
        "vlan",
        "sll",
        "data",
        "frame",
        "raw",
        "null",
        "tls",
        "ssl",
        "pkt_comment",
        "ipv6.hopopts",
        "ipv6.fraghdr",
        "_ws.malformed",
        "_ws.short",
        "wlan",
        "llc",
        "radiotap",
    )
)


def flow_protocols(path: str | Path) -> dict[tuple[str, int, str, int, str], str]:
    """``(source ip, port, destination ip, port, transport) -> protocol``, both directions."""
    tshark = shutil.which("tshark")
    if tshark is None:
        raise SourceError("deep packet decoding needs tshark (install the tshark package)")
    command = [
        tshark,
        "-n",
        "-r",
        str(path),
        "-T",
        "fields",
        "-E",
        "separator=\t",
        "-e",
        "ip.src",
        "-e",
        "ipv6.src",
        "-e",
        "ip.dst",
        "-e",
        "ipv6.dst",
        "-e",
        "tcp.srcport",
        "-e",
        "tcp.dstport",
        "-e",
        "udp.srcport",
        "-e",
        "udp.dstport",
        "-e",
        "frame.protocols",
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise SourceError(f"tshark could not read the capture: {exc}", path=path) from exc
    found: dict[tuple[str, int, str, int, str], str] = {}
    for line in result.stdout.splitlines():
        cells = line.split("\t")
        if len(cells) < 9:
            continue
        src = (cells[0] or cells[1]).split(",")[0]
        dst = (cells[2] or cells[3]).split(",")[0]
        transport = "tcp" if cells[4] else "udp" if cells[6] else ""
        if not transport or not src:
            continue
        ports = (cells[4], cells[5]) if transport == "tcp" else (cells[6], cells[7])
        layers = [p for p in cells[8].split(":") if p not in _CARRIERS]
        if not layers or not ports[0].isdigit() or not ports[1].isdigit():
            continue
        sport, dport = int(ports[0]), int(ports[1])
        found.setdefault((src, sport, dst, dport, transport), layers[0])
        found.setdefault((dst, dport, src, sport, transport), layers[0])
    return found

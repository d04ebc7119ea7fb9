"""Packet metadata from pcap and pcapng files or live capture, as ECS events.

``read_pcap(path)`` yields flow records (``network.flow``) and application metadata
(``network.dns``, ``network.http``, ``network.tls``, ``network.ssh``, ``network.dhcp``,
``network.arp``); ``PacketMetadataExtractor`` does the same for packets fed one by one.
Module docstrings cite the standards each part implements.
"""

from __future__ import annotations

from collectors.pcap.extractor import ExtractorStats, PacketMetadataExtractor
from collectors.pcap.flows import FlowTimeouts
from collectors.pcap.pcapfile import read_pcap
from collectors.pcap.reader import ReadStats, read_packets

__all__ = [
    "ExtractorStats",
    "FlowTimeouts",
    "PacketMetadataExtractor",
    "ReadStats",
    "read_packets",
    "read_pcap",
]

"""``read_pcap``: the events of one capture file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from collectors.pcap.extractor import ExtractorStats, PacketMetadataExtractor
from collectors.pcap.flows import FlowTimeouts
from collectors.pcap.reader import ReadStats, read_packets
from siem.event import Event


def read_pcap(
    path: str | Path,
    *,
    deep: bool = False,
    timeouts: FlowTimeouts | None = None,
    read_stats: ReadStats | None = None,
    stats: ExtractorStats | None = None,
) -> Iterator[Event]:
    """Flow and metadata events of a pcap or pcapng file.

    Metadata events come in packet order as they complete; a flow event comes when its record
    ends (timeout, TCP close, or the end of the file), stamped with the flow's start time.
    ``deep=True`` adds ``network.protocol`` to flow events from tshark's dissectors (needs
    tshark; slower). Raises ``SourceError``/``ParseError`` for a file that cannot be read as
    a capture; damage inside a capture is counted in ``read_stats`` and ``stats``.
    """
    extractor = PacketMetadataExtractor(timeouts)
    if stats is not None:
        extractor.stats = stats
    feed = extractor.feed
    protocols = None
    if deep:
        from collectors.pcap.deep import flow_protocols

        protocols = flow_protocols(path)
    for ts, linktype, data, wirelen in read_packets(path, read_stats):
        events = feed(ts, linktype, data, wirelen)
        if events:
            if protocols is not None:
                _annotate(events, protocols)
            yield from events
    events = extractor.flush()
    if protocols is not None:
        _annotate(events, protocols)
    yield from events


def _annotate(events: list[Event], protocols: dict[tuple[str, int, str, int, str], str]) -> None:
    for event in events:
        if event["event.dataset"] != "network.flow" or "source.port" not in event:
            continue
        key = (
            event["source.ip"],
            event["source.port"],
            event["destination.ip"],
            event["destination.port"],
            event["network.transport"],
        )
        protocol = protocols.get(key)
        if protocol is not None:
            event.setdefault("network.protocol", protocol)

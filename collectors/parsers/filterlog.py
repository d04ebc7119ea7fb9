"""pfSense and OPNsense ``filterlog`` CSV lines to ECS.

Reference: Netgate, "pfSense documentation - Raw Filter Log Format"
(https://docs.netgate.com/pfsense/en/latest/monitoring/logs/raw-filter-format.html) and
OPNsense ``src/opnsense/scripts/filter/lib/log.py`` (same layout):
``rule,subrule,anchor,tracker,interface,reason,action,direction,ipversion,`` then for IPv4
``tos,ecn,ttl,id,offset,flags,protoid,protoname,length,src,dst,`` and for IPv6
``class,flowlabel,hoplimit,protoname,protoid,length,src,dst,``; then for TCP
``srcport,dstport,datalen,tcpflags,seq,ack,window,urg,options``, for UDP
``srcport,dstport,datalen``, for ICMP ``icmptype,...``.
Tolerated deviations: protocol names with a dash (``ipv6-icmp``), a ``datalength=N`` tail,
upper-case protocol names, missing trailing fields.
"""

from __future__ import annotations

from datetime import UTC, tzinfo

from collectors.base import RawRecord
from collectors.parsers import envelope, firewall
from siem import event as ecs
from siem.errors import ParseError
from siem.event import Event

#: Column (of the common prefix) -> ECS field.
COMMON_COLUMNS: dict[int, str] = {
    0: "rule.id_number",
    3: "rule.id",
    4: "observer.ingress.interface.name",
    5: "event.reason",
    7: "network.direction",
}
DIRECTIONS = {"in": "inbound", "out": "outbound"}
PORT_PROTOCOLS = frozenset({"tcp", "udp", "sctp", "udplite"})


def parse_message(
    message: str,
    event: Event,
    *,
    tz: tzinfo = UTC,
    received: float | None = None,
    vendor: tuple[str, str] = ("Netgate", "pfSense"),
) -> None:
    """Add the fields of a filterlog CSV line to ``event``; ParseError when it is not one."""
    fields = message.strip().split(",")
    if len(fields) < 17 or fields[8] not in ("4", "6"):
        raise ParseError("not a filterlog line (needs the IP version in column 9)")
    if fields[8] == "4" and len(fields) < 20:
        raise ParseError(f"filterlog IPv4 line cut short ({len(fields)} columns, needs 20)")
    envelope.set_dataset(event, "opnsense" if vendor[1] == "OPNsense" else "pfsense")
    for column, name in COMMON_COLUMNS.items():
        if fields[column]:
            event[name] = fields[column]
    event["network.direction"] = DIRECTIONS.get(fields[7], fields[7])
    if fields[8] == "4":
        event["network.type"] = "ipv4"
        protocol, source, destination, rest = fields[16], fields[18], fields[19], 20
    else:
        event["network.type"] = "ipv6"
        protocol, source, destination, rest = fields[12], fields[15], fields[16], 17
    protocol = protocol.lower()
    event[ecs.TRANSPORT] = protocol
    event[ecs.SOURCE_IP] = source
    event[ecs.DESTINATION_IP] = destination
    if protocol in PORT_PROTOCOLS and len(fields) > rest + 1:
        firewall.set_port(event, ecs.SOURCE_PORT, fields[rest])
        firewall.set_port(event, ecs.DESTINATION_PORT, fields[rest + 1])
    elif protocol == "icmp" and len(fields) > rest:
        event["icmp.type"] = fields[rest]
    direction = event.pop("network.direction")
    firewall.mark(event, vendor[0], vendor[1], fields[6])
    event["network.direction"] = direction


class PfsenseParser:
    """pfSense ``filterlog`` lines, with or without a syslog envelope."""

    name = "pfsense"
    dataset = "pfsense"
    vendor = ("Netgate", "pfSense")

    def parse_message(
        self, message: str, event: Event, *, tz: tzinfo = UTC, received: float | None = None
    ) -> None:
        """``parse_message`` for this product (the module's function assumes pfSense)."""
        parse_message(message, event, tz=tz, received=received, vendor=self.vendor)

    def parse(self, record: RawRecord) -> list[Event]:
        """One event per line."""
        return envelope.parse_line(record, self.dataset, self.parse_message)


class OpnsenseParser(PfsenseParser):
    """OPNsense ``filterlog`` lines (same layout as pfSense)."""

    name = "opnsense"
    dataset = "opnsense"
    vendor = ("Deciso", "OPNsense")

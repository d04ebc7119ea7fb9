"""Juniper SRX (Junos OS) security flow and firewall-filter syslog to ECS.

Reference: Juniper, "Junos OS System Log Messages Reference" - RT_FLOW_SESSION_CREATE,
RT_FLOW_SESSION_CLOSE, RT_FLOW_SESSION_DENY (structured-data form ``[junos@2636.x
source-address="..." ...]`` with ``set system syslog ... structured-data``, and the default
text form ``session created 10.0.0.1/594->192.0.2.13/10400 0x0 icmp ...``), and firewall
filter ``syslog`` lines (``FW: <iface> <A|D|R> <proto> <src> <dst> <sport> <dport>``,
PFE_FW_SYSLOG_IP). Other Junos messages keep the observer and ``log.level`` fields.
Tolerated deviations: RFC 3164 or RFC 5424 headers, trailing spaces, ``_LS`` (logical
system) variants of the RT_FLOW tags, ``(FPC Slot n, PIC Slot n)`` before the tag.
"""

from __future__ import annotations

import re
from datetime import UTC, tzinfo

from collectors.base import RawRecord
from collectors.parsers import envelope, firewall
from siem import event as ecs
from siem.errors import ParseError
from siem.event import Event

DATASET = "juniper.srx"
LEVELS = (
    "emergency",
    "alert",
    "critical",
    "error",
    "warning",
    "notification",
    "informational",
    "debug",
)

#: RT_FLOW tag -> event.action (Elastic's names for the same facts).
FLOW_ACTIONS: dict[str, str] = {
    "RT_FLOW_SESSION_CREATE": "flow_started",
    "RT_FLOW_SESSION_CLOSE": "flow_close",
    "RT_FLOW_SESSION_DENY": "flow_deny",
}
#: structured-data key -> ECS field (text).
SD_TO_ECS: dict[str, str] = {
    "source-address": ecs.SOURCE_IP,
    "destination-address": ecs.DESTINATION_IP,
    "nat-source-address": "source.nat.ip",
    "nat-destination-address": "destination.nat.ip",
    "policy-name": "rule.name",
    "source-zone-name": "observer.ingress.zone",
    "destination-zone-name": "observer.egress.zone",
    "service-name": "network.protocol",
    "application": "network.application",
    "username": ecs.USER_NAME,
    "reason": "event.reason",
    "packet-incoming-interface": "observer.ingress.interface.name",
    "session-id-32": "juniper.srx.session_id",
    "session-id": "juniper.srx.session_id",
}
SD_INTEGERS: dict[str, str] = {
    "source-port": ecs.SOURCE_PORT,
    "destination-port": ecs.DESTINATION_PORT,
    "nat-source-port": "source.nat.port",
    "nat-destination-port": "destination.nat.port",
    "bytes-from-client": "source.bytes",
    "bytes-from-server": "destination.bytes",
    "packets-from-client": "source.packets",
    "packets-from-server": "destination.packets",
    "elapsed-time": "juniper.srx.elapsed_time",
}
NO_VALUE = frozenset({"", "N/A", "None", "UNKNOWN"})
FILTER_ACTIONS = {"A": "accept", "D": "discard", "R": "reject"}

_FLOW = re.compile(r"(RT_FLOW_SESSION_(?:CREATE|CLOSE|DENY))(?:_LS)?:? ?(.*)", re.DOTALL)
_SD_PAIR = re.compile(r'(?<![\w-])([\w-]+)="((?:[^"\\]|\\.)*)"')
_ADDR = r"(?P<src>[0-9A-Fa-f.:]+)/(?P<sport>\d+)->(?P<dst>[0-9A-Fa-f.:]+)/(?P<dport>\d+)"
_TEXT_CREATE_CLOSE = re.compile(
    rf"session (?:created|closed (?P<reason>[^:]+):) {_ADDR} (?:0x\w+ )?(?P<service>\S+) "
    rf"(?P<nat>[0-9A-Fa-f.:]+/\d+->[0-9A-Fa-f.:]+/\d+) (?:0x\w+ )?(?:\S+ ){{4}}(?P<proto>\d+) "
    r"(?P<policy>\S+) (?P<szone>\S+) (?P<dzone>\S+)"
)
_TEXT_DENY = re.compile(
    rf"session denied {_ADDR} (?:0x\w+ )?(?P<service>\S+) (?P<proto>\d+)\(\d+\) (?P<policy>\S+) "
    r"(?P<szone>\S+) (?P<dzone>\S+)"
)
_FILTER = re.compile(
    r"FW: (?P<iface>\S+) +(?P<action>[ADR]) (?P<proto>\S+) "
    r"(?P<src>[0-9A-Fa-f.:]+) (?P<dst>[0-9A-Fa-f.:]+) "
    r"(?P<sport>\d+) (?P<dport>\d+)"
)
_JUNOS_TAG = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b|\bFW: ")


def parse_message(
    message: str, event: Event, *, tz: tzinfo = UTC, received: float | None = None
) -> None:
    """Add the fields of a Junos message to ``event``; ParseError when it has no Junos tag."""
    msgid = event.get("log.syslog.msgid")
    if _JUNOS_TAG.search(message) is None and not (
        isinstance(msgid, str) and _JUNOS_TAG.fullmatch(msgid)
    ):
        raise ParseError("no Junos message tag (such as RT_FLOW_SESSION_CREATE)")
    envelope.set_dataset(event, DATASET)
    event[ecs.OBSERVER_VENDOR] = "Juniper"
    event[ecs.OBSERVER_PRODUCT] = "SRX"
    event["observer.type"] = "firewall"
    if ecs.HOST_NAME in event:
        event["observer.name"] = event[ecs.HOST_NAME]
    priority = event.get(ecs.LOG_SYSLOG_PRIORITY)
    if isinstance(priority, int):
        event["log.level"] = LEVELS[priority % 8]
    flow = _FLOW.search(message)
    if flow is not None:
        tag, rest = flow.groups()
        firewall.mark(event, "Juniper", "SRX", FLOW_ACTIONS[tag])
        if rest.startswith("["):
            _structured(dict(_SD_PAIR.findall(rest)), event)
        else:
            _text(rest, event)
        return
    if isinstance(msgid, str) and msgid.removesuffix("_LS") in FLOW_ACTIONS:
        # RFC 5424 already split by the syslog parser: MSGID and structured data are fields.
        firewall.mark(event, "Juniper", "SRX", FLOW_ACTIONS[msgid.removesuffix("_LS")])
        elements = event.get("log.syslog.structured_data")
        if isinstance(elements, dict):
            for params in elements.values():
                if isinstance(params, dict):
                    _structured(params, event)
        return
    match = _FILTER.search(message)
    if match is not None:
        firewall.mark(event, "Juniper", "SRX", FILTER_ACTIONS[match["action"]])
        event["observer.ingress.interface.name"] = match["iface"]
        event[ecs.TRANSPORT] = firewall.transport(match["proto"])
        event[ecs.SOURCE_IP] = match["src"]
        event[ecs.DESTINATION_IP] = match["dst"]
        if event[ecs.TRANSPORT] in ("tcp", "udp"):
            firewall.set_port(event, ecs.SOURCE_PORT, match["sport"])
            firewall.set_port(event, ecs.DESTINATION_PORT, match["dport"])


def _structured(pairs: dict[str, str], event: Event) -> None:
    for key, name in SD_TO_ECS.items():
        value = pairs.get(key, "").strip()
        if value not in NO_VALUE:
            event[name] = value
    for key, name in SD_INTEGERS.items():
        firewall.set_port(event, name, pairs.get(key))
    proto = pairs.get("protocol-id")
    if proto:
        event[ecs.TRANSPORT] = firewall.transport(proto)


def _text(text: str, event: Event) -> None:
    match = _TEXT_CREATE_CLOSE.search(text) or _TEXT_DENY.search(text)
    if match is None:
        return
    src, sport, dst, dport = match.group("src", "sport", "dst", "dport")
    event[ecs.SOURCE_IP], event[ecs.DESTINATION_IP] = src, dst
    firewall.set_port(event, ecs.SOURCE_PORT, sport)
    firewall.set_port(event, ecs.DESTINATION_PORT, dport)
    event[ecs.TRANSPORT] = firewall.transport(match["proto"])
    event["rule.name"] = match["policy"]
    event["observer.ingress.zone"] = match["szone"]
    event["observer.egress.zone"] = match["dzone"]
    if match["service"] not in NO_VALUE:
        event["network.protocol"] = match["service"]
    groups = match.groupdict()
    if groups.get("reason"):
        event["event.reason"] = groups["reason"]
    if groups.get("nat"):
        nat_src, _, nat_dst = groups["nat"].partition("->")
        event["source.nat.ip"], _, nat_sport = nat_src.rpartition("/")
        event["destination.nat.ip"], _, nat_dport = nat_dst.rpartition("/")
        firewall.set_port(event, "source.nat.port", nat_sport)
        firewall.set_port(event, "destination.nat.port", nat_dport)


class JuniperSrxParser:
    """Junos SRX syslog lines (RFC 3164 or 5424), with or without an envelope."""

    name = "juniper.srx"

    def parse(self, record: RawRecord) -> list[Event]:
        """One event per line."""
        return envelope.parse_line(record, DATASET, parse_message)

"""Cisco ASA and Firepower Threat Defense (FTD) syslog messages to ECS.

Reference: Cisco, "Cisco Secure Firewall ASA Series Syslog Messages" (message formats by ID):
``%ASA-<level>-<id>: <text>`` (``%FTD-`` on FTD). Supported IDs: connections 302013-302016,
302020/302021; denies 106001, 106006, 106007, 106014, 106015, 106021, 106023, 106100,
710003, 733100 (threat detection); authentication 113004, 113005, 605004, 605005, 611101,
611102. Other IDs keep ``event.code``, ``log.level`` and the message.
Tolerated deviations: interface names that contain ``:`` (``v1:outside``), a missing port,
``Mmm dd yyyy hh:mm:ss`` and ``host :`` headers, Kiwi ``LOCAL4.WARNING:`` relay prefixes.
For "Built outbound" connections the source is the inside (second) address, as the message
names the outside one first.
"""

from __future__ import annotations

import re
from datetime import UTC, tzinfo

from collectors.base import RawRecord
from collectors.parsers import envelope, firewall
from siem import event as ecs
from siem.errors import ParseError
from siem.event import Event

ASA_DATASET = "cisco.asa"
FTD_DATASET = "cisco.ftd"
#: Syslog severity (RFC 5424 table 2) -> ``log.level``.
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

_HEADER = re.compile(r"%(ASA|FTD|FWSM|PIX)-(?:\w+-)?([0-7])-(\d{6}): ?")
_IP = r"(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]+"
# "iface:ip/port" where the interface may itself contain ":".


def _endpoint(side: str) -> str:
    return rf"(?P<{side}iface>\S+?):(?P<{side}ip>{_IP})(?:/(?P<{side}port>\d+))?"


_SRC = _endpoint("src_")
_DST = _endpoint("dst_")
_DST_SERVICE = rf"(?P<dst_iface>\S+?):(?P<dst_ip>{_IP})/(?P<service>\S+)"
_PLAIN_SRC = rf"(?P<src_ip>{_IP})(?:/(?P<src_port>\d+))?"
_PLAIN_DST = rf"(?P<dst_ip>{_IP})(?:/(?P<dst_port>\d+))?"
_USER = r'"?(?P<user>[^"\s]+)"?'

#: message ID -> (pattern, event.action, event.outcome or None, event.category).
MESSAGES: dict[str, tuple[re.Pattern[str], str, str | None, str]] = {
    "302013": (
        re.compile(
            rf"Built (?P<direction>inbound|outbound) (?P<proto>TCP) connection (?P<conn>\d+) for "
            rf"{_SRC}(?: \((?P<src_nat_ip>{_IP})/(?P<src_nat_port>\d+)\))?(?: \(([^)]*)\))* to "
            rf"{_DST}(?: \((?P<dst_nat_ip>{_IP})/(?P<dst_nat_port>\d+)\))?"
        ),
        "built",
        None,
        "network",
    ),
    "302014": (
        re.compile(
            rf"Teardown (?P<proto>TCP) connection (?P<conn>\d+) for {_SRC}(?: \([^)]*\))? to {_DST}"
            r"(?: \([^)]*\))?(?: duration (?P<duration>[\d:]+))?(?: bytes (?P<bytes>\d+))?"
        ),
        "teardown",
        None,
        "network",
    ),
    "302020": (
        re.compile(
            rf"Built (?P<direction>inbound|outbound) (?P<proto>ICMP|ICMPv6) connection for faddr "
            rf"(?P<faddr>{_IP})/\d+(?:\([^)]*\))? gaddr (?P<gaddr>{_IP})/\d+ "
            rf"laddr (?P<laddr>{_IP})/\d+"
        ),
        "built",
        None,
        "network",
    ),
    "302021": (
        re.compile(
            rf"Teardown (?P<proto>ICMP|ICMPv6) connection for faddr "
            rf"(?P<faddr>{_IP})/\d+(?:\([^)]*\))? "
            rf"gaddr (?P<gaddr>{_IP})/\d+ laddr (?P<laddr>{_IP})/\d+"
        ),
        "teardown",
        None,
        "network",
    ),
    "106001": (
        re.compile(
            rf"Inbound (?P<proto>TCP) connection denied from {_PLAIN_SRC} to {_PLAIN_DST} "
            r"flags .*? on interface (?P<src_iface>\S+)"
        ),
        "deny",
        None,
        "network",
    ),
    "106006": (
        re.compile(
            rf"Deny inbound (?P<proto>UDP) from {_PLAIN_SRC} to {_PLAIN_DST} "
            r"on interface (?P<src_iface>\S+)"
        ),
        "deny",
        None,
        "network",
    ),
    "106007": (
        re.compile(rf"Deny inbound (?P<proto>UDP) from {_PLAIN_SRC} to {_PLAIN_DST} due to"),
        "deny",
        None,
        "network",
    ),
    "106014": (
        re.compile(rf"Deny (?:inbound|outbound) (?P<proto>icmp) src {_SRC} dst {_DST}"),
        "deny",
        None,
        "network",
    ),
    "106015": (
        re.compile(
            rf"Deny (?P<proto>TCP) \(no connection\) from {_PLAIN_SRC} to {_PLAIN_DST} flags .*? "
            r"on interface (?P<src_iface>\S+)"
        ),
        "deny",
        None,
        "network",
    ),
    "106021": (
        re.compile(
            rf"Deny (?P<proto>\S+) reverse path check from (?P<src_ip>{_IP}) to (?P<dst_ip>{_IP}) "
            r"on interface (?P<src_iface>\S+)"
        ),
        "deny",
        None,
        "network",
    ),
    "106023": (
        re.compile(
            rf"Deny (?P<proto>\S+) src {_SRC} dst {_DST}(?: \(type \d+, code \d+\))? "
            r"by access-group "
            r'"(?P<rule>[^"]+)"'
        ),
        "deny",
        None,
        "network",
    ),
    "106100": (
        re.compile(
            r"access-list (?P<rule>\S+) (?P<verb>permitted|denied|est-allowed) (?P<proto>\w+) "
            rf"(?P<src_iface>[^/\s]+)/(?P<src_ip>{_IP})\((?P<src_port>\d+)\)(?:\([^)]*\))? -> "
            rf"(?P<dst_iface>[^/\s]+)/(?P<dst_ip>{_IP})\((?P<dst_port>\d+)\)"
        ),
        "",
        None,
        "network",
    ),
    "710003": (
        re.compile(rf"(?P<proto>TCP|UDP|ICMP) access denied by ACL from {_PLAIN_SRC} to {_DST}"),
        "deny",
        None,
        "network",
    ),
    "733100": (
        re.compile(r"\[\s*(?P<object>[^\]]+?)\s*\] drop (?P<rate>rate-\d+) exceeded"),
        "drop",
        None,
        "network",
    ),
    "113004": (
        re.compile(
            r"AAA user authentication Successful : "
            rf"server = +(?P<server>{_IP}) : user = (?P<user>\S+)"
        ),
        "logon-success",
        "success",
        "authentication",
    ),
    "113005": (
        re.compile(
            r"AAA user authentication Rejected : reason = (?P<reason>.+?) : server = +"
            rf"(?P<server>{_IP}) : user = (?P<user>\S+?)(?: : user IP = (?P<src_ip>{_IP}))?\s*$"
        ),
        "logon-failed",
        "failure",
        "authentication",
    ),
    "605004": (
        re.compile(rf"Login denied from {_PLAIN_SRC} to {_DST_SERVICE} for user {_USER}"),
        "logon-failed",
        "failure",
        "authentication",
    ),
    "605005": (
        re.compile(rf"Login permitted from {_PLAIN_SRC} to {_DST_SERVICE} for user {_USER}"),
        "logon-success",
        "success",
        "authentication",
    ),
    "611101": (
        re.compile(
            rf"User authentication succeeded: IP address: (?P<src_ip>{_IP}), Uname: (?P<user>\S+)"
        ),
        "logon-success",
        "success",
        "authentication",
    ),
    "611102": (
        re.compile(
            rf"User authentication failed: IP address: (?P<src_ip>{_IP}), Uname: (?P<user>\S+)"
        ),
        "logon-failed",
        "failure",
        "authentication",
    ),
}
MESSAGES["302015"] = (
    re.compile(MESSAGES["302013"][0].pattern.replace("(?P<proto>TCP)", "(?P<proto>UDP)")),
    "built",
    None,
    "network",
)
MESSAGES["302016"] = (
    re.compile(MESSAGES["302014"][0].pattern.replace("(?P<proto>TCP)", "(?P<proto>UDP)")),
    "teardown",
    None,
    "network",
)
#: Named groups -> ECS fields, copied as text.
GROUP_TO_ECS: dict[str, str] = {
    "src_ip": ecs.SOURCE_IP,
    "dst_ip": ecs.DESTINATION_IP,
    "src_iface": "observer.ingress.interface.name",
    "dst_iface": "observer.egress.interface.name",
    "rule": "rule.name",
    "user": ecs.USER_NAME,
    "conn": "cisco.connection_id",
    "reason": "event.reason",
    "server": "cisco.aaa_server",
    "service": "cisco.service",
    "object": "cisco.threat_detection.object",
    "src_nat_ip": "source.nat.ip",
    "dst_nat_ip": "destination.nat.ip",
}
PORT_GROUPS = {
    "src_port": ecs.SOURCE_PORT,
    "dst_port": ecs.DESTINATION_PORT,
    "src_nat_port": "source.nat.port",
    "dst_nat_port": "destination.nat.port",
}
# "Built outbound": the message names the outside end first; swap to source = initiator.
_SWAP = {
    ecs.SOURCE_IP: ecs.DESTINATION_IP,
    ecs.SOURCE_PORT: ecs.DESTINATION_PORT,
    "source.nat.ip": "destination.nat.ip",
    "source.nat.port": "destination.nat.port",
    "observer.ingress.interface.name": "observer.egress.interface.name",
}


def parse_message(
    message: str, event: Event, *, tz: tzinfo = UTC, received: float | None = None
) -> None:
    """Add the fields of an ASA/FTD message to ``event``; ParseError without a ``%ASA-`` header."""
    header = _HEADER.search(message)
    if header is None:
        raise ParseError("no '%ASA-<level>-<id>:' header")
    product, level, code = header.groups()
    text = message[header.end() :]
    dataset = FTD_DATASET if product == "FTD" else ASA_DATASET
    event[ecs.DATASET] = dataset
    event[ecs.MODULE] = "cisco"
    event["event.code"] = code
    event["log.level"] = LEVELS[int(level)]
    event[ecs.MESSAGE] = text
    firewall.mark(event, "Cisco", product.lower(), None)
    rule = MESSAGES.get(code)
    match = rule[0].search(text) if rule else None
    if rule is None or match is None:
        return
    _, action, outcome, category = rule
    groups = match.groupdict()
    for group, name in GROUP_TO_ECS.items():
        value = groups.get(group)
        if value:
            event[name] = value
    for group, name in PORT_GROUPS.items():
        firewall.set_port(event, name, groups.get(group))
    if groups.get("faddr"):
        _icmp_addresses(event, groups)
    elif groups.get("direction") == "outbound":
        _swap(event)
    proto = groups.get("proto")
    if proto:
        event[ecs.TRANSPORT] = firewall.transport(proto)
    if code == "106100":
        action = {"permitted": "permit", "denied": "deny"}.get(groups["verb"], groups["verb"])
    if groups.get("direction"):
        event["network.direction"] = groups["direction"]
    if category == "authentication":
        event[ecs.CATEGORY] = ["authentication"]
        event[ecs.ACTION] = action
        event[ecs.TYPE] = ["info"]
    else:
        firewall.set_action(event, action)
    if outcome:
        event[ecs.OUTCOME] = outcome


def _swap(event: Event) -> None:
    for first, second in _SWAP.items():
        a, b = event.pop(first, None), event.pop(second, None)
        if b is not None:
            event[first] = b
        if a is not None:
            event[second] = a


def _icmp_addresses(event: Event, groups: dict[str, str | None]) -> None:
    # faddr: foreign (outside) host; laddr: local host; gaddr: its global (NAT) address.
    if groups.get("direction") == "outbound":
        event[ecs.SOURCE_IP] = groups["laddr"]
        if groups["gaddr"] != groups["laddr"]:
            event["source.nat.ip"] = groups["gaddr"]
        event[ecs.DESTINATION_IP] = groups["faddr"]
    else:
        event[ecs.SOURCE_IP] = groups["faddr"]
        event[ecs.DESTINATION_IP] = groups["laddr"]
        if groups["gaddr"] != groups["laddr"]:
            event["destination.nat.ip"] = groups["gaddr"]


class CiscoAsaParser:
    """ASA and FTD syslog lines (``%ASA-`` / ``%FTD-``), with or without a syslog envelope."""

    name = "cisco.asa"

    def parse(self, record: RawRecord) -> list[Event]:
        """One event per line."""
        return envelope.parse_line(record, ASA_DATASET, parse_message)

"""Linux netfilter LOG target lines (iptables, nftables ``log``) and ufw to ECS.

Reference: the kernel's ``net/netfilter/nf_log_syslog.c`` (formerly ``ipt_LOG.c``): an
optional ``--log-prefix``, then ``IN= OUT= MAC= SRC= DST= LEN= TOS= PREC= TTL= ID= [DF]
PROTO= SPT= DPT= ...``; ICMP errors append the offending packet in ``[...]``. ufw's prefixes
are ``[UFW BLOCK]``, ``[UFW ALLOW]``, ``[UFW AUDIT]``, ``[UFW LIMIT BLOCK]`` (ufw
``src/backend_iptables.py``). Ubiquiti EdgeOS/VyOS prefixes ``[RULESET-RULE-A|D|R]`` name the
rule set, the rule and the action (A accept, D drop, R reject).
Tolerated deviations: a kernel uptime ``[12345.678]`` before the prefix, a prefix the syslog
header took for a program name (``DENY: IN=...``), IPv6 addresses written in full.
"""

from __future__ import annotations

import re
from datetime import UTC, tzinfo

from collectors.base import RawRecord
from collectors.parsers import envelope, firewall
from siem import event as ecs
from siem.errors import ParseError
from siem.event import Event

IPTABLES_DATASET = "iptables"
UFW_DATASET = "ufw"

#: netfilter key -> ECS field (ports are converted to int).
KEY_TO_ECS: dict[str, str] = {
    "SRC": ecs.SOURCE_IP,
    "DST": ecs.DESTINATION_IP,
    "SPT": ecs.SOURCE_PORT,
    "DPT": ecs.DESTINATION_PORT,
    "IN": "observer.ingress.interface.name",
    "OUT": "observer.egress.interface.name",
    "LEN": "iptables.length",
    "TTL": "iptables.ttl",
    "ID": "iptables.id",
    "TOS": "iptables.tos",
    "PREC": "iptables.precedence_bits",
    "WINDOW": "iptables.tcp.window",
    "TYPE": "iptables.icmp.type",
    "CODE": "iptables.icmp.code",
    "PHYSIN": "iptables.physical_in",
    "PHYSOUT": "iptables.physical_out",
    "UID": "user.id",
    "GID": "group.id",
    "MARK": "iptables.mark",
    "HOPLIMIT": "iptables.ttl",
}
INTEGER_FIELDS = frozenset({ecs.SOURCE_PORT, ecs.DESTINATION_PORT})
EDGEOS_ACTIONS = {"A": "accept", "D": "drop", "R": "reject"}

_START = re.compile(r"(?:^|[\s\]:])IN=")
# Not inside a run of capitals: one attempt per run keeps a long run without "=" linear.
_PAIR = re.compile(r"(?<![A-Z])([A-Z]+)=(\S*)")
_UPTIME = re.compile(r"^\[\s*\d+\.\d+\]\s*")
_EDGEOS = re.compile(r"\[(?P<name>[^\]]+?)-(?P<id>[^-\]]+)-(?P<action>[ADR])\]\s*$")
_UFW = re.compile(r"\[UFW ([A-Z ]+)\]")


def parse_message(
    message: str, event: Event, *, tz: tzinfo = UTC, received: float | None = None
) -> None:
    """Add the fields of a netfilter LOG line to ``event``; ParseError when it is not one."""
    start = _START.search(message)
    if start is None or "SRC=" not in message:
        raise ParseError("no netfilter 'IN=... SRC=...' fields")
    body_start = start.end() - 3
    prefix = _UPTIME.sub("", message[:body_start].strip())
    if prefix.startswith("kernel: "):
        prefix = _UPTIME.sub("", prefix[8:].strip())
    body = message[body_start:]
    inner = body.find(" [")  # the packet quoted by an ICMP error
    if inner >= 0:
        body = body[:inner]
    vendor, product, dataset = "Linux", "iptables", IPTABLES_DATASET
    action: str | None = None
    ufw = _UFW.search(prefix)
    if ufw:
        vendor, product, dataset = "Canonical", "ufw", UFW_DATASET
        action = ufw.group(1).split()[-1].lower()
    elif edgeos := _edgeos(prefix):
        event["rule.name"] = edgeos.group("name")
        event["rule.id"] = edgeos.group("id")
        action = EDGEOS_ACTIONS[edgeos.group("action")]
    else:
        words = prefix.strip(" :[]").split()
        if not words:
            program = event.get(ecs.PROCESS_NAME)  # "DENY: IN=..." read as a program name
            if isinstance(program, str) and program != "kernel":
                words = [program]
        if words:
            action = words[-1].strip(":[]").lower()
            event["iptables.prefix"] = prefix.strip()
    event[ecs.DATASET] = dataset
    event[ecs.MODULE] = dataset
    firewall.mark(event, vendor, product, None)
    if action:
        firewall.set_action(event, action)
    else:
        event[ecs.TYPE] = ["connection"]
    for key, value in _PAIR.findall(body):
        field = KEY_TO_ECS.get(key)
        if field is None or not value:
            continue
        if field in INTEGER_FIELDS:
            firewall.set_port(event, field, value)
        else:
            event[field] = value
    proto = _PAIR_PROTO.search(body)
    if proto:
        event[ecs.TRANSPORT] = firewall.transport(proto.group(1))
    mac = event.pop("iptables.mac", None) or _mac(body)
    if mac:
        event["destination.mac"], event["source.mac"] = mac


def _edgeos(prefix: str) -> re.Match[str] | None:
    """The EdgeOS ``[name-id-A]`` tag ending the prefix: ``_EDGEOS.search`` tried only at the first
    ``[`` after the ``]`` before the last one (no match starts elsewhere; and if it fails there,
    shorter names fail too): a hostile prefix full of ``[`` would be quadratic otherwise."""
    stripped = prefix.rstrip()
    if not stripped.endswith("]"):
        return None
    first = prefix.find("[", stripped.rfind("]", 0, len(stripped) - 1) + 1)
    return _EDGEOS.match(prefix, first) if first >= 0 else None


# ``\bPROTO=`` written with the word first: a pattern that starts with a literal is searched
# for by that literal (fast); one that starts with ``\b`` is tried at every position.
_PAIR_PROTO = re.compile(r"PROTO(?<=\bPROTO)=(\S+)")
_MAC = re.compile(r"MAC(?<=\bMAC)=((?:[0-9a-f]{2}:){12}[0-9a-f]{2})")


def _mac(body: str) -> tuple[str, str] | None:
    match = _MAC.search(body)
    if match is None:
        return None
    text = match.group(1)
    return text[0:17].replace(":", "-").upper(), text[18:35].replace(":", "-").upper()


class IptablesParser:
    """Kernel netfilter LOG lines (also ufw) with or without a syslog envelope."""

    name = "iptables"

    def parse(self, record: RawRecord) -> list[Event]:
        """One event per line."""
        return envelope.parse_line(record, IPTABLES_DATASET, parse_message)


class UnifiParser:
    """Ubiquiti UniFi / EdgeOS gateway firewall lines (netfilter LOG with ``[RULESET-N-A]``)."""

    name = "ubiquiti.unifi"

    def parse_message(
        self, message: str, event: Event, *, tz: tzinfo = UTC, received: float | None = None
    ) -> None:
        """The netfilter fields, labelled as a Ubiquiti device."""
        parse_message(message, event, tz=tz, received=received)
        envelope.set_dataset(event, "ubiquiti.unifi")
        event[ecs.OBSERVER_VENDOR] = "Ubiquiti"
        event[ecs.OBSERVER_PRODUCT] = "UniFi"

    def parse(self, record: RawRecord) -> list[Event]:
        """One event per line."""
        return envelope.parse_line(record, "ubiquiti.unifi", self.parse_message)

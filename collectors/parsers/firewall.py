"""ECS fields every firewall event carries, shared by the firewall vendor parsers.

Follows the ECS guidance for network events (https://www.elastic.co/guide/en/ecs/current/
ecs-category-field-values-reference.html): ``event.category: [network]``,
``event.type: [connection, allowed|denied]``, ``observer.type: firewall``. As in Elastic's
integrations, ``event.outcome`` is ``success`` when the firewall carried out its decision
(a drop is a successful drop); it is ``failure`` only where the device reports an error.
Protocol numbers follow the IANA "Assigned Internet Protocol Numbers" registry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from collectors.parsers.envelope import number
from siem import event as ecs
from siem.event import Event

#: IANA protocol number -> ``network.transport`` name.
IANA_PROTOCOLS: dict[str, str] = {
    "0": "hopopt",
    "1": "icmp",
    "2": "igmp",
    "4": "ipv4",
    "6": "tcp",
    "17": "udp",
    "41": "ipv6",
    "43": "ipv6-route",
    "44": "ipv6-frag",
    "47": "gre",
    "50": "esp",
    "51": "ah",
    "58": "ipv6-icmp",
    "89": "ospf",
    "103": "pim",
    "112": "vrrp",
    "132": "sctp",
    "136": "udplite",
}

#: Other spellings of IANA keywords.
TRANSPORT_ALIASES: dict[str, str] = {
    "icmpv6": "ipv6-icmp",
    "icmp6": "ipv6-icmp",
    "ipv6icmp": "ipv6-icmp",
}

#: A vendor's action word (lower case) -> the ``event.type`` verdict it means.
VERDICTS: dict[str, str] = {
    word: "allowed"
    for word in (
        "allow",
        "allowed",
        "accept",
        "accepted",
        "pass",
        "permit",
        "permitted",
        "built",
        "close",
        "start",
        "timeout",
        "server-rst",
        "client-rst",
        "forward",
    )
} | {
    word: "denied"
    for word in (
        "deny",
        "denied",
        "drop",
        "dropped",
        "block",
        "blocked",
        "reject",
        "rejected",
        "reset",
        "reset-both",
        "reset-client",
        "reset-server",
        "discard",
        "prevent",
        "ip-conn",
        "alert",
    )
}


_WORD_SPLIT = re.compile(r"[\s_/-]+")


def transport(value: str) -> str:
    """``network.transport`` from a protocol name or IANA number."""
    value = value.strip().lower()
    value = IANA_PROTOCOLS.get(value, value)
    return TRANSPORT_ALIASES.get(value, value)


def mark(event: Event, vendor: str, product: str, action: str | None = None) -> None:
    """Set the firewall classification fields; ``action`` is the vendor's word."""
    event[ecs.CATEGORY] = ["network"]
    event["observer.type"] = "firewall"
    event[ecs.OBSERVER_VENDOR] = vendor
    event[ecs.OBSERVER_PRODUCT] = product
    host = event.get(ecs.HOST_NAME)
    if host is not None:
        event["observer.name"] = host
    if action:
        set_action(event, action)


def set_action(event: Event, action: str) -> None:
    """``event.action`` (lower case) with the ``event.type`` and ``event.outcome`` it implies."""
    action = action.strip().lower()
    event[ecs.ACTION] = action
    verdict = VERDICTS.get(action) or _verdict_of_words(action)
    event[ecs.TYPE] = ["connection", verdict] if verdict else ["connection"]
    event[ecs.OUTCOME] = "success"


def _verdict_of_words(action: str) -> str | None:
    # Compound words such as "drop_input" or "deny-all": the first word with a verdict wins.
    for word in _WORD_SPLIT.split(action):
        verdict = VERDICTS.get(word)
        if verdict is not None:
            return verdict
    return None


def set_port(event: Event, key: str, value: str | None) -> None:
    """Store a port number when ``value`` is a decimal port."""
    port = number(value)
    if port is not None:
        event[key] = port


def map_fields(
    event: Event,
    pairs: Mapping[str, str],
    table: Mapping[str, str],
    *,
    integers: frozenset[str],
    unknown_prefix: str,
) -> None:
    """Copy vendor key/value pairs into ECS names by ``table`` (others under ``unknown_prefix``).

    Integer fields take only digits; empty values are skipped; ``network.transport`` and
    ``event.action`` are normalized (protocol names, lower case).
    """
    for key, value in pairs.items():
        field = table.get(key)
        if field is None:
            event[f"{unknown_prefix}.{key}"] = value
        elif field in integers:
            integer = number(value)
            if integer is not None:
                event[field] = integer
        elif value:
            event[field] = value
    if ecs.TRANSPORT in event:
        event[ecs.TRANSPORT] = transport(event[ecs.TRANSPORT])
    if ecs.ACTION in event:
        event[ecs.ACTION] = event[ecs.ACTION].lower()

"""MikroTik RouterOS firewall and account log lines to ECS.

Reference: MikroTik RouterOS manual, "Log" (help.mikrotik.com, /log print examples) and
"Firewall filter" (``action=log`` with ``log-prefix``): topics then the message, e.g.
``firewall,info input: in:ether1 out:(none), src-mac 00:21:29:6d:82:07, proto UDP,
10.1.101.1:520->10.1.101.255:520, len 452`` and ``system,info,account user admin logged in
from 10.1.101.212 via winbox``. RouterOS logs the chain, not the rule's action: the action is
taken from the log prefix when it names one (``DROP_SSH input: ...``), else left unset.
Tolerated deviations: a ``log-prefix`` before the chain, ``proto TCP (SYN)`` flags, NAT
``NAT (a:p->b:p)->c:p`` parts, IPv6 ``[addr]:port``, remote-syslog headers without a TAG.
"""

from __future__ import annotations

import re
from datetime import UTC, tzinfo

from collectors.base import RawRecord
from collectors.parsers import envelope, firewall
from siem import event as ecs
from siem.errors import ParseError
from siem.event import Event

DATASET = "mikrotik.routeros"

_FIREWALL = re.compile(
    r"^(?:(?P<topics>[\w-]+(?:,[\w-]+)+) )?(?:(?P<prefix>.*?) )?(?P<chain>[\w-]+): in:(?P<in>\S*?)"
    r"(?:\(\w+ \d+\))? out:(?P<out>[^,]*?),"
    r"(?: connection-state:(?P<state>[\w,-]+))?(?: src-mac (?P<mac>[0-9a-f:]{17}),?)?"
    r" proto (?P<proto>[\w-]+)(?: \((?P<flags>[^)]*)\))?, "
    r"(?P<src>\[?[0-9A-Fa-f.:]+?\]?)(?::(?P<sport>\d+))?->(?P<dst>\[?[0-9A-Fa-f.:]+?\]?)(?::(?P<dport>\d+))?"
    r"(?:, NAT .*?)?, len (?P<len>\d+)"
)
_ACCOUNT = re.compile(
    r"(?:^|\s)(?:user (?P<user>\S+) (?P<verb>logged in|logged out) "
    r"from (?P<src>[0-9A-Fa-f.:]+) via (?P<via>\S+)"
    r"|login failure for user (?P<fuser>\S+) from (?P<fsrc>[0-9A-Fa-f.:]+) via (?P<fvia>\S+))"
)
VERBS = {"logged in": ("logged-in", "success"), "logged out": ("logged-out", "success")}


def parse_message(
    message: str, event: Event, *, tz: tzinfo = UTC, received: float | None = None
) -> None:
    """Add the fields of a RouterOS firewall or account line; ParseError for other lines."""
    match = _FIREWALL.search(message)
    account = _ACCOUNT.search(message) if match is None else None
    if match is None and account is None:
        raise ParseError("not a RouterOS firewall or login line")
    envelope.set_dataset(event, DATASET)
    if match is not None:
        _firewall(match, event)
        return
    assert account is not None
    event[ecs.OBSERVER_VENDOR] = "MikroTik"
    event[ecs.OBSERVER_PRODUCT] = "RouterOS"
    event[ecs.CATEGORY] = ["authentication"]
    if account["user"]:
        action, outcome = VERBS[account["verb"]]
        event[ecs.USER_NAME], event[ecs.SOURCE_IP] = account["user"], account["src"]
        event["network.application"] = account["via"]
        event[ecs.TYPE] = ["start" if action == "logged-in" else "end"]
    else:
        action, outcome = "login-failed", "failure"
        event[ecs.USER_NAME], event[ecs.SOURCE_IP] = account["fuser"], account["fsrc"]
        event["network.application"] = account["fvia"]
        event[ecs.TYPE] = ["start"]
    event[ecs.ACTION] = action
    event[ecs.OUTCOME] = outcome


def _firewall(match: re.Match[str], event: Event) -> None:
    prefix = (match["prefix"] or "").strip()
    firewall.mark(event, "MikroTik", "RouterOS", None)
    if prefix:
        event["rule.name"] = prefix
        verdict_word = next(
            (word for word in re.split(r"[\s_:-]+", prefix.lower()) if word in firewall.VERDICTS),
            None,
        )
        if verdict_word:
            firewall.set_action(event, verdict_word)
    if ecs.ACTION not in event:
        event[ecs.TYPE] = ["connection"]
    event["mikrotik.chain"] = match["chain"]
    if match["in"]:
        event["observer.ingress.interface.name"] = match["in"]
    if match["out"] and not match["out"].startswith("("):
        event["observer.egress.interface.name"] = match["out"]
    if match["mac"]:
        event["source.mac"] = match["mac"].replace(":", "-").upper()
    if match["state"]:
        event["mikrotik.connection_state"] = match["state"]
    event[ecs.TRANSPORT] = firewall.transport(match["proto"])
    event[ecs.SOURCE_IP] = match["src"].strip("[]")
    event[ecs.DESTINATION_IP] = match["dst"].strip("[]")
    firewall.set_port(event, ecs.SOURCE_PORT, match["sport"])
    firewall.set_port(event, ecs.DESTINATION_PORT, match["dport"])
    length = envelope.number(match["len"])
    if length is not None:
        event["network.bytes"] = length


class MikrotikParser:
    """RouterOS log lines, with or without a syslog envelope."""

    name = "mikrotik.routeros"

    def parse(self, record: RawRecord) -> list[Event]:
        """One event per line."""
        return envelope.parse_line(record, DATASET, parse_message)

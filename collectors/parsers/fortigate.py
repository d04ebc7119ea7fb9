"""Fortinet FortiGate (FortiOS) ``key=value`` logs to ECS.

Reference: Fortinet, "FortiOS Log Message Reference" (log fields by type traffic, event, utm):
``date= time= [tz=] devname= devid= logid= type= subtype= level= vd= srcip= srcport= dstip=
dstport= proto= action= policyid= service= user= ...``.
Tolerated deviations: a syslog header or only ``<PRI>`` before ``date=``, no ``tz`` (the
source's time zone is used), ``user="N/A"`` (no user), ``eventtime`` in s, ms, us or ns.
``event.action`` is FortiOS' ``action`` in lower case (Elastic uses ``eventtype`` for UTM logs).
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from collectors.base import RawRecord
from collectors.parsers import envelope, firewall, keyvalue
from siem import event as ecs
from siem.errors import ParseError
from siem.event import Event

DATASET = "fortinet.fortigate"

#: FortiOS key -> ECS field (text values).
KEY_TO_ECS: dict[str, str] = {
    "srcip": ecs.SOURCE_IP,
    "dstip": ecs.DESTINATION_IP,
    "transip": "source.nat.ip",
    "tranip": "destination.nat.ip",
    "srcmac": "source.mac",
    "dstmac": "destination.mac",
    "srcintf": "observer.ingress.interface.name",
    "dstintf": "observer.egress.interface.name",
    "devname": "observer.name",
    "devid": "observer.serial_number",
    "logid": "event.code",
    "level": "log.level",
    "policyid": "rule.id",
    "policyname": "rule.name",
    "msg": ecs.MESSAGE,
    "service": "network.protocol",
    "app": "network.application",
    "hostname": "url.domain",
    "url": "url.path",
    "virus": "file.virus",
    "attack": "rule.name",
    "filename": "file.name",
    "srccountry": "source.geo.country_name",
    "dstcountry": "destination.geo.country_name",
    "reason": "event.reason",
    "logdesc": "rule.description",
    "group": "user.group.name",
    "qname": "dns.question.name",
    "qtype": "dns.question.type",
    "vd": "fortinet.vdom",
    "type": "fortinet.type",
    "subtype": "fortinet.subtype",
    "eventtype": "fortinet.eventtype",
    "sessionid": "fortinet.session_id",
}
#: FortiOS key -> ECS field (integer values).
INTEGER_KEYS: dict[str, str] = {
    "srcport": ecs.SOURCE_PORT,
    "dstport": ecs.DESTINATION_PORT,
    "transport": "source.nat.port",
    "tranport": "destination.nat.port",
    "sentbyte": "source.bytes",
    "rcvdbyte": "destination.bytes",
    "sentpkt": "source.packets",
    "rcvdpkt": "destination.packets",
    "duration": "event.duration_s",
}
#: VPN logs name the ends locip/remip instead of srcip/dstip: used when those are absent.
FALLBACK_KEYS: dict[str, str] = {
    "locip": ecs.SOURCE_IP,
    "remip": ecs.DESTINATION_IP,
    "locport": ecs.SOURCE_PORT,
    "remport": ecs.DESTINATION_PORT,
}
NO_VALUE = frozenset({"", "N/A", "n/a"})
OUTCOMES = {"success": "success", "failure": "failure", "failed": "failure", "fail": "failure"}


def parse_message(
    message: str, event: Event, *, tz: tzinfo = UTC, received: float | None = None
) -> None:
    """Add the fields of a FortiOS log to ``event``; ParseError without ``logid``/``type``."""
    pairs = keyvalue.pairs(message)
    if "logid" not in pairs or "type" not in pairs:
        raise ParseError("not a FortiOS log (no logid= and type=)")
    envelope.set_dataset(event, DATASET)
    for key, value in pairs.items():
        name = KEY_TO_ECS.get(key)
        if name is not None:
            if value not in NO_VALUE:
                event[name] = value
        elif key in INTEGER_KEYS:
            firewall.set_port(event, INTEGER_KEYS[key], value)
    for key, name in FALLBACK_KEYS.items():
        fallback = pairs.get(key)
        if name in event or not fallback or fallback in NO_VALUE:
            continue
        if name.endswith(".port"):
            firewall.set_port(event, name, fallback)
        else:
            event[name] = fallback
    kind = pairs["type"]
    firewall.mark(event, "Fortinet", "FortiGate", None)
    if "observer.name" in event:
        event[ecs.HOST_NAME] = event["observer.name"]
    if kind != "traffic":
        event[ecs.CATEGORY] = ["network"] if kind == "utm" else ["host"]
    action = pairs.get("action")
    if action:
        if kind == "event":
            event[ecs.ACTION] = action.lower()
        else:
            firewall.set_action(event, action)
    outcome = OUTCOMES.get(pairs.get("status", "").lower())
    if outcome:
        event[ecs.OUTCOME] = outcome
    if pairs.get("proto"):
        event[ecs.TRANSPORT] = firewall.transport(pairs["proto"])
    user = pairs.get("user") or pairs.get("srcuser") or pairs.get("unauthuser")
    if user and user not in NO_VALUE:
        event[ecs.USER_NAME] = user
    user_event = kind == "event" and pairs.get("subtype") == "user"
    if user_event or pairs.get("logdesc", "").startswith("Admin login"):
        event[ecs.CATEGORY] = ["authentication"]
    moment = _timestamp(pairs, tz)
    if moment is not None:
        event[ecs.TIMESTAMP] = ecs.format_timestamp(moment)


def _timestamp(pairs: dict[str, str], tz: tzinfo) -> datetime | None:
    date, clock = pairs.get("date"), pairs.get("time")
    if date and clock:
        offset = pairs.get("tz", "")
        moment = envelope.parse_iso(f"{date}T{clock}{offset if offset[:1] in '+-' else ''}", tz)
        if moment is not None:
            return moment
    stamp = pairs.get("eventtime", "")
    number = envelope.number(stamp, 19)
    if number is not None:
        try:
            return datetime.fromtimestamp(number / 10 ** max(0, len(stamp) - 10), UTC)
        except (ValueError, OverflowError, OSError):
            return None
    return None


class FortigateParser:
    """FortiGate logs, with or without a syslog envelope."""

    name = "fortinet.fortigate"

    def parse(self, record: RawRecord) -> list[Event]:
        """One event per line."""
        return envelope.parse_line(record, DATASET, parse_message)

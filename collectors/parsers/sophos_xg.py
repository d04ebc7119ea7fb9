"""Sophos XG / SFOS firewall ``key=value`` logs to ECS.

Reference: Sophos, "Sophos Firewall log file details" (SFOS syslog guide, v17-v19):
``device="SFW" date=yyyy-mm-dd time=hh:mm:ss timezone="..." device_name= device_id= log_id=
log_type= log_component= log_subtype= status= priority= ... src_ip= src_port= dst_ip= dst_port=
protocol= user_name= ...``. ATP logs use ``sourceip``/``destinationip``.
Tolerated deviations: spaces inside quoted protocol values (``protocol=" ICMP"``), empty
values, the ``timezone`` abbreviation (ignored: abbreviations are ambiguous; the source's
configured time zone is used). ``event.action`` is ``log_subtype`` in lower case
(Allowed, Denied, Alert, Drop), as Elastic does.
"""

from __future__ import annotations

from datetime import UTC, tzinfo

from collectors.base import RawRecord
from collectors.parsers import envelope, firewall, keyvalue
from siem import event as ecs
from siem.errors import ParseError
from siem.event import Event

DATASET = "sophos.xg"

KEY_TO_ECS: dict[str, str] = {
    "src_ip": ecs.SOURCE_IP,
    "sourceip": ecs.SOURCE_IP,
    "dst_ip": ecs.DESTINATION_IP,
    "destinationip": ecs.DESTINATION_IP,
    "src_mac": "source.mac",
    "dst_mac": "destination.mac",
    "src_trans_ip": "source.nat.ip",
    "dst_trans_ip": "destination.nat.ip",
    "in_interface": "observer.ingress.interface.name",
    "out_interface": "observer.egress.interface.name",
    "device_name": "observer.name",
    "device_id": "observer.serial_number",
    "log_id": "event.code",
    "fw_rule_id": "rule.id",
    "fw_rule_name": "rule.name",
    "policy_type": "rule.category",
    "application": "network.application",
    "url": "url.original",
    "domain": "url.domain",
    "threatname": "threat.indicator.description",
    "log_component": "sophos.xg.log_component",
    "log_type": "sophos.xg.log_type",
    "message": ecs.MESSAGE,
    "status": "sophos.xg.status",
    "priority": "log.level",
}
INTEGER_KEYS: dict[str, str] = {
    "src_port": ecs.SOURCE_PORT,
    "dst_port": ecs.DESTINATION_PORT,
    "src_trans_port": "source.nat.port",
    "dst_trans_port": "destination.nat.port",
    "sent_bytes": "source.bytes",
    "recv_bytes": "destination.bytes",
    "sent_pkts": "source.packets",
    "recv_pkts": "destination.packets",
}
LEVELS = {
    "notice": "notification",
    "warning": "warning",
    "information": "informational",
    "critical": "critical",
    "error": "error",
    "alert": "alert",
    "debug": "debug",
}


def parse_message(
    message: str, event: Event, *, tz: tzinfo = UTC, received: float | None = None
) -> None:
    """Add the fields of an SFOS log to ``event``; ParseError without ``log_id``/``log_type``."""
    pairs = keyvalue.pairs(message)
    if "log_id" not in pairs or "log_type" not in pairs:
        raise ParseError("not a Sophos SFOS log (no log_id= and log_type=)")
    envelope.set_dataset(event, DATASET)
    for key, name in KEY_TO_ECS.items():
        value = pairs.get(key, "").strip()
        if value:
            event[name] = value
    for key, name in INTEGER_KEYS.items():
        firewall.set_port(event, name, pairs.get(key))
    if "log.level" in event:
        event["log.level"] = LEVELS.get(event["log.level"].lower(), event["log.level"].lower())
    if "observer.name" in event:
        event[ecs.HOST_NAME] = event["observer.name"]
    firewall.mark(event, "Sophos", "XG", pairs.get("log_subtype"))
    if pairs.get("protocol", "").strip():
        event[ecs.TRANSPORT] = firewall.transport(pairs["protocol"])
    user = pairs.get("user_name") or pairs.get("user") or pairs.get("login_user")
    if user:
        event[ecs.USER_NAME] = user
    if pairs.get("log_type") in ("ATP", "IDP", "Anti-Virus"):
        event[ecs.CATEGORY] = ["network", "intrusion_detection"]
    date, clock = pairs.get("date"), pairs.get("time")
    if date and clock:
        moment = envelope.parse_iso(f"{date}T{clock}", tz)
        if moment is not None:
            event[ecs.TIMESTAMP] = ecs.format_timestamp(moment)


class SophosXgParser:
    """Sophos XG / SFOS logs, with or without a syslog envelope."""

    name = "sophos.xg"

    def parse(self, record: RawRecord) -> list[Event]:
        """One event per line."""
        return envelope.parse_line(record, DATASET, parse_message)

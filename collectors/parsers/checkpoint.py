"""Check Point (Log Exporter) syslog to ECS.

Reference: Check Point, "Log Exporter" (sk122323) syslog format: an RFC 5424 header, then
``[key:"value"; key:"value"; ...]`` (the Log Exporter's own syntax in the structured-data
position), and the "Log Fields" reference (action, src, dst, s_port, service, proto, origin,
ifdir, product, time, src_user_name, user, ...). CEF output of the Log Exporter goes to the
CEF parser. Tolerated deviations: ``key="value"`` instead of ``key:"value"``, ``\\]`` and
``\\"`` escapes, ``time`` as epoch seconds overriding the header date (as Elastic does).
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, tzinfo

from collectors.base import RawRecord
from collectors.parsers import envelope, firewall
from siem import event as ecs
from siem.errors import ParseError
from siem.event import Event

DATASET = "checkpoint"

KEY_TO_ECS: dict[str, str] = {
    "src": ecs.SOURCE_IP,
    "dst": ecs.DESTINATION_IP,
    "xlatesrc": "source.nat.ip",
    "xlatedst": "destination.nat.ip",
    "origin": "observer.name",
    "product": ecs.OBSERVER_PRODUCT,
    "ifname": "observer.ingress.interface.name",
    "rule_name": "rule.name",
    "rule_uid": "rule.uuid",
    "layer_name": "rule.ruleset",
    "service_id": "network.application",
    "action_reason": "event.reason",
    "src_user_name": ecs.USER_NAME,
    "user": ecs.USER_NAME,
    "dst_user_name": "destination.user.name",
    "src_machine_name": "source.domain",
    "dst_machine_name": "destination.domain",
    "attack": "rule.name",
    "protection_name": "rule.name",
    "malware_action": "checkpoint.malware_action",
    "inzone": "observer.ingress.zone",
    "outzone": "observer.egress.zone",
    "loguid": "event.id_vendor",
}
INTEGER_KEYS: dict[str, str] = {
    "s_port": ecs.SOURCE_PORT,
    "service": ecs.DESTINATION_PORT,
    "xlatesport": "source.nat.port",
    "xlatedport": "destination.nat.port",
    "sent_bytes": "source.bytes",
    "received_bytes": "destination.bytes",
}
DIRECTIONS = {"inbound": "inbound", "outbound": "outbound"}

# Not inside a word: one attempt per word keeps a long word without ``:"`` linear.
# The value unrolled (as in keyvalue._PAIR): the same texts as ``(?:[^"\\]|\\.)*``, a run at a time.
_PAIR = re.compile(r'(?<!\w)(\w+)[:=]"([^"\\]*(?:\\.[^"\\]*)*)"')


def parse_message(
    message: str, event: Event, *, tz: tzinfo = UTC, received: float | None = None
) -> None:
    """Add the fields of a Check Point Log Exporter record; ParseError when it is not one."""
    pairs = {
        key: value.replace('\\"', '"').replace("\\]", "]") if "\\" in value else value
        for key, value in _PAIR.findall(message)
    }
    if "origin" not in pairs and "product" not in pairs:
        raise ParseError('not a Check Point log (no origin:"..." or product:"...")')
    envelope.set_dataset(event, DATASET)
    for key, name in KEY_TO_ECS.items():
        value = pairs.get(key)
        if value:
            event[name] = value
    for key, name in INTEGER_KEYS.items():
        firewall.set_port(event, name, pairs.get(key))
    product = str(event.get(ecs.OBSERVER_PRODUCT) or "Firewall")
    origin = event.get("observer.name")
    firewall.mark(event, "Check Point", product, pairs.get("action"))
    if origin is not None:
        event["observer.name"] = origin
    if "proto" in pairs:
        event[ecs.TRANSPORT] = firewall.transport(pairs["proto"])
    direction = DIRECTIONS.get(pairs.get("ifdir", ""))
    if direction:
        event["network.direction"] = direction
    stamp = envelope.number(pairs.get("time"), 12)
    if stamp is not None:
        with contextlib.suppress(ValueError, OverflowError, OSError):  # beyond the year 9999
            event[ecs.TIMESTAMP] = ecs.format_timestamp(datetime.fromtimestamp(stamp, UTC))


class CheckpointParser:
    """Check Point Log Exporter syslog lines."""

    name = "checkpoint"

    def parse(self, record: RawRecord) -> list[Event]:
        """One event per line."""
        return envelope.parse_line(record, DATASET, parse_message)

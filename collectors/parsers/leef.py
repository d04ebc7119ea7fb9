"""IBM QRadar Log Event Extended Format (LEEF) 1.0 and 2.0 to ECS.

Reference: IBM "Log Event Extended Format (LEEF)" (QRadar DSM Guide, LEEF version 2):
``LEEF:1.0|Vendor|Product|Version|EventID|`` then attributes separated by TAB;
``LEEF:2.0|Vendor|Product|Version|EventID|Delimiter|`` where the delimiter is one character
or its hex code (``x09``, ``0x5e``). Predefined keys: src, dst, srcPort, dstPort, proto,
usrName, sev, cat, devTime with devTimeFormat, srcMAC, dstMAC, srcPreNAT, dstPreNAT, url.
Tolerated deviations: text before ``LEEF:``, a LEEF 1.0 body separated by spaces or ``^``
instead of TAB, a trailing ``|`` missing, ``devTime`` as epoch milliseconds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo

from collectors.base import RawRecord
from collectors.parsers import envelope, firewall
from siem import event as ecs
from siem.errors import ParseError
from siem.event import Event

DATASET = "leef"

#: LEEF predefined attribute -> ECS field.
ATTRIBUTE_TO_ECS: dict[str, str] = {
    "src": ecs.SOURCE_IP,
    "srcPort": ecs.SOURCE_PORT,
    "srcMAC": "source.mac",
    "srcPreNAT": "source.ip",
    "srcPostNAT": "source.nat.ip",
    "srcPostNATPort": "source.nat.port",
    "dst": ecs.DESTINATION_IP,
    "dstPort": ecs.DESTINATION_PORT,
    "dstMAC": "destination.mac",
    "dstPreNAT": "destination.ip",
    "dstPostNAT": "destination.nat.ip",
    "dstPostNATPort": "destination.nat.port",
    "proto": ecs.TRANSPORT,
    "usrName": ecs.USER_NAME,
    "accountName": ecs.USER_NAME,
    "identSrc": ecs.SOURCE_IP,
    "identHostName": ecs.HOST_NAME,
    "cat": "leef.category",
    "action": ecs.ACTION,
    "url": "url.original",
    "srcBytes": "source.bytes",
    "dstBytes": "destination.bytes",
    "srcPackets": "source.packets",
    "dstPackets": "destination.packets",
    "domain": "user.domain",
    "msg": ecs.MESSAGE,
    "vSrc": ecs.SOURCE_IP,
    "policy": "rule.name",
    "resource": "url.domain",
}
INTEGER_FIELDS = frozenset(
    {
        ecs.SOURCE_PORT,
        ecs.DESTINATION_PORT,
        "source.nat.port",
        "destination.nat.port",
        "source.bytes",
        "destination.bytes",
        "source.packets",
        "destination.packets",
    }
)
_HEADER = re.compile(r"LEEF:(1\.0|2\.0|1|2)\|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|?")
_HEX_DELIMITER = re.compile(r"(?:0?x)([0-9A-Fa-f]{2,4})")
_SPACED_PAIR = re.compile(r"(?:^|(?<=[ ^]))([A-Za-z][\w.]*)=")


def _attributes(body: str, delimiter: str) -> dict[str, str]:
    if delimiter in body or "=" not in body:
        pairs = (item.partition("=") for item in body.split(delimiter) if item)
        return {key: value for key, sep, value in pairs if sep}
    # Some senders use spaces or '^' instead of the declared delimiter.
    keys = list(_SPACED_PAIR.finditer(body))
    result: dict[str, str] = {}
    for index, match in enumerate(keys):
        end = keys[index + 1].start() if index + 1 < len(keys) else len(body)
        result[match.group(1)] = body[match.end() : end].rstrip(" ^")
    return result


def _dev_time(value: str, fmt: str | None, tz: tzinfo, received: float) -> datetime | None:
    if envelope.number(value) is not None:
        return envelope.epoch_datetime(value)
    if fmt:
        java_to_c = (
            ("yyyy", "%Y"),
            ("MMM", "%b"),
            ("MM", "%m"),
            ("dd", "%d"),
            ("HH", "%H"),
            ("mm", "%M"),
            ("ss", "%S"),
            (".SSS", ".%f"),
            ("z", "%Z"),
        )
        c_format = fmt
        for java, c_code in java_to_c:
            c_format = c_format.replace(java, c_code)
        try:
            moment = datetime.strptime(value, c_format)
        except ValueError:
            moment = None
        if moment is not None:
            return moment if moment.tzinfo else moment.replace(tzinfo=tz)
    return envelope.parse_iso(value, tz)


def parse_message(
    message: str, event: Event, *, tz: tzinfo = UTC, received: float | None = None
) -> None:
    """Add the fields of a LEEF message to ``event``; ParseError when it is not LEEF."""
    start = message.find("LEEF:")
    header = _HEADER.match(message, start) if start >= 0 else None
    if header is None:
        raise ParseError("no 'LEEF:1.0|' or 'LEEF:2.0|' header with 5 fields")
    version, vendor, product, dev_version, event_id = header.groups()
    body = message[header.end() :]
    delimiter = "\t"
    if version.startswith("2"):
        declared, sep, rest = body.partition("|")
        if sep and len(declared) <= 6:
            body = rest
            hex_code = _HEX_DELIMITER.fullmatch(declared)
            if hex_code:
                delimiter = chr(int(hex_code.group(1), 16))
            elif declared:
                delimiter = declared
    envelope.set_dataset(event, DATASET)
    event["leef.version"] = version
    event[ecs.OBSERVER_VENDOR] = vendor
    event[ecs.OBSERVER_PRODUCT] = product
    event["observer.version"] = dev_version
    event["event.code"] = event_id
    attributes = _attributes(body.rstrip("\r\n"), delimiter)
    firewall.map_fields(event, attributes, ATTRIBUTE_TO_ECS, integers=INTEGER_FIELDS, unknown_prefix="leef.attributes")
    severity = attributes.get("sev", "")
    level = envelope.number(severity)
    if level is not None:
        event[ecs.SEVERITY] = level
    dev_time = attributes.get("devTime")
    if dev_time:
        now = received if received is not None else datetime.now(UTC).timestamp()
        moment = _dev_time(dev_time, attributes.get("devTimeFormat"), tz, now)
        if moment is not None:
            event[ecs.TIMESTAMP] = ecs.format_timestamp(moment)


class LeefParser:
    """LEEF lines, with or without a syslog envelope."""

    name = "leef"

    def parse(self, record: RawRecord) -> list[Event]:
        """One event per line."""
        return envelope.parse_line(record, DATASET, parse_message)

"""Palo Alto Networks PAN-OS syslog CSV (TRAFFIC, THREAT, and the common prefix of others).

Reference: Palo Alto Networks, "PAN-OS Administrator's Guide - Syslog Field Descriptions"
(Traffic Log Fields, Threat Log Fields): comma-separated, fields quoted when they contain a
comma. The first 30 fields are shared by TRAFFIC and THREAT: FUTURE_USE, Receive Time, Serial,
Type, Subtype, FUTURE_USE, Generated Time, Source, Destination, NAT Source, NAT Destination,
Rule, Source User, Destination User, Application, Virtual System, Source Zone, Destination Zone,
Inbound Interface, Outbound Interface, Log Action, FUTURE_USE, Session ID, Repeat Count,
Source Port, Destination Port, NAT Source Port, NAT Destination Port, Flags, Protocol, Action.
Tolerated deviations: a BSD timestamp without host before the CSV (PAN-OS 4.x), NAT addresses
``0.0.0.0`` (no NAT), user names with a ``domain\\`` prefix (kept in ``user.domain``).
Generated Time (device local time) gives ``@timestamp`` in the source's time zone.
"""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime, tzinfo

from collectors.base import RawRecord
from collectors.parsers import envelope, firewall
from siem import event as ecs
from siem.errors import ParseError
from siem.event import Event

DATASET = "panw.panos"

#: Column of the shared TRAFFIC/THREAT prefix -> ECS field (text).
COMMON_COLUMNS: dict[int, str] = {
    2: "observer.serial_number",
    3: "panw.panos.type",
    4: "panw.panos.sub_type",
    7: ecs.SOURCE_IP,
    8: ecs.DESTINATION_IP,
    9: "source.nat.ip",
    10: "destination.nat.ip",
    11: "rule.name",
    12: ecs.USER_NAME,
    13: "destination.user.name",
    14: "network.application",
    15: "panw.panos.vsys",
    16: "observer.ingress.zone",
    17: "observer.egress.zone",
    18: "observer.ingress.interface.name",
    19: "observer.egress.interface.name",
    22: "panw.panos.session_id",
}
PORT_COLUMNS: dict[int, str] = {
    24: ecs.SOURCE_PORT,
    25: ecs.DESTINATION_PORT,
    26: "source.nat.port",
    27: "destination.nat.port",
}
#: log type -> column -> ECS field, after the shared prefix.
TYPE_COLUMNS: dict[str, dict[int, str]] = {
    "TRAFFIC": {
        31: "network.bytes",
        32: "source.bytes",
        33: "destination.bytes",
        34: "network.packets",
        37: "panw.panos.url.category",
        41: "source.geo.country_iso_code",
        42: "destination.geo.country_iso_code",
        46: "panw.panos.end_reason",
    },
    "THREAT": {
        31: "url.original",
        32: "panw.panos.threat.id",
        33: "panw.panos.url.category",
        34: "log.level",
        35: "panw.panos.direction",
        38: "source.geo.country_iso_code",
        39: "destination.geo.country_iso_code",
        41: "http.response.mime_type",
    },
}
INTEGER_FIELDS = frozenset(
    {"network.bytes", "source.bytes", "destination.bytes", "network.packets"}
)
LOG_TYPES = frozenset(
    {
        "TRAFFIC",
        "THREAT",
        "SYSTEM",
        "CONFIG",
        "HIP-MATCH",
        "CORRELATION",
        "USERID",
        "AUTHENTICATION",
        "GLOBALPROTECT",
        "DECRYPTION",
        "TUNNEL",
        "SCTP",
    }
)
NO_ADDRESS = frozenset({"", "0.0.0.0", "::"})
_TIME = re.compile(r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)")
# The serial number and log type (columns 3 and 4); what precedes them may have been taken for
# a syslog header (PAN-OS 4.x sends no host name), so columns are counted from here.
_SERIAL_TYPE = re.compile(
    r"(?:^|,)(\d{6,20}|[\w-]{6,20}),(?:" + "|".join(sorted(LOG_TYPES)) + r"),"
)


def parse_message(
    message: str, event: Event, *, tz: tzinfo = UTC, received: float | None = None
) -> None:
    """Add the fields of a PAN-OS CSV log to ``event``; ParseError when it is not one."""
    start = _SERIAL_TYPE.search(message)
    if start is None:
        raise ParseError("not a PAN-OS CSV log (no 'serial,TRAFFIC|THREAT|...,' columns)")
    try:
        fields = ["", "", *next(csv.reader([message[start.start(1) :]]))]
    except csv.Error as exc:  # a CR or NUL inside an unquoted column
        raise ParseError(f"PAN-OS log is not valid CSV: {exc}") from exc
    if len(fields) < 7:
        raise ParseError("PAN-OS log has fewer than 7 columns")
    log_type = fields[3]
    envelope.set_dataset(event, DATASET)
    event[ecs.OBSERVER_VENDOR] = "Palo Alto Networks"
    event[ecs.OBSERVER_PRODUCT] = "PAN-OS"
    event["observer.type"] = "firewall"
    moment = _time(fields[6], tz)
    if moment is not None:
        event[ecs.TIMESTAMP] = ecs.format_timestamp(moment)
    if log_type not in TYPE_COLUMNS or len(fields) < 31:
        event["panw.panos.type"] = log_type
        event["panw.panos.sub_type"] = fields[4]
        event[ecs.CATEGORY] = (
            ["authentication"] if log_type in ("AUTHENTICATION", "GLOBALPROTECT") else ["host"]
        )
        return
    columns = COMMON_COLUMNS | TYPE_COLUMNS[log_type]
    for column, name in columns.items():
        value = fields[column] if column < len(fields) else ""
        if not value or (name.endswith(".ip") and value in NO_ADDRESS):
            continue
        if name in INTEGER_FIELDS:
            integer = envelope.number(value)
            if integer is not None:
                event[name] = integer
        else:
            event[name] = value
    for column, name in PORT_COLUMNS.items():
        if fields[column] != "0" or name in (ecs.SOURCE_PORT, ecs.DESTINATION_PORT):
            firewall.set_port(event, name, fields[column])
    user = event.get(ecs.USER_NAME)
    if isinstance(user, str) and "\\" in user:
        event["user.domain"], event[ecs.USER_NAME] = user.split("\\", 1)
    event[ecs.TRANSPORT] = firewall.transport(fields[29])
    host = event.get(ecs.HOST_NAME)
    firewall.mark(event, "Palo Alto Networks", "PAN-OS", fields[30])
    if host is None:
        event.pop("observer.name", None)
    if log_type == "THREAT":
        event[ecs.CATEGORY] = ["network", "intrusion_detection"]
        event[ecs.KIND] = "alert"
        if fields[33:34] and fields[32].startswith("("):
            event["panw.panos.threat.id"] = fields[32].strip("()")


def _time(text: str, tz: tzinfo) -> datetime | None:
    match = _TIME.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except ValueError:  # month 13, second 61: no time rather than a wrong one
        return None


class PanosParser:
    """PAN-OS syslog CSV lines, with or without a syslog envelope."""

    name = "panw.panos"

    def parse(self, record: RawRecord) -> list[Event]:
        """One event per line."""
        return envelope.parse_line(record, DATASET, parse_message)

"""ArcSight Common Event Format (CEF) to ECS.

Reference: Micro Focus "ArcSight Common Event Format (CEF) Implementation Standard", v25/v26:
``CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension``;
``\\|`` and ``\\\\`` escape the header, ``\\=``, ``\\\\``, ``\\n`` and ``\\r`` the extension.
Tolerated deviations: text before ``CEF:`` (a syslog header or a host name), unescaped ``=``
inside values (a value runs to the next `` key=``), a severity word (Low, Medium, High,
Very-High) instead of 0-10, ``rt``/``start`` as epoch milliseconds or ``MMM dd [yyyy] HH:mm:ss``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo

from collectors.base import RawRecord
from collectors.parsers import envelope, firewall
from siem import event as ecs
from siem.errors import ParseError
from siem.event import Event

DATASET = "cef"

#: CEF extension key -> ECS field. Integer fields are listed in ``INTEGER_FIELDS``.
EXTENSION_TO_ECS: dict[str, str] = {
    "src": ecs.SOURCE_IP,
    "spt": ecs.SOURCE_PORT,
    "smac": "source.mac",
    "shost": "source.domain",
    "suser": "source.user.name",
    "suid": "source.user.id",
    "sntdom": "source.user.domain",
    "sourceTranslatedAddress": "source.nat.ip",
    "sourceTranslatedPort": "source.nat.port",
    "dst": ecs.DESTINATION_IP,
    "dpt": ecs.DESTINATION_PORT,
    "dmac": "destination.mac",
    "dhost": "destination.domain",
    "duser": "destination.user.name",
    "duid": "destination.user.id",
    "dntdom": "destination.user.domain",
    "destinationTranslatedAddress": "destination.nat.ip",
    "destinationTranslatedPort": "destination.nat.port",
    "proto": ecs.TRANSPORT,
    "app": "network.protocol",
    "act": ecs.ACTION,
    "outcome": ecs.OUTCOME,
    "msg": ecs.MESSAGE,
    "cat": "cef.category",
    "reason": "event.reason",
    "request": "url.original",
    "requestMethod": "http.request.method",
    "requestClientApplication": "user_agent.original",
    "in": "source.bytes",
    "out": "destination.bytes",
    "cnt": "event.count",
    "dvc": ecs.OBSERVER_IP,
    "dvchost": ecs.OBSERVER_HOSTNAME,
    "deviceExternalId": "observer.serial_number",
    "deviceInboundInterface": "observer.ingress.interface.name",
    "deviceOutboundInterface": "observer.egress.interface.name",
    "fname": "file.name",
    "filePath": "file.path",
    "fsize": "file.size",
    "fileHash": "file.hash.sha256",
    "sproc": ecs.PROCESS_NAME,
    "spid": ecs.PROCESS_PID,
    "dproc": "destination.process.name",
    "dpid": "destination.process.pid",
    "externalId": "event.reference",
}
INTEGER_FIELDS = frozenset(
    {
        ecs.SOURCE_PORT,
        ecs.DESTINATION_PORT,
        "source.nat.port",
        "destination.nat.port",
        "source.bytes",
        "destination.bytes",
        "event.count",
        "file.size",
        ecs.PROCESS_PID,
        "destination.process.pid",
    }
)
SEVERITY_WORDS = {"low": 3, "medium": 6, "high": 8, "very-high": 10, "unknown": 0}

_HEADER_SPLIT = re.compile(r"(?<!\\)\|")
_HEADER_ESCAPE = re.compile(r"\\([|\\])")
# An extension key: word characters and dots, preceded by the start or a space, then "=".
_EXT_KEY = re.compile(r"(?:^|(?<= ))([A-Za-z0-9_.\[\]-]+)=")
_EXT_ESCAPE = re.compile(r"\\([=\\nr])")
_EXT_UNESCAPE = {"=": "=", "\\": "\\", "n": "\n", "r": "\r"}
_BSD = re.compile(
    r"([A-Za-z]{3}) +(\d{1,2})(?: (\d{4}))? (\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?: (\d{4}))?"
)


def extension(text: str) -> dict[str, str]:
    """The key=value pairs of a CEF extension (values may contain spaces)."""
    keys = list(_EXT_KEY.finditer(text))
    result: dict[str, str] = {}
    for index, match in enumerate(keys):
        end = keys[index + 1].start() if index + 1 < len(keys) else len(text)
        value = text[match.end() : end].rstrip(" ")
        if "\\" in value:
            value = _EXT_ESCAPE.sub(lambda m: _EXT_UNESCAPE[m.group(1)], value)
        result[match.group(1)] = value
    return result


def _timestamp(value: str, tz: tzinfo, received: float) -> datetime | None:
    if envelope.number(value) is not None:
        return envelope.epoch_datetime(value)
    iso = envelope.parse_iso(value, tz)
    if iso is not None:
        return iso
    match = _BSD.match(value)
    if match:
        return envelope.bsd_datetime(match, tz, received)[0]
    return None


def parse_message(
    message: str, event: Event, *, tz: tzinfo = UTC, received: float | None = None
) -> None:
    """Add the fields of a CEF message to ``event``; ParseError when it is not CEF."""
    start = message.find("CEF:")
    if start < 0:
        raise ParseError("no 'CEF:' header")
    parts = _HEADER_SPLIT.split(message[start + 4 :], 7)
    if len(parts) < 7:
        raise ParseError(f"CEF header has {len(parts)} of 8 fields")
    version, vendor, product, dev_version, signature, name, severity = (
        _HEADER_ESCAPE.sub(r"\1", part) for part in parts[:7]
    )
    envelope.set_dataset(event, DATASET)
    event["cef.version"] = version
    event[ecs.OBSERVER_VENDOR] = vendor
    event[ecs.OBSERVER_PRODUCT] = product
    event["observer.version"] = dev_version
    event["event.code"] = signature
    event[ecs.MESSAGE] = name
    severity = severity.strip()
    level = envelope.number(severity)
    if level is not None:
        event[ecs.SEVERITY] = level
    elif severity.lower() in SEVERITY_WORDS:
        event[ecs.SEVERITY] = SEVERITY_WORDS[severity.lower()]
    pairs = extension(parts[7]) if len(parts) == 8 else {}
    firewall.map_fields(event, pairs, EXTENSION_TO_ECS, integers=INTEGER_FIELDS, unknown_prefix="cef.extensions")
    if ecs.OUTCOME in event:
        outcome = event[ecs.OUTCOME].lower()
        event[ecs.OUTCOME] = outcome if outcome in ("success", "failure") else "unknown"
    user = event.get("source.user.name") or event.get("destination.user.name")
    if user:
        event[ecs.USER_NAME] = user
    stamp = pairs.get("rt") or pairs.get("end") or pairs.get("start")
    if stamp:
        moment = _timestamp(
            stamp, tz, received if received is not None else datetime.now(UTC).timestamp()
        )
        if moment is not None:
            event[ecs.TIMESTAMP] = ecs.format_timestamp(moment)


class CefParser:
    """CEF lines, with or without a syslog envelope."""

    name = "cef"

    def parse(self, record: RawRecord) -> list[Event]:
        """One event per line."""
        return envelope.parse_line(record, DATASET, parse_message)

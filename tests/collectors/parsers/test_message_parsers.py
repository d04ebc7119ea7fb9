"""``parse_message(message, event)`` on events made by the syslog envelope parser.

This is how ``collectors/parsers/auto.py`` uses the vendor parsers: the syslog parser
(``collectors/parsers/syslog.py``) makes the event, the vendor's ``parse_message`` adds its
fields. The vendor fields must be the same as when the vendor parser reads the whole line.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from collectors.base import RawRecord
from collectors.parsers.catalog import load_parser
from siem.errors import ParseError
from tests.collectors.parsers.test_vendor_samples import ASA_LINES, RECEIVED, SAMPLES

syslog = pytest.importorskip("collectors.parsers.syslog")

#: Fields the two paths may set differently (envelope details, not vendor fields).
ENVELOPE_FIELDS = frozenset(
    {
        "event.id",
        "event.created",
        "siem.input",
        "message",
        "process.name",
        "process.pid",
        "host.hostname",
        "observer.ip",
    }
)


def _syslog_lines() -> list[tuple[str, str]]:
    lines = [(parser, line) for parser, line, _ in SAMPLES if line.startswith(("<", "Nov "))]
    lines += [
        ("cisco.asa", f"<166>Nov 25 2026 09:30:00 fw1 : {message}") for message, _ in ASA_LINES
    ]
    return lines


def _message_parser(name: str) -> Any:
    # As auto.py does: the parser's own parse_message, else its module's.
    parser = load_parser(name)
    method = getattr(parser, "parse_message", None)
    return method or sys.modules[type(parser).__module__].parse_message


@pytest.mark.parametrize(("parser", "line"), _syslog_lines())
def test_same_vendor_fields_through_the_syslog_envelope(parser: str, line: str) -> None:
    record = RawRecord(line, "udp://192.0.2.7:514", RECEIVED, "1")
    (whole,) = load_parser(parser).parse(record)
    try:
        event = syslog.SyslogParser().envelope(record)
    except ParseError:
        # Check Point's "[key:"value"; ...]" is not RFC 5424 structured data: the syslog
        # parser refuses the line and auto.py gives the whole line to the vendor parser.
        assert parser == "checkpoint"
        return
    _message_parser(parser)(event["message"], event)
    for key, value in whole.items():
        if key in ENVELOPE_FIELDS or key.startswith("log.syslog"):
            continue
        assert event.get(key) == value, f"{key}: {event.get(key)!r} != {value!r}"


@pytest.mark.parametrize(
    "parser",
    [
        "cef",
        "leef",
        "fortinet.fortigate",
        "pfsense",
        "cisco.asa",
        "panw.panos",
        "sophos.xg",
        "juniper.srx",
        "checkpoint",
        "mikrotik.routeros",
        "iptables",
        "linux.auth",
        "suricata.eve",
        "json",
    ],
)
def test_message_parser_refuses_other_messages(parser: str) -> None:
    event: dict[str, Any] = {"event.dataset": "syslog", "message": "service started"}
    with pytest.raises(ParseError):
        _message_parser(parser)("service started", event)

"""The minimal syslog envelope the vendor parsers use on whole lines."""

from __future__ import annotations

from datetime import UTC

import pytest

from collectors.parsers import envelope
from siem.errors import ParseError
from siem.event import format_timestamp, parse_timestamp

RECEIVED = parse_timestamp("2026-01-01T00:10:00Z")


def _split(text: str, tz: str = "UTC", received: float = RECEIVED) -> envelope.Envelope:
    return envelope.split(text, envelope.zone(tz), received)


def test_rfc3164_with_host_and_tag() -> None:
    env = _split(
        "<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8"
    )
    assert (env.priority, env.host, env.app, env.pid) == (34, "mymachine", "su", 230)
    assert env.message == "'su root' failed for lonvick on /dev/pts/8"
    assert env.yearless


def test_year_is_the_one_nearest_the_receive_time() -> None:
    # Received just after new year: a 31 December stamp belongs to the year before.
    env = _split("Dec 31 23:59:00 host app: x")
    assert env.timestamp is not None
    assert format_timestamp(env.timestamp) == "2025-12-31T23:59:00.000Z"
    # Up to a day ahead of the receive time (a fast device clock) stays in the same year.
    env = _split("Jan  1 12:00:00 host app: x")
    assert env.timestamp is not None and env.timestamp.year == 2026


def test_local_time_zone() -> None:
    env = _split(
        "Jun  1 07:00:00 host app: x", tz="Asia/Ho_Chi_Minh", received=RECEIVED + 200 * 86400
    )
    assert env.timestamp is not None
    assert format_timestamp(env.timestamp) == "2026-06-01T00:00:00.000Z"


def test_rfc5424_keeps_msgid_and_structured_data_in_the_message() -> None:
    env = _split(
        "<14>1 2019-11-14T09:37:51.184+01:00 SRX-GW1 RT_FLOW - RT_FLOW_SESSION_CREATE "
        '[junos@2636 source-address="10.0.0.1"]'
    )
    assert env.host == "SRX-GW1" and env.app == "RT_FLOW" and env.pid is None
    assert env.message == 'RT_FLOW_SESSION_CREATE [junos@2636 source-address="10.0.0.1"]'
    assert env.timestamp is not None
    assert format_timestamp(env.timestamp) == "2019-11-14T08:37:51.184Z"


def test_rfc5424_nil_values() -> None:
    env = _split("<165>1 - - - - - - hello")
    assert env.timestamp is None and env.host is None and env.app is None
    assert env.message == "hello"


def test_cisco_header_with_year_and_lone_colon() -> None:
    env = _split("<166>Aug 18 2026 18:24:29 ftd-fw-01 : %FTD-6-302020: Built inbound ICMP")
    assert env.host == "ftd-fw-01"
    assert env.message.startswith("%FTD-6-302020")
    assert env.timestamp is not None and env.timestamp.year == 2026 and not env.yearless


def test_kiwi_relay_prefix_and_no_header() -> None:
    env = _split("LOCAL4.WARNING: fw-1 %ASA-4-106023: Deny udp")
    assert env.timestamp is None and env.message == "fw-1 %ASA-4-106023: Deny udp"


def test_no_host_before_csv_and_no_tag_for_cef() -> None:
    assert (
        _split("Oct 30 09:46:12 1,2012/10/30 09:46:12,0160").message == "1,2012/10/30 09:46:12,0160"
    )
    env = _split("Sep 19 08:26:10 host CEF:0|a|b|1|2|n|3|")
    assert env.host == "host" and env.message == "CEF:0|a|b|1|2|n|3|"


def test_iso_header() -> None:
    env = _split("2021-03-12T14:10:18Z Hostname kernel: [x]IN=eth0")
    assert env.timestamp is not None and env.timestamp.tzinfo is not None
    assert env.host == "Hostname" and env.app == "kernel" and env.message == "[x]IN=eth0"


def test_zone() -> None:
    assert envelope.zone("UTC") is UTC
    with pytest.raises(ParseError):
        envelope.zone("Not/AZone")

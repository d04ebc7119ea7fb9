"""The syslog envelope parser against RFC 5424 / RFC 3164 examples, deviations and real lines."""

from __future__ import annotations

import calendar
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.base import RawRecord
from collectors.parsers.auto import AutoParser
from collectors.parsers.syslog import SyslogParser, infer_year, parse_structured_data
from siem import event as ecs
from siem.errors import ParseError

# 2026-11-25T10:00:00Z
NOW = float(calendar.timegm((2026, 11, 25, 10, 0, 0)))


def parse(text: str, *, timezone: str = "UTC", received: float = NOW, origin: str = "udp://192.0.2.7") -> dict:
    record = RawRecord(text=text, origin=origin, received=received, key="0", timezone=timezone)
    [event] = SyslogParser().parse(record)
    assert event[ecs.ID] == record.record_id()
    assert event[ecs.ORIGINAL] == text
    return event


def test_rfc5424_example_1_with_bom_and_nil_procid() -> None:
    # RFC 5424 section 6.5, example 1.
    event = parse(
        "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
        "\ufeff'su root' failed for lonvick on /dev/pts/8"
    )
    assert event[ecs.TIMESTAMP] == "2003-10-11T22:14:15.003Z"
    assert event["log.syslog.facility.code"] == 4
    assert event["log.syslog.severity.code"] == 2
    assert event[ecs.LOG_SYSLOG_PRIORITY] == 34
    assert event["host.hostname"] == "mymachine.example.com"
    assert event[ecs.PROCESS_NAME] == "su"
    assert "log.syslog.procid" not in event
    assert event["log.syslog.msgid"] == "ID47"
    assert event[ecs.MESSAGE] == "'su root' failed for lonvick on /dev/pts/8"
    assert event[ecs.OBSERVER_IP] == "192.0.2.7"
    assert event[ecs.CREATED] == "2026-11-25T10:00:00.000Z"
    assert event[ecs.DATASET] == "syslog"


def test_rfc5424_example_2_offset_and_pid() -> None:
    event = parse("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.")
    assert event[ecs.TIMESTAMP] == "2003-08-24T12:14:15.000Z"
    assert event[ecs.PROCESS_PID] == 8710
    assert event["log.syslog.procid"] == "8710"
    assert event[ecs.MESSAGE] == "%% It's time to make the do-nuts."


def test_rfc5424_structured_data_examples() -> None:
    # RFC 5424 section 6.5, examples 3 and 4; escapes from section 6.3.3.
    event = parse(
        "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        '[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]'
        '[examplePriority@32473 class="high"] \ufeffAn application event log entry...'
    )
    assert event["log.syslog.structured_data"] == {
        "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"},
        "examplePriority@32473": {"class": "high"},
    }
    assert event[ecs.MESSAGE] == "An application event log entry..."
    elements, rest = parse_structured_data('[id@1 a="x\\"y\\]z\\\\"] msg')
    assert elements == {"id@1": {"a": 'x"y]z\\'}}
    assert rest == " msg"


def test_rfc5424_all_nil_values_use_receive_time() -> None:
    event = parse("<14>1 - - - - - -")
    assert event[ecs.TIMESTAMP] == "2026-11-25T10:00:00.000Z"
    assert "host.hostname" not in event
    assert event[ecs.MESSAGE] == ""


def test_rfc5424_unclosed_structured_data_is_an_error() -> None:
    with pytest.raises(ParseError, match="not closed"):
        parse('<14>1 2003-10-11T22:14:15Z host app - - [id a="1" msg')


def test_rfc3164_example() -> None:
    # RFC 3164 section 5.4, example 1.
    event = parse("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8")
    assert event[ecs.TIMESTAMP] == "2026-10-11T22:14:15.000Z"
    assert event["host.hostname"] == "mymachine"
    assert event[ecs.PROCESS_NAME] == "su"
    assert event[ecs.MESSAGE] == "'su root' failed for lonvick on /dev/pts/8"


def test_rfc3164_no_tag_and_padded_day() -> None:
    # RFC 3164 section 5.4, example 2.
    event = parse("<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!")
    assert event[ecs.TIMESTAMP] == "2026-02-05T17:32:18.000Z"
    assert event["host.hostname"] == "10.0.0.99"
    assert ecs.PROCESS_NAME not in event
    assert event[ecs.MESSAGE] == "Use the BFG!"


def test_no_hostname_no_pri_iso_and_year() -> None:
    event = parse("<13>Nov 25 09:59:00 sshd[12]: Accepted password")
    assert "host.hostname" not in event
    assert (event[ecs.PROCESS_NAME], event[ecs.PROCESS_PID]) == ("sshd", 12)
    event = parse("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure;")
    assert ecs.LOG_SYSLOG_PRIORITY not in event
    assert event["log.syslog.appname"] == "sshd(pam_unix)"
    assert event[ecs.PROCESS_NAME] == "sshd"
    assert event[ecs.MESSAGE] == "authentication failure;"
    event = parse("<13>2026-11-25T16:00:00.250+07:00 gw prog[1]: iso")
    assert event[ecs.TIMESTAMP] == "2026-11-25T09:00:00.250Z"
    event = parse("<166>Jan 05 2015 10:00:00 asa1 : %ASA-6-302013: Built outbound")
    assert event[ecs.TIMESTAMP] == "2015-01-05T10:00:00.000Z"
    assert event["host.hostname"] == "asa1"
    assert event[ecs.MESSAGE] == "%ASA-6-302013: Built outbound"


def test_pri_without_timestamp_uses_receive_time() -> None:
    event = parse("<189>date=2019-05-10 time=12:00:00 devname=FG")
    assert event[ecs.TIMESTAMP] == "2026-11-25T10:00:00.000Z"
    assert event[ecs.MESSAGE] == "date=2019-05-10 time=12:00:00 devname=FG"


def test_time_zone_applies_to_times_without_offset() -> None:
    event = parse("<13>Nov 25 16:30:00 host app: x", timezone="Asia/Ho_Chi_Minh")
    assert event[ecs.TIMESTAMP] == "2026-11-25T09:30:00.000Z"
    event = parse("<13>1 2026-11-25T16:30:00 host app - - - x", timezone="Asia/Ho_Chi_Minh")
    assert event[ecs.TIMESTAMP] == "2026-11-25T09:30:00.000Z"
    event = parse("<13>1 2026-11-25T16:30:00Z host app - - - x", timezone="Asia/Ho_Chi_Minh")
    assert event[ecs.TIMESTAMP] == "2026-11-25T16:30:00.000Z"


def test_year_inference_around_new_year() -> None:
    new_year = float(calendar.timegm((2027, 1, 1, 0, 5, 0)))
    # A December line received just after New Year belongs to the old year...
    assert infer_year(12, 31, (23, 59, 0), new_year, None) == calendar.timegm((2026, 12, 31, 23, 59, 0))
    # ...a line up to a day ahead (clock skew) stays in the receive year...
    assert infer_year(1, 1, (12, 0, 0), new_year, None) == calendar.timegm((2027, 1, 1, 12, 0, 0))
    # ...and 29 February picks a leap year.
    received = float(calendar.timegm((2029, 3, 1, 0, 0, 0)))
    assert infer_year(2, 29, (0, 0, 0), received, None) == calendar.timegm((2028, 2, 29, 0, 0, 0))


def test_ipv6_sender_and_file_origin() -> None:
    assert parse("<13>Nov 25 09:00:00 h a: m", origin="tcp://[2001:db8::7]")[ecs.OBSERVER_IP] == "2001:db8::7"
    assert ecs.OBSERVER_IP not in parse("<13>Nov 25 09:00:00 h a: m", origin="file:///var/log/syslog")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("garbage line", "no <PRI> and no timestamp"),
        ("<999>Nov 25 09:00:00 h a: m", "out of range"),
        ("<13>1 2026-13-45T10:00:00Z h a - - - m", "invalid timestamp"),
    ],
)
def test_errors_say_why(text: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse(text)


def test_auto_keeps_unknown_records_with_reason() -> None:
    record = RawRecord(text="[Sun Dec 04 04:47:44 2005] [notice] ok", origin="file:///x", received=NOW, key="0")
    [event] = AutoParser().parse(record)
    assert event[ecs.DATASET] == ecs.UNKNOWN_DATASET
    assert "no <PRI>" in event[ecs.PARSE_ERROR]
    assert event[ecs.ORIGINAL] == record.text


def test_auto_routes_linux_programs_to_datasets() -> None:
    parser = AutoParser()
    kernel = RawRecord(
        text="Jun 14 15:16:01 combo kernel: Linux version 2.6", origin="file:///x", received=NOW, key="0"
    )
    assert parser.parse(kernel)[0][ecs.DATASET] == "linux.syslog"
    sshd = RawRecord(
        text="Dec 10 06:55:46 LabSZ sshd[24200]: Connection closed", origin="file:///x", received=NOW, key="1"
    )
    assert parser.parse(sshd)[0][ecs.DATASET] == "linux.auth"


@pytest.mark.parametrize("name", ["Linux/Linux_2k.log", "OpenSSH/OpenSSH_2k.log"])
def test_real_loghub_lines_all_parse(corpus_dir: Path, name: str) -> None:
    """Every line of the loghub samples parses as syslog (none is left unknown)."""
    lines = (corpus_dir / "loghub" / name).read_text(encoding="utf-8", errors="replace").splitlines()
    parser = SyslogParser()
    auto = AutoParser()
    hosts = set()
    for number, line in enumerate(lines):
        record = RawRecord(text=line, origin="file:///loghub", received=NOW, key=str(number))
        [event] = parser.parse(record)
        assert event[ecs.MESSAGE], line
        assert ecs.PROCESS_NAME in event or line.split()[4].endswith(":") is False, line
        hosts.add(event["host.hostname"])
        assert ecs.parse_timestamp(event[ecs.TIMESTAMP]) <= NOW + 86400
        [auto_event] = auto.parse(record)
        assert auto_event[ecs.DATASET] != ecs.UNKNOWN_DATASET, line
    assert len(lines) == 2000
    assert hosts <= {"combo", "LabSZ"}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_says_why(text: str) -> None:
    """No input crashes the parsers: syslog parses or raises ParseError; auto always gives an event."""
    record = RawRecord(text=text, origin="udp://192.0.2.7", received=NOW, key="0")
    try:
        SyslogParser().parse(record)
    except ParseError as exc:
        assert exc.message
    [event] = AutoParser().parse(record)
    assert event[ecs.ORIGINAL] == text


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["<13>", "<165>1 ", "", "<0>"]),
    st.sampled_from(["Nov 25 10:00:00 ", "2026-11-25T10:00:00Z ", "Feb 29 2028 01:02:03 ", "- ", ""]),
    st.text(alphabet='abc[]:=" -0123', max_size=40),
)
def test_header_combinations_never_crash(pri: str, stamp: str, rest: str) -> None:
    record = RawRecord(text=pri + stamp + rest, origin="tcp://[::1]", received=NOW, key="0")
    try:
        [event] = SyslogParser().parse(record)
    except ParseError:
        return
    assert ecs.TIMESTAMP in event and isinstance(event[ecs.MESSAGE], str)

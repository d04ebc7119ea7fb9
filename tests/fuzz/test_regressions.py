"""Every fuzz finding, with its exact input: it must now keep its target's contract (and fast).

Each case names the target of ``tests/fuzz/targets.py`` that found it and what it did before.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest

from siem import event as ecs
from siem.errors import ParseError
from tests.fuzz.targets import all_targets, record

#: (target, input, what went wrong before the fix)
CASES: list[tuple[str, bytes, str]] = [
    # collectors/parsers/envelope.py: a month 15 in an RFC 5424 stamp raised ValueError.
    ("parser:cisco.asa", b"<30>1 2023-15-04T15:27:26.461+10:00 AB1234-A kmd 13862 KMD_PM_SA_ESTABLISHED - x",
     "ValueError: month must be in 1..12"),
    # Guards beside it (these passed before too): hour 25 and offset 99 h, 30 February.
    ("parser:auto", b"<30>1 2023-12-04T25:27:26.461+99:00 host kmd 13862 - - x", "guard"),
    ("parser:syslog", b"Feb 30 2023 10:00:00 host app: a day that does not exist", "guard"),
    # collectors/parsers/filterlog.py: an IPv4 line of 17-19 columns raised IndexError.
    ("parser:pfsense",
     b"<134>Jul  3 19:10:30 filterlog[72237]: 146,,,1535324496,igb1.12,match,block,in,4,0x0,,63,12617,0,DF,6,tcp,",
     "IndexError: list index out of range"),
    ("parser:opnsense", b"146,,,1535324496,igb1.12,match,block,in,4,0x0,,63,12617,0,DF,6,tcp", "IndexError"),
    # collectors/parsers/zeek.py: a port that is not a number, an infinite time, a Unicode digit.
    ("parser:zeek", b'{"_path":"conn","id.orig_p":"90:b1:1c:99:49:29","id.resp_p":1e999}', "ValueError: int()"),
    ("parser:zeek", b'{"_path":"conn","ts":1e999,"orig_bytes":"\xc2\xb2"}', "OverflowError"),
    ("parser:zeek", b'{"_path":"conn","ts":"1e999"}', "OverflowError"),
    # JSON nested deeper than the decoder's stack: RecursionError from every JSON parser.
    *[(f"parser:{name}", b'{"a":' * 50_000, "RecursionError")
      for name in ("auto", "json", "ecs-json", "suricata.eve", "zeek", "windows")],
    ("parser:auto", b'<13>Nov 25 10:00:00 host app: {"event_type":' + b"[" * 50_000, "RecursionError"),
    # siem/event.py: the year 26 was written "26-01-01" and could not be read back (ValueError).
    ("query", b"@timestamp:>=0026-01-01 AND event.dataset:linux.auth", "ValueError: Invalid isoformat string"),
    # siem/query/fields.py: integers beyond 64 bits (SQLite) and beyond 4,300 digits (int()).
    ("query", b"destination.port:99999999999999999999999", "OverflowError: Python int too large for SQLite"),
    ("query", b"destination.port:[1 TO 99999999999999999999999] OR source.port:>-99999999999999999999",
     "OverflowError: Python int too large for SQLite"),
    ("query", b"NOT destination.port:(" + b"9" * 5001 + b")", "ValueError: Exceeds the limit (bench/fuzz.py)"),
    # siem/query/parser.py: a byte that is not UTF-8 on the command line reached SQLite.
    ("query", b"source.ip:\x80 OR user.name:r\xffot", "UnicodeEncodeError: surrogates not allowed (in SQLite)"),
    ("query", b"Failed password " * 600, "sqlite3.OperationalError: Expression tree is too large (maximum depth 1000)"),
    ("query", b"a:1 OR " * 300 + b"b:2", "guard: 301 terms"),
]

def _rule(detection: str, extra: str = "") -> bytes:
    return (f"title: Fuzzed\nid: 33333333-3333-4333-8333-333333333333\nstatus: test\n{extra}"
            f"logsource:\n    product: linux\n    service: auditd\ndetection:\n{detection}level: low\n").encode()


def _correlation(rules: bytes) -> bytes:
    return (b"title: C\nid: 44444444-4444-4444-8444-444444444444\nname: corr_self\nstatus: test\ncorrelation:\n"
            b"    type: event_count\n    rules:\n" + rules + b"    group-by:\n        - source.ip\n    timespan: 5m\n"
            b"    condition:\n        gte: 2\nlevel: high\n")


#: The findings of longer inputs, rebuilt here in the same shape without the corpus text they
#: were made from (the corpus stays out of the project). (target, input, before the fix)
BUILT_CASES: list[tuple[str, bytes, str]] = [
    # siem/detect/loader.py: correlation references pySigma 1.5 cannot follow (bench/fuzz.py, target rules).
    ("rules", _correlation(b"        - {a: b}\n"), "AttributeError: no attribute 'add_backreference'"),
    ("rules", _correlation(b"        - null\n"), "AttributeError: no attribute 'add_backreference'"),
    ("rules", _correlation(b"        - corr_self\n"), "RecursionError in sigma/correlations.py flatten_rules"),
    # siem/zones.py: time zone texts ZoneInfo turns into nested imports or file paths (bench/fuzz.py,
    # target config, after the schedule section came).
    ("config", b"schedule:\n  - {name: s, command: scan, cron: '0 7 * * *', timezone: Asia" + b"/x" * 400 + b"}\n",
     "RecursionError from importlib (siem/schedule/config.py)"),
    ("config", b"schedule:\n  - {name: s, command: scan, cron: '0 7 * * *', timezone: Asia}\n",
     "IsADirectoryError: tzdata/zoneinfo/Asia"),
    ("config", b"schedule:\n  - {name: s, command: scan, cron: '0 7 * * *', timezone: " + b"H" * 300 + b"}\n",
     "OSError: File name too long"),
    ("config", b"email:\n  timezone: Asia/" + b"x/" * 400 + b"y\n", "RecursionError (siem/notify/config.py)"),
    # siem/yamlfile.py, siem/schedule/cron.py: integers of 4,301+ digits.
    ("config", b"pipeline:\n  queue_size: " + b"9" * 5000 + b"\n", "ValueError: Exceeds the limit (4300 digits)"),
    ("config", b"schedule:\n  - {name: s, command: scan, cron: '0 " + b"7" * 5000 + b" * * *'}\n",
     "ValueError: Exceeds the limit (siem/schedule/cron.py)"),
    # siem/config.py: an integer too large for a float setting.
    ("config", b"pipeline:\n  flush_interval: 1" + b"0" * 400 + b"\n",
     "OverflowError: int too large to convert to float"),
    # siem/detect/loader.py: pySigma bugs on broken rules escaped the loader.
    ("rules", _rule("    sel:\n        a0: import\n    condition: #sel\n"),
     "TypeError in sigma/conditions.py (condition: null)"),
    ("rules", b"title: Broken correlation\nname: broken\nstatus: test\ncorrelation:\n    type: event_count\n"
              b"    rules:\n        - other\n    group-by:\n        - source.ip\n    timespan: 5m\n",
     "UnboundLocalError in sigma/correlations.py (event_count without condition)"),
    # siem/detect/loader.py: the detection line was looked up again for each error of a file.
    ("rules", b"---\ntitle: x\n" * 200 + b"#\n" * 30_000, "seconds for 200 broken documents in a long file"),
    # collectors/parsers/keyvalue.py and checkpoint.py: a long word without "=" was quadratic.
    ("parser:checkpoint", b"<13>Jun 20 09:20:08 host sshd(pam_unix)[1]" + b"unknown" * 2000, "1.2 s in _PAIR.findall"),
    ("parser:fortinet.fortigate", b'{"Event": {"System": {"Provider": ' + b"dows-Sysmn" * 2000,
     "2.0 s in _PAIR.findall"),
    ("parser:sophos.xg", b"Jun 17 20:55:06 host ftpd[1]" + b"ou-82-252-162-81.adsl.p" * 2000, "3.8 s in _PAIR.findall"),
    # collectors/parsers/juniper_srx.py: the same in its structured-data pairs.
    ("parser:auto", b"<14>1 2018-06-30T02:17:22.753Z fw RT_FLOW - RT_FLOW_SESSION_CLOSE [junos@1 "
                    + b"source-address-" * 3000, "2.2 s in _SD_PAIR.findall"),
    # collectors/parsers/linux_auth.py: '.*?rhost=' tried again from each repeat of the phrase.
    ("parser:auto", b"Dec 10 07:28:01 host sshd[24243]: " + b"authentication failure; l" * 2500,
     "2.4 s in the authentication-failure pattern"),
    # collectors/parsers/iptables.py: the EdgeOS tag searched from every "[" of the prefix.
    ("parser:ubiquiti.unifi", b"Dec 10 09:11:32 host kernel: " + b"sshd[2444 " * 3000 + b"IN=eth0 OUT= SRC=1.2.3.4",
     "1.0 s in _EDGEOS.search"),
    # collectors/parsers/iptables.py: "KEY=" pairs searched from every capital of a long run.
    ("parser:auto", b"Jan  8 03:43:42 host kernel: DROP: IN=eth0 OUT= SRC=192.0.2.68 " + b"TOS" * 10_000,
     "7.5 s in iptables._PAIR.findall (bench/fuzz.py, parser:auto input 896964)"),
    # collectors/parsers/auto.py and catalog.py: the iptables detector scanned on from every "IN=".
    ("parser:auto", b"De\x02c 10 08:26:22 host x " + b"N_LOCAL-default-A]IN=eth0.90" * 4000
                    + b"x: [LAN]IN=eth0 OUT= SRC=192.0.2.1",
     "0.4 s in the iptables detector (bench/fuzz.py, parser:auto input 897708)"),
    # collectors/parsers/auto.py: a detector "A .* B" (FortiGate: logid=... then type=) tried from
    # every A when B is missing; detectors now read the first 4 KiB.
    ("parser:auto", b"date=2019-05-15 time=18:03:35 " + b'logid="1059028705" 3:35 ' * 5000,
     "0.2 s for 64 KiB in the FortiGate detector (bench/fuzz.py, parser:auto input 740451)"),
    # collectors/parsers/checkpoint.py: a time beyond the year 9999.
    ("parser:auto", b'<134>1 2020-03-30T07:20:35Z gw CheckPoint 7776 - [action:"Accept"; origin:"192.0.2.1"; '
                    b'time:"1544444494646954"; product:"VPN-1 & FireWall-1"]', "ValueError: year is out of range"),
    # collectors/parsers/panos.py: month 44 in a time column; a CR inside an unquoted column.
    ("parser:auto", b"Oct 30 09:46:12 1,2012/10/30 09:46:12,01606001116,THREAT,url,1,2012/44/10 04:39:56,"
                    b"192.0.2.2,198.51.100.1,0.0.0.0,0.0.0.0,rule1,,,web-browsing,vsys1,trust,untrust",
     "ValueError: month must be in 1..12"),
    ("parser:auto", b"Oct 30 09:46:12 1,2012/10/30 09:46:12,01606001116,TRAFFIC,end,1,2012/10/30 09:46:12,"
                    b"192.0.2.2,198.51.\r100.1,0.0.0.0", "_csv.Error: new-line character seen in unquoted field"),
    # collectors/parsers/linux_auth.py and envelope.py: a process id of 5,000 digits.
    ("parser:linux.auth", b"sshd[" + b"1" * 5000 + b"]: Failed password for root from 192.0.2.9 port 22 ssh2",
     "ValueError: Exceeds the limit (4300 digits) for integer string conversion"),
    ("parser:syslog", b"<13>Nov 25 10:00:00 host sshd[" + b"1" * 5000 + b"]: hello", "guard"),
    ("parser:syslog", b"<13>1 2026-01-01T00:00:00Z host app " + b"1" * 5000 + b" - - hello",
     "ValueError: Exceeds the limit"),
    ("parser:auto", "<13>Nov 25 10:00:00 host sshd[²4410]: hello".encode(),
     "ValueError: invalid literal for int() (tests/fuzz/test_fuzz.py)"),
    ("parser:syslog", "<13>1 2026-01-01T00:00:00Z host app ² - - hello".encode(),
     "ValueError: invalid literal for int()"),
    ("parser:cef", "CEF:0|V|P|1|100|Blocked|²|src=10.0.0.1 rt=".encode() + b"9" * 5000,
     "ValueError: int() of 5,000 digits"),
    ("parser:leef", "LEEF:2.0|V|P|1|41|^|sev=²^devTime=".encode() + b"9" * 30, "ValueError: invalid literal for int()"),
    ("parser:panw.panos", b"1,2012/10/30 09:46:12,01606001116,TRAFFIC,end,1,2012/10/30 09:46:12,192.0.2.2,"
                          b"198.51.100.1,0.0.0.0,0.0.0.0,rule1,,,web,vsys1,trust,untrust,e1,e2,fwd,2012/10/30 09:46:12,"
                          + "1,²,".encode() * 10, "ValueError: invalid literal for int()"),
    ("parser:linux.auth", b"Nov 25 10:00:00 host sshd[1]: Failed password for root from 192.0.2.9 port "
                          + b"2" * 6137 + b" ssh2", "ValueError: Exceeds the limit (bench/fuzz.py, 6137 digits)"),
    # collectors/parsers/generic_json.py: epoch times beyond the year 9999, or beyond time_t.
    ("parser:json", b'{"ts":1e17,"uid":"C7DWRE1zsvxUK9RyW1"}', "ValueError: year is out of range"),
    ("parser:json", b'{"ts":16999999999999999999997081366.285075}', "OverflowError: timestamp out of range"),
    # collectors/parsers/windows.py: a Winlogbeat event id "²" (isdigit, but not int).
    ("windows.flatten", '{"winlog": {"event_id": "²"}, "event": {"code": "x"}}'.encode(),
     "ValueError: invalid literal for int()"),
    # JSON integers of 4,301+ digits: ValueError from the decoder itself.
    ("parser:windows", b'{"Event": {"System": {"EventID": ' + b"7" * 5000 + b"}}}", "ValueError: Exceeds the limit"),
    ("parser:zeek", b'{"_path":"conn","orig_bytes":' + b"7" * 5000 + b"}", "ValueError: Exceeds the limit"),
]

#: One input of any target must finish well within this (the slow ones took seconds).
BUDGET_S = 0.5


def warm_up(target: str) -> None:
    """Imports and compiled patterns of the target's first call are not the input's time."""
    with contextlib.suppress(Exception):
        all_targets()[target].run(b"title: x")


@pytest.mark.parametrize(("target", "data", "before"), CASES, ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(CASES)])
def test_finding_keeps_the_contract(target: str, data: bytes, before: str) -> None:
    warm_up(target)
    start = time.perf_counter()
    all_targets()[target].run(data)
    assert time.perf_counter() - start < BUDGET_S, before


@pytest.mark.parametrize(("target", "data", "before"), BUILT_CASES,
                         ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(BUILT_CASES)])
def test_rebuilt_finding_keeps_the_contract(target: str, data: bytes, before: str) -> None:
    warm_up(target)
    start = time.perf_counter()
    all_targets()[target].run(data)
    assert time.perf_counter() - start < BUDGET_S, before


def test_broken_rules_are_reported_with_file_and_reason(tmp_path: Path) -> None:
    from siem.detect.loader import load_rules

    for number, (_, data, _) in enumerate(BUILT_CASES[:2]):  # the two broken rules
        (tmp_path / f"broken_{number}.yml").write_bytes(data)
    result = load_rules([tmp_path])
    assert not result.rules
    assert {Path(problem.path or "").name for problem in result.problems} == {"broken_0.yml", "broken_1.yml"}
    assert all(problem.reason for problem in result.problems)


def test_impossible_date_is_a_parse_error_with_the_text() -> None:
    from collectors.parsers.syslog import SyslogParser

    with pytest.raises(ParseError, match="2023-15-04"):
        SyslogParser().parse(record(b"<30>1 2023-15-04T15:27:26Z host app 1 - - hello"))


def test_old_years_keep_four_digits() -> None:
    assert ecs.format_timestamp(ecs.parse_timestamp("0026-01-01T00:00:00Z")) == "0026-01-01T00:00:00.000Z"


def test_key_value_pairs_unchanged_by_the_linear_pattern() -> None:
    from collectors.parsers.keyvalue import pairs

    text = '1abc=x date=2024-01-01 msg="a \\"quoted\\" word" é.key=1 -x=2 _u=3 bare= k="open'
    assert pairs(text) == {"abc": "x", "date": "2024-01-01", "msg": 'a "quoted" word', "key": "1",
                           "x": "2", "_u": "3", "bare": "", "k": '"open'}


def test_http_content_length_that_is_not_a_number() -> None:
    """collectors/pcap/http.py: "²" (isdigit, but not int) and 5,000 digits raised ValueError."""
    from collectors.pcap.http import parse_request

    for length in ("²".encode(), b"9" * 5000):
        fields = parse_request(b"GET / HTTP/1.1\r\nHost: example.org\r\nContent-Length: " + length + b"\r\n\r\n")
        assert fields is not None and "http.request.body.bytes" not in fields
    fields = parse_request(b"GET / HTTP/1.1\r\nHost: example.org\r\nContent-Length: 12\r\n\r\n")
    assert fields is not None and fields["http.request.body.bytes"] == 12


def test_comparison_with_a_value_starting_with_equals_prints_back() -> None:
    """siem/query/printer.py: ``>`` with the value "=0" printed as ``>=0`` (found by
    tests/query/test_properties.py while this work ran)."""
    from siem.query import Bounds, Kind, Term, parse_query, to_text

    for bounds in (Bounds("=0", None, False, True), Bounds(None, "=", True, True)):
        term = Term("event.action", Kind.COMPARE, bounds=bounds)
        assert parse_query(to_text(term)) == term


def test_config_nested_too_deep_is_a_config_error() -> None:
    """siem/yamlfile.py: YAML nested 1,500 deep raised RecursionError from PyYAML's composer
    (bench/fuzz.py, target config). PyYAML is slow on it: a budget of its own."""
    start = time.perf_counter()
    all_targets()["config"].run(b"language: en\nsources:\n  - " + b"[" * 1500)
    assert time.perf_counter() - start < 10


def test_a_correlation_that_refers_to_itself_is_reported(tmp_path: Path) -> None:
    from siem.detect.loader import load_rules

    (tmp_path / "self.yml").write_bytes(_correlation(b"        - corr_self\n"))
    loaded = load_rules([tmp_path])
    assert not loaded.correlations
    [problem] = loaded.problems
    assert problem.rule_id == "44444444-4444-4444-8444-444444444444" and "cycle" in problem.reason

"""Each value modifier and condition form, with tiny inline rules, through index and matcher."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.detect.helpers import detector, load_text, matches, rule_text


def test_plain_value_is_case_insensitive_equality(tmp_path: Path) -> None:
    engine = detector(tmp_path, "sel:\n    Image: 'C:\\Windows\\cmd.exe'\ncondition: sel")
    assert matches(engine, {"Image": "c:\\windows\\CMD.EXE"})
    assert not matches(engine, {"Image": "c:\\windows\\cmd.exe.bak"})
    assert not matches(engine, {})


def test_wildcards_and_escapes(tmp_path: Path) -> None:
    engine = detector(tmp_path, r"""
        sel:
            CommandLine:
                - 'a?c*z'
                - 'lit\*eral'
        condition: sel
    """)
    assert matches(engine, {"CommandLine": "abcxyz"})
    assert matches(engine, {"CommandLine": "AXC-Z"})
    assert not matches(engine, {"CommandLine": "ac-z"})
    assert matches(engine, {"CommandLine": "lit*eral"})
    assert not matches(engine, {"CommandLine": "litXeral"})


@pytest.mark.parametrize(
    ("modifier", "hit", "miss"),
    [
        ("contains", "xx foo yy", "fo"),
        ("startswith", "foo yy", "xx foo"),
        ("endswith", "xx foo", "foo yy"),
    ],
)
def test_contains_startswith_endswith(tmp_path: Path, modifier: str, hit: str, miss: str) -> None:
    engine = detector(tmp_path, f"sel:\n    F|{modifier}: FOO\ncondition: sel")
    assert matches(engine, {"F": hit})
    assert not matches(engine, {"F": miss})


def test_all_modifier_ands_the_values(tmp_path: Path) -> None:
    engine = detector(tmp_path, "sel:\n    F|contains|all: [alpha, beta]\ncondition: sel")
    assert matches(engine, {"F": "beta and alpha"})
    assert not matches(engine, {"F": "alpha only"})


def test_cased_keeps_case(tmp_path: Path) -> None:
    engine = detector(tmp_path, "sel:\n    F|cased: Foo\ncondition: sel")
    assert matches(engine, {"F": "Foo"})
    assert not matches(engine, {"F": "foo"})


def test_regex_with_and_without_flags(tmp_path: Path) -> None:
    engine = detector(tmp_path, "sel:\n    F|re: 'ab+c'\ncondition: sel")
    assert matches(engine, {"F": "xxabbbcxx"})
    assert not matches(engine, {"F": "ABBC"})  # re is case-sensitive
    engine = detector(tmp_path, "sel:\n    F|re|i: '^ab+c$'\ncondition: sel")
    assert matches(engine, {"F": "ABBC"})
    engine = detector(tmp_path, "sel:\n    F|re|m: '^second$'\ncondition: sel")
    assert matches(engine, {"F": "first\nsecond\nthird"})
    engine = detector(tmp_path, "sel:\n    F|re|s: 'a.b'\ncondition: sel")
    assert matches(engine, {"F": "a\nb"})


def test_base64_and_base64offset(tmp_path: Path) -> None:
    engine = detector(tmp_path, "sel:\n    F|base64: 'secret'\ncondition: sel")
    assert matches(engine, {"F": base64.b64encode(b"secret").decode()})
    engine = detector(tmp_path, "sel:\n    F|base64offset|contains: 'http://'\ncondition: sel")
    for prefix in (b"", b"x", b"xy"):
        encoded = base64.b64encode(prefix + b"http://evil").decode()
        assert matches(engine, {"F": f"powershell -enc {encoded}"}), prefix
    assert not matches(engine, {"F": base64.b64encode(b"nothing here").decode()})


@pytest.mark.parametrize(
    ("modifier", "encoding"),
    # (utf16 with BOM is left out: pySigma 1.5.1 writes the BOM as UTF-8 text before base64)
    [("wide", "utf-16-le"), ("utf16be", "utf-16-be")],
)
def test_utf16_encodings_with_base64(tmp_path: Path, modifier: str, encoding: str) -> None:
    engine = detector(tmp_path, f"sel:\n    F|{modifier}|base64: 'cmd'\ncondition: sel")
    encoded = base64.b64encode("cmd".encode(encoding)).decode()
    assert matches(engine, {"F": encoded})
    assert not matches(engine, {"F": base64.b64encode(b"cmd").decode()})


def test_windash(tmp_path: Path) -> None:
    engine = detector(tmp_path, "sel:\n    F|windash|contains: ' -enc '\ncondition: sel")
    for dash in ("-", "/", "\u2013", "\u2014", "\u2015"):
        assert matches(engine, {"F": f"powershell {dash}enc abc"}), dash
    assert not matches(engine, {"F": "powershell +enc abc"})


def test_cidr_v4_and_v6(tmp_path: Path) -> None:
    engine = detector(tmp_path, "sel:\n    ip|cidr: ['10.0.0.0/8', '2001:db8::/32']\ncondition: sel")
    assert matches(engine, {"ip": "10.20.30.40"})
    assert matches(engine, {"ip": "2001:db8::1"})
    assert not matches(engine, {"ip": "11.0.0.1"})
    assert not matches(engine, {"ip": "2001:db9::1"})
    assert not matches(engine, {"ip": "not an ip"})


@pytest.mark.parametrize(
    ("modifier", "hits", "misses"),
    [("gt", [11, "12"], [10, 9]), ("gte", [10, 11.5], [9]), ("lt", [9, "-1"], [10]),
     ("lte", [10], [10.5, "abc"])],
)
def test_numeric_comparisons(tmp_path: Path, modifier: str, hits: list[object],
                             misses: list[object]) -> None:
    engine = detector(tmp_path, f"sel:\n    n|{modifier}: 10\ncondition: sel")
    for value in hits:
        assert matches(engine, {"n": value}), value
    for value in misses:
        assert not matches(engine, {"n": value}), value


def test_exists(tmp_path: Path) -> None:
    engine = detector(tmp_path, "sel:\n    F|exists: true\ncondition: sel")
    assert matches(engine, {"F": ""})
    assert not matches(engine, {"G": "x"})
    engine = detector(tmp_path, "sel:\n    F|exists: false\ncondition: sel")
    assert matches(engine, {"G": "x"})
    assert not matches(engine, {"F": "x"})


def test_fieldref(tmp_path: Path) -> None:
    engine = detector(tmp_path, "sel:\n    A|fieldref: B\ncondition: sel")
    assert matches(engine, {"A": "Same", "B": "same"})
    assert not matches(engine, {"A": "one", "B": "two"})
    assert not matches(engine, {"A": "one"})
    engine = detector(tmp_path, "sel:\n    A|fieldref|startswith: B\ncondition: sel")
    assert matches(engine, {"A": "prefix-rest", "B": "prefix"})


def test_expand_placeholders_from_config(tmp_path: Path) -> None:
    text = rule_text("sel:\n    User|expand: '%admins%'\ncondition: sel")
    ruleset = load_text(tmp_path, text, placeholders={"admins": ("root", "adm*")})
    from siem.detect.engine import Detector

    engine = Detector(ruleset, logsource="any")
    assert engine.match_event({"User": "ROOT"})
    assert engine.match_event({"User": "administrator"})
    assert not engine.match_event({"User": "guest"})
    # without a configured value the placeholder matches nothing (documented choice)
    ruleset = load_text(tmp_path, text)
    assert not ruleset.problems
    assert not Detector(ruleset, logsource="any").match_event({"User": "%admins%"})


def test_null_and_missing_field(tmp_path: Path) -> None:
    engine = detector(tmp_path, "sel:\n    F: null\ncondition: sel")
    assert matches(engine, {})
    assert matches(engine, {"F": None})
    assert not matches(engine, {"F": "x"})
    engine = detector(tmp_path, "sel:\n    F: x\ncondition: not sel")
    assert matches(engine, {})  # a missing field is null, so "not sel" holds


def test_numbers_match_strings_and_lists_match_any_element(tmp_path: Path) -> None:
    engine = detector(tmp_path, "sel:\n    EventID: 4624\ncondition: sel")
    assert matches(engine, {"EventID": "4624"})
    assert matches(engine, {"EventID": 4624})
    assert not matches(engine, {"EventID": 4625})
    engine = detector(tmp_path, "sel:\n    event.category: network\ncondition: sel")
    assert matches(engine, {"event.category": ["process", "network"]})
    assert not matches(engine, {"event.category": ["process"]})


def test_keywords_search_every_value(tmp_path: Path) -> None:
    engine = detector(tmp_path, "keywords:\n    - 'logged command'\n    - 'no shut*'\ncondition: keywords")
    assert matches(engine, {"message": "User:admin  Logged Command:no access"})
    assert matches(engine, {"x": 1, "y": "config: no shutdown now"})
    assert not matches(engine, {"message": "nothing"})


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("a and b", [True, False, False, False]),
        ("a or b", [True, True, True, False]),
        ("a and not b", [False, True, False, False]),
        ("not (a or b)", [False, False, False, True]),
        ("1 of sel*", [True, True, True, False]),
        ("all of sel*", [True, False, False, False]),
        ("1 of them", [True, True, True, False]),
        ("all of them", [True, False, False, False]),
    ],
)
def test_condition_forms(tmp_path: Path, condition: str, expected: list[bool]) -> None:
    names = ("sela", "selb") if "sel" in condition else ("a", "b")
    condition = condition.replace("1 of sel*", "1 of sel*")
    body = f"{names[0]}:\n    A: x\n{names[1]}:\n    B: y\ncondition: {condition}"
    if "sel" not in condition and "them" not in condition:
        body = f"a:\n    A: x\nb:\n    B: y\ncondition: {condition}"
    engine = detector(tmp_path, body)
    events = [{"A": "x", "B": "y"}, {"A": "x"}, {"B": "y"}, {}]
    assert [matches(engine, event) for event in events] == expected


def test_list_of_maps_is_ored(tmp_path: Path) -> None:
    engine = detector(tmp_path, "sel:\n    - A: x\n      B: y\n    - C: z\ncondition: sel")
    assert matches(engine, {"A": "x", "B": "y"})
    assert matches(engine, {"C": "z"})
    assert not matches(engine, {"A": "x"})


def test_timestamp_part_modifier(tmp_path: Path) -> None:
    engine = detector(tmp_path, "sel:\n    '@timestamp|hour': 3\ncondition: sel")
    assert matches(engine, {"@timestamp": "2026-11-25T03:15:00Z"})
    assert not matches(engine, {"@timestamp": "2026-11-25T04:15:00Z"})

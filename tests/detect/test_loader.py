"""Loading: problems with file and line, Sigma filters, status/level selection, correlations."""

from __future__ import annotations

import textwrap
from pathlib import Path

from siem.detect.engine import Detector
from tests.detect.helpers import load_text, rule_text

RULE_ID = "44444444-4444-4444-8444-444444444444"


def test_bad_yaml_is_reported_with_line_and_others_load(tmp_path: Path) -> None:
    good = rule_text("sel:\n    A: x\ncondition: sel", rule_id=RULE_ID)
    ruleset = load_text(tmp_path, good, "title: t\ndetection:\n  sel: [x\n  condition: sel\n")
    assert [loaded.info.id for loaded in ruleset.rules] == [RULE_ID]
    (problem,) = ruleset.problems
    assert problem.path is not None and problem.path.endswith("rule_1.yml")
    assert problem.line is not None and problem.line >= 3


def test_unknown_condition_identifier_is_reported(tmp_path: Path) -> None:
    ruleset = load_text(tmp_path, rule_text("sel:\n    A: x\ncondition: sel and missing"))
    assert not ruleset.rules
    assert "missing" in ruleset.problems[0].reason


def test_filter_suppresses_matches_of_the_named_rule(tmp_path: Path) -> None:
    rule = rule_text("sel:\n    Image|endswith: '\\cmd.exe'\ncondition: sel", rule_id=RULE_ID)
    sigma_filter = textwrap.dedent(f"""\
        title: Ward 3 admin host
        id: 55555555-5555-4555-8555-555555555555
        logsource:
            product: windows
            category: process_creation
        filter:
            rules:
                - {RULE_ID}
            selection:
                Computer: admin-pc
            condition: not selection
        """)
    ruleset = load_text(tmp_path, rule, sigma_filter)
    assert not ruleset.problems and len(ruleset.filters) == 1
    engine = Detector(ruleset, logsource="any")
    assert engine.match_event({"Image": "c:\\cmd.exe", "Computer": "pc7"})
    assert not engine.match_event({"Image": "c:\\cmd.exe", "Computer": "admin-pc"})


def test_status_and_level_selection(tmp_path: Path) -> None:
    texts = [
        rule_text("sel:\n    A: x\ncondition: sel", rule_id=f"6666666{n}-6666-4666-8666-666666666666",
                  status=status, level=level)
        for n, (status, level) in enumerate(
            [("stable", "high"), ("test", "low"), ("experimental", "critical")])
    ]
    ruleset = load_text(tmp_path, *texts, statuses=("stable", "test"), min_level="medium")
    assert [(r.info.status, r.info.level) for r in ruleset.rules] == [("stable", "high")]
    assert ruleset.skipped == 2


def test_correlation_counts_base_matches(tmp_path: Path) -> None:
    base = rule_text("sel:\n    event.action: deny\ncondition: sel", rule_id=RULE_ID,
                     product="linux", category="firewall").replace(
        "title: Test rule", "title: Denied\nname: denied")
    correlation = textwrap.dedent("""\
        title: Many denies
        id: 77777777-7777-4777-8777-777777777777
        level: high
        correlation:
            type: event_count
            rules:
                - denied
            group-by:
                - source.ip
            timespan: 1m
            condition:
                gte: 3
        """)
    ruleset = load_text(tmp_path, base, correlation)
    assert not ruleset.problems and len(ruleset.correlations) == 1
    engine = Detector(ruleset, logsource="any")
    events = [{"event.action": "deny", "source.ip": "10.0.0.9",
               "@timestamp": f"2026-11-25T10:00:0{n}Z"} for n in range(3)]
    found = engine.detect(events)
    assert found.matches == []  # the base rule is referenced with generate: false (default)
    assert [c.rule.id for c in found.correlations] == ["77777777-7777-4777-8777-777777777777"]
    assert sorted(m.event_index for m in found.correlations[0].matches) == [0, 1, 2]

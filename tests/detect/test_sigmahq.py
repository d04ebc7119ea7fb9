"""The SigmaHQ corpus: every rule loads (or is reported), and the regression data passes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from siem.commands.detect import load_event_file
from siem.detect.engine import Detector
from siem.detect.loader import RuleSet, load_rules
from siem.detect.regression import find_cases, run_cases
from tests.conftest import PROJECT_ROOT

RULE_FOLDERS = ("rules", "rules-emerging-threats", "rules-threat-hunting")


@pytest.fixture(scope="module")
def sigmahq_rules(corpus_dir: Path) -> RuleSet:
    return load_rules([corpus_dir / "sigmahq" / folder for folder in RULE_FOLDERS])


def test_every_rule_loads(sigmahq_rules: RuleSet, corpus_dir: Path) -> None:
    assert len(sigmahq_rules.rules) > 3000
    assert [str(p) for p in sigmahq_rules.problems] == []
    extra = load_rules([corpus_dir / "sigmahq" / "rules-compliance",
                        corpus_dir / "sigmahq" / "rules-placeholder"])
    assert extra.rules and not extra.problems


def test_regression_data_passes(sigmahq_rules: RuleSet, corpus_dir: Path) -> None:
    cases = find_cases(corpus_dir / "sigmahq" / "regression_data")
    assert len(cases) >= 160
    detector = Detector(sigmahq_rules, logsource="any", correlate=False)
    results = run_cases(detector, cases, load_event_file)
    failed = [(r.case.rule_id, r.got, r.expected, r.reason) for r in results if not r.passed]
    assert failed == []


def test_rules_test_command_on_corpus(corpus_dir: Path) -> None:
    sigmahq = corpus_dir / "sigmahq"
    args = [sys.executable, str(PROJECT_ROOT / "cli.py"), "rules", "test", "--quiet"]
    for folder in RULE_FOLDERS:
        args += ["--rules", str(sigmahq / folder)]
    result = subprocess.run([*args, str(sigmahq / "regression_data")], capture_output=True,
                            text=True, timeout=300, check=False, cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "164/164 passed" in result.stdout or " 0 failed" in result.stdout


def test_detect_command_on_a_regression_file(corpus_dir: Path) -> None:
    folder = next((corpus_dir / "sigmahq" / "regression_data").rglob(
        "proc_creation_win_certutil_decode"))
    rule = next((corpus_dir / "sigmahq" / "rules").rglob("proc_creation_win_certutil_decode.yml"))
    event_file = next(folder.glob("*.json"))
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "cli.py"), "detect", "--rules", str(rule),
         "--input", str(event_file), "--logsource", "strict"],
        capture_output=True, text=True, timeout=120, check=False, cwd=PROJECT_ROOT,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines and {line["rule_id"] for line in lines} == {"cc9cbe82-7bc0-4ef5-bc23-bbfb83947be7"}
    assert all(isinstance(line["event_index"], int) for line in lines)

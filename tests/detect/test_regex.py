"""Rule regular expressions cannot stall the engine (issue 8): RE2 runs them in linear time;
what RE2 cannot run falls back to Python only without nested repetition, else the rule is reported."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siem.detect.regex import UnsafeRegex, compile_search, nested_repeat
from tests.detect.helpers import detector, load_text, matches, rule_text

#: Matching one hostile value must take well under this (Python's backtracking: minutes).
MATCH_BUDGET_S = 0.2
EVIL = "a" * 50_000 + "!"


def timed(function: object, *args: object) -> tuple[object, float]:
    start = time.perf_counter()
    result = function(*args)  # type: ignore[operator]
    return result, time.perf_counter() - start


def test_catastrophic_regex_rule_matches_in_linear_time(tmp_path: Path) -> None:
    engine = detector(tmp_path, """
        selection:
            CommandLine|re: '(a+)+$'
        condition: selection
    """)
    assert matches(engine, {"CommandLine": "xaaa"})
    result, elapsed = timed(matches, engine, {"CommandLine": EVIL})
    assert result is False  # the "!" ends it: Python re would try 2**50000 ways to split the a's
    assert elapsed < MATCH_BUDGET_S


def test_catastrophic_regex_without_a_match_is_fast(tmp_path: Path) -> None:
    engine = detector(tmp_path, """
        selection:
            CommandLine|re: '^(\\w+\\s?)*$'
        condition: selection
    """)
    assert matches(engine, {"CommandLine": "run this now"})
    result, elapsed = timed(matches, engine, {"CommandLine": "a" * 5_000 + "!"})
    assert result is False
    assert elapsed < MATCH_BUDGET_S


def test_quadratic_dot_star_and_wildcards_are_linear(tmp_path: Path) -> None:
    engine = detector(tmp_path, """
        regex:
            CommandLine|re: '.*\\\\evil\\.exe'
        wild:
            Image: '*\\\\a*\\\\b*\\\\c*.exe'
        condition: regex or wild
    """)
    assert matches(engine, {"CommandLine": "c:\\tmp\\evil.exe"})
    assert matches(engine, {"Image": "c:\\a\\x\\b\\c\\run.exe"})
    hostile = {"CommandLine": "\\" * 100_000, "Image": "\\a" * 50_000}
    result, elapsed = timed(matches, engine, hostile)
    assert result is False
    assert elapsed < MATCH_BUDGET_S


def test_unsafe_regex_rule_is_reported_with_file_line_and_reason(tmp_path: Path) -> None:
    bad = rule_text("""
        selection:
            CommandLine|re: '(?<=x)(a+)+$'
        condition: selection
    """, title="Bad", rule_id="22222222-2222-4222-8222-222222222222")
    good = rule_text("""
        selection:
            CommandLine|re: '(?<=\\\\)evil\\.exe'
        condition: selection
    """, title="Good")
    ruleset = load_text(tmp_path, bad, good)
    assert [loaded.info.title for loaded in ruleset.rules] == ["Good"]
    [problem] = ruleset.problems
    assert problem.path is not None and problem.path.endswith("rule_0.yml")
    assert problem.line == bad.splitlines().index("        CommandLine|re: '(?<=x)(a+)+$'") + 1
    assert "catastrophic" in problem.reason and "(a+)+$" in problem.reason
    # the lookbehind (RE2 cannot run it) is safe: Python re runs it
    assert ruleset.rules[0].compiled.matcher({"CommandLine": "c:\\evil.exe"})
    assert not ruleset.rules[0].compiled.matcher({"CommandLine": "evil.exe"})


@pytest.mark.parametrize(("pattern", "nested"), [
    ("(a+)+$", True),
    ("(?:\\w+\\s?)*x", True),
    ("(?<=a)(b*)*c", True),
    ("(x{2,40})+", True),
    ("a{1,3}b", False),
    ("(?:a|b)*c", False),
    ("(?<=a)b", False),
    ("(a)\\1", False),
    (".*evil.*", False),
])
def test_nested_repetition_check(pattern: str, nested: bool) -> None:
    assert (nested_repeat(pattern) is not None) is nested


def test_invalid_pattern_is_unsafe_with_the_reason() -> None:
    with pytest.raises(UnsafeRegex, match="invalid regular expression"):
        compile_search("(?<=a+)b")


FLAGS = st.sampled_from([0, re.IGNORECASE, re.MULTILINE, re.DOTALL, re.IGNORECASE | re.MULTILINE | re.DOTALL])
PATTERNS = st.sampled_from([
    "abc", "^ab", "bc$", "a.c", "^b", "c$", "A[bx]C", "a.*c", "^a.*c$", "\\bab", "b\\b", "(?:ab|ca)+",
    "[a-c]{2,3}", "a\\nb", "^$", "\\s+", "\\d", "\\w+$", "x?y*z", "\\.exe", "[^a]",
])
TEXTS = st.text(alphabet="abcABC\n .xyz1_", max_size=12)


@settings(max_examples=400)
@given(PATTERNS, FLAGS, TEXTS)
def test_re2_agrees_with_python_re_on_flags(pattern: str, flags: int, text: str) -> None:
    """Sigma's i, m, s flags mean in RE2 what they mean in Python (ASCII text; ``$`` aside,
    which in Python also matches before a final newline: such texts are left out)."""
    if text.endswith("\n") and "$" in pattern and not flags & re.MULTILINE:
        return
    assert compile_search(pattern, flags)(text) == (re.search(pattern, text, flags) is not None)


def test_sigmahq_regexes_all_run_in_re2_and_agree(corpus_dir: Path) -> None:
    """Every ``|re`` value of the SigmaHQ rules is RE2 syntax and finds what Python re finds in
    the values of the regression events."""
    import json

    import yaml

    from siem.detect.regex import _re2_search

    patterns: list[tuple[str, int]] = []

    def walk(node: object, key: str = "") -> None:
        if isinstance(node, dict):
            for name, child in node.items():
                walk(child, str(name))
        elif isinstance(node, list):
            for child in node:
                walk(child, key)
        elif isinstance(node, str) and "|re" in key:
            modifiers = key.split("|")[1:]
            flags = 0
            for letter, flag in (("i", re.I), ("m", re.M), ("s", re.S)):
                flags |= flag if letter in modifiers else 0
            patterns.append((node, flags))

    sigma = corpus_dir / "sigmahq"
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 3,000 files in seconds
    for path in (sigma / "rules").rglob("*.yml"):
        text = path.read_text(encoding="utf-8")
        if "|re" not in text:
            continue
        for document in yaml.load_all(text, Loader=loader):  # a safe loader
            if isinstance(document, dict):
                walk(document.get("detection"))
    texts: set[str] = set()
    for path in (sigma / "regression_data").rglob("*.json"):
        for value in re.findall(r'"((?:[^"\\]|\\.)*)"', path.read_text(encoding="utf-8")):
            try:
                texts.add(json.loads(f'"{value}"'))
            except ValueError:
                continue
    assert len(patterns) > 100 and len(texts) > 500
    for pattern, flags in patterns:
        search = _re2_search(pattern, flags)
        assert search is not None, pattern
        python = re.compile(pattern, flags)
        disagree = [text for text in texts if search(text) != (python.search(text) is not None)]
        assert not disagree, (pattern, disagree[:3])

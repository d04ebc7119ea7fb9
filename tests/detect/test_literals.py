"""Index anchors: regex required literals, the fold the index searches, prefix/suffix and veto
anchors (a rule left out of the candidates must never be one that matches)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siem.detect.compiler import min_width
from siem.detect.engine import Detector
from siem.detect.literals import required_literals
from siem.detect.regex import compile_search
from siem.detect.values import fold
from tests.detect.helpers import load_text, rule_text

#: Letters with tricky case behaviour: final sigma, long s, Kelvin sign, dotted/dotless i.
_ALPHABET = [*"abcAB.\\ -", "Σ", "σ", "ς", "ſ", "s", "S", "K", "k", "İ", "ı", "i", "I", "ß"]
_atoms = st.sampled_from(
    [*(re.escape(c) for c in _ALPHABET), ".", "[ab]", "[a-c]", "[^a]", r"\s", r"\d", "[sS]", "[ΣK]"])


@st.composite
def regexes(draw: st.DrawFn, depth: int = 0) -> str:
    """A random regular expression over the alphabet: sequences, groups, alternations, repeats."""
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        shape = draw(st.sampled_from(["atom", "atom", "atom", "group", "alt", "repeat"] if depth < 2
                                     else ["atom"]))
        if shape == "atom":
            parts.append(draw(_atoms))
        elif shape == "group":
            parts.append(f"(?:{draw(regexes(depth + 1))})")
        elif shape == "alt":
            parts.append(f"(?:{draw(regexes(depth + 1))}|{draw(regexes(depth + 1))})")
        else:
            low = draw(st.integers(0, 2))
            high = draw(st.sampled_from([low, low + 1, ""]))
            parts.append(f"(?:{draw(regexes(depth + 1))}){{{low},{high}}}")
    return "".join(parts)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=regexes(), flags=st.sampled_from([0, re.IGNORECASE]),
       texts=st.lists(st.text(alphabet=_ALPHABET, max_size=12), min_size=1, max_size=6))
def test_required_literals_and_width_hold_for_every_match(pattern: str, flags: int, texts: list[str]) -> None:
    literals = required_literals(pattern, flags)
    width = min_width(pattern, flags)
    assert "" not in literals
    searches = [compile_search(pattern, flags), re.compile(pattern, flags).search]
    for text in texts:
        for search in searches:
            if search(text):
                assert len(text) >= width, (pattern, text, width)
                folded = fold(text)
                assert any(literal in folded for literal in literals) or not literals, (
                    pattern, flags, text, literals)


def test_required_literals_of_known_shapes() -> None:
    assert required_literals(r"\\[a-z0-9]{1,32}\.[a-z0-9]{1,6}\.[ \"']") == {". ", '."', ".'"}
    assert required_literals(r"(?i)power(shell|pwsh)\.exe") == {"powershell.exe", "powerpwsh.exe"}
    assert required_literals("abc|de") == {"abc", "de"}
    assert required_literals(r"a.*bcd") == {"bcd"}
    assert required_literals(r"(?i)ΣΣxyz") == {"xyz"}  # non-ASCII under i: left out
    assert required_literals(r"\s[a-f0-9]{64}") == frozenset()
    assert required_literals(r"x|.*") == frozenset()
    assert required_literals("(") == frozenset()


def test_fold_is_lower_then_fold_for_every_character() -> None:
    every = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    assert fold(every.lower()) == fold(every)
    assert fold("ΑΣ") == fold("ας") == fold("ασ")


def _detector(tmp_path: Path, *detections: str) -> Detector:
    texts = [rule_text(body, title=f"rule {n}", rule_id=f"11111111-1111-4111-8111-{n:012d}")
             for n, body in enumerate(detections)]
    ruleset = load_text(tmp_path, *texts)
    assert not ruleset.problems, [str(p) for p in ruleset.problems]
    return Detector(ruleset, logsource="any", correlate=False)


def _check(engine: Detector, event: dict[str, Any]) -> tuple[list[int], list[int]]:
    """(rules matching through the index, candidates); the index never loses a match."""
    direct = [n for n, rule in enumerate(engine.rules) if rule.compiled.matcher(event)]
    assert engine.match_event(event) == direct, event
    return direct, list(engine._index_for(event).ordered(event))


def test_vetoes_and_suffixes_cut_candidates_without_losing_matches(tmp_path: Path) -> None:
    engine = _detector(
        tmp_path,
        "filter:\n    Image|contains: '\\'\ncondition: not filter",
        "known:\n    Image|endswith: ['.exe', '.com']\ncondition: not known",
        "sel:\n    Image|endswith: '\\cmd.exe'\ncondition: sel",
        "sel:\n    Image|startswith: 'C:\\Temp\\'\nfilter:\n    User: SYSTEM\ncondition: sel and not filter",
    )
    assert [sorted(r.compiled.vetoes) for r in engine.rules[:2]] == [
        [("sub", "Image", "\\")], [("suf", "Image", ".com"), ("suf", "Image", ".exe")]]
    # C:\x\cmd.exe: rule 2 matches; rules 0 and 1 are vetoed (a backslash, a .exe suffix)
    assert _check(engine, {"Image": "C:\\x\\CMD.exe", "User": "bob"}) == ([2], [2])
    # cmd.exe.txt: '\cmd.exe' is in the value but not at its end, so rule 2 is no candidate
    assert _check(engine, {"Image": "C:\\x\\cmd.exe.txt", "User": "bob"}) == ([1], [1])
    assert _check(engine, {"Image": "calc", "User": "bob"}) == ([0, 1], [0, 1])
    # the prefix anchor, then the veto of rule 3 by its filter's exact value
    assert _check(engine, {"Image": "c:\\temp\\a.bat", "User": "bob"}) == ([1, 3], [1, 3])
    assert _check(engine, {"Image": "c:\\temp\\a.bat", "User": "system"}) == ([1], [1])
    # lists, numbers, booleans and non-ASCII text take the careful paths and still agree
    for event in ({"Image": ["a", "b\\c.exe"], "User": "x"}, {"Image": 1, "User": True},
                  {"Image": True, "User": 1}, {"Image": "C:\\TEMP\\Σ.exe", "User": "SYSTEM"},
                  {"Image": None, "User": None}, {"Image": "İ\\cmd.exe"}, {"Image": [["x"]], "U": {}}):
        _check(engine, event)


def test_field_reference_inline_agrees_with_the_leaf_function(tmp_path: Path) -> None:
    engine = _detector(tmp_path, "sel:\n    Image|fieldref: ParentImage\ncondition: sel",
                       "sel:\n    Image|fieldref|endswith: ParentImage\ncondition: sel")
    assert _check(engine, {"Image": "C:\\A.exe", "ParentImage": "c:\\a.EXE"})[0] == [0, 1]
    assert _check(engine, {"Image": "C:\\x\\A.exe", "ParentImage": "a.exe"})[0] == [1]
    assert _check(engine, {"Image": "C:\\A.exe", "ParentImage": ["x", "c:\\a.exe"]})[0] == [0, 1]
    assert _check(engine, {"Image": "C:\\A.exe"})[0] == []

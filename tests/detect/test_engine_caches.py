"""The speed caches of the engine give exactly the results computing afresh gives.

- ``regex.ResultCache``: search results per text (rule regular expressions, wildcard patterns,
  long substring lists), bounded; keyed by the text itself, so texts differing only in case,
  or one pattern's results and another's, never mix.
- ``index.RuleIndex`` shapes and volatile fields: fields no rule names whose values keep
  missing the cache are checked on each event instead of looked up; a value there that does
  hold a keyword literal must still make its rule a candidate.
- the per-combination candidate memo: events with the same hits share their candidates, events
  with other hits do not.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from siem.detect import index as index_module
from siem.detect.compiler import _contains_any
from siem.detect.engine import Detector
from siem.detect.regex import MAX_CACHED_TEXT, ResultCache, compile_search
from tests.detect.helpers import detector, load_text, matches, rule_text

# ---------------------------------------------------------------- result cache


def test_cached_search_agrees_with_the_search_through_resets() -> None:
    cache = ResultCache(limit=2_000)  # a few entries: the tables start afresh many times
    raw = compile_search(r"Invoke-[A-Z]\w+")  # case-sensitive
    cached = cache.wrap(raw)
    texts = [f"{prefix}Invoke-{word}{n}" for n in range(60)
             for prefix, word in (("", "Mimikatz"), ("x ", "mimikatz"), ("", "Expression"))]
    for _ in range(3):  # cold, then warm, then warm again after resets
        for text in texts:
            assert cached(text) == raw(text) == (re.search(r"Invoke-[A-Z]\w+", text) is not None)
    assert cache.resets > 0, "the bound was never reached: the test did not exercise resets"
    assert cache.weight <= cache.limit + 100 + max(map(len, texts))


def test_texts_differing_in_case_keep_their_own_results() -> None:
    cache = ResultCache()
    cached = cache.wrap(compile_search("ADMIN"))
    assert cached("ADMIN") is True
    assert cached("admin") is False  # not the cached answer of the other spelling
    assert cached("ADMIN") is True


def test_each_search_has_its_own_results() -> None:
    cache = ResultCache()
    first = cache.wrap(compile_search("^a"))
    second = cache.wrap(compile_search("^b"))
    assert first("abc") is True
    assert second("abc") is False  # the same text, another pattern: not first's result
    assert second("bcd") is True
    assert first("bcd") is False


def test_long_texts_are_searched_every_time_not_kept() -> None:
    cache = ResultCache()
    calls: list[str] = []

    def search(text: str) -> bool:
        calls.append(text)
        return text.endswith("x")

    cached = cache.wrap(search)
    long_text = "a" * (MAX_CACHED_TEXT + 1) + "x"
    assert cached(long_text) and cached(long_text)
    assert len(calls) == 2 and cache.weight == 0
    assert cached("short x") and cached("short x")
    assert len(calls) == 3 and cache.weight > 0


def test_off_cache_returns_the_search_itself() -> None:
    search = compile_search("x")
    assert ResultCache(limit=0).wrap(search) is search


def test_cached_substring_lists_agree_with_in() -> None:
    literals = ("mimikatz", "sekurlsa::", "ÄBC", "lsadump")
    lower = _contains_any(tuple(literal.lower() for literal in literals), lower=True)
    cased = _contains_any(literals, lower=False)
    for text in ("run MIMIKATZ now", "sekurlsa::logonpasswords", "x ÄBC y", "x äbc y", "nothing",
                 "LsaDump", "lsadump", "", "run MIMIKATZ now"):
        assert lower(text) == any(literal.lower() in text.lower() for literal in literals), text
        assert cased(text) == any(literal in text for literal in literals), text


# ---------------------------------------------------------------- volatile fields, shapes, memo

KEYWORD_RULE = rule_text("""
    keywords:
        - 'mimikatz'
        - 'sekurlsa::'
    condition: keywords
""", title="Keywords", rule_id="22222222-2222-4222-8222-222222222222")

FIELD_RULE = rule_text("""
    selection:
        Image|endswith: '\\cmd.exe'
        CommandLine|contains: 'whoami'
    condition: selection
""", title="Whoami", rule_id="33333333-3333-4333-8333-333333333333")


def _detectors(tmp_path: Path) -> tuple[Detector, Detector]:
    ruleset = load_text(tmp_path, KEYWORD_RULE, FIELD_RULE)
    assert not ruleset.problems, [str(p) for p in ruleset.problems]
    warm = Detector(ruleset, logsource="any", correlate=False)
    fresh = Detector(ruleset, logsource="any", correlate=False, value_cache=0)
    return warm, fresh


def _event(number: int, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "EventRecordID": 1_000_000 + number,
        "@timestamp": f"2026-11-25T10:{number // 60 % 60:02d}:{number % 60:02d}.{number % 1000:03d}Z",
        "Image": "C:\\Windows\\System32\\cmd.exe",
        "CommandLine": "cmd /c whoami" if number % 3 == 0 else "cmd /c dir",
        "Computer": "ws1",
    }
    event.update(extra)
    return event


def _ids(engine: Detector, event: dict[str, Any]) -> list[str]:
    return [engine.rules[n].info.id for n in engine.match_event(event)]


def test_volatile_fields_still_find_keywords(tmp_path: Path) -> None:
    warm, fresh = _detectors(tmp_path)
    index = warm._all
    for number in range(3 * index_module._VOLATILE_MISSES):
        event = _event(number)
        assert _ids(warm, event) == _ids(fresh, event)
    assert {"EventRecordID", "@timestamp"} <= index.volatile, index.volatile
    assert "Image" not in index.volatile and "Computer" not in index.volatile
    # a keyword literal in a volatile field: the keyword rule must still match
    hidden = _event(10_000, **{"@timestamp": "2026-11-25 mimikatz"})
    assert "22222222-2222-4222-8222-222222222222" in _ids(warm, hidden)
    assert _ids(warm, hidden) == _ids(fresh, hidden)
    # a value of another class in a volatile field (list, text with letters, None)
    for value in (["a", "sekurlsa::x"], ["1", 2], "10:00 plain words", None, True, 2.5, {"k": "mimikatz"}):
        event = _event(20_000, EventRecordID=value)
        assert _ids(warm, event) == _ids(fresh, event), value


def test_a_volatile_field_needing_scans_is_looked_up_again(tmp_path: Path) -> None:
    warm, fresh = _detectors(tmp_path)
    index = warm._all
    for number in range(2 * index_module._VOLATILE_MISSES):
        warm.match_event(_event(number))
    assert "@timestamp" in index.volatile
    for number in range(index_module._VOLATILE_SCANS):
        event = _event(number, **{"@timestamp": f"words {number} mimikatz"})
        assert _ids(warm, event) == _ids(fresh, event)
    assert "@timestamp" not in index.volatile
    event = _event(5, **{"@timestamp": "sekurlsa:: again"})
    assert _ids(warm, event) == _ids(fresh, event) == ["22222222-2222-4222-8222-222222222222"]


def test_shapes_follow_the_field_names(tmp_path: Path) -> None:
    warm, fresh = _detectors(tmp_path)
    base = _event(3)  # whoami
    events = [
        base,
        dict(reversed(list(base.items()))),  # same fields, another order
        {key: value for key, value in base.items() if key != "CommandLine"},  # a field fewer
        {**base, "Extra": "sekurlsa::logonpasswords"},  # a field more, with a keyword
        {**base, "CommandLine": None},
        {"Image": base["Image"], "CommandLine": base["CommandLine"]},
    ]
    for _ in range(2):  # cold and warm
        for event in events:
            assert _ids(warm, event) == _ids(fresh, event), event
    assert len(warm._all._shapes) >= 4


def test_equal_hits_share_candidates_other_hits_do_not(tmp_path: Path) -> None:
    warm, _fresh = _detectors(tmp_path)
    index = warm._all
    whoami, plain = _event(3), _event(4)
    assert _ids(warm, whoami) == ["33333333-3333-4333-8333-333333333333"]
    assert _ids(warm, plain) == []
    assert _ids(warm, _event(6)) == ["33333333-3333-4333-8333-333333333333"]  # same hits as whoami
    assert index.ordered(plain) != index.ordered(whoami)
    assert _ids(warm, plain) == []  # not the memo of whoami's hits


def test_tables_of_dropped_searches_go() -> None:
    cache = ResultCache()
    kept = cache.wrap(compile_search("a"))
    for _ in range(10):
        cache.wrap(compile_search("b"))("b")  # dropped at once
    assert kept("a")
    cache.clear()
    assert len(cache._tables) == 1 and kept("a") and not kept("b")


def test_a_rule_with_many_substrings_matches_through_the_cache(tmp_path: Path) -> None:
    engine = detector(tmp_path, """
        selection:
            CommandLine|contains:
                - 'sekurlsa'
                - 'lsadump'
                - 'kerberos::'
                - 'crypto::'
                - 'token::'
                - 'vault::'
                - 'dpapi::'
        cased:
            Image|contains|cased:
                - 'A1'
                - 'B2'
                - 'C3'
                - 'D4'
                - 'E5'
                - 'F6'
        condition: selection or cased
    """)
    assert "'sekurlsa' in" not in engine.rules[0].compiled.source  # one cached search, not inline tests
    cases: list[tuple[dict[str, Any], bool]] = [
        ({"CommandLine": "x SEKURLSA::logonpasswords"}, True), ({"CommandLine": "x vault::list"}, True),
        ({"CommandLine": "nothing here"}, False), ({"CommandLine": "x SEKURLSA::logonpasswords"}, True),
        ({"Image": "a1"}, False), ({"Image": "xA1x"}, True), ({"Image": "a1"}, False),
        ({"CommandLine": ["a", "token::elevate"]}, True), ({"CommandLine": 5}, False)]
    for _ in range(2):  # cold, then from the cache
        for event, expected in cases:
            assert matches(engine, event) is expected, event

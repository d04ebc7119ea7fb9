"""Property tests: compiled matchers (through the index and directly) vs a reference evaluator.

The reference below interprets pySigma's condition tree on every call, the slow obvious way:
wildcards become a regex matched case-insensitively, keywords are searched in every value,
a missing field is null. Random rules are generated as YAML text (so pySigma parses them as
it parses real rules), with random fields, modifiers, values and conditions.
"""

from __future__ import annotations

import ipaddress
import operator
import re
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SpecialChars,
)

from siem.detect.engine import Detector
from tests.detect.helpers import load_text, rule_text

FIELDS = ("A", "B", "C")
REGEXES = ("a.b", "^a", "b$", "a+b", "[ab]{2}", "(?i)ab", "A")
CIDRS = ("10.0.0.0/8", "10.1.0.0/16", "::1/128", "2001:db8::/32")
IPS = ("10.1.2.3", "10.2.0.1", "11.0.0.1", "::1", "2001:db8::5", "ab")

# ------------------------------------------------------------------ reference evaluator


def _text(value: Any) -> str:
    return str(value)


def _string_regex(value: SigmaString) -> str:
    out = []
    for part in value.s:
        if part is SpecialChars.WILDCARD_MULTI:
            out.append(".*")
        elif part is SpecialChars.WILDCARD_SINGLE:
            out.append(".")
        else:
            out.append(re.escape(str(part)))
    return "".join(out)


def _value_matches(value: Any, expected: Any, event: dict[str, Any], keyword: bool) -> bool:
    if isinstance(expected, SigmaExpansion):
        return any(_value_matches(value, item, event, keyword) for item in expected.values)
    if isinstance(expected, SigmaString):
        flags = re.DOTALL | (0 if isinstance(expected, SigmaCasedString) else re.IGNORECASE)
        pattern = _string_regex(expected)
        if keyword:
            return re.search(pattern, _text(value), flags) is not None
        return re.fullmatch(pattern, _text(value), flags) is not None
    if isinstance(expected, SigmaNumber):
        if keyword:
            return str(expected.number) in _text(value)
        return _text(value) == str(expected.number)
    if isinstance(expected, SigmaBool):
        return _text(value).lower() == str(expected.boolean).lower()
    if isinstance(expected, SigmaRegularExpression):
        flags = 0
        for flag in expected.flags:
            flags |= SigmaRegularExpression.sigma_to_python_flags[flag]
        return re.search(str(expected.regexp), _text(value), flags) is not None
    if isinstance(expected, SigmaCIDRExpression):
        try:
            address = ipaddress.ip_address(_text(value))
        except ValueError:
            return False
        return address.version == expected.network.version and address in expected.network
    if isinstance(expected, SigmaCompareExpression):
        try:
            number = float(_text(value))
        except ValueError:
            return False
        ops = {CompareOperators.GT: operator.gt, CompareOperators.GTE: operator.ge,
               CompareOperators.LT: operator.lt, CompareOperators.LTE: operator.le}
        return bool(ops[expected.op](number, float(expected.number.number)))
    raise AssertionError(f"reference does not know {expected!r}")


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    return [item for item in value if item is not None] if isinstance(value, list) else [value]


def reference(node: Any, event: dict[str, Any]) -> bool:
    """Evaluate a pySigma condition tree on a flat event, the obvious way."""
    if node is None:  # pySigma's result for "1 of x*" when no detection is named x*
        return False
    if isinstance(node, ConditionAND):
        return all(reference(arg, event) for arg in node.args)
    if isinstance(node, ConditionOR):
        return any(reference(arg, event) for arg in node.args)
    if isinstance(node, ConditionNOT):
        return not reference(node.args[0], event)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        expected = node.value
        if isinstance(expected, SigmaExists):
            return (event.get(node.field) is not None) == bool(expected.exists)
        if isinstance(expected, SigmaNull):
            return not _values(event.get(node.field))
        return any(_value_matches(v, expected, event, False) for v in _values(event.get(node.field)))
    if isinstance(node, ConditionValueExpression):
        return any(_value_matches(v, node.value, event, True)
                   for value in event.values() for v in _values(value))
    raise AssertionError(f"reference does not know {node!r}")


# ------------------------------------------------------------------ random rules and events

_chars = st.sampled_from(list("abAB *?\\.01"))
_plain = st.text(alphabet=st.sampled_from(list("abAB .")), max_size=4)
_pattern = st.text(alphabet=_chars, max_size=5)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@st.composite
def detection_item(draw: st.DrawFn) -> str:
    """One ``field|modifiers: values`` line (or a keyword list)."""
    field = draw(st.sampled_from(FIELDS))
    kind = draw(st.sampled_from(
        ["plain", "contains", "startswith", "endswith", "all", "re", "cidr", "gt", "lt",
         "exists", "cased", "number", "null"]))
    if kind == "plain":
        values = draw(st.lists(_pattern, min_size=1, max_size=3))
        return f"{field}: [{', '.join(map(_quote, values))}]"
    if kind in ("contains", "startswith", "endswith"):
        values = draw(st.lists(_pattern.filter(bool), min_size=1, max_size=3))
        return f"{field}|{kind}: [{', '.join(map(_quote, values))}]"
    if kind == "all":
        values = draw(st.lists(_plain.filter(bool), min_size=1, max_size=3))
        return f"{field}|contains|all: [{', '.join(map(_quote, values))}]"
    if kind == "cased":
        return f"{field}|cased: {_quote(draw(_pattern))}"
    if kind == "re":
        return f"{field}|re: {_quote(draw(st.sampled_from(REGEXES)))}"
    if kind == "cidr":
        return f"{field}|cidr: {_quote(draw(st.sampled_from(CIDRS)))}"
    if kind in ("gt", "lt"):
        return f"{field}|{kind}: {draw(st.integers(0, 10))}"
    if kind == "exists":
        return f"{field}|exists: {draw(st.sampled_from(['true', 'false']))}"
    if kind == "number":
        return f"{field}: {draw(st.integers(0, 10))}"
    return f"{field}: null"


@st.composite
def selection(draw: st.DrawFn) -> str:
    """A selection body: a map of items, a list of such maps, or a keyword list."""
    shape = draw(st.sampled_from(["map", "map", "list", "keywords"]))
    if shape == "keywords":
        words = draw(st.lists(_pattern.filter(bool), min_size=1, max_size=3))
        return "\n".join(f"    - {_quote(word)}" for word in words)
    items = draw(st.lists(detection_item(), min_size=1, max_size=3,
                          unique_by=lambda line: line.split(":")[0]))
    if shape == "map":
        return "\n".join(f"    {line}" for line in items)
    return "\n".join(f"    - {line}" for line in items)


@st.composite
def condition(draw: st.DrawFn, names: list[str], depth: int = 0) -> str:
    """A random condition over the selection names."""
    choices = ["name", "name", "not", "and", "or", "one_of", "all_of"] if depth < 3 else ["name"]
    kind = draw(st.sampled_from(choices))
    if kind == "name":
        return draw(st.sampled_from(names))
    if kind == "not":
        return f"not {draw(condition(names, depth + 1))}"
    if kind in ("and", "or"):
        left = draw(condition(names, depth + 1))
        right = draw(condition(names, depth + 1))
        return f"({left} {kind} {right})"
    quantifier = "1" if kind == "one_of" else "all"
    return f"{quantifier} of {draw(st.sampled_from(['sel*', 'filter*', 'them']))}"


@st.composite
def detection(draw: st.DrawFn) -> str:
    """A whole detection block (selections plus condition)."""
    names = ["sel1", *draw(st.lists(st.sampled_from(["sel2", "filter1", "filter2"]),
                                    max_size=3, unique=True))]
    blocks = [f"{name}:\n{draw(selection())}" for name in names]
    return "\n".join(blocks) + f"\ncondition: {draw(condition(names))}"


_event_value = st.one_of(
    _plain, st.text(alphabet=_chars, max_size=6), st.integers(0, 12).map(lambda n: n),
    st.integers(0, 12).map(str), st.sampled_from(IPS), st.none(),
    st.lists(_plain, max_size=3),
)
events = st.lists(
    st.dictionaries(st.sampled_from([*FIELDS, "D"]), _event_value, max_size=4),
    min_size=1, max_size=8,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=detection(), sample=events)
def test_compiled_matchers_agree_with_reference(body: str, sample: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        ruleset = load_text(Path(folder), rule_text(body))
    if ruleset.problems:  # pySigma rejected the random rule (e.g. empty keyword): not ours
        assert all("rule_0.yml" in (p.path or "") for p in ruleset.problems)
        return
    loaded = ruleset.rules[0]
    trees = [c.parse() for c in loaded.rule.detection.parsed_condition]
    engine = Detector(ruleset, logsource="any", correlate=False)
    # a tiny value cache is cleared all the time: results must not depend on it
    churned = Detector(ruleset, logsource="any", correlate=False, value_cache=2)
    for event in sample * 2:
        expected = any(reference(tree, event) for tree in trees)
        assert loaded.compiled.matcher(event) == expected, (body, event)
        assert bool(engine.match_event(event)) == expected, ("via index", body, event)
        assert bool(churned.match_event(event)) == expected, ("small cache", body, event)

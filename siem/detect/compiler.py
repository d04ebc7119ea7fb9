"""Compile a parsed Sigma rule (pySigma objects) into Python source, executed once.

Sigma specification v2 (https://sigmahq.io/docs/basics/rules.html): detection items of a
map are ANDed, values of a list are ORed (``all`` makes them ANDed), unbound values
(keywords) search the whole event, matching is case-insensitive unless ``cased``, ``*``/``?``
are wildcards. pySigma has already applied the value modifiers (base64, windash, wide ...)
when the rule was parsed; this module turns the resulting condition tree into one Python
function of the flat event, plus a *prefilter*: a set of (field, literal) anchors at least
one of which must be present in the event for the rule to match (``None`` when the
condition cannot give one, e.g. ``not selection``), and *vetoes*: anchors whose presence
makes the rule false (``not filter`` where the filter is an exact test such as
``Image|contains: '\\'``). A ``|re`` value is anchored by its required literals
(``siem.detect.literals``) and tested only on values at least as long as its shortest match.

Choices the specification leaves open:
- a keyword value matches when it occurs anywhere in a value (full-text search);
- a regular expression matches anywhere (``re.search``), case-sensitive unless ``|i``;
- an ``expand`` placeholder without a configured value matches nothing.
"""

from __future__ import annotations

import re
import re._parser as _sre  # the regex parser, for literals
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SigmaTimestampPart,
    SigmaType,
    SpecialChars,
)

from siem.detect import values as rt
from siem.detect.literals import required_literals
from siem.detect.regex import RESULTS, Search, UnsafeRegex, compile_search

Matcher = Callable[[Mapping[str, Any]], bool]
#: ("eq", field, literal): the field's value equals literal (lowercase);
#: ("sub", field, literal): literal occurs in the field's value; field None = any keyword value;
#: ("pre", field, literal) / ("suf", field, literal): a value starts / ends with literal;
#: ("has", field, ""): the field is present (not null). Literals are folded (``values.fold``).
Anchor = tuple[str, str | None, str]


class UnsupportedRule(Exception):
    """The rule uses something the engine cannot evaluate; the message says what.

    ``value`` is the rule's own text at fault (a regular expression), to find its line.
    """

    def __init__(self, message: str, value: str | None = None) -> None:
        super().__init__(message)
        self.value = value


# ---------------------------------------------------------------- intermediate form


@dataclass(slots=True)
class Leaf:
    """Values ORed against one field (``None``: keyword search over the event)."""

    field: str | None
    values: list[SigmaType]


@dataclass(slots=True)
class Node:
    """``and``/``or`` over children, ``not`` over one, or a constant (``true``/``false``)."""

    op: str
    children: list[Node | Leaf] = field(default_factory=list)


Tree = Node | Leaf

_TIMESTAMP_PARTS = {"MINUTE": "minute", "HOUR": "hour", "DAY": "day", "WEEK": "week",
                    "MONTH": "month", "YEAR": "year"}


def _flatten_values(value: SigmaType) -> Iterator[SigmaType]:
    if isinstance(value, SigmaExpansion):
        for item in value.values:
            yield from _flatten_values(item)
    else:
        yield value


def to_tree(item: Any) -> Tree:
    """Our small tree from a pySigma condition tree (``SigmaCondition.parse()``)."""
    if item is None:
        return Node("false")
    if isinstance(item, ConditionAND):
        return Node("and", [to_tree(arg) for arg in item.args])
    if isinstance(item, ConditionOR):
        return _merge_or([to_tree(arg) for arg in item.args])
    if isinstance(item, ConditionNOT):
        return Node("not", [to_tree(item.args[0])])
    if isinstance(item, ConditionFieldEqualsValueExpression):
        return Leaf(item.field, list(_flatten_values(item.value)))
    if isinstance(item, ConditionValueExpression):
        return Leaf(None, list(_flatten_values(item.value)))
    raise UnsupportedRule(f"unsupported condition element {type(item).__name__}")


def _merge_or(children: list[Tree]) -> Tree:
    """Fold ORed leaves on the same field into one leaf (one value scan instead of many)."""
    merged: list[Tree] = []
    by_field: dict[str | None, Leaf] = {}
    for child in children:
        if isinstance(child, Leaf):
            existing = by_field.get(child.field)
            if existing is not None:
                existing.values.extend(child.values)
                continue
            child = Leaf(child.field, list(child.values))
            by_field[child.field] = child
        merged.append(child)
    return merged[0] if len(merged) == 1 else Node("or", merged)


# ---------------------------------------------------------------- string patterns


@dataclass(slots=True)
class _Pattern:
    kind: str  # exact, prefix, suffix, contains, any, regex
    text: str  # literal (or regex source for kind regex)
    literal: str  # longest plain part, for the prefilter


def _parts(value: SigmaString) -> list[str | SpecialChars]:
    parts: list[str | SpecialChars] = []
    for part in value.s:
        if isinstance(part, Placeholder):
            raise UnsupportedRule(f"unresolved placeholder %{part.name}%")
        if isinstance(part, str):
            if parts and isinstance(parts[-1], str):
                parts[-1] = parts[-1] + part
            elif part:
                parts.append(part)
        elif part is SpecialChars.WILDCARD_MULTI and parts and parts[-1] is part:
            continue
        else:
            parts.append(part)
    return parts


def pattern_of(value: SigmaString, *, lower: bool, keyword: bool = False) -> _Pattern:
    """How to test one Sigma string: a fast string method where possible, else a regex."""
    parts = _parts(value)
    if keyword:  # full-text search: the value may occur anywhere
        if not parts or parts[0] is not SpecialChars.WILDCARD_MULTI:
            parts.insert(0, SpecialChars.WILDCARD_MULTI)
        if parts[-1] is not SpecialChars.WILDCARD_MULTI:
            parts.append(SpecialChars.WILDCARD_MULTI)
    if lower:
        parts = [p.lower() if isinstance(p, str) else p for p in parts]
    plain = [p for p in parts if isinstance(p, str)]
    literal = max(plain, key=len) if plain else ""
    multi = SpecialChars.WILDCARD_MULTI
    if not parts:
        return _Pattern("exact", "", "")
    if all(p is multi for p in parts):
        return _Pattern("any", "", "")
    if SpecialChars.WILDCARD_SINGLE not in parts and len(plain) == 1:
        text = plain[0]
        shape = tuple(p is multi for p in parts)
        kinds = {(False,): "exact", (False, True): "prefix", (True, False): "suffix",
                 (True, False, True): "contains"}
        if shape in kinds:
            return _Pattern(kinds[shape], text, literal)
    regex = "".join(
        re.escape(p) if isinstance(p, str) else (".*" if p is multi else ".") for p in parts
    )
    return _Pattern("regex", regex, literal)


def min_width(pattern: str, flags: int = 0) -> int:
    """The fewest characters any match of the regex has (0 when unknown)."""
    try:
        return int(_sre.parse(pattern, flags).getwidth()[0])
    except (re.error, RecursionError, OverflowError):
        return 0


def _wildcards(patterns: Sequence[str]) -> Search:
    """Whole-value match of Sigma wildcard patterns (``*``/``?`` as ``.*``/``.``): RE2, linear in
    the value, where Python's backtracking is polynomial (``*a*b*c*`` on a long command line)."""
    try:
        return RESULTS.wrap(compile_search("|".join(f"(?:{w})" for w in patterns), re.DOTALL, whole=True))
    except UnsafeRegex as exc:  # cannot happen: escaped text and dots only
        raise UnsupportedRule(str(exc)) from exc


# ---------------------------------------------------------------- code generation


@dataclass(slots=True)
class _Tests:
    """The tests of one leaf, grouped by kind so each kind is one fast check."""

    eq: set[str] = field(default_factory=set)
    prefix: list[str] = field(default_factory=list)
    suffix: list[str] = field(default_factory=list)
    contains: list[str] = field(default_factory=list)
    wild: list[str] = field(default_factory=list)
    c_eq: set[str] = field(default_factory=set)
    c_prefix: list[str] = field(default_factory=list)
    c_suffix: list[str] = field(default_factory=list)
    c_contains: list[str] = field(default_factory=list)
    c_wild: list[str] = field(default_factory=list)
    any_value: bool = False
    null: bool = False
    exists: list[bool] = field(default_factory=list)
    regexes: list[Search] = field(default_factory=list)
    #: per regex, the fewest characters a match has (a shorter value is answered by ``len``)
    widths: list[int] = field(default_factory=list)
    networks: list[IPv4Network | IPv6Network] = field(default_factory=list)
    compares: list[tuple[str, float]] = field(default_factory=list)
    refs: list[tuple[str, bool, bool]] = field(default_factory=list)
    parts: list[tuple[str, int]] = field(default_factory=list)
    anchors: set[Anchor] | None = field(default_factory=set)
    #: anchors whose presence alone makes the leaf true (exact tests on ASCII literals)
    sufficient: set[Anchor] = field(default_factory=set)

    def no_anchor(self) -> None:
        self.anchors = None

    def anchor(self, anchor: Anchor) -> None:
        if self.anchors is not None:
            self.anchors.add(anchor)


_COMPARE_OPS = {
    CompareOperators.LT: "<",
    CompareOperators.LTE: "<=",
    CompareOperators.GT: ">",
    CompareOperators.GTE: ">=",
    CompareOperators.NEQ: "!=",
}


class _Compiler:
    """Builds the source of one rule; constants go into the namespace as globals."""

    def __init__(self, placeholders: Mapping[str, Sequence[str]], *, inline: bool = True) -> None:
        self.placeholders = placeholders
        #: test a field's single string value inside ``match`` itself (no call per leaf)
        self.inline = inline
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {
            "norm": rt.norm,
            "norm_cased": rt.norm_cased,
            "number": rt.number,
            "in_networks": rt.in_networks,
            "timestamp_part": rt.timestamp_part,
            "keyword_values": rt.keyword_values,
        }
        self.counter = 0
        self.fields: dict[str, None] = {}

    def const(self, value: Any) -> str:
        name = f"_k{len(self.namespace)}"
        self.namespace[name] = value
        return name

    # -- values ---------------------------------------------------------------
    def _resolve(self, value: SigmaString) -> list[SigmaString]:
        if not value.contains_placeholder():
            return [value]

        def replace(placeholder: Placeholder) -> Iterator[SigmaString]:
            for text in self.placeholders.get(placeholder.name, ()):
                yield SigmaString(text)

        resolved = value.replace_placeholders(replace)
        if isinstance(value, SigmaCasedString):
            resolved = [SigmaCasedString.from_sigma_string(item) for item in resolved]
        return resolved

    def _add_string(self, tests: _Tests, leaf_field: str | None, value: SigmaString) -> None:
        cased = isinstance(value, SigmaCasedString)
        for item in self._resolve(value):
            pattern = pattern_of(item, lower=not cased, keyword=leaf_field is None)
            prefix = "c_" if cased else ""
            if pattern.kind == "any":
                tests.any_value = True
            elif pattern.kind == "exact":
                getattr(tests, prefix + "eq").add(pattern.text)
            elif pattern.kind == "regex":
                getattr(tests, prefix + "wild").append(pattern.text)
            else:
                getattr(tests, prefix + pattern.kind).append(pattern.text)
            literal = rt.fold(pattern.literal)
            kind = {"exact": "eq", "prefix": "pre", "suffix": "suf"}.get(pattern.kind, "sub")
            anchor: Anchor | None = None
            if kind == "eq" and leaf_field is not None:
                anchor = ("eq", leaf_field, rt.fold(pattern.text))
            elif kind in ("pre", "suf") and leaf_field is not None and literal:
                anchor = (kind, leaf_field, literal)
            elif literal:
                anchor = ("sub", leaf_field, literal)
            if anchor is not None:
                tests.anchor(anchor)
                if not cased and pattern.kind != "regex" and pattern.text.isascii():
                    tests.sufficient.add(anchor)
            elif leaf_field is not None:
                tests.anchor(("has", leaf_field, ""))
            else:
                tests.no_anchor()

    def _tests(self, leaf: Leaf) -> _Tests:
        tests = _Tests()
        for value in leaf.values:
            if isinstance(value, SigmaString):
                self._add_string(tests, leaf.field, value)
            elif isinstance(value, SigmaTimestampPart):
                if leaf.field is None:
                    raise UnsupportedRule("a timestamp modifier needs a field")
                part = _TIMESTAMP_PARTS[value.timestamp_part.name]
                tests.parts.append((part, int(value.number)))
                tests.anchor(("has", leaf.field, ""))
            elif isinstance(value, SigmaNumber | SigmaBool):
                text = rt.norm(value.number if isinstance(value, SigmaNumber) else value.boolean)
                anchor = ("sub", None, text) if leaf.field is None else ("eq", leaf.field, text)
                if leaf.field is None:
                    tests.contains.append(text)
                else:
                    tests.eq.add(text)
                tests.anchor(anchor)
                if text.isascii():
                    tests.sufficient.add(anchor)
            elif isinstance(value, SigmaNull):
                tests.null = True
                tests.no_anchor()
            elif isinstance(value, SigmaExists):
                tests.exists.append(bool(value.exists))
                if value.exists and leaf.field is not None:
                    tests.anchor(("has", leaf.field, ""))
                else:
                    tests.no_anchor()
            elif isinstance(value, SigmaRegularExpression):
                flags = 0
                for flag in value.flags:
                    flags |= SigmaRegularExpression.sigma_to_python_flags[flag]
                regexes = [value]
                if value.regexp.contains_placeholder():
                    regexes = value.replace_placeholders(
                        lambda p: iter(self.placeholders.get(p.name, ()))
                    )
                for regex in regexes:
                    try:
                        tests.regexes.append(RESULTS.wrap(compile_search(str(regex.regexp), flags)))
                        tests.widths.append(min_width(str(regex.regexp), flags))
                    except UnsafeRegex as exc:
                        raise UnsupportedRule(str(exc), str(regex.regexp)) from exc
                    literals = required_literals(str(regex.regexp), flags)
                    if literals:
                        for literal in literals:
                            tests.anchor(("sub", leaf.field, literal))
                    elif leaf.field is not None:
                        tests.anchor(("has", leaf.field, ""))
                    else:
                        tests.no_anchor()
            elif isinstance(value, SigmaCIDRExpression):
                tests.networks.append(value.network)
                tests.anchor(("has", leaf.field or "", ""))
            elif isinstance(value, SigmaCompareExpression):
                tests.compares.append((_COMPARE_OPS[value.op], float(value.number.number)))
                tests.anchor(("has", leaf.field or "", ""))
            elif isinstance(value, SigmaFieldReference):
                tests.refs.append((value.field, value.starts_with, value.ends_with))
                self.fields.setdefault(value.field, None)
                tests.anchor(("has", leaf.field or "", ""))
            else:
                raise UnsupportedRule(f"unsupported value type {type(value).__name__}")
        if leaf.field is None and (tests.null or tests.exists or tests.refs or tests.compares
                                   or tests.parts or tests.networks):
            raise UnsupportedRule("this modifier needs a field, not a keyword")
        return tests

    def _test_body(self, tests: _Tests) -> list[str]:
        body: list[str] = []
        lower = any((tests.eq, tests.prefix, tests.suffix, tests.contains, tests.wild))
        cased = any((tests.c_eq, tests.c_prefix, tests.c_suffix, tests.c_contains, tests.c_wild,
                     tests.regexes, tests.refs))
        if tests.any_value:
            return ["return True"]
        if lower:
            body.append("s = v.lower() if v.__class__ is str else norm(v)")
        if cased:
            body.append("c = v if v.__class__ is str else norm_cased(v)")
        for var, pre in (("s", ""), ("c", "c_")):
            eq: set[str] = getattr(tests, pre + "eq")
            if len(eq) == 1:
                body.append(f"if {var} == {next(iter(eq))!r}: return True")
            elif eq:
                body.append(f"if {var} in {self.const(frozenset(eq))}: return True")
            for kind, method in (("prefix", "startswith"), ("suffix", "endswith")):
                items: list[str] = getattr(tests, pre + kind)
                if items:
                    arg = repr(items[0]) if len(items) == 1 else self.const(tuple(items))
                    body.append(f"if {var}.{method}({arg}): return True")
            contains: list[str] = getattr(tests, pre + "contains")
            if len(contains) == 1:
                body.append(f"if {contains[0]!r} in {var}: return True")
            elif contains:
                body.append(f"for k in {self.const(tuple(contains))}:")
                body.append(f"    if k in {var}: return True")
            wild: list[str] = getattr(tests, pre + "wild")
            if wild:
                whole = _wildcards(wild)
                body.append(f"if {self.const(whole)}({var}): return True")
        for search, width in zip(tests.regexes, tests.widths, strict=True):
            length = f"len(c) >= {width} and " if width > 1 else ""
            body.append(f"if {length}{self.const(search)}(c): return True")
        if tests.networks:
            body.append(f"if in_networks(v, {self.const(tuple(tests.networks))}): return True")
        if tests.compares:
            body.append("n = number(v)")
            checks = " or ".join(f"n {op} {num!r}" for op, num in tests.compares)
            body.append(f"if n is not None and ({checks}): return True")
        for part, num in tests.parts:
            body.append(f"if timestamp_part(v, {part!r}) == {num}: return True")
        for ref, starts, ends in tests.refs:
            method = {(False, False): "__eq__", (True, False): "startswith",
                      (False, True): "endswith", (True, True): "__contains__"}[(starts, ends)]
            body.append(f"r = e.get({ref!r})")
            body.append("if r is not None:")
            body.append("    for x in (r if r.__class__ is list else (r,)):")
            body.append(f"        if x is not None and c.lower().{method}(norm(x)): return True")
        body.append("return False")
        return body

    def leaf(self, leaf: Leaf) -> tuple[str, set[Anchor] | None, frozenset[Anchor]]:
        """Define the leaf's functions; return the expression that calls it, its anchors and
        the anchors that alone make it true."""
        tests = self._tests(leaf)
        self.counter += 1
        n = self.counter
        value_tests = _value_tests(tests)
        parts: list[str] = []
        if leaf.field is not None:
            self.fields.setdefault(leaf.field, None)
            key = repr(leaf.field)
            for flag in tests.exists:
                parts.append(f"(e.get({key}) is not None)" if flag else f"(e.get({key}) is None)")
        if value_tests or tests.null or not parts:
            self.lines.append(f"def _t{n}(v, e):")
            self.lines.extend("    " + line for line in self._test_body(tests))
            self.lines.append(f"def _l{n}(e):")
            if leaf.field is None:
                self.lines.append("    for v in keyword_values(e):")
                self.lines.append(f"        if _t{n}(v, e): return True")
                self.lines.append("    return False")
            else:
                null = "True" if tests.null else "False"
                self.lines.append(f"    v = e.get({leaf.field!r})")
                if not tests.refs and not tests.any_value:
                    # the common case, a single string value: test it inline, no second call
                    self.lines.append("    if v.__class__ is str:")
                    self.lines.extend("        " + line for line in self._test_body(tests))
                self.lines += [
                    "    if v is None:",
                    f"        return {null}",
                    "    if v.__class__ is list:",
                    "        if not v:",
                    f"            return {null}",
                    "        for x in v:",
                    f"            if x is not None and _t{n}(x, e): return True",
                    "        return False",
                    f"    return _t{n}(v, e)",
                ]
            inline = self._inline(tests, n, leaf.field) if self.inline else None
            parts.append(inline or f"_l{n}(e)")
        expression = parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"
        return expression, tests.anchors, frozenset(tests.sufficient)

    def _inline(self, tests: _Tests, n: int, leaf_field: str | None) -> str | None:
        """The leaf as one expression: its tests inline when the field holds one string (the
        usual case), else the call of ``_l{n}``; None when the leaf is not simple enough."""
        if leaf_field is not None and len(tests.refs) == 1 and not _value_tests(tests, refs=False):
            ref, starts, ends = tests.refs[0]
            method = {(False, False): "__eq__", (True, False): "startswith",
                      (False, True): "endswith", (True, True): "__contains__"}[(starts, ends)]
            # both single strings (the usual case): compare inline, else the leaf's function
            return (f"(_l{n}(e) if (_v{n} := e.get({leaf_field!r})).__class__ is not str "
                    f"or (_r{n} := e.get({ref!r})).__class__ is not str "
                    f"else _v{n}.lower().{method}(_r{n}.lower()))")
        if (leaf_field is None or tests.any_value or tests.refs or tests.networks
                or tests.compares or tests.parts):
            return None
        value, lowered = f"_v{n}", f"_s{n}"
        #: (format, argument): the test with ``{v}`` for the text tested
        lower_terms: list[tuple[str, str]] = []
        cased_terms: list[str] = []
        #: tests of the value as it is (cached searches of many substrings)
        raw_terms: list[str] = []
        for pre in ("", "c_"):
            terms: list[tuple[str, str]] = []
            eq: set[str] = getattr(tests, pre + "eq")
            if len(eq) == 1:
                terms.append(("{v} == {a}", repr(next(iter(eq)))))
            elif eq:
                terms.append(("{v} in {a}", self.const(frozenset(eq))))
            for kind, method in (("prefix", "startswith"), ("suffix", "endswith")):
                items: list[str] = getattr(tests, pre + kind)
                if items:
                    arg = repr(items[0]) if len(items) == 1 else self.const(tuple(items))
                    terms.append(("{v}." + method + "({a})", arg))
            contains: list[str] = getattr(tests, pre + "contains")
            if len(contains) >= _CACHED_CONTAINS:
                raw_terms.append(f"{self.const(_contains_any(tuple(contains), lower=not pre))}({value})")
            else:
                terms.extend(("{a} in {v}", repr(literal)) for literal in contains)
            wild: list[str] = getattr(tests, pre + "wild")
            if wild:
                terms.append(("{a}({v})", self.const(_wildcards(wild))))
            if pre:
                cased_terms.extend(form.format(v=value, a=arg) for form, arg in terms)
            else:
                lower_terms = terms
        for search, width in zip(tests.regexes, tests.widths, strict=True):
            length = f"len({value}) >= {width} and " if width > 1 else ""
            cased_terms.append(f"({length}{self.const(search)}({value}))")
        if not lower_terms and not cased_terms and not raw_terms:
            return None
        # the first lowercase test computes the lowercase text once for the others
        checks = [form.format(v=f"({lowered} := {value}.lower())" if i == 0 else lowered, a=arg)
                  for i, (form, arg) in enumerate(lower_terms)] + raw_terms + cased_terms
        return (f"(_l{n}(e) if ({value} := e.get({leaf_field!r})).__class__ is not str "
                f"else ({' or '.join(checks)}))")

    def tree(self, node: Tree) -> _Compiled:
        """Expression for a tree node, the anchor groups its truth requires, the anchors
        whose presence makes it true (``sufficient``) and those that make it false (``vetoes``).

        Every group must be hit (at least one anchor of each present); ``[]`` requires
        nothing, an empty group can never be hit (the node is always false).
        """
        none: frozenset[Anchor] = frozenset()
        if isinstance(node, Leaf):
            expression, anchors, sufficient = self.leaf(node)
            return _Compiled(expression, [] if anchors is None else [frozenset(anchors)], sufficient, none)
        if node.op == "false":
            return _Compiled("False", [frozenset()], none, none)
        if node.op == "true":
            return _Compiled("True", [], none, none)
        if node.op == "not":
            inner = self.tree(node.children[0])
            return _Compiled(f"(not {inner.expression})", [], inner.vetoes, inner.sufficient)
        compiled = [self.tree(child) for child in node.children]
        if not compiled:
            return self.tree(Node("true" if node.op == "and" else "false"))
        expression = "(" + f" {node.op} ".join(child.expression for child in compiled) + ")"
        sufficients = [child.sufficient for child in compiled]
        vetoes = [child.vetoes for child in compiled]
        if node.op == "or":
            # any true child makes it true; an anchor false-making every child makes it false
            either, both = none.union(*sufficients), frozenset.intersection(*vetoes)
            if any(not child.groups for child in compiled):
                return _Compiled(expression, [], either, both)
            # the true child hits all its groups, so the union of one group per child (the
            # j-th, or a child's last) must be hit: up to MAX_GROUPS such unions
            width = min(max(len(child.groups) for child in compiled), MAX_GROUPS)
            unions = {frozenset().union(*(child.groups[min(j, len(child.groups) - 1)]
                                          for child in compiled)) for j in range(width)}
            return _Compiled(expression, sorted(unions, key=anchor_cost)[:MAX_GROUPS], either, both)
        pool = sorted({group for child in compiled for group in child.groups}, key=anchor_cost)
        return _Compiled(expression, pool[:MAX_GROUPS], frozenset.intersection(*sufficients),
                         none.union(*vetoes))


@dataclass(slots=True)
class _Compiled:
    """A compiled tree node (see ``_Compiler.tree``)."""

    expression: str
    groups: list[frozenset[Anchor]]
    sufficient: frozenset[Anchor]
    vetoes: frozenset[Anchor]


def _value_tests(tests: _Tests, *, refs: bool = True) -> bool:
    """Whether the leaf tests values at all (``refs``: counting field references)."""
    return any((tests.eq, tests.prefix, tests.suffix, tests.contains, tests.wild, tests.c_eq,
                tests.c_prefix, tests.c_suffix, tests.c_contains, tests.c_wild, tests.any_value,
                tests.regexes, tests.networks, tests.compares, refs and tests.refs, tests.parts))


def anchor_cost(anchors: Iterable[Anchor]) -> float:
    """Rough cost of a prefilter: each anchor lets events through, short literals many."""
    cost = 0.0
    for kind, _, literal in anchors:
        cost += 50.0 if kind == "has" else 1.0 + 100.0 / max(len(literal), 1) ** 2
    return cost


#: Anchor groups kept per rule: the index asks for a hit in each (two cut candidates a lot:
#: ``Image|endswith: \\cmd.exe`` alone is common, with a command-line literal it is not).
MAX_GROUPS = 2
#: Substring literals of one leaf from which they are tested by one search cached per text.
_CACHED_CONTAINS = 6


def _contains_any(literals: tuple[str, ...], *, lower: bool) -> Search:
    """Whether one of the literals is in the text (``lower``: in its lowercase), cached per text."""
    if lower:
        def search(text: str) -> bool:
            return any(map(text.lower().__contains__, literals))
    else:
        def search(text: str) -> bool:
            return any(map(text.__contains__, literals))
    return RESULTS.wrap(search)


@dataclass(slots=True)
class CompiledRule:
    """A rule's matcher, its prefilter (anchor groups, all to be hit; none: always a
    candidate) and the fields it reads."""

    matcher: Matcher
    groups: tuple[frozenset[Anchor], ...]
    fields: tuple[str, ...]
    source: str
    #: anchors whose presence makes the rule false (a ``not`` part true)
    vetoes: frozenset[Anchor] = frozenset()

    @property
    def anchors(self) -> frozenset[Anchor] | None:
        """The most selective anchor group, or None when the rule is always a candidate."""
        return self.groups[0] if self.groups else None


def compile_condition(
    conditions: Sequence[Any], *, name: str = "rule",
    placeholders: Mapping[str, Sequence[str]] | None = None,
) -> CompiledRule:
    """Compile parsed pySigma condition trees (ORed, as a rule's condition list) into a matcher."""
    trees = [to_tree(item) for item in conditions]
    root = trees[0] if len(trees) == 1 else Node("or", trees)
    for inline in (True, False):  # the inline form is longer: should it not compile, the other
        compiler = _Compiler(placeholders or {}, inline=inline)
        top = compiler.tree(root)
        source = "\n".join([*compiler.lines, f"def match(e):\n    return {top.expression}\n"])
        try:
            code = compile(source, f"<sigma {name}>", "exec")
            break
        except (SyntaxError, RecursionError, MemoryError) as exc:
            if not inline:
                raise UnsupportedRule(f"condition too complex to compile: {exc}") from exc
    namespace = compiler.namespace
    exec(code, namespace)  # the source is generated above from parsed values only
    matcher: Matcher = namespace["match"]
    return CompiledRule(
        matcher=matcher,
        groups=tuple(top.groups),
        fields=tuple(compiler.fields),
        source=source,
        vetoes=top.vetoes,
    )


def compile_rule(
    rule: SigmaRule, placeholders: Mapping[str, Sequence[str]] | None = None
) -> CompiledRule:
    """Compile a pySigma rule (after any processing pipeline) into a matcher."""
    try:
        conditions = [condition.parse() for condition in rule.detection.parsed_condition]
    except SigmaError as exc:
        raise UnsupportedRule(str(exc)) from exc
    return compile_condition(conditions, name=str(rule.id or rule.title),
                             placeholders=placeholders)

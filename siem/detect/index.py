"""The rule index: which rules can possibly match an event, found without trying them all.

Each compiled rule carries one or two anchor groups (``compiler.Anchor``): sets of
(field, literal) pairs, and the rule can only match when every group has an anchor present
in the event. Per field the index keeps a dict of exact literals and one Aho-Corasick
automaton (pyahocorasick) over the substring literals; an event has each of its present
fields scanned once, which yields, per group slot, the rules hit. A rule with two groups is a
candidate when both slots hit it. Rules without anchors (e.g. ``not selection`` only) are
always candidates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import ahocorasick

from siem.detect.compiler import Anchor
from siem.detect.values import KEYWORD_SKIP, norm

Ids = tuple[int, ...]
#: Rules hit in group slot 0 and in slot 1.
Hits = tuple[Ids, Ids]
_NO_HITS: Hits = ((), ())
#: Every character ``norm`` can write for an int, float or bool (digits, inf, nan, true, false).
_SCALAR_CHARS = frozenset("0123456789.-+einfatrulsn")
#: Per field: exact literals, substring automaton, rules wanting the field present, value cache.
_Entry = tuple[dict[str, Hits] | None, Any, Hits, dict[str, Hits]]


def _hits(slots: Sequence[set[int]]) -> Hits:
    return tuple(sorted(slots[0])), tuple(sorted(slots[1]))


class RuleIndex:
    """Candidate rule numbers for an event, from the anchor groups of the rules given."""

    def __init__(
        self, rules: Sequence[tuple[int, Sequence[frozenset[Anchor]]]], *, cache_size: int = 16384
    ) -> None:
        #: Per field, string value -> rules its scan hit (values repeat a lot in logs: image
        #: paths, users, hosts); cleared when full, 0 turns it off.
        self.cache_size = cache_size

        def slots() -> list[set[int]]:
            return [set(), set()]

        exact: dict[str, dict[str, list[set[int]]]] = defaultdict(lambda: defaultdict(slots))
        present: dict[str, list[set[int]]] = defaultdict(slots)
        substrings: dict[str | None, dict[str, list[set[int]]]] = defaultdict(
            lambda: defaultdict(slots))
        always: list[int] = []
        multi: list[int] = []
        for number, groups in rules:
            if not groups:
                always.append(number)
                continue
            if len(groups) > 1:
                multi.append(number)
            for slot, group in enumerate(groups[:2]):
                for kind, field, literal in group:
                    if kind == "has" and field is not None:
                        present[field][slot].add(number)
                    elif kind == "eq" and field is not None:
                        exact[field][literal][slot].add(number)
                    else:
                        substrings[field][literal][slot].add(number)
        self.always: frozenset[int] = frozenset(always)
        self.multi: frozenset[int] = frozenset(multi)
        self.size = len(rules)
        self.fields: dict[str, _Entry] = {}
        for field in set(exact) | set(present) | {f for f in substrings if f is not None}:
            eq = {lit: _hits(ids) for lit, ids in exact[field].items()} if field in exact \
                else None
            automaton = _automaton(substrings[field]) if field in substrings else None
            has = _hits(present[field]) if field in present else _NO_HITS
            self.fields[field] = (eq, automaton, has, {})
        self.keywords = _automaton(substrings[None]) if None in substrings else None
        #: Whether a keyword literal could occur in a number's or boolean's text at all.
        self._keyword_scalars = any(
            not set(literal) - _SCALAR_CHARS for literal in substrings.get(None, {}))
        #: string values already scanned for keywords, and those that hit
        self._keyword_seen: set[str] = set()
        self._keyword_hits: dict[str, Hits] = {}

    def candidates(self, event: Mapping[str, Any]) -> set[int]:
        """Numbers of the rules that may match the event (a superset of those that do)."""
        first: set[int] = set(self.always)
        second: set[int] = set()
        fields = self.fields
        cache_size = self.cache_size
        for key in event.keys() & fields.keys():
            value = event[key]
            if value is None:
                continue
            eq, automaton, has, cache = fields[key]
            if has is not _NO_HITS:
                first.update(has[0])
                second.update(has[1])
            if value.__class__ is str:
                hits = cache.get(value)
                if hits is None:
                    hits = _scan(eq, automaton, value.lower())
                    if cache_size:
                        if len(cache) >= cache_size:
                            cache.clear()
                        cache[value] = hits
                if hits is not _NO_HITS:
                    first.update(hits[0])
                    second.update(hits[1])
                continue
            for item in value if value.__class__ is list else (value,):
                if item is not None:
                    hits = _scan(eq, automaton, norm(item))
                    first.update(hits[0])
                    second.update(hits[1])
        if self.keywords is not None:
            self._keyword_candidates(event, first, second)
        if not second:
            return first - self.multi if self.multi else first
        return (first - self.multi) | (first & second)

    def _keyword_candidates(self, event: Mapping[str, Any], first: set[int],
                            second: set[int]) -> None:
        """Add the rules whose keyword literals occur in some value (each value on its own,
        as keyword matchers search). String values are handled as sets: only values never
        seen are scanned, only those known to hit are looked up."""
        keywords = self.keywords
        skip = KEYWORD_SKIP if len(event) > 1 else ()
        if skip and any(key in event for key in skip):
            strings = {v for k, v in event.items() if v.__class__ is str and k not in skip}
        else:
            strings = {v for v in event.values() if v.__class__ is str}
        known, hitting = self._keyword_seen, self._keyword_hits
        # known hits first: scanning new values below may clear the caches
        for value in strings & hitting.keys():
            hits = hitting[value]
            first.update(hits[0])
            second.update(hits[1])
        for value in strings - known:
            hits = _scan(None, keywords, value.lower())
            if self.cache_size:
                if len(known) >= self.cache_size:
                    known.clear()
                    hitting.clear()
                known.add(value)
                if hits is not _NO_HITS:
                    hitting[value] = hits
            first.update(hits[0])
            second.update(hits[1])
        if self._keyword_scalars:  # numbers and booleans may hold a literal too
            others = [v for v in event.values() if v is not None and v.__class__ is not str]
        else:
            others = [v for v in event.values() if v.__class__ is list]
        for value in others:
            for item in value if value.__class__ is list else (value,):
                if item is not None and (item.__class__ is str or self._keyword_scalars):
                    hits = _scan(None, keywords, norm(item))
                    first.update(hits[0])
                    second.update(hits[1])


def _scan(eq: dict[str, Hits] | None, automaton: Any, text: str) -> Hits:
    """Rules whose exact or substring literals occur in one lowercase value, per slot."""
    first: set[int] = set()
    second: set[int] = set()
    if eq is not None:
        hit = eq.get(text)
        if hit is not None:
            first.update(hit[0])
            second.update(hit[1])
    if automaton is not None:
        for _, (ids0, ids1) in automaton.iter(text):
            first.update(ids0)
            second.update(ids1)
    if not first and not second:
        return _NO_HITS
    return tuple(first), tuple(second)


def _automaton(literals: Mapping[str, Iterable[set[int]]]) -> Any:
    automaton = ahocorasick.Automaton()
    for literal, slots in literals.items():
        first, second = slots
        automaton.add_word(literal, (tuple(sorted(first)), tuple(sorted(second))))
    automaton.make_automaton()
    return automaton

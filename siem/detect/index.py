"""The rule index: which rules can possibly match an event, found without trying them all.

Each compiled rule carries one or two anchor groups (``compiler.Anchor``): sets of
(field, literal) pairs, and the rule can only match when every group has an anchor present
in the event. Per field the index keeps a dict of exact literals and one Aho-Corasick
automaton (pyahocorasick) over the substring literals; keyword literals (no field) have one
automaton searched in every value. A rule with two groups is a candidate when both group
slots hit it. Rules without anchors (e.g. ``not selection`` only) are always candidates.

Rules are bits of one Python int (bit i: the i-th rule given, slot 0 in the low half, slot 1
in the high half), so an event's hits are ORed in one operation per value. Each (field,
value) is scanned once, for its field literals and the keyword literals together, and its
bits are cached (values repeat a lot in logs: image paths, users, hosts, event ids); the
ordered rule numbers of each distinct candidate set are computed once too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import reduce
from operator import or_
from typing import Any

import ahocorasick

from siem.detect.compiler import Anchor
from siem.detect.values import KEYWORD_SKIP, norm

#: Every character ``norm`` can write for an int, float or bool (digits, inf, nan, true, false).
_SCALAR_CHARS = frozenset("0123456789.-+einfatrulsn")
#: Distinct candidate sets remembered with their ordered rule numbers (cleared when full).
_MEMO_SIZE = 8192
#: Value types whose (field, value) pairs can share one cache: no two of them compare equal
#: while scanning differently (``True == 1`` and ``1.0 == 1`` do, so bool/float stay out).
_PLAIN_TYPES = frozenset({str, int, type(None)})
#: The shared (field, value) cache holds this many times ``cache_size`` entries.
_SHARED_FACTOR = 4


class _BitsCache(dict[tuple[str, Any], int]):
    """(field, value) -> bits; a miss scans the value (and keeps it unless caching is off)."""

    __slots__ = ("index", "limit")

    def __init__(self, index: RuleIndex, limit: int) -> None:
        super().__init__()
        self.index = index
        self.limit = limit

    def __missing__(self, item: tuple[str, Any]) -> int:
        index = self.index
        value = item[1]
        # A number in a field no rule names can only hit keyword literals made of digits:
        # answer at once and keep it out of the cache (record ids, pids, counters are
        # nearly all distinct and would only push useful entries out).
        if value.__class__ is int and not index.keyword_scalars and item[0] not in index.fields:
            return 0
        bits = index.value_bits(item[0], value, keyword_skip=True)
        if self.limit:
            if len(self) >= self.limit:
                self.clear()
            self[item] = bits
        return bits


class RuleIndex:
    """Candidate rule numbers for an event, from the anchor groups of the rules given."""

    def __init__(
        self, rules: Sequence[tuple[int, Sequence[frozenset[Anchor]]]], *, cache_size: int = 16384
    ) -> None:
        #: Per field, value -> bits its scan hit; cleared when full, 0 turns it off.
        self.cache_size = cache_size
        self.numbers: tuple[int, ...] = tuple(number for number, _ in rules)
        self.size = size = len(rules)
        exact: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        present: dict[str, int] = defaultdict(int)
        substrings: dict[str | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        always = 0
        multi = 0
        for position, (_, groups) in enumerate(rules):
            if not groups:
                always |= 1 << position
                continue
            if len(groups) > 1:
                multi |= 1 << position
            for slot, group in enumerate(groups[:2]):
                bit = 1 << (position + slot * size)
                for kind, field, literal in group:
                    if kind == "has" and field is not None:
                        present[field] |= bit
                    elif kind == "eq" and field is not None:
                        exact[field][literal] |= bit
                    else:
                        substrings[field][literal] |= bit
        self.always = frozenset(self.numbers[p] for p in _positions(always))
        self.multi = frozenset(self.numbers[p] for p in _positions(multi))
        self._always_bits = always
        self._single_bits = ((1 << size) - 1) & ~multi
        #: Per field: exact literals (or None), substring automaton (or None), present bits.
        self.fields: dict[str, tuple[dict[str, int] | None, Any, int]] = {}
        for field in set(exact) | set(present) | {f for f in substrings if f is not None}:
            eq = dict(exact[field]) if field in exact else None
            automaton = _automaton(substrings[field]) if field in substrings else None
            self.fields[field] = (eq, automaton, present.get(field, 0))
        self.keywords = _automaton(substrings[None]) if None in substrings else None
        #: Whether a keyword literal could occur in a number's or boolean's text at all.
        self.keyword_scalars = any(
            not set(literal) - _SCALAR_CHARS for literal in substrings.get(None, {}))
        self._caches: dict[str, dict[Any, int]] = {}
        self._shared = _BitsCache(self, cache_size * _SHARED_FACTOR)
        self._memo: dict[int, tuple[int, ...]] = {}

    def candidates(self, event: Mapping[str, Any]) -> set[int]:
        """Numbers of the rules that may match the event (a superset of those that do)."""
        return set(self.ordered(event))

    def ordered(self, event: Mapping[str, Any]) -> tuple[int, ...]:
        """The candidate rule numbers for the event, ascending."""
        if len(event) < 2:
            bits = self._always_bits
            for key, value in event.items():
                bits |= self.value_bits(key, value, keyword_skip=False)
        elif _PLAIN_TYPES.issuperset(map(type, event.values())):
            # the common case, all in C: one cache lookup per (field, value), ORed
            bits = reduce(or_, filter(None, map(self._shared.__getitem__, event.items())),
                          self._always_bits)
        else:
            bits = self._always_bits
            caches = self._caches
            cache_size = self.cache_size
            for key, value in event.items():
                cls = value.__class__
                if cls is str or cls is int:  # bool is not int here: True == 1 in a dict
                    cache = caches.get(key)
                    if cache is None:
                        cache = caches[key] = {}
                    hit = cache.get(value)
                    if hit is None:
                        hit = self.value_bits(key, value, keyword_skip=True)
                        if cache_size:
                            if len(cache) >= cache_size:
                                cache.clear()
                            cache[value] = hit
                    bits |= hit
                elif value is not None:
                    bits |= self.value_bits(key, value, keyword_skip=True)
        size = self.size
        first = bits & ((1 << size) - 1)
        candidates = first & (self._single_bits | (bits >> size))
        found = self._memo.get(candidates)
        if found is None:
            numbers = self.numbers
            found = tuple(numbers[p] for p in _positions(candidates))
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[candidates] = found
        return found

    def value_bits(self, key: str, value: Any, *, keyword_skip: bool) -> int:
        """Bits hit by one non-null value of the event: its field's literals (exact and
        substring, plus presence) and the keyword literals (searched in each value on its own,
        as keyword matchers search; ``event.original`` is skipped when other fields exist)."""
        if value is None:
            return 0
        bits = 0
        entry = self.fields.get(key)
        is_str = value.__class__ is str
        lowered = value.lower() if is_str else ""
        if entry is not None:
            eq, automaton, has = entry
            bits = has
            if is_str:
                bits = _scan(eq, automaton, lowered, bits)
            else:
                for item in value if value.__class__ is list else (value,):
                    if item is not None:
                        bits = _scan(eq, automaton, norm(item), bits)
        keywords = self.keywords
        if keywords is None:
            return bits
        if is_str:
            if not (keyword_skip and key in KEYWORD_SKIP):
                for _, hit in keywords.iter(lowered):
                    bits |= hit
        elif self.keyword_scalars:  # numbers and booleans may hold a literal too
            for item in value if value.__class__ is list else (value,):
                if item is not None:
                    bits = _scan(None, keywords, norm(item), bits)
        elif value.__class__ is list:
            for item in value:
                if item.__class__ is str:
                    bits = _scan(None, keywords, norm(item), bits)
        return bits


def _positions(bits: int) -> list[int]:
    """Positions of the set bits, ascending."""
    return [position for position, digit in enumerate(bin(bits)[:1:-1]) if digit == "1"]


def _scan(eq: dict[str, int] | None, automaton: Any, text: str, bits: int) -> int:
    """``bits`` plus the rules whose exact or substring literals occur in one lowercase value."""
    if eq is not None:
        bits |= eq.get(text, 0)
    if automaton is not None:
        for _, hit in automaton.iter(text):
            bits |= hit
    return bits


def _automaton(literals: Mapping[str, int]) -> Any:
    automaton = ahocorasick.Automaton()
    for literal, bits in literals.items():
        automaton.add_word(literal, bits)
    automaton.make_automaton()
    return automaton

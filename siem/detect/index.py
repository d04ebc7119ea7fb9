"""The rule index: which rules can possibly match an event, found without trying them all.

Each compiled rule carries one or two anchor groups (``compiler.Anchor``): sets of
(field, literal) pairs, and the rule can only match when every group has an anchor present
in the event. Per field the index keeps a dict of exact literals and one Aho-Corasick
automaton (pyahocorasick) over the substring, prefix and suffix literals; keyword literals (no
field) have one automaton searched in every value. A rule with two groups is a candidate when
both group slots hit it. Rules without anchors (e.g. ``not selection`` only) are always
candidates, unless a *veto* anchor is present: one whose presence makes the rule false (its
``not`` part true), e.g. ``Image|contains: '\\'`` under ``not``.

Rules are bits of one Python int (bit i: the i-th rule given, slot 0 in the low third, slot 1
in the middle, vetoes in the high third), so an event's hits are ORed in one operation per
value. Values are searched in their fold (``values.fold``). Each (field, value) is scanned
once, for its field literals and the keyword literals together, and its bits are cached
(values repeat a lot in logs: image paths, users, hosts, event ids); the lookups run in C. A
text that cannot hold any keyword literal (times, ids, hex) in a field no rule names is
answered without a scan. A full cache starts afresh, keeping the previous generation to consult;
the ordered rule numbers of each distinct candidate set are computed once too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import reduce
from operator import or_
from typing import Any

import ahocorasick

from siem.detect.compiler import Anchor
from siem.detect.values import KEYWORD_SKIP, fold, norm

#: Every character ``norm`` can write for an int, float or bool (digits, inf, nan, true, false).
_SCALAR_CHARS = frozenset("0123456789.-+einfatrulsn")
#: Distinct candidate sets remembered with their ordered rule numbers (cleared when full).
_MEMO_SIZE = 8192
#: Characters of times, ids and hex numbers: a text made only of these is skipped by the keyword
#: search when every keyword literal has another character (first set that works is used).
_GATES = ("0123456789abcdefxtz-:.{}+ /_", "0123456789tz-:.+ /")
#: Each cache generation holds this many times ``cache_size`` entries.
_CACHE_FACTOR = 4
#: Stands for a list value in a cache key (a list is unhashable: its items become a tuple).
_LIST = object()


class _Cache(dict[Any, int]):
    """key -> bits, computed on a miss; two generations (the older is kept when full)."""

    __slots__ = ("compute", "limit", "old")

    def __init__(self, compute: Any, limit: int) -> None:
        super().__init__()
        self.compute = compute
        self.limit = limit
        self.old: dict[Any, int] = {}

    def __missing__(self, key: Any) -> int:
        bits = self.old.get(key)
        if bits is None:
            bits = self.compute(key)
        if self.limit:
            if len(self) >= self.limit:
                self.old = dict(self)
                self.clear()
            self[key] = bits
        return bits


class RuleIndex:
    """Candidate rule numbers for an event, from the anchor groups of the rules given."""

    def __init__(
        self, rules: Sequence[tuple[int, Sequence[frozenset[Anchor]]]], *, cache_size: int = 16384,
        vetoes: Mapping[int, frozenset[Anchor]] | None = None,
    ) -> None:
        #: Entries per cache generation, 0 turns caching off.
        self.cache_size = cache_size
        self.numbers: tuple[int, ...] = tuple(number for number, _ in rules)
        self.size = size = len(rules)
        exact: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        present: dict[str, int] = defaultdict(int)
        #: per field (None: keywords), literal -> [substring bits, prefix bits, suffix bits]
        words: dict[str | None, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
        always = 0
        multi = 0
        veto_bits = 0

        def add(kind: str, field: str | None, literal: str, bit: int) -> None:
            if kind == "has" and field is not None:
                present[field] |= bit
            elif kind == "eq" and field is not None:
                exact[field][literal] |= bit
            else:
                words[field][literal][{"pre": 1, "suf": 2}.get(kind, 0)] |= bit

        for position, (number, groups) in enumerate(rules):
            if not groups:
                always |= 1 << position
            elif len(groups) > 1:
                multi |= 1 << position
            for slot, group in enumerate(groups[:2]):
                for kind, field, literal in group:
                    add(kind, field, literal, 1 << (position + slot * size))
            for kind, field, literal in (vetoes or {}).get(number, ()):
                if kind != "has" and literal.isascii():
                    veto_bits |= 1 << (position + 2 * size)
                    add(kind, field, literal, 1 << (position + 2 * size))
        self.always = frozenset(self.numbers[p] for p in _positions(always))
        self.multi = frozenset(self.numbers[p] for p in _positions(multi))
        self._always_bits = always
        self._single_bits = ((1 << size) - 1) & ~multi
        self._mask = (1 << size) - 1
        #: the veto third of the bits (only ASCII texts may veto: there fold is lower)
        self._veto_mask = veto_bits
        #: Per field: exact literals (or None), automaton (or None), present bits.
        self.fields: dict[str, tuple[dict[str, int] | None, Any, int]] = {}
        for field in set(exact) | set(present) | {f for f in words if f is not None}:
            eq = dict(exact[field]) if field in exact else None
            automaton = _automaton(words[field]) if field in words else None
            self.fields[field] = (eq, automaton, present.get(field, 0))
        self.keywords = _automaton(words[None]) if None in words else None
        literals = list(words.get(None, {}))
        #: Whether a keyword literal could occur in a number's or boolean's text at all.
        self.keyword_scalars = any(not set(literal) - _SCALAR_CHARS for literal in literals)
        gate = next((g for g in _GATES if all(set(literal) - set(g) for literal in literals)), "")
        self._gate = gate + gate.upper()
        self._named = frozenset(self.fields)
        self._cache = _Cache(self._item_bits, cache_size * _CACHE_FACTOR)
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
        else:
            try:  # all in C: one cache lookup per (field, value), the hits ORed
                bits = reduce(or_, filter(None, map(self._cache.__getitem__, event.items())),
                              self._always_bits)
            except TypeError:  # a list (or dict) value: unhashable
                bits = self._slow_bits(event)
        found = self._memo.get(bits)  # events of one kind hit the same bits: decode them once
        if found is None:
            size = self.size
            candidates = bits & self._mask & (self._single_bits | (bits >> size))
            if self._veto_mask:
                candidates &= ~(bits >> (2 * size))
            numbers = self.numbers
            found = tuple(numbers[p] for p in _positions(candidates))
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[bits] = found
        return found

    def _slow_bits(self, event: Mapping[str, Any]) -> int:
        """``ordered``'s bits when some value is unhashable: lists are looked up as tuples."""
        bits = self._always_bits
        keywords = self.keywords is not None
        for key, value in event.items():
            if key not in self._named and (not keywords or key in KEYWORD_SKIP):
                continue
            try:
                bits |= self._cache[(key, (_LIST, tuple(value)) if value.__class__ is list else value)]
            except TypeError:  # nested lists or dicts: no caching
                bits |= self.value_bits(key, value)
        return bits

    def _item_bits(self, item: tuple[str, Any]) -> int:
        """Bits of one (field, value) of an event with other fields (a cache miss)."""
        key, value = item
        cls = value.__class__
        if key not in self._named:  # only keyword literals can be hit: answer cheap cases at once
            if self.keywords is None or key in KEYWORD_SKIP or value is None:
                return 0
            if cls is str:
                return 0 if self._gate and not value.strip(self._gate) else self.keyword_bits(value)
            if cls in (int, bool, float) and not self.keyword_scalars:
                return 0
        if cls is tuple and value and value[0] is _LIST:
            value = list(value[1])
        elif cls in (int, bool, float) and value in (0, 1):
            # 1 == True == 1.0 share a cache entry: keep the candidates of both texts
            return _either(self.value_bits(key, int(value)), self.value_bits(key, bool(value)),
                           self._veto_mask)
        return self.value_bits(key, value)

    def value_bits(self, key: str, value: Any, *, keyword_skip: bool = True) -> int:
        """Bits hit by one value of the event: its field's literals (exact, substring, prefix,
        suffix, plus presence) and the keyword literals (searched in each value on its own,
        as keyword matchers search; ``event.original`` is skipped when other fields exist)."""
        if value is None:
            return 0
        bits = 0
        entry = self.fields.get(key)
        if entry is not None:
            eq, automaton, has = entry
            bits = has
            for text in _texts(value, scalars=True):
                bits |= self._scan(eq, automaton, text)
        if self.keywords is not None and not (keyword_skip and key in KEYWORD_SKIP):
            bits |= self.keyword_bits(value)
        return bits

    def keyword_bits(self, value: Any) -> int:
        """Bits of the keyword literals found in one value (each list item on its own)."""
        if self.keywords is None or value is None:
            return 0
        bits = 0
        for text in _texts(value, scalars=self.keyword_scalars):
            bits |= self._scan(None, self.keywords, text)
        return bits

    def _scan(self, eq: dict[str, int] | None, automaton: Any, text: str) -> int:
        """The rules whose exact, substring, prefix or suffix literals are in one folded text."""
        bits = 0
        if eq is not None:
            bits = eq.get(text, 0)
        if automaton is not None:
            last = len(text) - 1
            for end, hit in automaton.iter(text):
                if hit.__class__ is int:
                    bits |= hit
                else:
                    sub, prefix, suffix, length = hit
                    bits |= sub
                    if end == last:
                        bits |= suffix
                    if end + 1 == length:
                        bits |= prefix
        if self._veto_mask and not text.isascii():
            bits &= ~self._veto_mask
        return bits


def _texts(value: Any, *, scalars: bool) -> list[str]:
    """The folded texts of a value as matchers compare them (list items one by one); numbers
    and booleans only when ``scalars``."""
    texts = []
    for item in value if value.__class__ is list else (value,):
        if item is None:
            continue
        if item.__class__ is str:
            texts.append(fold(item))
        elif scalars or item.__class__ not in (int, bool, float):
            texts.append(fold(norm(item)))
    return texts


def _either(first: int, second: int, veto_mask: int) -> int:
    """Bits of a value that stands for two texts: hits of either, vetoes of both."""
    return ((first | second) & ~veto_mask) | (first & second & veto_mask)


def _positions(bits: int) -> list[int]:
    """Positions of the set bits, ascending."""
    return [position for position, digit in enumerate(bin(bits)[:1:-1]) if digit == "1"]


def _automaton(literals: Mapping[str, list[int]]) -> Any:
    automaton = ahocorasick.Automaton()
    for literal, (sub, prefix, suffix) in literals.items():
        automaton.add_word(literal, sub if not (prefix or suffix) else (sub, prefix, suffix, len(literal)))
    automaton.make_automaton()
    return automaton

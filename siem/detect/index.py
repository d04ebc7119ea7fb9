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

Which (field, value) pairs an event is looked up by depends on its *shape* (its field names, in
order), worked out once per shape: fields no literal can hit are left out (a field no rule names,
when the rules have no keyword literals; ``event.original``), and so are *volatile* fields: a
field no rule names whose values keep missing the cache while being trivially keyword-free
(record numbers, times, process ids). Their values are checked on each event instead (one test
in C that their texts hold gate characters only, far cheaper than a cache miss); one that needs
a keyword scan after all is looked up in the cache as any other, and a field that does so often
is volatile no more. The cache holds each distinct bits value as one ``_Bits`` object, so an
event's nonzero hits, as a tuple, key its candidates without ORing or hashing long ints.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from functools import reduce
from operator import itemgetter, or_
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
#: Classes whose values are searched by keyword only when a keyword literal could be in their text.
_SCALARS = (int, bool, float)
#: Trivially keyword-free cache misses after which a field no rule names becomes volatile.
_VOLATILE_MISSES = 64
#: Keyword scans of a volatile field's values after which it is volatile no more (per generation).
_VOLATILE_SCANS = 16
#: Distinct shapes (field names of an event, in order) remembered per index (cleared when full).
_MAX_SHAPES = 1024

#: A shape's plan: the fields looked up and a function giving their values, the same for the
#: volatile fields.
_Values = Callable[[Mapping[str, Any]], tuple[Any, ...]]
_Shape = tuple[tuple[str, ...], _Values, tuple[str, ...], _Values]


class _Bits:
    """Nonzero bits of a cache entry, in an object hashed by identity: an event's hits, as a tuple
    of these, are a cheap key for its candidates (no OR of long ints, no hashing them)."""

    __slots__ = ("bits",)

    def __init__(self, bits: int) -> None:
        self.bits = bits


class _Cache(dict[Any, "_Bits | int"]):
    """key -> ``_Bits`` (0 when no bits), computed on a miss; two generations (the older is
    kept when full)."""

    __slots__ = ("compute", "limit", "old", "rotated")

    def __init__(self, compute: Any, limit: int, rotated: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.compute = compute
        self.limit = limit
        self.old: dict[Any, _Bits | int] = {}
        #: called when a new generation starts
        self.rotated = rotated

    def __missing__(self, key: Any) -> _Bits | int:
        bits = self.old.get(key)
        if bits is None:
            bits = self.compute(key)
        if self.limit:
            if len(self) >= self.limit:
                self.old = dict(self)
                self.clear()
                if self.rotated is not None:
                    self.rotated()
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
        self._cache = _Cache(self._item_token, cache_size * _CACHE_FACTOR, self._new_generation)
        self._memo: dict[int, tuple[int, ...]] = {}
        #: the candidates of each distinct tuple of hits (``_Bits``) seen, and the ``_Bits`` of
        #: each distinct bits value (so equal bits give equal hits)
        self._combos: dict[tuple[_Bits, ...], tuple[int, ...]] = {}
        self._tokens: dict[int, _Bits] = {}
        #: bytes of the gate characters (deleted from a text's UTF-8: nothing left, all gate)
        self._gate_bytes = self._gate.encode()
        self._shapes: dict[tuple[str, ...], _Shape] = {}
        #: fields no rule names whose values are checked on each event, not looked up
        self.volatile: set[str] = set()
        #: per unnamed field: trivially keyword-free misses (this generation)
        self._misses: dict[str, int] = {}
        #: per volatile field: values that needed a keyword scan (this generation)
        self._scans: dict[str, int] = {}
        #: fields that lost their volatility this generation (not made volatile again in it)
        self._mixed: set[str] = set()

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
            shape = self._shapes.get(tuple(event))
            if shape is None:
                shape = self._shape(event)
            keys, values_of, volatile, volatile_values = shape
            try:  # all in C: one cache lookup per (field, value), the nonzero hits kept
                hits: tuple[_Bits, ...] = tuple(filter(None, map(self._cache.__getitem__,  # type: ignore[arg-type]
                                                                 zip(keys, values_of(event), strict=True))))
            except TypeError:  # a list (or dict) value: unhashable
                bits = self._slow_bits(event)
            else:
                # the usual case, in C: every volatile value's text is made of gate characters
                # only (times, numbers), so no keyword literal is in it; else value by value
                if not volatile or self._gated(volatile_values(event)):
                    found = self._combos.get(hits)
                    if found is None:
                        found = self._decode(reduce(or_, [hit.bits for hit in hits], self._always_bits))
                        if len(self._combos) >= _MEMO_SIZE:
                            self._combos.clear()
                        self._combos[hits] = found
                    return found
                bits = reduce(or_, [hit.bits for hit in hits], self._always_bits)
                bits |= self._volatile_bits(event, volatile)
        return self._decode(bits)

    def _gated(self, values: tuple[Any, ...]) -> bool:
        """Whether no keyword literal can be in any of the values: their texts hold gate characters
        only. ``str`` of a value prints what the matchers search (``values.norm``), but for a list
        (brackets, outside every gate), a boolean (``True``: letters outside) and a mapping (its
        keys quoted when they are strings, as JSON's are: a quote is outside every gate)."""
        if not self._gate:
            return False
        text = "".join(map(str, values)).encode("utf-8", "surrogatepass")
        return not text.translate(None, self._gate_bytes)

    def _decode(self, bits: int) -> tuple[int, ...]:
        """The ordered candidate rule numbers of an event's bits."""
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

    def _shape(self, event: Mapping[str, Any]) -> _Shape:
        """The plan for events with this event's field names: which fields are looked up."""
        named = self._named
        keywords = self.keywords is not None
        keys: list[str] = []
        volatile: list[str] = []
        for key in event:
            if key in named:
                keys.append(key)
            elif not keywords or key in KEYWORD_SKIP:
                continue  # no literal can hit its values
            elif key in self.volatile:
                volatile.append(key)
            else:
                keys.append(key)
        shape: _Shape = (tuple(keys), _getter(keys), tuple(volatile), _getter(volatile))
        if len(self._shapes) >= _MAX_SHAPES:
            self._shapes.clear()
        self._shapes[tuple(event)] = shape
        return shape

    def _volatile_bits(self, event: Mapping[str, Any], keys: tuple[str, ...]) -> int:
        """Bits of the volatile fields' values (fields no rule names: keyword literals only)."""
        bits = 0
        gate = self._gate
        for key in keys:
            value = event[key]
            cls = value.__class__
            if cls is str:
                if gate and not value.strip(gate):
                    continue
            elif value is None or (cls in _SCALARS and not self.keyword_scalars):
                continue
            scans = self._scans.get(key, 0) + 1
            self._scans[key] = scans
            if scans >= _VOLATILE_SCANS:  # its values need scans after all: look them up again
                self.volatile.discard(key)
                self._mixed.add(key)
                self._shapes.clear()
            try:
                bits |= _bits(self._cache[(key, value)])
            except TypeError:  # a list or dict
                bits |= self.value_bits(key, value)
        return bits

    def _cheap_miss(self, key: str) -> None:
        """A field no rule names missed the cache with a trivially keyword-free value."""
        misses = self._misses.get(key, 0) + 1
        self._misses[key] = misses
        if misses >= _VOLATILE_MISSES and key not in self._mixed:
            self.volatile.add(key)
            self._shapes.clear()
            del self._misses[key]

    def _new_generation(self) -> None:
        """The cache started afresh: so do the counts behind volatility."""
        self._misses.clear()
        self._scans.clear()
        self._mixed.clear()

    def _slow_bits(self, event: Mapping[str, Any]) -> int:
        """``ordered``'s bits when some value is unhashable: lists are looked up as tuples."""
        bits = self._always_bits
        keywords = self.keywords is not None
        for key, value in event.items():
            if key not in self._named and (not keywords or key in KEYWORD_SKIP):
                continue
            try:
                bits |= _bits(self._cache[(key, (_LIST, tuple(value)) if value.__class__ is list else value)])
            except TypeError:  # nested lists or dicts: no caching
                bits |= self.value_bits(key, value)
        return bits

    def _item_token(self, item: tuple[str, Any]) -> _Bits | int:
        """The cache entry of one (field, value): its bits as a shared ``_Bits``, or 0."""
        bits = self._item_bits(item)
        if not bits:
            return 0
        token = self._tokens.get(bits)
        if token is None:
            if len(self._tokens) >= _MEMO_SIZE:
                self._tokens.clear()
            token = self._tokens[bits] = _Bits(bits)
        return token

    def _item_bits(self, item: tuple[str, Any]) -> int:
        """Bits of one (field, value) of an event with other fields (a cache miss)."""
        key, value = item
        cls = value.__class__
        if key not in self._named:  # only keyword literals can be hit: answer cheap cases at once
            if self.keywords is None or key in KEYWORD_SKIP or value is None:
                return 0
            if cls is str:
                if self._gate and not value.strip(self._gate):
                    self._cheap_miss(key)
                    return 0
                return self.keyword_bits(value)
            if cls in _SCALARS and not self.keyword_scalars:
                self._cheap_miss(key)
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


def _bits(entry: _Bits | int) -> int:
    """The bits of a cache entry."""
    return entry if entry.__class__ is int else entry.bits  # type: ignore[union-attr]


def _getter(keys: Sequence[str]) -> _Values:
    """A function giving the values of the keys in a mapping, as a tuple (C for two or more)."""
    if len(keys) >= 2:
        getter: _Values = itemgetter(*keys)
        return getter
    names = tuple(keys)
    return lambda event: tuple(event[key] for key in names)


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

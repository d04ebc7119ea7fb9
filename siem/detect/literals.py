"""Required literals of a regular expression: strings one of which every match contains.

The rule index needs, for a ``|re`` value, a set of folded literals (``values.fold``) at least
one of which is in every value the regex matches (Google codesearch's prefilter idea, kept to
one OR-set). Each node of Python's parse tree (``re._parser``) gives its *exact* set (every
string it can match, when small) or a *required* set; sequences multiply exact sets while they
stay small, alternatives unite them, repetitions keep their minimum. Under the ``i`` flag only
ASCII literals are used (their case-insensitive matches all fold alike, in ``re`` and RE2);
anything unknown (``.``, large classes, back-references) cuts the literal run.
"""

from __future__ import annotations

import re
import re._constants as _c
import re._parser as _sre
from typing import Any

from siem.detect.values import fold

#: Strings an exact set may hold before it is abandoned; characters a class may expand to.
MAX_EXACT = 16
MAX_CLASS = 6
#: Strings a required set may hold (an OR over more literals lets too much through).
MAX_REQUIRED = 32

Strings = frozenset[str]
#: (exact set or None, required set or None)
_Info = tuple[Strings | None, Strings | None]
_NOTHING: _Info = (None, None)
_EMPTY: _Info = (frozenset({""}), None)
_REPEATS = (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT)


def literal_cost(strings: Strings | None) -> float:
    """How much a required set lets through: short literals and long sets are weak."""
    if not strings or "" in strings:
        return float("inf")
    return sum(1.0 + 100.0 / len(item) ** 2 for item in strings)


def _best(*sets: Strings | None) -> Strings | None:
    usable = [item for item in sets if literal_cost(item) != float("inf")]
    return min(usable, key=literal_cost) if usable else None


def _product(left: Strings, right: Strings) -> Strings | None:
    if len(left) * len(right) > MAX_EXACT:
        return None
    return frozenset(a + b for a in left for b in right)


def required_literals(pattern: str, flags: int = 0) -> frozenset[str]:
    """Folded literals, one of which is in (the fold of) every text the regex matches;
    empty when the regex gives none (or does not parse)."""
    try:
        parsed = _sre.parse(pattern, flags)
        exact, required = _sequence(list(parsed), bool((flags | parsed.state.flags) & re.IGNORECASE))
    except (re.error, RecursionError, OverflowError, ValueError):
        return frozenset()
    best = _best(exact, required)
    return best if best is not None and len(best) <= MAX_REQUIRED else frozenset()


def _sequence(items: list[Any], ignorecase: bool) -> _Info:
    run: Strings | None = frozenset({""})
    candidates: list[Strings | None] = []
    whole = True  # the run spans the whole sequence so far
    for op, argument in items:
        exact, required = _node(op, argument, ignorecase)
        if exact is not None and run is not None:
            joined = _product(run, exact)
            if joined is not None:
                run = joined
                continue
        # the run ends here: it is one candidate, the item starts the next run (or has none)
        candidates.append(run)
        whole = False
        if exact is not None:
            run = exact
        else:
            candidates.append(required)
            run = frozenset({""})
    if whole:
        return run, None
    candidates.append(run)
    return None, _best(*candidates)


def _node(op: Any, argument: Any, ignorecase: bool) -> _Info:
    if op is _c.LITERAL:
        char = chr(argument)
        if ignorecase and not char.isascii():
            return _NOTHING
        return frozenset({fold(char)}), None
    if op is _c.IN:
        return _charset(argument, ignorecase), None
    if op is _c.AT or op is _c.ASSERT or op is _c.ASSERT_NOT:
        return _EMPTY
    if op is _c.SUBPATTERN:
        _, add, remove, body = argument
        inner = (ignorecase or bool(add & re.IGNORECASE)) and not remove & re.IGNORECASE
        return _sequence(list(body), inner)
    if op is _c.ATOMIC_GROUP:
        return _sequence(list(argument), ignorecase)
    if op is _c.BRANCH:
        return _branch(argument[1], ignorecase)
    if op in _REPEATS:
        low, high, body = argument
        exact, required = _sequence(list(body), ignorecase)
        if low == 0:
            if high == 1 and exact is not None:
                return exact | {""}, None
            return _EMPTY if high == 0 else _NOTHING
        if exact is not None:
            copies: Strings | None = exact
            for _ in range(min(low, MAX_EXACT) - 1):
                copies = _product(copies, exact) if copies is not None else None
            if copies is not None and low == high <= MAX_EXACT:
                return copies, None
            return None, _best(copies, exact)
        return None, required
    return _NOTHING


def _branch(branches: list[Any], ignorecase: bool) -> _Info:
    exacts: set[str] = set()
    requireds: set[str] = set()
    all_exact = True
    unbounded = False  # a branch without any requirement
    for branch in branches:
        exact, required = _sequence(list(branch), ignorecase)
        if exact is None:
            all_exact = False
        else:
            exacts |= exact
        best = _best(exact, required)
        if best is None:
            unbounded = True
        else:
            requireds |= best
    if all_exact and len(exacts) <= MAX_EXACT:
        return frozenset(exacts), None
    if unbounded or len(requireds) > MAX_REQUIRED:
        return _NOTHING
    return None, frozenset(requireds)


def _charset(items: list[Any], ignorecase: bool) -> Strings | None:
    chars: set[str] = set()
    for op, argument in items:
        if op is _c.LITERAL:
            chars.add(chr(argument))
        elif op is _c.RANGE:
            low, high = argument
            if high - low >= MAX_CLASS * 2:
                return None
            chars.update(map(chr, range(low, high + 1)))
        else:  # NEGATE, CATEGORY (\d, \w ...)
            return None
    if ignorecase and not all(char.isascii() for char in chars):
        return None
    folded = frozenset(map(fold, chars))
    return folded if len(folded) <= MAX_CLASS else None

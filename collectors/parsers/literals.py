"""Required literals of a regular expression: a cheap ``in`` test before running it.

A regex search costs a call and, for a pattern that starts with ``\\b`` or a class, a try at
every position; ``literal in text`` is a fast scan. When a pattern's every match contains one
of a few literals, texts with none of them are skipped without the regex (auto-detection,
the Linux auth rules). The result is the same: only texts the regex cannot match are skipped.
"""

from __future__ import annotations

import importlib
import re
from typing import Any


def required_literals(pattern: re.Pattern[str]) -> tuple[str, ...] | None:
    """Texts of which a match must contain one (a cheap test before the regex), or None.

    In a sequence, every run of plain characters is required, and so is one of the literals
    of each branch of a group (when every branch has some); the strongest such set is kept
    (its shortest literal the longest). Anything else, a case-insensitive part, or an
    unusual pattern means no pre-test (None).
    """
    if pattern.flags & re.IGNORECASE:
        return None
    try:  # the standard library's own regex parser (private, hence the guard)
        parser: Any = importlib.import_module("re._parser")
        constants: Any = importlib.import_module("re._constants")
        return _sequence(list(parser.parse(pattern.pattern, pattern.flags)), constants)
    except (ImportError, re.error, TypeError, ValueError, AttributeError, RecursionError):
        return None


def _strength(literals: tuple[str, ...]) -> tuple[int, int]:
    return min(len(literal) for literal in literals), -len(literals)


def _sequence(items: list[Any], c: Any) -> tuple[str, ...] | None:
    """The strongest required set of a sequence of parsed items (``c``: ``re._constants``)."""
    candidates: list[tuple[str, ...]] = []
    run = ""
    for op, value in items:
        if op is c.LITERAL:
            run += chr(value)
            continue
        if op is c.AT:  # anchors take no characters: the run goes on
            continue
        if run:
            candidates.append((run,))
        run = ""
        inner: tuple[str, ...] | None = None
        if op is c.SUBPATTERN and not value[1] & re.IGNORECASE:
            inner = _sequence(list(value[3]), c)
        elif op is c.BRANCH:
            inner = _branches(value[1], c)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT) and value[0] >= 1:
            inner = _sequence(list(value[2]), c)
        elif op is c.ATOMIC_GROUP:
            inner = _sequence(list(value), c)
        if inner is not None:
            candidates.append(inner)
    if run:
        candidates.append((run,))
    return max(candidates, key=_strength) if candidates else None


def _branches(branches: list[Any], c: Any) -> tuple[str, ...] | None:
    literals: list[str] = []
    for branch in branches:
        inner = _sequence(list(branch), c)
        if inner is None:
            return None
        literals.extend(item for item in inner if item not in literals)
    return tuple(literals)

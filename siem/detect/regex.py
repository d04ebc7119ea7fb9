"""Rule regular expressions that cannot stall the engine (issue 8: catastrophic backtracking).

A Sigma ``|re`` value is run by RE2 (google-re2: a regex engine without backtracking, time
linear in the text) whenever RE2 accepts the pattern. Python's ``re`` backtracks: ``(a+)+$`` on
``aaaa…!`` takes exponential time, and even ``.*x`` is quadratic on a long value without ``x``.

What RE2 rejects (lookaround, backreferences, ``\\Z``-less Python spellings RE2 lacks, possessive
quantifiers) falls back to Python ``re`` only when a static check finds no repetition inside a
repetition (the shape of every exponential case); otherwise the rule is refused with the reason
(``UnsafeRegex``), and the loader reports it with its file and line.

Flags: Sigma ``i``, ``m``, ``s`` become RE2's inline ``(?i)``, ``(?m)``, ``(?s)``, the same
meaning as Python's IGNORECASE, MULTILINE and DOTALL. Known differences from Python ``re``, as
in PCRE (which Sigma's regular expressions follow): ``\\d``, ``\\w``, ``\\s`` and ``\\b`` are ASCII,
and ``$`` without ``m`` matches only at the very end (not before a final newline).

Results are cached per distinct text (``ResultCache``): field values repeat a lot in logs
(command lines, image paths), and a dict lookup of a text whose hash is already known costs a
fraction of a regex run.
"""

from __future__ import annotations

import re
import re._constants as _sre_constants
import re._parser as _sre
import weakref
from collections.abc import Callable
from typing import Any

try:  # google-re2 (a dependency); without it every pattern takes the checked fallback
    import re2 as _re2
except ImportError:  # pragma: no cover - the package is installed with the project
    _re2 = None

#: ``search(text)``: whether the pattern occurs in the text.
Search = Callable[[str], bool]

#: RE2's memory for one compiled pattern (its default is 8 MiB; a huge pattern is refused).
RE2_MAX_MEM = 64 << 20

_INLINE_FLAGS = ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"))
_SUPPORTED_FLAGS = re.IGNORECASE | re.MULTILINE | re.DOTALL
#: Operators whose last argument (the whole argument for an atomic group) holds a sub-pattern.
_GROUPS = (_sre_constants.SUBPATTERN, _sre_constants.ASSERT, _sre_constants.ASSERT_NOT, _sre_constants.ATOMIC_GROUP)


#: Texts longer than this are searched every time (a long text costs the cache a lot of memory).
MAX_CACHED_TEXT = 4096


class UnsafeRegex(ValueError):
    """A rule's regular expression that no engine here can run in bounded time (the reason says why)."""


def _re2_search(pattern: str, flags: int, *, whole: bool = False) -> Search | None:
    """RE2's search (``whole``: full match) for the pattern, or None when RE2 cannot run it
    with Python's meaning."""
    if _re2 is None or flags & ~_SUPPORTED_FLAGS or _python_only(pattern):
        return None
    prefix = "".join(letter for flag, letter in _INLINE_FLAGS if flags & flag)
    options = _re2.Options()
    options.log_errors = False
    options.never_capture = True
    options.max_mem = RE2_MAX_MEM
    try:
        compiled: Any = _re2.compile(f"(?{prefix}){pattern}" if prefix else pattern, options)
    except (_re2.error, UnicodeEncodeError):  # not RE2 syntax; a lone surrogate in the pattern
        return None
    # The module's own search decodes match offsets back to str positions; a yes/no only needs
    # the raw match (several times faster). Lone surrogates (undecodable input) pass as bytes.
    regexp = compiled._regexp
    anchor = _re2._Anchor.ANCHOR_BOTH if whole else _re2._Anchor.UNANCHORED
    null_span = (-1, -1)

    def search(text: str) -> bool:
        data = text.encode("utf-8", "surrogatepass")
        return bool(regexp.Match(anchor, data, 0, len(data))[0] != null_span)

    return search


def _python_only(pattern: str) -> bool:
    """Spellings RE2 reads differently from Python (``a{,3}`` is a repeat in Python, text in RE2)."""
    return "{," in pattern


def nested_repeat(pattern: str, flags: int = 0) -> str | None:
    """The first repetition that contains another (backtracking risk), as text, or None."""
    try:
        parsed = _sre.parse(pattern, flags)
    except (re.error, RecursionError, OverflowError) as exc:
        raise UnsafeRegex(f"invalid regular expression: {exc}") from exc
    repeats = (_sre_constants.MAX_REPEAT, _sre_constants.MIN_REPEAT)

    def walk(items: Any, inside: bool) -> bool:
        for op, argument in items:
            if op in repeats:
                _, high, body = argument
                unbounded = high is _sre_constants.MAXREPEAT or high > 16
                if (unbounded and inside) or walk(body, inside or unbounded):
                    return True
            elif op is _sre_constants.BRANCH:
                if any(walk(branch, inside) for branch in argument[1]):
                    return True
            elif op in _GROUPS and walk(argument[-1] if op is not _sre_constants.ATOMIC_GROUP else argument, inside):
                return True
        return False

    return pattern if walk(parsed, False) else None


class _Table(dict[str, bool]):
    """One search's results (a dict that can be weakly referenced)."""


class ResultCache:
    """Results of searches by text, one table per search, bounded together: when the entries
    of all tables (each weighted by its text's length) pass ``limit``, every table starts afresh.

    Exact by construction: a search's result depends on the text alone, and the text itself
    (not a fold or a hash of it) is the key. Tables are held weakly: the searches of rules
    dropped (a reload) take theirs with them.
    """

    __slots__ = ("_tables", "limit", "resets", "weight")

    def __init__(self, limit: int = 1 << 24) -> None:
        #: the bound on the summed weights (0 turns caching off for searches wrapped later)
        self.limit = limit
        self.weight = 0
        self.resets = 0
        self._tables: list[weakref.ref[_Table]] = []

    def clear(self) -> None:
        """Forget every cached result."""
        live = [(ref, table) for ref in self._tables if (table := ref()) is not None]
        for _, table in live:
            table.clear()
        self._tables = [ref for ref, _ in live]
        self.weight = 0
        self.resets += 1

    def wrap(self, search: Search) -> Search:
        """``search`` answering repeated texts from the cache (``search`` itself when off)."""
        if self.limit <= 0:
            return search
        table = _Table()
        if len(self._tables) >= 1024 and len(self._tables).bit_count() == 1:  # now and then
            self._tables = [ref for ref in self._tables if ref() is not None]
        self._tables.append(weakref.ref(table))
        get = table.get

        def cached(text: str) -> bool:
            found = get(text)
            if found is None:
                found = search(text)
                size = len(text)
                if size <= MAX_CACHED_TEXT:
                    if self.weight >= self.limit:
                        self.clear()
                    table[text] = found
                    # an entry and its key: ~100 bytes plus the text (shared with the event)
                    self.weight += 100 + size
            return found

        return cached


#: The process's cache of search results (regular expressions and wildcard patterns of rules).
RESULTS = ResultCache()


def compile_search(pattern: str, flags: int = 0, *, whole: bool = False) -> Search:
    """A bounded-time ``search`` for a rule's regular expression (``whole``: the text must match
    as a whole, like ``re.fullmatch``); UnsafeRegex when there is none."""
    search = _re2_search(pattern, flags, whole=whole)
    if search is not None:
        return search
    if nested_repeat(pattern, flags) is not None:
        raise UnsafeRegex(
            f"regular expression {pattern!r} repeats a repetition (catastrophic backtracking) and "
            "uses syntax RE2 cannot run; rewrite it without the nested quantifier"
        )
    try:
        compiled = re.compile(pattern, flags)
    except (re.error, RecursionError, OverflowError) as exc:
        raise UnsafeRegex(f"invalid regular expression {pattern!r}: {exc}") from exc
    python_search = compiled.fullmatch if whole else compiled.search

    def fallback(text: str) -> bool:
        return python_search(text) is not None

    return fallback

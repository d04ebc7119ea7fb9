"""A hand-written recursive-descent parser for the search language (see ``siem.query``).

Grammar (NOT binds tighter than AND, AND tighter than OR)::

    query   := or EOF
    or      := and (("OR" | "||") and)*
    and     := not (("AND" | "&&")? not)*          # two terms side by side mean AND
    not     := ("NOT" | "!" | "-") not | primary   # "-" is a value character inside field:( )
    primary := "(" or ")" | FIELD ":" value | QUOTED "*"? | WORD
    value   := "(" or-of-values ")" | ("[" | "{") end "TO" end ("]" | "}")
             | (">=" | ">" | "<=" | "<") end | QUOTED | WORD | "*"

Columns in errors are 1-based character positions in the query text.
"""

from __future__ import annotations

import re

from siem.errors import QueryError
from siem.query import fields
from siem.query.ast import And, Bounds, FreeText, Kind, Node, Not, Or, Term, join_and, join_or

#: Deeper nesting (parentheses, NOT) is refused rather than risking Python's recursion limit.
MAX_DEPTH = 64
KEYWORDS = frozenset({"AND", "OR", "NOT", "&&", "||"})
_AND = ("AND", "&&")
_OR = ("OR", "||")
_COMPARE = (">=", "<=", ">", "<")
_WHITESPACE = frozenset(" \t\r\n\f\v")


#: A lone surrogate: a byte that was not UTF-8 on the command line (Python's surrogateescape).
_UNDECODABLE = re.compile("[\ud800-\udfff]")


def parse_query(text: str) -> Node:
    """The syntax tree of ``text``; raises ``QueryError`` with the column of the problem."""
    undecodable = _UNDECODABLE.search(text)
    if undecodable is not None:  # SQLite and Elasticsearch take UTF-8 text only
        raise QueryError("the query holds bytes that are not UTF-8 text", column=undecodable.start() + 1)
    return _Parser(text).parse()


#: More terms are refused: the SQL of a long AND or OR nests one level a term.
MAX_TERMS = 256


def _terms(node: Node) -> int:
    if isinstance(node, And | Or):
        return sum(_terms(child) for child in node.children)
    return _terms(node.child) if isinstance(node, Not) else 1


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    # -- structure --------------------------------------------------------------------------

    def parse(self) -> Node:
        self._skip_space()
        if self._at_end():
            raise self._error("the query is empty", self.pos)
        node = self._or(None)
        self._skip_space()
        if not self._at_end():
            raise self._error("this ')' has no matching '('", self.pos)
        if _terms(node) > MAX_TERMS:  # SQLite refuses expressions nested 1,000 deep
            raise self._error(f"the query has more than {MAX_TERMS} terms", 0)
        return node

    def _or(self, field: str | None) -> Node:
        children = [self._and(field)]
        while True:
            self._skip_space()
            operator = self._operator()
            if operator not in _OR:
                return join_or(children)
            self._take_operator(operator)
            children.append(self._and(field))

    def _and(self, field: str | None) -> Node:
        children = [self._not(field)]
        while True:
            self._skip_space()
            if self._at_end() or self._peek() == ")":
                return join_and(children)
            operator = self._operator()
            if operator in _OR:
                return join_and(children)
            if operator in _AND:
                self._take_operator(operator)
            children.append(self._not(field))

    def _not(self, field: str | None) -> Node:
        self._skip_space()
        start = self.pos
        operator = self._operator()
        if operator == "NOT":
            self.pos += 3
        elif self._peek() == "!" or (self._peek() == "-" and field is None):
            self.pos += 1
        else:
            return self._primary(field)
        self._enter(start)
        self._skip_space()
        self._expect_term("NOT" if operator == "NOT" else self.text[start])
        node = Not(self._not(field))
        self.depth -= 1
        return node

    def _primary(self, field: str | None) -> Node:
        self._skip_space()
        start = self.pos
        if self._at_end():
            raise self._error("a search term is missing here", start)
        char = self._peek()
        if char == "(":
            return self._group(field)
        if char == ")":
            raise self._error("a search term is missing before ')'", start)
        operator = self._operator()
        if operator in _AND or operator in _OR:
            raise self._error(f"{operator} needs a search term on its left", start)
        if field is not None:
            return self._value(field)
        if char == '"':
            text = self._quoted()
            prefix = self._peek() == "*"
            if prefix:
                self.pos += 1
            return FreeText(text, prefix)
        raw, word, pattern, wild = self._bare(stop=':()"')
        if self._peek() == ":":
            return self._field_term(raw, start)
        return self._free_word(word, pattern, wild, start)

    def _group(self, field: str | None) -> Node:
        opening = self.pos
        self._enter(opening)
        self.pos += 1
        self._skip_space()
        if self._peek() == ")":
            raise self._error("the parentheses are empty", opening)
        node = self._or(field)
        self._skip_space()
        if self._peek() != ")":
            raise self._error("this '(' is not closed", opening)
        self.pos += 1
        self.depth -= 1
        return node

    def _field_term(self, name: str, start: int) -> Node:
        if not fields.FIELD_NAME.fullmatch(name):
            raise self._error(
                f"{name!r} is not a field name (put free text with ':' in quotes)", start
            )
        self.pos += 1  # the colon
        if self._at_end() or self._peek() in _WHITESPACE:
            raise self._error(f"a value is missing after '{name}:'", self.pos)
        return self._value(name)

    def _free_word(self, word: str, pattern: str, wild: bool, start: int) -> Node:
        if not wild:
            return FreeText(word)
        pieces = fields.pattern_pieces(pattern)
        if pieces[-1].text == "*" and pieces[-1].wildcard and not any(
            piece.wildcard for piece in pieces[:-1]
        ):
            return FreeText("".join(piece.text for piece in pieces[:-1]), prefix=True)
        raise self._error(
            "free text takes '*' only at the end of a word; use field:pattern for wildcards",
            start,
        )

    # -- values -----------------------------------------------------------------------------

    def _value(self, field: str) -> Node:
        start = self.pos
        char = self._peek()
        if char == "(":
            return self._group(field)
        if char in "[{":
            return self._range(field)
        if char in "<>":
            return self._compare(field)
        if char == '"':
            return self._term(field, Kind.PHRASE, self._quoted(), start)
        raw, word, pattern, wild = self._bare(stop="()")
        if not raw:
            raise self._error(f"a value is missing after '{field}:'", start)
        if raw == "*":
            return Term(field, Kind.EXISTS)
        if raw in KEYWORDS:
            raise self._error(f"{raw} is an operator here; put the value in quotes", start)
        if wild:
            return self._term(field, Kind.WILDCARD, pattern, start)
        return self._term(field, Kind.EXACT, word, start)

    def _term(self, field: str, kind: Kind, value: str, start: int) -> Term:
        """A term, with addresses and times checked and written the canonical way."""
        if fields.is_address_field(field):
            if kind is Kind.WILDCARD:
                raise self._error(
                    f"{field} holds addresses: use a block like 10.2.0.0/16, not wildcards", start
                )
            try:
                if "/" in value:
                    return Term(field, Kind.CIDR, str(fields.parse_block(value)))
                return Term(field, Kind.EXACT, str(fields.parse_address(value)))
            except ValueError:
                raise self._error(
                    f"{value!r} is not an IP address or block (like 10.2.0.0/16)", start
                ) from None
        if field == fields.TIMESTAMP_FIELD:
            if kind is Kind.WILDCARD:
                raise self._error(f"{field} takes a time or a range, not wildcards", start)
            return Term(field, Kind.EXACT, self._time(value, start))
        return Term(field, kind, value)

    def _range(self, field: str) -> Node:
        opening = self.pos
        include_low = self._peek() == "["
        self.pos += 1
        self._skip_space()
        low = self._end("[" if include_low else "{", stop="]}")
        self._skip_space()
        if not self.text.startswith("TO", self.pos):
            raise self._error("a range needs TO between its ends: [low TO high]", self.pos)
        self.pos += 2
        self._skip_space()
        high = self._end("TO", stop="]}")
        self._skip_space()
        closing = self._peek()
        if closing not in ("]", "}"):
            raise self._error("this range is not closed with ']' or '}'", opening)
        self.pos += 1
        if low is None and high is None:
            return Term(field, Kind.EXISTS)
        bounds = Bounds(low, high, include_low, closing == "]")
        return Term(field, Kind.RANGE, bounds=self._check_bounds(field, bounds, opening))

    def _compare(self, field: str) -> Node:
        start = self.pos
        operator = next(op for op in _COMPARE if self.text.startswith(op, self.pos))
        self.pos += len(operator)
        if self._at_end() or self._peek() in _WHITESPACE or self._peek() in "()":
            raise self._error(f"a value is missing after '{operator}'", self.pos)
        end = self._end(operator, stop="()")
        if end is None:
            raise self._error(f"'{operator}' needs a value, not '*'", start + len(operator))
        inclusive = operator.endswith("=")
        if operator.startswith(">"):
            bounds = Bounds(end, None, include_low=inclusive)
        else:
            bounds = Bounds(None, end, include_high=inclusive)
        return Term(field, Kind.COMPARE, bounds=self._check_bounds(field, bounds, start))

    def _end(self, after: str, *, stop: str) -> str | None:
        """One end of a range: quoted text, a bare word, or ``*`` (open, returned as None)."""
        if self._at_end() or self._peek() in stop:
            raise self._error(f"a value is missing after '{after}'", self.pos)
        if self._peek() == '"':
            return self._quoted()
        raw, word, _pattern, _wild = self._bare(stop=stop)
        return None if raw == "*" else word

    def _check_bounds(self, field: str, bounds: Bounds, start: int) -> Bounds:
        kind = fields.range_type(field, bounds)
        if kind is fields.RangeType.TIME:
            return Bounds(
                None if bounds.low is None else self._time(bounds.low, start),
                None if bounds.high is None else self._time(bounds.high, start),
                bounds.include_low,
                bounds.include_high,
            )
        if kind is fields.RangeType.ADDRESS:
            for end in (bounds.low, bounds.high):
                if end is not None:
                    try:
                        fields.parse_address(end)
                    except ValueError:
                        raise self._error(f"{end!r} is not an IP address", start) from None
            return Bounds(
                None if bounds.low is None else str(fields.parse_address(bounds.low)),
                None if bounds.high is None else str(fields.parse_address(bounds.high)),
                bounds.include_low,
                bounds.include_high,
            )
        return bounds

    def _time(self, text: str, start: int) -> str:
        try:
            return fields.canonical_timestamp(text)
        except ValueError:
            raise self._error(
                f"{text!r} is not a time; use ISO 8601 like 2026-11-25T10:00:00Z", start
            ) from None

    # -- characters -------------------------------------------------------------------------

    def _quoted(self) -> str:
        """Text between double quotes; ``\\`` makes the next character plain."""
        opening = self.pos
        self.pos += 1
        chars: list[str] = []
        while not self._at_end():
            char = self.text[self.pos]
            if char == "\\":
                if self.pos + 1 >= len(self.text):
                    break
                chars.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            self.pos += 1
            if char == '"':
                return "".join(chars)
            chars.append(char)
        raise self._error('this quote is not closed with "', opening)

    def _bare(self, *, stop: str) -> tuple[str, str, str, bool]:
        """A word up to whitespace or a ``stop`` character.

        Returns the raw text, the text with escapes removed, the wildcard pattern (``*`` and
        ``?`` kept, plain ``*``, ``?`` and ``\\`` escaped) and whether it has a wildcard.
        """
        start = self.pos
        word: list[str] = []
        pattern: list[str] = []
        wild = False
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char in _WHITESPACE or char in stop:
                break
            if char == "\\":
                if self.pos + 1 >= len(text):
                    raise self._error("'\\' at the end escapes nothing", self.pos)
                char = text[self.pos + 1]
                word.append(char)
                pattern.append("\\" + char if char in "*?\\" else char)
                self.pos += 2
                continue
            if char in "*?":
                wild = True
            word.append(char)
            pattern.append(char)
            self.pos += 1
        return text[start : self.pos], "".join(word), "".join(pattern), wild

    def _operator(self) -> str | None:
        """The operator at the current position, if one is there."""
        text = self.text
        for operator in ("&&", "||"):
            if text.startswith(operator, self.pos):
                return operator
        for operator in ("AND", "OR", "NOT"):
            if text.startswith(operator, self.pos):
                after = self.pos + len(operator)
                if after >= len(text) or text[after] in _WHITESPACE or text[after] in "()":
                    return operator
        return None

    def _take_operator(self, operator: str) -> None:
        self.pos += len(operator)
        self._skip_space()
        self._expect_term(operator)

    def _expect_term(self, after: str) -> None:
        """Raise unless a term (not the end, ')' or a binary operator) follows ``after``."""
        operator = self._operator()
        if self._at_end() or self._peek() == ")" or operator in _AND or operator in _OR:
            raise self._error(f"a search term is missing after {after}", self.pos)

    def _enter(self, start: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self._error(f"the query nests deeper than {MAX_DEPTH} levels", start)

    def _skip_space(self) -> None:
        text = self.text
        while self.pos < len(text) and text[self.pos] in _WHITESPACE:
            self.pos += 1

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _at_end(self) -> bool:
        return self.pos >= len(self.text)

    def _error(self, message: str, pos: int) -> QueryError:
        return QueryError(message, column=pos + 1)


"""Write a syntax tree back as query text that parses to the same tree."""

from __future__ import annotations

from siem.query import fields
from siem.query.ast import And, Bounds, FreeText, Kind, Node, Not, Or, Term
from siem.query.parser import KEYWORDS

#: Characters a bare word escapes so that it reads back as the same text: anywhere, and
#: only at its start (where they would be operators).
_SPECIAL = frozenset('\\()[]{}"*?') | frozenset(" \t\r\n\f\v")
_SPECIAL_FIRST = frozenset("!&|<>")


def to_text(node: Node) -> str:
    """Query text for ``node``; ``parse_query(to_text(node)) == node``."""
    if isinstance(node, Or):
        return " OR ".join(to_text(child) for child in node.children)
    if isinstance(node, And):
        return " AND ".join(
            f"({to_text(child)})" if isinstance(child, Or) else to_text(child)
            for child in node.children
        )
    if isinstance(node, Not):
        inner = to_text(node.child)
        return f"NOT ({inner})" if isinstance(node.child, And | Or) else f"NOT {inner}"
    if isinstance(node, FreeText):
        return quote(node.text) + ("*" if node.prefix else "")
    return f"{node.field}:{_value(node)}"


def quote(text: str) -> str:
    """``text`` in double quotes, with ``"`` and ``\\`` escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def bare(text: str) -> str:
    """``text`` as one bare word (special characters escaped); empty text is quoted."""
    if not text:
        return '""'
    escaped = "".join("\\" + char if char in _SPECIAL else char for char in text)
    if text[0] in _SPECIAL_FIRST:
        escaped = "\\" + escaped
    return "\\" + escaped if escaped in KEYWORDS else escaped


def _value(term: Term) -> str:
    kind = term.kind
    if kind is Kind.EXISTS:
        return "*"
    if kind is Kind.CIDR or (kind is Kind.EXACT and fields.is_address_field(term.field)):
        return term.value
    if kind is Kind.PHRASE:
        return quote(term.value)
    if kind is Kind.WILDCARD:
        return "".join(
            piece.text if piece.wildcard else bare(piece.text)
            for piece in fields.pattern_pieces(term.value)
        )
    if kind is Kind.EXACT:
        return bare(term.value)
    assert term.bounds is not None, "range terms carry bounds"
    if kind is Kind.COMPARE:
        return _comparison(term.bounds)
    low = "*" if term.bounds.low is None else bare(term.bounds.low)
    high = "*" if term.bounds.high is None else bare(term.bounds.high)
    opening = "[" if term.bounds.include_low else "{"
    closing = "]" if term.bounds.include_high else "}"
    return f"{opening}{low} TO {high}{closing}"


def _comparison(bounds: Bounds) -> str:
    if bounds.low is not None:
        return (">=" if bounds.include_low else ">") + _compared(bounds.low)
    assert bounds.high is not None, "a comparison has one end"
    return ("<=" if bounds.include_high else "<") + _compared(bounds.high)


def _compared(value: str) -> str:
    """The value after ``>``/``<``: a leading ``=`` escaped, or ``>`` + ``=0`` would read ``>=`` + ``0``."""
    text = bare(value)
    return "\\" + text if text.startswith("=") else text

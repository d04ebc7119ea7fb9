"""The search language (``siem.query``) as a WHERE fragment for the SQLite store.

Values, JSON paths and patterns are always bound parameters; field names are checked by
the parser (``siem.query.fields.FIELD_NAME``) and again here, and only ever reach the SQL
inside a bound JSON path. Indexed columns (``rows.EVENT_COLUMNS``) are used for the fields
that have one; other fields are read from the ``doc`` JSON with ``json_each``, which also
matches any element of a list value, as Elasticsearch does.

Every fragment is true or false, never NULL, so ``NOT`` also matches events without the
field. Free text uses the FTS5 table (https://www.sqlite.org/fts5.html section 3.3:
a quoted string is a phrase; ``"..."*`` makes its last token a prefix).

Addresses, address blocks and Unicode case folding need Python functions: call
``register_functions(connection)`` once on every connection that runs these fragments.
"""

from __future__ import annotations

import functools
import ipaddress
import sqlite3
import string
from collections.abc import Callable

from siem.errors import QueryError
from siem.query import fields
from siem.query.ast import And, Bounds, FreeText, Kind, Node, Not, Or, Term
from siem.store.sqlite.rows import EVENT_COLUMNS

_FREE_TEXT = "events.seq IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?)"
_TEXT_VALUE = "j.type = 'text'"
_NUMERIC_VALUE = "j.type IN ('integer', 'real')"
#: ``field:true`` also matches the JSON boolean (json_each reports its type, its value is 1).
_JSON_BOOLEANS = {"true": "j.type = 'true'", "false": "j.type = 'false'"}
#: Letters whose case variants ``_case_ranges`` spells out (2**n index ranges).
_RANGE_LETTERS = 2
_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def to_sql(node: Node) -> tuple[str, list[object]]:
    """A condition on the ``events`` table for ``node``, and its parameters in order."""
    params: list[object] = []
    return _node(node, params), params


def register_functions(connection: sqlite3.Connection) -> None:
    """Add the SQL functions the fragments call (``siem_ip_in_cidr``, ``siem_ip_between``,
    ``siem_lower``) to ``connection``."""
    connection.create_function("siem_ip_in_cidr", 2, ip_in_cidr, deterministic=True)
    connection.create_function("siem_ip_between", 5, ip_between, deterministic=True)
    connection.create_function("siem_lower", 1, _lower, deterministic=True)


def ip_in_cidr(value: object, block: object) -> int:
    """1 if ``value`` is an address inside ``block``, else 0 (also for non-addresses)."""
    address = _address(value)
    network = _network(block)
    if address is None or network is None:
        return 0
    if address.version != network.version:
        return 0
    return int(address in network)


def ip_between(
    value: object, low: object, high: object, include_low: int, include_high: int
) -> int:
    """1 if the address ``value`` lies between ``low`` and ``high`` (NULL: open), else 0."""
    address = _address(value)
    if address is None:
        return 0
    key = fields.address_key(address)
    for end, include, sign in ((low, include_low, 1), (high, include_high, -1)):
        if end is None:
            continue
        bound = _address(end)
        if bound is None:
            return 0
        difference = (key - fields.address_key(bound)) * sign
        if difference < 0 or (difference == 0 and not include):
            return 0
    return 1


SqlValue = str | bytes | int | float | None


def _lower(value: SqlValue) -> SqlValue:
    return value.lower() if isinstance(value, str) else value


@functools.lru_cache(maxsize=4096)
def _address_text(text: str) -> fields.IPAddress | None:
    try:
        return fields.parse_address(text)
    except ValueError:
        return None


def _address(value: object) -> fields.IPAddress | None:
    return _address_text(value) if isinstance(value, str) else None


@functools.lru_cache(maxsize=256)
def _network(block: object) -> fields.IPNetwork | None:
    if not isinstance(block, str):
        return None
    try:
        return fields.parse_block(block)
    except ValueError:
        return None


# -- tree --------------------------------------------------------------------------------------


def _node(node: Node, params: list[object]) -> str:
    if isinstance(node, And):
        return "(" + " AND ".join(_node(child, params) for child in node.children) + ")"
    if isinstance(node, Or):
        return "(" + " OR ".join(_node(child, params) for child in node.children) + ")"
    if isinstance(node, Not):
        return f"NOT ({_node(node.child, params)})"
    if isinstance(node, FreeText):
        params.append(_fts_phrase(node))
        return _FREE_TEXT
    return _term(node, params)


def _fts_phrase(node: FreeText) -> str:
    """An FTS5 phrase: the text in double quotes (inner quotes doubled), ``*`` for a prefix.

    FTS5 reads a query only up to a NUL character ("unterminated string"); the tokenizer
    splits words at NUL anyway, so it becomes a space."""
    text = node.text.replace("\x00", " ").replace('"', '""')
    return '"' + text + '"' + ("*" if node.prefix else "")


def _term(term: Term, params: list[object]) -> str:
    if not fields.FIELD_NAME.fullmatch(term.field):
        raise QueryError(f"{term.field!r} is not a field name")
    if term.field == fields.TIMESTAMP_FIELD and term.kind is not Kind.EXISTS:
        return _timestamp(term, params)
    if term.kind is Kind.EXISTS:
        return _exists(term.field, params)
    if term.kind in (Kind.RANGE, Kind.COMPARE):
        assert term.bounds is not None, "range terms carry bounds"
        return _range(term.field, term.bounds, params)
    column = EVENT_COLUMNS.get(term.field)
    if column is not None:
        target = f"events.{column}"
        narrowing = _index_ranges(term, target, params)
        condition, values = _match(term, target)
        params.extend(values)
        return f"({target} IS NOT NULL{narrowing} AND {condition})"
    condition, values = _match(term, "j.value")
    if term.kind is Kind.WILDCARD:
        # Patterns match text only (Elasticsearch refuses them on numbers and booleans).
        condition = f"{_TEXT_VALUE} AND {condition}"
    elif term.kind is Kind.EXACT and term.value in _JSON_BOOLEANS:
        condition = f"({_JSON_BOOLEANS[term.value]} OR {condition})"
    params.append(_path(term.field))
    params.extend(values)
    return _each(condition)


def _path(field: str) -> str:
    return f'$."{field}"'


def _each(condition: str) -> str:
    """True when some value of the field (the value, or an element of a list) matches."""
    return f"EXISTS (SELECT 1 FROM json_each(events.doc, ?) AS j WHERE {condition})"


def _index_ranges(term: Term, target: str, params: list[object]) -> str:
    """`` AND (ranges)`` that let a case-insensitive match use the column's (binary) index.

    Every ASCII case variant of a text lies between its upper- and lower-case spellings in
    binary order; spelling out the first letters' variants keeps each range narrow. A
    wildcard pattern gets the ranges of its literal start. Empty when nothing narrows.
    """
    if term.kind in (Kind.EXACT, Kind.PHRASE):
        text, prefix = term.value, False
    elif term.kind is Kind.WILDCARD:
        pieces = fields.pattern_pieces(term.value)
        if pieces[0].wildcard:
            return ""
        text, prefix = pieces[0].text, True
    else:
        return ""
    if fields.is_case_sensitive(term.field, text) or fields.has_non_ascii_case(text):
        return ""
    ranges = _case_ranges(text, prefix=prefix)
    if not ranges:
        return ""
    shape = f"({target} >= ? AND {target} < ?)" if prefix else f"{target} BETWEEN ? AND ?"
    for low, high in ranges:
        params.extend((low, high))
    return " AND (" + " OR ".join([shape] * len(ranges)) + ")"


def _case_ranges(text: str, *, prefix: bool) -> list[tuple[str, str]]:
    """Binary-order ranges holding every ASCII case variant of ``text`` (as a whole value, or
    as the start of one: then the high end is exclusive)."""
    letters = [index for index, char in enumerate(text) if char.isascii() and char.isalpha()]
    cut = letters[_RANGE_LETTERS - 1] + 1 if len(letters) >= _RANGE_LETTERS else len(text)
    heads = [""]
    for char in text[:cut]:
        spellings = sorted({char.translate(_ASCII_UPPER), char.translate(_ASCII_LOWER)})
        heads = [head + spelling for head in heads for spelling in spellings]
    rest = text[cut:]
    ranges: list[tuple[str, str]] = []
    for head in heads:
        low, high = head + rest.translate(_ASCII_UPPER), head + rest.translate(_ASCII_LOWER)
        if prefix:
            following = _following(high)
            if following is None:
                return []
            high = following
        ranges.append((low, high))
    return ranges


def _following(text: str) -> str | None:
    """The smallest text after every text that starts with ``text`` (None if there is none)."""
    if not text or ord(text[-1]) >= 0x10FFFF:
        return None
    code = ord(text[-1]) + 1
    if 0xD800 <= code <= 0xDFFF:
        code = 0xE000
    return text[:-1] + chr(code)


def _match(term: Term, target: str) -> tuple[str, list[object]]:
    """The condition of an EXACT, PHRASE, WILDCARD or CIDR term on ``target``."""
    value = term.value
    if term.kind is Kind.CIDR:
        return _cidr(value, target)
    if term.kind is Kind.WILDCARD:
        return _wildcard(term.field, value, target)
    if fields.is_case_sensitive(term.field, value):
        number = fields.as_number(value)
        if number is None:
            return f"{target} = ?", [value]
        return f"{target} IN (?, ?)", [number, value]
    if fields.has_non_ascii_case(value):
        return f"siem_lower({target}) = ?", [value.lower()]
    return f"{target} = ? COLLATE NOCASE", [value]


def _wildcard(field: str, pattern: str, target: str) -> tuple[str, list[object]]:
    pieces = fields.pattern_pieces(pattern)
    literal = "".join(piece.text for piece in pieces if not piece.wildcard)
    if fields.is_case_sensitive(field, literal):
        glob = "".join(
            piece.text if piece.wildcard else _glob_literal(piece.text) for piece in pieces
        )
        return f"{target} GLOB ?", [glob]
    like = "".join(
        {"*": "%", "?": "_"}[piece.text] if piece.wildcard else _like_literal(piece.text)
        for piece in pieces
    )
    if fields.has_non_ascii_case(literal):
        return f"siem_lower({target}) LIKE ? ESCAPE '\\'", [like.lower()]
    return f"{target} LIKE ? ESCAPE '\\'", [like]


def _glob_literal(text: str) -> str:
    return "".join(f"[{char}]" if char in "*?[" else char for char in text)


def _like_literal(text: str) -> str:
    return "".join("\\" + char if char in "%_\\" else char for char in text)


def _cidr(block: str, target: str) -> tuple[str, list[object]]:
    """Inside an address block; an IPv4 block of /8 or longer also gets a text range on the
    dotted form (``10.2.`` <= value < ``10.2/``), so the column's index narrows the scan."""
    network = fields.parse_block(block)
    if isinstance(network, ipaddress.IPv4Network) and network.prefixlen >= 8:
        octets = str(network.network_address).split(".")[: network.prefixlen // 8]
        if network.prefixlen == 32:
            return f"{target} = ?", [str(network.network_address)]
        prefix = ".".join(octets)
        return (
            f"{target} >= ? AND {target} < ? AND siem_ip_in_cidr({target}, ?) = 1",
            [prefix + ".", prefix + "/", block],
        )
    return f"siem_ip_in_cidr({target}, ?) = 1", [block]


def _exists(field: str, params: list[object]) -> str:
    column = EVENT_COLUMNS.get(field)
    if column is not None:
        return f"events.{column} IS NOT NULL"
    params.append(_path(field))
    return _each("j.type != 'null'")


def _range(field: str, bounds: Bounds, params: list[object]) -> str:
    kind = fields.range_type(field, bounds)
    if kind is fields.RangeType.NUMBER:
        # Numbers are in ``doc`` with their JSON type (columns hold text).
        params.append(_path(field))
        condition = _bounds_condition("j.value", bounds, fields.as_number, params)
        return _each(f"{_NUMERIC_VALUE} AND {condition}")
    column = EVENT_COLUMNS.get(field)
    target = f"events.{column}" if column is not None else "j.value"
    values: list[object] = []
    if kind is fields.RangeType.ADDRESS:
        condition = f"siem_ip_between({target}, ?, ?, ?, ?) = 1"
        values = [bounds.low, bounds.high, int(bounds.include_low), int(bounds.include_high)]
    else:
        condition = _bounds_condition(target, bounds, str, values)
        if column is None:
            condition = f"{_TEXT_VALUE} AND {condition}"
    if column is not None:
        params.extend(values)
        return f"({target} IS NOT NULL AND {condition})"
    params.append(_path(field))
    params.extend(values)
    return _each(condition)


def _bounds_condition(
    target: str, bounds: Bounds, convert: Callable[[str], object], params: list[object]
) -> str:
    parts: list[str] = []
    if bounds.low is not None:
        parts.append(f"{target} {'>=' if bounds.include_low else '>'} ?")
        params.append(convert(bounds.low))
    if bounds.high is not None:
        parts.append(f"{target} {'<=' if bounds.include_high else '<'} ?")
        params.append(convert(bounds.high))
    return " AND ".join(parts) if parts else "1"


def _timestamp(term: Term, params: list[object]) -> str:
    """``@timestamp`` is the indexed ``ts`` column (epoch milliseconds)."""
    if term.kind in (Kind.EXACT, Kind.PHRASE):
        params.append(fields.timestamp_ms(term.value))
        return "events.ts = ?"
    if term.bounds is None:
        raise QueryError(f"{term.field} takes a time or a range")
    return "(" + _bounds_condition("events.ts", term.bounds, fields.timestamp_ms, params) + ")"

"""TEST ORACLE: a small evaluator of the Elasticsearch query DSL that ``to_dsl`` produces,
run on flat events in memory. It models the mapping ECS gives (address fields ``ip``,
``@timestamp`` ``date``, numbers numeric, other text ``keyword``, ``event.original`` and
``message`` analyzed text) so the same case table can check the DSL's shape before a real
Elasticsearch-compatible server is in the loop. It is not used by the product.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from siem.event import parse_timestamp
from siem.query import fields

_WORD = re.compile(r"[^\W_]+")


def matches(query: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """True when ``event`` (a flat dict) matches the DSL ``query``."""
    ((kind, body),) = query.items()
    return bool(_QUERIES[kind](body, event))


def _values(event: Mapping[str, Any], field: str) -> list[Any]:
    value = event.get(field)
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [item for item in items if item is not None]


def _bool(body: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    required = [*body.get("filter", []), *body.get("must", [])]
    should = body.get("should", [])
    if not all(matches(clause, event) for clause in required):
        return False
    if any(matches(clause, event) for clause in body.get("must_not", [])):
        return False
    minimum = body.get("minimum_should_match", 0 if required else 1)
    return sum(matches(clause, event) for clause in should) >= (minimum if should else 0)


def _field_body(body: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    ((field, options),) = body.items()
    return field, options if isinstance(options, Mapping) else {"value": options}


def _fold(text: str, insensitive: bool) -> str:
    return "".join(char.lower() for char in text) if insensitive else text


def _term(body: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    field, options = _field_body(body)
    wanted = str(options["value"])
    insensitive = bool(options.get("case_insensitive", False))
    for value in _values(event, field):
        if fields.is_address_field(field):
            if _ip_term(value, wanted):
                return True
        elif isinstance(value, bool):
            if wanted == str(value).lower():
                return True
        elif isinstance(value, int | float):
            number = fields.as_number(wanted)
            if number is not None and number == value:
                return True
        elif _fold(str(value), insensitive) == _fold(wanted, insensitive):
            return True
    return False


def _ip_term(value: Any, wanted: str) -> bool:
    try:
        address = ipaddress.ip_address(str(value))
        if "/" in wanted:
            return address in ipaddress.ip_network(wanted, strict=False)
        return address == ipaddress.ip_address(wanted)
    except (ValueError, TypeError):
        return False


def _wildcard(body: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    field, options = _field_body(body)
    insensitive = bool(options.get("case_insensitive", False))
    regex = "".join(
        (".*" if piece.text == "*" else ".") if piece.wildcard else re.escape(piece.text)
        for piece in fields.pattern_pieces(str(options["value"]))
    )
    compiled = re.compile(_fold(regex, insensitive), re.DOTALL)
    return any(
        isinstance(value, str) and compiled.fullmatch(_fold(value, insensitive)) is not None
        for value in _values(event, field)
    )


def _range(body: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    field, options = _field_body(body)
    ends = [options[key] for key in ("gte", "gt", "lte", "lt") if key in options]
    numeric = any(isinstance(end, int | float) for end in ends)
    for value in _values(event, field):
        key = _range_key(field, value, numeric)
        if key is None:
            continue
        if all(_within(key, op, _range_key(field, options[op], numeric)) for op in options):
            return True
    return False


def _range_key(field: str, value: Any, numeric: bool) -> Any:
    """The value as the mapped type compares it, or None when it is not of that type."""
    try:
        if field == fields.TIMESTAMP_FIELD:
            return parse_timestamp(str(value))
        if fields.is_address_field(field):
            return fields.address_key(ipaddress.ip_address(str(value)))
    except ValueError:
        return None
    if numeric:
        if isinstance(value, bool):
            return None
        return value if isinstance(value, int | float) else None
    return value if isinstance(value, str) else None


def _within(key: Any, op: str, end: Any) -> bool:
    if end is None:
        return False
    if op == "gte":
        return bool(key >= end)
    if op == "gt":
        return bool(key > end)
    if op == "lte":
        return bool(key <= end)
    return bool(key < end)


def _exists(body: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    return bool(_values(event, body["field"]))


def _tokens(text: str) -> list[str]:
    """Words folded as an analyzer with lowercase and ASCII folding would fold them."""
    stripped = "".join(
        char for char in unicodedata.normalize("NFKD", text) if not unicodedata.combining(char)
    )
    return [word.casefold() for word in _WORD.findall(stripped)]


def _phrase(body: Mapping[str, Any], event: Mapping[str, Any], *, prefix: bool) -> bool:
    field, options = _field_body(body)
    wanted = _tokens(str(options.get("query", options.get("value"))))
    if not wanted:
        return False
    for value in _values(event, field):
        words = _tokens(str(value))
        for start in range(len(words) - len(wanted) + 1):
            window = words[start : start + len(wanted)]
            if window[:-1] != wanted[:-1]:
                continue
            last_ok = window[-1].startswith(wanted[-1]) if prefix else window[-1] == wanted[-1]
            if last_ok:
                return True
    return False


_QUERIES: dict[str, Any] = {
    "bool": _bool,
    "term": _term,
    "wildcard": _wildcard,
    "range": _range,
    "exists": _exists,
    "match_phrase": lambda body, event: _phrase(body, event, prefix=False),
    "match_phrase_prefix": lambda body, event: _phrase(body, event, prefix=True),
}

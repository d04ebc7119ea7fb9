"""An EventQuery as an Elasticsearch search body.

The search language comes from ``to_dsl`` (query.py); this module adds the time range,
exact field filters and free text, and points phrase queries on ``event.original`` and
``message`` at their analyzed ``.text`` sub-field (see mapping.py). Free text (the
``text`` of an EventQuery) is a ``query_string`` over those sub-fields, built from the words
the way the SQLite store reads them: each word a quoted phrase, ``word*`` a prefix,
AND/OR/NOT and parentheses kept, all words required; text with a ``"`` is taken as
query_string syntax.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from siem.errors import QueryError
from siem.store.base import EventQuery
from siem.store.elasticsearch.mapping import FREE_TEXT, SEQ_FIELD, TEXT_SUBFIELD, TS_FIELD
from siem.store.elasticsearch.query import to_dsl
from siem.store.freetext import rewrite_words

Dsl = dict[str, Any]

FIELD_NAME = re.compile(r"[A-Za-z0-9_@.\-]+")
_PHRASE_QUERIES = frozenset({"match_phrase", "match_phrase_prefix", "match"})
_QUERY_STRING_SPECIAL = re.compile(r'([+\-=&|><!(){}\[\]^"~*?:\\/])')


def text_fields() -> list[str]:
    """The analyzed sub-fields free text searches."""
    return [f"{name}.{TEXT_SUBFIELD}" for name in FREE_TEXT]


def query_string(text: str) -> str:
    """``query_string`` syntax for what a user typed as free text (see ``siem.store.freetext``)."""
    return rewrite_words(text, _quoted)


def _quoted(word: str) -> str:
    if word.endswith("*") and len(word) > 1:
        return _QUERY_STRING_SPECIAL.sub(r"\\\1", word[:-1]) + "*"
    escaped = word.replace("\\", "\\\\")
    return f'"{escaped}"'


def retarget(node: Any) -> Any:
    """``node`` (query DSL) with phrase queries on the free-text fields sent to ``.text``."""
    if isinstance(node, list):
        return [retarget(item) for item in node]
    if not isinstance(node, dict):
        return node
    result: Dsl = {}
    for key, value in node.items():
        if key in _PHRASE_QUERIES and isinstance(value, dict):
            result[key] = {
                (f"{name}.{TEXT_SUBFIELD}" if name in FREE_TEXT else name): body
                for name, body in value.items()
            }
        else:
            result[key] = retarget(value)
    return result


def check_field(name: str) -> str:
    """``name`` if it is a valid field name, else QueryError."""
    if not FIELD_NAME.fullmatch(name):
        raise QueryError(f"invalid field name {name!r}: use letters, digits and _ @ . - only")
    return name


def _field_filters(fields: Mapping[str, Any]) -> list[Dsl]:
    filters: list[Dsl] = []
    for name, wanted in fields.items():
        check_field(name)
        values = list(wanted) if isinstance(wanted, tuple | list | set | frozenset) else [wanted]
        if not values:
            filters.append({"match_none": {}})
        elif values == [None]:
            filters.append({"bool": {"must_not": [{"exists": {"field": name}}]}})
        elif len(values) == 1:
            filters.append({"term": {name: values[0]}})
        else:
            filters.append({"terms": {name: values}})
    return filters


def query_body(query: EventQuery) -> Dsl:
    """The ``query`` part of a search for ``query``."""
    filters: list[Dsl] = []
    if query.since is not None or query.until is not None:
        bounds: Dsl = {}
        if query.since is not None:
            bounds["gte"] = int(query.since * 1000)
        if query.until is not None:
            bounds["lte"] = int(query.until * 1000)
        filters.append({"range": {TS_FIELD: bounds}})
    filters.extend(_field_filters(query.fields))
    if query.text is not None and query.text.strip():
        filters.append({
            "query_string": {
                "query": query_string(query.text),
                "fields": text_fields(),
                "default_operator": "AND",
            }
        })
    if query.expression is not None:
        filters.append(retarget(to_dsl(query.expression)))
    if not filters:
        return {"match_all": {}}
    return {"bool": {"filter": filters}}


def sort_order(newest_first: bool) -> list[Dsl]:
    """Event time, then write order."""
    order = "desc" if newest_first else "asc"
    return [{TS_FIELD: {"order": order}}, {SEQ_FIELD: {"order": order}}]


#: Field types a ``wildcard`` query accepts.
TEXT_TYPES = frozenset({"keyword", "text", "wildcard", "constant_keyword", "match_only_text"})
_REGEXP_RESERVED = frozenset('.?+*|{}[]()"\\#@&<>~')


def wildcard_fields(node: Any) -> set[str]:
    """The fields that ``wildcard`` queries in ``node`` read."""
    if isinstance(node, list):
        return set().union(*(wildcard_fields(item) for item in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found: set[str] = set()
    for key, value in node.items():
        if key == "wildcard" and isinstance(value, dict):
            found.update(value)
        else:
            found |= wildcard_fields(value)
    return found


def adapt_wildcards(node: Any, non_text: set[str]) -> Any:
    """``node`` with the ``wildcard`` queries made to mean what they mean on SQLite:
    on a field mapped as a number, address or date (``non_text``) a wildcard matches
    nothing (Elasticsearch would refuse it), and a case-insensitive pattern with non-ASCII
    letters becomes a ``regexp`` with both cases spelt out (``*ễn`` finds ``NGUYỄN``)."""
    if isinstance(node, list):
        return [adapt_wildcards(item, non_text) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"wildcard"} and isinstance(node["wildcard"], dict):
        ((name, options),) = node["wildcard"].items()
        if name in non_text:
            return {"match_none": {}}
        value = str(options["value"])
        if options.get("case_insensitive") and not value.isascii():
            return {"regexp": {name: {"value": _case_regexp(value), "flags": "NONE"}}}
        return node
    return {key: adapt_wildcards(value, non_text) for key, value in node.items()}


def _case_regexp(pattern: str) -> str:
    """A Lucene regexp matching ``pattern`` (``*``/``?`` wildcards) in any letter case."""
    from siem.query.fields import pattern_pieces

    parts: list[str] = []
    for piece in pattern_pieces(pattern):
        if piece.wildcard:
            parts.append(".*" if piece.text == "*" else ".")
            continue
        for char in piece.text:
            lower, upper = char.lower(), char.upper()
            if lower != upper and len(lower) == 1 and len(upper) == 1:
                parts.append(f"[{lower}{upper}]")
            elif char in _REGEXP_RESERVED:
                parts.append("\\" + char)
            else:
                parts.append(char)
    return "".join(parts)

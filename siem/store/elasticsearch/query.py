"""The search language (``siem.query``) as Elasticsearch query DSL: a pure function, no client.

Reference: Elasticsearch Query DSL, https://www.elastic.co/guide/en/elasticsearch/reference/current/query-dsl.html
(``bool``, ``term`` with ``case_insensitive`` (7.10+), ``wildcard``, ``range``, ``exists``,
``match_phrase``, ``match_phrase_prefix``). Mapping assumed, as ECS defines it: address
fields are ``ip`` (a ``term`` with a CIDR block matches the block), ``@timestamp`` is
``date``, text fields are ``keyword``, and ``event.original`` / ``message`` are analyzed text.

Conjunctions use ``filter`` (no scoring: a search lists events by time, not relevance).
"""

from __future__ import annotations

from typing import Any

from siem.query import fields
from siem.query.ast import And, Bounds, FreeText, Kind, Node, Not, Or, Term

Dsl = dict[str, Any]


def to_dsl(node: Node) -> Dsl:
    """The query DSL (the value of a search body's ``query``) for ``node``."""
    if isinstance(node, And):
        return {"bool": {"filter": [to_dsl(child) for child in node.children]}}
    if isinstance(node, Or):
        should = [to_dsl(child) for child in node.children]
        return {"bool": {"should": should, "minimum_should_match": 1}}
    if isinstance(node, Not):
        return {"bool": {"must_not": [to_dsl(node.child)]}}
    if isinstance(node, FreeText):
        return _free_text(node)
    return _term(node)


def _free_text(node: FreeText) -> Dsl:
    kind = "match_phrase_prefix" if node.prefix else "match_phrase"
    return {
        "bool": {
            "should": [{kind: {name: {"query": node.text}}} for name in fields.FREE_TEXT_FIELDS],
            "minimum_should_match": 1,
        }
    }


def _term(term: Term) -> Dsl:
    field = term.field
    if term.kind is Kind.EXISTS:
        return {"exists": {"field": field}}
    if term.kind in (Kind.RANGE, Kind.COMPARE):
        assert term.bounds is not None, "range terms carry bounds"
        return {"range": {field: _bounds(field, term.bounds)}}
    if field == fields.TIMESTAMP_FIELD:
        return {"range": {field: {"gte": term.value, "lte": term.value}}}
    if term.kind is Kind.CIDR or fields.is_address_field(field):
        return {"term": {field: {"value": term.value}}}
    if term.kind is Kind.WILDCARD:
        literal = "".join(
            piece.text for piece in fields.pattern_pieces(term.value) if not piece.wildcard
        )
        return {"wildcard": {field: _options(field, term.value, literal)}}
    return {"term": {field: _options(field, term.value, term.value)}}


def _options(field: str, value: str, letters: str) -> Dsl:
    """``{"value": ...}``, case-insensitive unless the text has no case (or the field is an
    identifier): numeric fields refuse ``case_insensitive``, and it costs more."""
    if fields.is_case_sensitive(field, letters):
        return {"value": value}
    return {"value": value, "case_insensitive": True}


def _bounds(field: str, bounds: Bounds) -> Dsl:
    numeric = fields.range_type(field, bounds) is fields.RangeType.NUMBER

    def end(text: str) -> str | int | float:
        number = fields.as_number(text) if numeric else None
        return text if number is None else number

    body: Dsl = {}
    if bounds.low is not None:
        body["gte" if bounds.include_low else "gt"] = end(bounds.low)
    if bounds.high is not None:
        body["lte" if bounds.include_high else "lt"] = end(bounds.high)
    return body

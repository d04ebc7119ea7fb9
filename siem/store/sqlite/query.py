"""Translate an EventQuery into a WHERE clause with bound parameters.

Values are always bound parameters. Field names become either a known column or a
``json_extract`` path (itself a bound parameter), and are checked against a strict pattern
first, so nothing a user types is ever spliced into SQL.
Full text uses FTS5 query syntax (https://www.sqlite.org/fts5.html section 3).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from siem.errors import QueryError
from siem.query.ast import And, FreeText, Node, Not, Or
from siem.store.base import EventQuery
from siem.store.freetext import rewrite_words
from siem.store.sqlite.querylang import to_sql
from siem.store.sqlite.rows import EVENT_COLUMNS

FIELD_NAME = re.compile(r"[A-Za-z0-9_@.\-]+")


def fts_match(text: str) -> str:
    """An FTS5 MATCH expression for what a user typed.

    Text with a double quote is taken as FTS5 syntax. Otherwise each word becomes a quoted
    phrase, so ``10.0.0.1`` or ``sshd[42]:`` match as written, and a trailing ``*`` keeps its
    prefix meaning (see ``siem.store.freetext``).
    """
    return rewrite_words(text, _phrase)


def _phrase(word: str) -> str:
    """A quoted FTS5 phrase; ``word*`` stays a prefix query, an empty word is nothing."""
    if not word:
        return ""
    if word.endswith("*") and len(word) > 1:
        return f'"{word[:-1]}"*'
    return f'"{word}"'


def field_expression(name: str) -> tuple[str, list[Any]]:
    """SQL for the value of one flat field, and its parameters."""
    if not FIELD_NAME.fullmatch(name):
        raise QueryError(
            f"invalid field name {name!r}: use letters, digits and _ @ . - only"
        )
    column = EVENT_COLUMNS.get(name)
    if column is not None:
        return column, []
    return "json_extract(doc, ?)", [f'$."{name}"']


def where_clause(query: EventQuery) -> tuple[str, list[Any]]:
    """``WHERE ...`` (or an empty string) and its parameters for ``query``.

    A field value of None matches events without that field.
    """
    conditions: list[str] = []
    params: list[Any] = []
    if query.since is not None:
        conditions.append("ts >= ?")
        params.append(int(query.since * 1000))
    if query.until is not None:
        conditions.append("ts <= ?")
        params.append(int(query.until * 1000))
    _add_fields(query.fields, conditions, params)
    if query.text is not None and query.text.strip():
        conditions.append("seq IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?)")
        params.append(fts_match(query.text))
    if query.expression is not None:
        fragment, extra = to_sql(query.expression)
        conditions.append(fragment)
        params.extend(extra)
    if not conditions:
        return "", params
    return " WHERE " + " AND ".join(conditions), params


def _add_fields(fields: Mapping[str, Any], conditions: list[str], params: list[Any]) -> None:
    for name, wanted in fields.items():
        expression, expression_params = field_expression(name)
        values = list(wanted) if isinstance(wanted, tuple | list | set | frozenset) else [wanted]
        if not values:
            conditions.append("0")
            continue
        params.extend(expression_params)
        if values == [None]:
            conditions.append(f"{expression} IS NULL")
            continue
        if len(values) == 1:
            conditions.append(f"{expression} = ?")
        else:
            conditions.append(f"{expression} IN ({', '.join('?' * len(values))})")
        params.extend(values)


def uses_full_text(query: EventQuery) -> bool:
    """Whether the query reads the FTS index (so an FTS syntax error can be explained)."""
    return bool(query.text) or (query.expression is not None and _has_free_text(query.expression))


def _has_free_text(node: Node) -> bool:
    if isinstance(node, FreeText):
        return True
    if isinstance(node, Not):
        return _has_free_text(node.child)
    if isinstance(node, And | Or):
        return any(_has_free_text(child) for child in node.children)
    return False

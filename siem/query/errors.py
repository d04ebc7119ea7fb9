"""Showing a query error under the query, with a caret at the column."""

from __future__ import annotations

from siem.errors import QueryError


def format_error(query: str, error: QueryError) -> str:
    """Two lines: the query, and ``^`` under the column of the error (then the message).

    Tabs and line breaks in the query are shown as spaces so the caret stays aligned.
    """
    shown = "".join(" " if char in "\t\r\n\f\v" else char for char in query)
    column = error.column if error.column is not None else len(query) + 1
    column = min(max(column, 1), len(query) + 1)
    return f"{shown}\n{' ' * (column - 1)}^ {error.message}"

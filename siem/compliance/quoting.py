"""Quoting values into search-language queries built by compliance checks."""

from __future__ import annotations

from collections.abc import Iterable


def quote(value: str) -> str:
    """``value`` as one quoted search-language term (backslashes and quotes escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def any_of(values: Iterable[str]) -> str:
    """``("a" OR "b")``: a field value matching any of ``values``."""
    return "(" + " OR ".join(quote(value) for value in values) + ")"

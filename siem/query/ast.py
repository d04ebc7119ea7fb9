"""The syntax tree of a search query: frozen dataclasses, built by ``siem.query.parser``.

Both stores translate the same tree (``siem.store.sqlite.querylang.to_sql`` and
``siem.store.elasticsearch.query.to_dsl``), so a query means the same on either.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """What a field term tests."""

    #: The whole value equals the text (case-insensitive, see ``siem.query``).
    EXACT = "exact"
    #: The whole value matches a pattern with ``*`` and ``?``.
    WILDCARD = "wildcard"
    #: A quoted value: the whole value equals the text, ``*`` and ``?`` are plain characters.
    PHRASE = "phrase"
    #: ``[low TO high]`` / ``{low TO high}`` (either end may be open).
    RANGE = "range"
    #: ``>=``, ``>``, ``<=``, ``<``: a range open on one side.
    COMPARE = "compare"
    #: An address block (``10.2.0.0/16``, ``2001:db8::/32``) on an address field.
    CIDR = "cidr"
    #: ``field:*``: the field is present (and not null or empty).
    EXISTS = "exists"


@dataclass(frozen=True, slots=True)
class Bounds:
    """The ends of a range; ``None`` is an open end."""

    low: str | None
    high: str | None
    include_low: bool = True
    include_high: bool = True


@dataclass(frozen=True, slots=True)
class Term:
    """One test on one field.

    ``value`` holds the text for EXACT and PHRASE, the canonical block for CIDR, and for
    WILDCARD a pattern in which ``*`` and ``?`` are wildcards and ``\\*``, ``\\?``, ``\\\\``
    are those characters themselves (the syntax Elasticsearch's ``wildcard`` query takes).
    ``bounds`` is set for RANGE and COMPARE only.
    """

    field: str
    kind: Kind
    value: str = ""
    bounds: Bounds | None = None


@dataclass(frozen=True, slots=True)
class FreeText:
    """Words or a phrase searched in the raw message (``event.original`` / ``message``).

    ``prefix`` makes the last word a prefix (``fail*``).
    """

    text: str
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class Not:
    """Matches what ``child`` does not match (including events without the field)."""

    child: Node


@dataclass(frozen=True, slots=True)
class And:
    """Matches when every child matches (two or more children, none of them an And)."""

    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """Matches when any child matches (two or more children, none of them an Or)."""

    children: tuple[Node, ...]


Node = And | Or | Not | Term | FreeText


def join_and(children: list[Node]) -> Node:
    """One child as is, several as a flat And (And children are merged in)."""
    flat: list[Node] = []
    for child in children:
        flat.extend(child.children if isinstance(child, And) else (child,))
    return flat[0] if len(flat) == 1 else And(tuple(flat))


def join_or(children: list[Node]) -> Node:
    """One child as is, several as a flat Or (Or children are merged in)."""
    flat: list[Node] = []
    for child in children:
        flat.extend(child.children if isinstance(child, Or) else (child,))
    return flat[0] if len(flat) == 1 else Or(tuple(flat))

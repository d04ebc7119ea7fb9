"""Properties: printing a tree and parsing it back gives the same tree; any text either
parses or raises QueryError, and what parses translates to SQL that SQLite runs."""

from __future__ import annotations

import ipaddress
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from siem.errors import QueryError
from siem.event import format_timestamp
from siem.query import Bounds, FreeText, Kind, Node, Not, Term, parse_query, to_text
from siem.query.ast import join_and, join_or
from siem.store.elasticsearch.query import to_dsl
from siem.store.sqlite.querylang import register_functions, to_sql
from siem.store.sqlite.store import SqliteStore

PLAIN_FIELDS = st.sampled_from(
    ["event.action", "user.name", "dns.question.name", "event.id", "message", "a", "x_y-z.w@"]
)
ADDRESS_FIELDS = st.sampled_from(["source.ip", "destination.ip", "related.ip", "ip"])
TEXT = st.text(max_size=12)
TEXT_AS_NUMBERS = st.one_of(TEXT, st.integers(-10**6, 10**6).map(str))


def _pattern(pieces: list[str | None]) -> str:
    """A WILDCARD pattern from literal pieces (str) and wildcards (None: alternately * ?)."""
    out: list[str] = []
    for index, piece in enumerate(pieces):
        if piece is None:
            out.append("*?"[index % 2])
        else:
            out.append("".join("\\" + char if char in "*?\\" else char for char in piece))
    return "".join(out)


WILDCARDS = (
    st.lists(st.one_of(st.none(), st.text(min_size=1, max_size=5)), min_size=1, max_size=5)
    .filter(lambda pieces: None in pieces)
    .map(_pattern)
    .filter(lambda pattern: pattern != "*")
)
ADDRESSES = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6))
NETWORKS = st.builds(
    lambda address, bits: ipaddress.ip_network(
        f"{address}/{bits % (address.max_prefixlen + 1)}", strict=False
    ),
    ADDRESSES,
    st.integers(0, 128),
)
TIMES = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(format_timestamp)


def _bounds(ends: st.SearchStrategy[str]) -> st.SearchStrategy[Bounds]:
    return st.builds(
        Bounds, st.none() | ends, st.none() | ends, st.booleans(), st.booleans()
    ).filter(lambda bounds: bounds.low is not None or bounds.high is not None)


def _compare(ends: st.SearchStrategy[str]) -> st.SearchStrategy[Bounds]:
    low = st.builds(lambda end, inc: Bounds(end, None, inc, True), ends, st.booleans())
    high = st.builds(lambda end, inc: Bounds(None, end, True, inc), ends, st.booleans())
    return low | high


TERMS = st.one_of(
    st.builds(Term, PLAIN_FIELDS, st.just(Kind.EXACT), TEXT.filter(bool)),
    st.builds(Term, PLAIN_FIELDS, st.just(Kind.PHRASE), TEXT),
    st.builds(Term, PLAIN_FIELDS, st.just(Kind.WILDCARD), WILDCARDS),
    st.builds(Term, PLAIN_FIELDS | ADDRESS_FIELDS, st.just(Kind.EXISTS)),
    st.builds(Term, PLAIN_FIELDS, st.just(Kind.RANGE), bounds=_bounds(TEXT_AS_NUMBERS)),
    st.builds(Term, PLAIN_FIELDS, st.just(Kind.COMPARE), bounds=_compare(TEXT_AS_NUMBERS)),
    st.builds(Term, ADDRESS_FIELDS, st.just(Kind.EXACT), ADDRESSES.map(str)),
    st.builds(Term, ADDRESS_FIELDS, st.just(Kind.CIDR), NETWORKS.map(str)),
    st.builds(Term, ADDRESS_FIELDS, st.just(Kind.RANGE), bounds=_bounds(ADDRESSES.map(str))),
    st.builds(Term, st.just("@timestamp"), st.just(Kind.EXACT), TIMES),
    st.builds(Term, st.just("@timestamp"), st.just(Kind.COMPARE), bounds=_compare(TIMES)),
    st.builds(FreeText, TEXT, st.booleans()),
)
TREES: st.SearchStrategy[Node] = st.recursive(
    TERMS,
    lambda children: st.one_of(
        st.builds(Not, children),
        st.lists(children, min_size=2, max_size=4).map(join_and),
        st.lists(children, min_size=2, max_size=4).map(join_or),
    ),
    max_leaves=12,
)
QUERYISH = st.text(alphabet=' ab:()[]{}"*?\\-!&|<>=TOANDRN.1/0@\t', max_size=40)


@pytest.fixture(scope="module")
def connection(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    """A real (empty) store file, opened read-only with the search functions."""
    path = tmp_path_factory.mktemp("props") / "siem.db"
    SqliteStore(path).close()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    register_functions(conn)
    yield conn
    conn.close()


@settings(max_examples=400)
@given(TREES)
def test_printed_tree_parses_back_to_the_same_tree(tree: Node) -> None:
    assert parse_query(to_text(tree)) == tree


@settings(max_examples=300)
@given(st.one_of(QUERYISH, st.text(max_size=40)))
def test_any_text_parses_or_raises_query_error_with_a_column(text: str) -> None:
    try:
        tree = parse_query(text)
    except QueryError as error:
        assert error.column is not None
        assert 1 <= error.column <= len(text) + 1
        return
    assert parse_query(to_text(tree)) == tree
    to_dsl(tree)


@settings(max_examples=200)
@given(st.one_of(TREES, QUERYISH))
@example(FreeText("\x00", False))  # FTS5 stops reading a query at NUL
def test_every_tree_becomes_sql_that_sqlite_runs(
    connection: sqlite3.Connection, tree_or_text: Node | str
) -> None:
    if isinstance(tree_or_text, str):
        try:
            tree = parse_query(tree_or_text)
        except QueryError:
            return
    else:
        tree = tree_or_text
    where, params = to_sql(tree)
    assert where.count("?") == len(params)
    connection.execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchone()


def _in_ranges(text: str, ranges: list[tuple[str, str]], *, prefix: bool) -> bool:
    key = text.encode()
    return any(
        low.encode() <= key and (key < high.encode() if prefix else key <= high.encode())
        for low, high in ranges
    )


@settings(max_examples=300)
@given(st.text(alphabet="aBcD-é1_ z", min_size=1, max_size=8), st.data())
def test_index_ranges_hold_every_case_variant(text: str, data: st.DataObject) -> None:
    """The ranges that narrow a case-insensitive match hold every spelling (binary order,
    as SQLite compares text), as a whole value and as the start of a longer one."""
    from siem.store.sqlite.querylang import _case_ranges

    flips = data.draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    variant = "".join(
        char.swapcase() if flip and char.isascii() else char
        for char, flip in zip(text, flips, strict=True)
    )
    suffix = data.draw(st.text(max_size=4))
    assert _in_ranges(variant, _case_ranges(text, prefix=False), prefix=False)
    assert _in_ranges(variant + suffix, _case_ranges(text, prefix=True), prefix=True)

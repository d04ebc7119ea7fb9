"""The parser: precedence, escapes, values by field, ranges, and errors with their column."""

from __future__ import annotations

import pytest

from siem.errors import ExitCode, QueryError
from siem.query import And, Bounds, FreeText, Kind, Not, Or, Term, format_error, parse_query


def exact(field: str, value: str) -> Term:
    return Term(field, Kind.EXACT, value)


A, B, C = exact("f", "a"), exact("f", "b"), exact("f", "c")


@pytest.mark.parametrize(
    ("query", "tree"),
    [
        ("f:a OR f:b AND f:c", Or((A, And((B, C))))),
        ("f:a AND f:b OR f:c", Or((And((A, B)), C))),
        ("(f:a OR f:b) AND f:c", And((Or((A, B)), C))),
        ("NOT f:a AND f:b", And((Not(A), B))),
        ("NOT (f:a AND f:b)", Not(And((A, B)))),
        ("f:a f:b OR f:c", Or((And((A, B)), C))),
        ("f:a && f:b || f:c", Or((And((A, B)), C))),
        ("!f:a -f:b", And((Not(A), Not(B)))),
        ("f:a OR (f:b OR f:c)", Or((A, B, C))),
        ("((f:a))", A),
        ("f:(a OR b c)", Or((A, And((B, C))))),
        ("f:(a OR NOT b)", Or((A, Not(B)))),
        ("NOT NOT f:a", Not(Not(A))),
        ("f:a\tAND\nf:b", And((A, B))),
    ],
)
def test_precedence_is_not_then_and_then_or(query: str, tree: object) -> None:
    assert parse_query(query) == tree


@pytest.mark.parametrize(
    ("query", "term"),
    [
        ("f:a\\ b", exact("f", "a b")),
        ("f:a\\*b", exact("f", "a*b")),
        ("f:a*b", Term("f", Kind.WILDCARD, "a*b")),
        ("f:a\\*b?", Term("f", Kind.WILDCARD, "a\\*b?")),
        ("f:a\\\\*", Term("f", Kind.WILDCARD, "a\\\\*")),
        ('f:"a \\"b\\" * c"', Term("f", Kind.PHRASE, 'a "b" * c')),
        ('f:""', Term("f", Kind.PHRASE, "")),
        ("f:\\AND", exact("f", "AND")),
        ("f:-5", exact("f", "-5")),
        ("f:(-5)", exact("f", "-5")),
        ("f:*", Term("f", Kind.EXISTS)),
        ("f:[* TO *]", Term("f", Kind.EXISTS)),
        ("url.path:/a:b/c", exact("url.path", "/a:b/c")),
        ("ANDROID", FreeText("ANDROID")),
        ("fail*", FreeText("fail", prefix=True)),
        ('"sshd[42]:"', FreeText("sshd[42]:")),
        ('"auth fail"*', FreeText("auth fail", prefix=True)),
        ("sshd\\:", FreeText("sshd:")),
    ],
)
def test_values_and_escapes(query: str, term: object) -> None:
    assert parse_query(query) == term


@pytest.mark.parametrize(
    ("query", "term"),
    [
        ("source.ip:10.2.0.0/16", Term("source.ip", Kind.CIDR, "10.2.0.0/16")),
        ("source.ip:10.2.3.4/16", Term("source.ip", Kind.CIDR, "10.2.0.0/16")),
        ("host.ip:2001:DB8::/32", Term("host.ip", Kind.CIDR, "2001:db8::/32")),
        ("related.ip:2001:db8:0::1", exact("related.ip", "2001:db8::1")),
        ('client.ip:"10.0.0.1"', exact("client.ip", "10.0.0.1")),
        ("ip:::1", exact("ip", "::1")),
        ("@timestamp:2026-11-25T10:00:00+07:00", exact("@timestamp", "2026-11-25T03:00:00.000Z")),
    ],
)
def test_addresses_and_times_are_checked_and_canonical(query: str, term: Term) -> None:
    assert parse_query(query) == term


@pytest.mark.parametrize(
    ("query", "bounds", "kind"),
    [
        ("n:[1 TO 5]", Bounds("1", "5", True, True), Kind.RANGE),
        ("n:{1 TO 5}", Bounds("1", "5", False, False), Kind.RANGE),
        ("n:[1 TO 5}", Bounds("1", "5", True, False), Kind.RANGE),
        ("n:[ 1  TO  * ]", Bounds("1", None, True, True), Kind.RANGE),
        ('n:["a b" TO "z"]', Bounds("a b", "z", True, True), Kind.RANGE),
        ("n:>=10", Bounds("10", None, True, True), Kind.COMPARE),
        ("n:>10", Bounds("10", None, False, True), Kind.COMPARE),
        ("n:<=-1.5", Bounds(None, "-1.5", True, True), Kind.COMPARE),
        ("n:<10", Bounds(None, "10", True, False), Kind.COMPARE),
        ("source.ip:[10.0.0.1 TO 10.0.0.9]", Bounds("10.0.0.1", "10.0.0.9"), Kind.RANGE),
        (
            "@timestamp:>2026-11-25",
            Bounds("2026-11-25T00:00:00.000Z", None, False, True),
            Kind.COMPARE,
        ),
    ],
)
def test_ranges_and_comparisons(query: str, bounds: Bounds, kind: Kind) -> None:
    assert parse_query(query) == Term("n" if query.startswith("n:") else query.split(":")[0],
                                      kind, bounds=bounds)


@pytest.mark.parametrize(
    ("query", "column", "words"),
    [
        ("", 1, "empty"),
        ("   ", 4, "empty"),
        ("f:a AND", 8, "missing after AND"),
        ("f:a OR", 7, "missing after OR"),
        ("OR f:a", 1, "left"),
        ("f:a AND OR f:b", 9, "missing after AND"),
        ("NOT", 4, "missing after NOT"),
        ("(f:a", 1, "not closed"),
        ("f:a)", 4, "no matching"),
        ("()", 1, "empty"),
        ("f:(a OR b", 3, "not closed"),
        ('f:a "open', 5, "quote"),
        ("f:", 3, "missing"),
        ("f: a", 3, "missing"),
        ("f:a b:", 7, "missing"),
        ("1x:a", 1, "not a field name"),
        ("source.ip:10.2.0.0/33", 11, "IP address or block"),
        ("source.ip:camera", 11, "IP address or block"),
        ("source.ip:10.2.*", 11, "not wildcards"),
        ("source.ip:[10.0.0.1 TO x]", 11, "not an IP address"),
        ("@timestamp:yesterday", 12, "not a time"),
        ("@timestamp:2026*", 12, "not wildcards"),
        ("f:[1 5]", 6, "TO"),
        ("f:[1 TO 5", 3, "not closed"),
        ("f:[1 TO ]", 9, "missing"),
        ("f:>=", 5, "missing"),
        ("f:> 5", 4, "missing"),
        ("f:>*", 4, "needs a value"),
        ("f:AND", 3, "operator"),
        ("fa*il", 1, "only at the end"),
        ("ok f:a\\", 7, "escapes nothing"),
        ("(" * 70 + "f:a" + ")" * 70, 65, "deeper"),
        ("NOT " * 70 + "f:a", 257, "deeper"),
    ],
)
def test_errors_point_at_the_column(query: str, column: int, words: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(query)
    assert caught.value.column == column
    assert words in caught.value.message
    assert caught.value.exit_code == ExitCode.USAGE


def test_format_error_draws_a_caret_under_the_column() -> None:
    query = "source.ip:10.2.0.0/16 AND\tevent.action:(deny OR"
    with pytest.raises(QueryError) as caught:
        parse_query(query)
    shown = format_error(query, caught.value)
    first, second = shown.splitlines()
    assert first == query.replace("\t", " ")
    assert second.index("^") == len(query)
    assert second.endswith("a search term is missing after OR")


def test_format_error_without_column_points_past_the_end() -> None:
    shown = format_error("abc", QueryError("bad"))
    assert shown.splitlines() == ["abc", "   ^ bad"]

"""The translations' shape: SQL with parameters only, the DSL the brief's example gives,
and the SQL functions the SQLite fragments call."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from siem.errors import QueryError
from siem.query import Kind, Term, parse_query
from siem.store.elasticsearch.query import to_dsl
from siem.store.sqlite.querylang import ip_between, ip_in_cidr, register_functions, to_sql
from siem.store.sqlite.store import SqliteStore
from tests.query.events import EVENTS

HOSTILE = "x' OR 1=1; DROP TABLE events; --"


@pytest.fixture
def store_conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    path = tmp_path / "siem.db"
    store = SqliteStore(path)
    store.write(EVENTS)
    store.close()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    register_functions(conn)
    yield conn
    conn.close()


def test_values_are_parameters_never_sql_text() -> None:
    for query in (
        f'user.name:"{HOSTILE}"',
        f'dns.question.name:"{HOSTILE}"',
        f'"{HOSTILE}"',
        'user.name:x\\\'*',
        f'message:["{HOSTILE}" TO *]',
    ):
        where, params = to_sql(parse_query(query))
        assert "DROP" not in where and "'x" not in where
        assert where.count("?") == len(params)
        assert any("DROP" in str(param) or "x'" in str(param) for param in params)


def test_a_hostile_value_finds_nothing_and_changes_nothing(store_conn: sqlite3.Connection) -> None:
    where, params = to_sql(parse_query(f'user.name:"{HOSTILE}" OR "{HOSTILE}"'))
    assert store_conn.execute(f"SELECT id FROM events WHERE {where}", params).fetchall() == []
    assert store_conn.execute("SELECT count(*) FROM events").fetchone()[0] == len(EVENTS)


def test_a_field_name_outside_the_pattern_is_refused_by_the_translator() -> None:
    with pytest.raises(QueryError, match="not a field name"):
        to_sql(Term('a") OR 1=1 --', Kind.EXACT, "x"))


def test_indexed_fields_use_their_index(store_conn: sqlite3.Connection) -> None:
    for query, index in (
        ("source.ip:10.2.0.0/16", "events_source_ip"),
        ("source.ip:10.2.3.4", "events_source_ip"),
        ("event.dataset:dnsmasq", "events_dataset"),
        ("event.dataset:DNSmasq", "events_dataset"),
        ("user.name:root", "events_user"),
        ("host.name:Cam-*", "events_host"),
        ("labels.site:w", "events_site"),
        ("@timestamp:>=2026-11-25T08:20:00Z", "events_ts"),
    ):
        where, params = to_sql(parse_query(query))
        plan = store_conn.execute(f"EXPLAIN QUERY PLAN SELECT id FROM events WHERE {where}", params)
        assert index in " ".join(str(row[-1]) for row in plan), query


def test_the_briefs_example_as_dsl() -> None:
    dsl = to_dsl(
        parse_query(
            "source.ip:10.2.0.0/16 AND event.action:deny AND NOT destination.port:(80 OR 443)"
        )
    )
    assert dsl == {
        "bool": {
            "filter": [
                {"term": {"source.ip": {"value": "10.2.0.0/16"}}},
                {"term": {"event.action": {"value": "deny", "case_insensitive": True}}},
                {
                    "bool": {
                        "must_not": [
                            {
                                "bool": {
                                    "should": [
                                        {"term": {"destination.port": {"value": "80"}}},
                                        {"term": {"destination.port": {"value": "443"}}},
                                    ],
                                    "minimum_should_match": 1,
                                }
                            }
                        ]
                    }
                },
            ]
        }
    }


def test_dsl_leaves() -> None:
    assert to_dsl(parse_query("host.name:cam-*")) == {
        "wildcard": {"host.name": {"value": "cam-*", "case_insensitive": True}}
    }
    assert to_dsl(parse_query("event.id:AB*")) == {"wildcard": {"event.id": {"value": "AB*"}}}
    assert to_dsl(parse_query("destination.port:{1 TO 1024]")) == {
        "range": {"destination.port": {"gt": 1, "lte": 1024}}
    }
    assert to_dsl(parse_query("@timestamp:<2026-11-25T10:00:00Z")) == {
        "range": {"@timestamp": {"lt": "2026-11-25T10:00:00.000Z"}}
    }
    assert to_dsl(parse_query("user.name:*")) == {"exists": {"field": "user.name"}}
    assert to_dsl(parse_query("fail*")) == {
        "bool": {
            "should": [
                {"match_phrase_prefix": {"event.original": {"query": "fail"}}},
                {"match_phrase_prefix": {"message": {"query": "fail"}}},
            ],
            "minimum_should_match": 1,
        }
    }


@pytest.mark.parametrize(
    ("value", "block", "inside"),
    [
        ("10.2.3.4", "10.2.0.0/16", 1),
        ("10.20.3.4", "10.2.0.0/16", 0),
        ("2001:db8::1", "2001:db8::/32", 1),
        ("10.2.3.4", "2001:db8::/32", 0),
        ("not an address", "10.0.0.0/8", 0),
        (42, "10.0.0.0/8", 0),
        (None, "10.0.0.0/8", 0),
    ],
)
def test_ip_in_cidr(value: object, block: str, inside: int) -> None:
    assert ip_in_cidr(value, block) == inside


def test_ip_between_orders_addresses_as_numbers_and_ipv4_before_ipv6() -> None:
    assert ip_between("10.2.10.1", "10.2.9.255", "10.2.100.0", 1, 1) == 1
    assert ip_between("10.2.9.255", "10.2.9.255", None, 0, 1) == 0
    assert ip_between("10.2.9.255", "10.2.9.255", None, 1, 1) == 1
    assert ip_between("2001:db8::1", "255.255.255.255", None, 0, 1) == 1
    assert ip_between("junk", None, None, 1, 1) == 0

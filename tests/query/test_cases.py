"""One table of (query, expected event ids), run against a real SQLite store (the SQL from
``to_sql``) and against the test oracle for the Elasticsearch DSL (``to_dsl``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from siem.config import Config, StoreConfig
from siem.query import parse_query
from siem.store.elasticsearch.query import to_dsl
from siem.store.factory import open_store
from siem.store.sqlite.querylang import register_functions, to_sql
from tests.query.dsl_eval import matches
from tests.query.events import ALL_IDS, EVENTS

FW_DENY = {"fw01", "fw02", "fw03", "fw04", "fw05", "fw08", "fw09", "fw10", "fw11", "fw12"}
DNS = {"dns01", "dns02", "dns03", "dns04", "dns05", "dns06"}
SSH = {"ssh01", "ssh02", "ssh03", "ssh04", "ssh05", "ssh06", "ssh07"}
FAILED_PASSWORD = {"ssh01", "ssh02", "ssh03", "ssh06"}
IPV6_SOURCES = {"fw08", "fw09", "dns04"}
ON_10_2_3_4 = {"fw01", "fw03", "fw07", "ssh04", "dns01", "dns05", "dns06"}

CASES: list[tuple[str, set[str] | frozenset[str]]] = [
    (
        "source.ip:10.2.0.0/16 AND event.action:deny AND NOT destination.port:(80 OR 443)",
        {"fw01", "fw03", "fw05", "fw11", "fw12"},
    ),
    ("event.action:deny", FW_DENY),
    ("event.action:DENY", FW_DENY),
    ("event.action:*deny*", FW_DENY | {"misc05"}),
    ("event.action:\"deny all\"", {"misc05"}),
    ("event.action:(deny AND NOT Deny)", set()),
    ("source.ip:10.2.0.0/20", ON_10_2_3_4 | {"fw05", "fw11"}),
    ("source.ip:2001:db8::/32", {"fw08", "fw09", "dns04"}),
    ("destination.ip:2001:db8::/32", {"fw08", "dns04"}),
    ("source.ip:10.2.3.4", ON_10_2_3_4),
    ("source.ip:10.2.3.4/32", ON_10_2_3_4),
    ("source.ip:0.0.0.0/0", ALL_IDS - IPV6_SOURCES - {f"misc0{n}" for n in range(1, 6)}),
    ("related.ip:10.0.0.53", {"dns01", "dns02", "dns03", "dns05", "dns06"}),
    ("related.ip:10.2.0.0/16", {"dns01", "dns02", "dns05", "dns06"}),
    ("source.ip:[10.2.3.0 TO 10.2.3.255]", ON_10_2_3_4),
    ("destination.ip:{10.0.0.53 TO 192.168.1.10}", {"fw06"}),
    ("destination.port:(80 OR 443)", {"fw02", "fw04", "fw07", "fw08"}),
    ("destination.port:[1 TO 1023]", FW_DENY - {"fw05", "fw11", "fw12"} | {"fw07"} | DNS),
    ("destination.port:{22 TO 443}", {"fw03", "fw04", "fw10"} | DNS),
    ("destination.port:>=8080", {"fw06", "fw11", "fw12"}),
    ("destination.port:<25", {"fw01", "fw09"}),
    ("destination.port:[8000 TO *]", {"fw06", "fw11", "fw12"}),
    ("process.pid:>1300", {"ssh05", "ssh06", "ssh07"}),
    ("event.severity:[3 TO 5]", {"misc04"}),
    ("event.severity:7", {"misc02"}),
    ("event.code:4625", {"misc02"}),
    ("user.name:root", {"ssh01", "ssh05"}),
    ("user.name:nguyễn", {"ssh03", "ssh06"}),
    ("user.name:NGUY*", {"ssh03", "ssh06"}),
    ("user.name:*ễn", {"ssh03", "ssh06"}),
    ("user.name:*", SSH - {"ssh07"} | {"misc02"}),
    ("event.outcome:* AND NOT user.name:*", {"ssh07"}),
    ("user.name:Administrator || user.name:admin", {"misc02", "ssh02"}),
    ("!event.outcome:failure && event.dataset:linux.auth", {"ssh04", "ssh07"}),
    ("\"Failed password\"", FAILED_PASSWORD),
    ("failed password", FAILED_PASSWORD),
    ("fail*", FAILED_PASSWORD | {"ssh05", "misc02"}),
    ("\"invalid user\" OR user.name:deploy", {"ssh02", "ssh04"}),
    ("nvr", {"misc01"}),
    ("\"garbage <<>> line\"", {"misc03"}),
    ("ssh -\"Failed password\"", {"ssh05"}),
    ("host.name:cam-*", {"ssh03", "ssh06", "misc04"}),
    ("host.name:gw-0?", {"ssh01", "ssh02", "ssh04", "ssh05", "ssh07"}),
    ("host.name:\"cam-nvr-02\"", {"ssh03", "ssh06"}),
    ("dns.question.name:www.example.com", {"dns03"}),
    ("dns.question.name:a\\*b.example", {"dns05"}),
    ("dns.question.name:a*b.example", {"dns05", "dns06"}),
    ("dns.question.name:*.example", {"dns04", "dns05", "dns06"}),
    ("@timestamp:[2026-11-25T08:00:00Z TO 2026-11-25T08:03:00Z]", {"fw01", "fw02", "fw03", "fw04"}),
    ("@timestamp:>2026-11-25T08:27:00Z", {"misc04", "misc05"}),
    ("@timestamp:2026-11-25T08:05:00Z", {"fw06"}),
    ("event.category:network", {f"fw{n:02d}" for n in range(1, 13)} | {"misc02"}),
    ("event.category:authentication", SSH | {"misc02"}),
    ("labels.zone:camera AND NOT host.name:nvr-01", {"misc04"}),
    ("labels.zone:camera AND NOT destination.port:22", {"misc01", "misc04"}),
    ("labels.site:ward-3 AND destination.port:>1000", {"fw05", "fw11", "fw12"}),
    ("event.dataset:unknown OR error.message:*", {"misc03"}),
    ("message:\"disk almost full on nvr-01\"", {"misc01"}),
    ("event.original:*preauth*", {"ssh07"}),
    ("event.id:ssh01", {"ssh01"}),
    ("event.id:SSH01", set()),
    ("event.action:deny AND (destination.port:22 OR source.ip:10.20.0.0/16) OR user.name:admin",
     {"fw01", "fw09", "fw10", "ssh02"}),
    ("NOT NOT event.dataset:dnsmasq", DNS),
    ("tls.established:true", {"misc04"}),
    ("tls.established:false", {"misc05"}),
    ("destination.port:44*", set()),
    ("event.code:46*", {"misc02"}),
    ("event.dataset:(dnsmasq OR app) -dns.question.name:*example*", {"dns02", "misc01", "misc04"}),
]


@pytest.fixture(scope="module")
def store_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real SQLite store holding the thirty events, written through the store's API."""
    data_dir = tmp_path_factory.mktemp("query-store")
    config = Config(store=StoreConfig())
    store = open_store(config, data_dir)
    try:
        assert store.write(EVENTS).written == len(EVENTS)
    finally:
        store.close()
    return data_dir / config.store.sqlite_file


@pytest.fixture(scope="module")
def connection(store_file: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the store file with the search functions registered."""
    conn = sqlite3.connect(f"file:{store_file}?mode=ro", uri=True)
    register_functions(conn)
    yield conn
    conn.close()


def _ids(case: tuple[str, set[str] | frozenset[str]]) -> str:
    return case[0]


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[_ids(case) for case in CASES])
def test_sqlite_store_returns_the_expected_events(
    connection: sqlite3.Connection, query: str, expected: set[str]
) -> None:
    where, params = to_sql(parse_query(query))
    found = {row[0] for row in connection.execute(f"SELECT id FROM events WHERE {where}", params)}
    assert found == expected


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[_ids(case) for case in CASES])
def test_dsl_oracle_returns_the_expected_events(query: str, expected: set[str]) -> None:
    dsl = to_dsl(parse_query(query))
    found = {str(event["event.id"]) for event in EVENTS if matches(dsl, event)}
    assert found == expected


def test_the_table_covers_both_matching_and_not_matching_events() -> None:
    for query, expected in CASES:
        assert expected <= ALL_IDS, query
    assert any(not expected for _query, expected in CASES)
    assert any(len(expected) > 10 for _query, expected in CASES)

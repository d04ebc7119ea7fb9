"""The SQLite write path: multi-row INSERTs store exactly what row-by-row INSERTs store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from siem import event as ecs
from siem.event import Event
from siem.integrity.verify import verify
from siem.store.sqlite import SqliteStore, rows
from tests.store.conftest import BASE

_COLUMNS = "seq, id, ts, dataset, site, zone, source_ip, destination_ip, host, user, original, doc"


def _events(start: int, count: int) -> list[Event]:
    events: list[Event] = []
    for n in range(start, start + count):
        event: Event = {
            ecs.TIMESTAMP: ecs.format_timestamp(BASE + n / 7),
            ecs.ID: f"id-{n:05d}",
            ecs.DATASET: "syslog" if n % 3 else "linux.auth",
            ecs.ORIGINAL: f"<13>line {n} für ünïcode",
            ecs.MESSAGE: f"line {n}",
            ecs.LABEL_SITE: f"ward-{n % 4}",
            "process.pid": n,
        }
        if n % 5 == 0:
            del event[ecs.ORIGINAL]  # full text then reads the message from doc
        if n % 2:
            event[ecs.SOURCE_IP] = f"10.0.{n % 256}.{n % 100}"
            event[ecs.USER_NAME] = ["a", "b"] if n % 9 == 0 else "root"
        events.append(event)
    return events


def _reference(path: Path, batches: list[list[Event]]) -> list[tuple[object, ...]]:
    """The rows the previous write path (one INSERT per row) gives for the same batches."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, ts INTEGER NOT NULL,"
                 " dataset TEXT, site TEXT, zone TEXT, source_ip TEXT, destination_ip TEXT, host TEXT,"
                 " user TEXT, original TEXT, doc TEXT NOT NULL)")
    conn.execute("PRAGMA synchronous = OFF")
    for batch in batches:
        conn.execute("BEGIN")
        conn.executemany(rows.INSERT_EVENT, [rows.event_row(event, 0) for event in batch])
        conn.execute("COMMIT")
    found = conn.execute(f"SELECT {_COLUMNS} FROM events ORDER BY seq").fetchall()
    conn.close()
    return found


@pytest.mark.parametrize("max_variables", [11, 50, 32766])
def test_rows_and_counts_match_row_by_row(tmp_path: Path, max_variables: int) -> None:
    events = _events(0, 1200)
    # Duplicates inside a batch and across batches, in chunks of any size.
    batches = [events[:700] + events[100:120], events[650:1200], events[:5]]
    store = SqliteStore(tmp_path / "siem.db")
    store._max_variables = max_variables
    results = [store.write(batch) for batch in batches]
    assert [(r.written, r.duplicates) for r in results] == [(700, 20), (500, 50), (0, 5)]
    stored = store._fetchall(f"SELECT {_COLUMNS} FROM events ORDER BY seq", ())
    assert [tuple(row) for row in stored] == _reference(tmp_path / "reference.db", batches)
    # The full-text index and the seals cover exactly the rows written.
    assert store._fetchone("SELECT count(*) FROM events_fts WHERE events_fts MATCH 'ünïcode'", ()) == (960,)
    assert store._fetchone("SELECT count(*), sum(count) FROM seals WHERE kind = 'events'", ()) == (2, 1200)
    result = verify(store)
    assert result.ok and result.events_checked == 1200
    store.close()


def test_insert_statements_cover_every_row_once_in_order() -> None:
    params = [rows.event_row(event, 0) for event in _events(0, 23)]
    statements = list(rows.insert_statements(params, 5 * 11 + 3))
    # At most 4 rows (a power of two) per statement: 4 * 5 + 2 + 1.
    assert [len(values) // 11 for _, values in statements] == [4, 4, 4, 4, 4, 2, 1]
    # 2300 rows: four of 512, then 252 = 128 + 64 + 32 + 16 + 8 + 4 (few distinct statements to cache).
    many = list(rows.insert_statements(params * 100, 32766))
    assert [len(values) // 11 for _, values in many] == [512, 512, 512, 512, 128, 64, 32, 16, 8, 4]
    flat = [value for _, values in statements for value in values]
    assert flat == [value for row in params for value in row]
    assert all(sql.count("?") == len(values) for sql, values in statements)

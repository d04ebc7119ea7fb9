"""What is particular to the SQLite store: file, pragmas, migrations, triggers, disk full,
retention chunks and readers in WAL mode. Raw sqlite3 connections play the other process."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from siem import event as ecs
from siem.config import Config, PipelineConfig, StoreConfig
from siem.errors import QueryError, StoreError, StoreFullError
from siem.store.base import EventQuery, WriteResult
from siem.store.factory import open_store
from siem.store.sqlite import SqliteStore
from siem.store.sqlite import store as sqlite_store_module
from siem.store.sqlite.migrations import LATEST, MIGRATIONS, migrate
from tests.conftest import PROJECT_ROOT
from tests.store.conftest import BASE, SSH_FAIL, SU_OPEN, syslog_event

DAY = 86400.0


@pytest.fixture
def db_path(data_dir: Path) -> Path:
    return data_dir / "siem.db"


@pytest.fixture
def sqlite_store(db_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(db_path)
    yield opened
    opened.close()


def raw(path: Path) -> sqlite3.Connection:
    """A second, independent connection (as another process would have)."""
    return sqlite3.connect(path, isolation_level=None, timeout=5)


def bulk_events(count: int, *, start: float = BASE, step: float = 1.0, pad: int = 0) -> list[ecs.Event]:
    """``count`` ssh failure events ``step`` seconds apart, each ``pad`` characters longer."""
    return [
        syslog_event(f"{SSH_FAIL} port {index} {'x' * pad}", at=start + index * step, index=index,
                     source__ip=f"10.0.{index % 250}.{index % 7}")
        for index in range(count)
    ]


def used_bytes(path: Path) -> int:
    with raw(path) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    return int((pages - free) * size)


def fts_is_consistent(path: Path) -> bool:
    """FTS5 'integrity-check' compares the index with the events table (raises if not)."""
    conn = raw(path)
    try:
        conn.execute("INSERT INTO events_fts (events_fts) VALUES ('integrity-check')")
        return True
    finally:
        conn.close()


def test_file_mode_0600_wal_and_incremental_vacuum(sqlite_store: SqliteStore, db_path: Path) -> None:
    sqlite_store.write(bulk_events(10))
    for path in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    conn = raw(db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # INCREMENTAL
    conn.close()


@pytest.mark.parametrize(("fsync", "level"), [(False, 1), (True, 2)])
def test_synchronous_follows_pipeline_fsync(data_dir: Path, fsync: bool, level: int) -> None:
    config = Config(store=StoreConfig(), pipeline=PipelineConfig(fsync=fsync))
    opened = open_store(config, data_dir)
    try:
        assert isinstance(opened, SqliteStore)
        # synchronous is a per-connection setting: only the store's own connection shows it.
        assert opened._conn.execute("PRAGMA synchronous").fetchone()[0] == level
    finally:
        opened.close()


def test_old_schema_is_migrated_on_open(db_path: Path) -> None:
    conn = raw(db_path)
    assert migrate(conn, location=str(db_path), target=1) == 1
    doc = {ecs.TIMESTAMP: ecs.format_timestamp(BASE), ecs.ID: "old-1", ecs.DATASET: "syslog"}
    conn.execute(
        "INSERT INTO events (id, ts, dataset, original, doc) VALUES (?, ?, ?, ?, ?)",
        ("old-1", int(BASE * 1000), "syslog", SSH_FAIL, json.dumps(doc)),
    )
    conn.close()

    opened = SqliteStore(db_path)
    try:
        assert opened.stats().schema_version == LATEST
        assert LATEST > 1
        # Step 2 built the full-text index over the rows that were already there.
        found = list(opened.search(EventQuery(text="authentication failure")))
        assert [event[ecs.ID] for event in found] == ["old-1"]
        assert found[0][ecs.ORIGINAL] == SSH_FAIL
    finally:
        opened.close()
    # Reopening an up-to-date file changes nothing.
    again = SqliteStore(db_path)
    try:
        assert again.stats().schema_version == LATEST
        assert again.count(EventQuery()) == 1
        # This file was made without auto_vacuum: retention still ends (nothing to vacuum).
        assert again.apply_retention(max_age_days=1, max_size_mb=0, now=BASE + 9 * DAY) == 1
        assert again.count(EventQuery(text="authentication")) == 0
    finally:
        again.close()


def test_newer_schema_is_refused(sqlite_store: SqliteStore, db_path: Path) -> None:
    sqlite_store.close()
    conn = raw(db_path)
    conn.execute("UPDATE schema_version SET version = ?", (LATEST + 5,))
    conn.close()
    with pytest.raises(StoreError, match="newer than this siem"):
        SqliteStore(db_path)


def test_failed_migration_step_leaves_the_version(db_path: Path) -> None:
    conn = raw(db_path)
    migrate(conn, location=str(db_path))
    broken = (*MIGRATIONS, ("CREATE TABLE extra (a TEXT)", "CREATE TABLE broken ("))
    with pytest.raises(StoreError, match=f"schema version {LATEST + 1}"):
        migrate(conn, location=str(db_path), steps=broken)
    assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == LATEST
    # The step's first statement was rolled back with it.
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'extra'").fetchone() is None
    conn.close()


def test_audit_log_rows_cannot_be_changed_or_deleted(
    sqlite_store: SqliteStore, db_path: Path
) -> None:
    sqlite_store.audit("lan", "incident.close", "INC-7", {"status": "open"}, {"status": "closed"})
    conn = raw(db_path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit_log SET actor = 'mallory'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit_log")
    conn.close()
    entries = sqlite_store.audit_log()
    assert [(e["actor"], e["after"]) for e in entries] == [("lan", {"status": "closed"})]


def test_disk_full_raises_store_full_and_writes_nothing(db_path: Path) -> None:
    """A full disk is simulated with ``PRAGMA max_page_count`` (the store's ``max_page_count``):
    SQLite then fails with the same SQLITE_FULL error ("database or disk is full")."""
    opened = SqliteStore(db_path, max_page_count=160)
    try:
        assert opened.write(bulk_events(20), checkpoints={"file": "20"}).written == 20
        big = bulk_events(3000, start=BASE + DAY, pad=600)
        with pytest.raises(StoreFullError, match="full"):
            opened.write(big, checkpoints={"file": "3020"})
        # Nothing of the failed batch, nor its checkpoint, was kept.
        assert opened.count(EventQuery()) == 20
        assert opened.checkpoint("file") == "20"
        assert opened.count(EventQuery(since=BASE + DAY)) == 0
        # The store stays usable: a replay of stored events still answers.
        assert opened.write(bulk_events(20)) == WriteResult(written=0, duplicates=20)
    finally:
        opened.close()
    assert fts_is_consistent(db_path)


def test_retention_by_age_in_chunks_keeps_fts_in_sync(
    sqlite_store: SqliteStore, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store_module, "RETENTION_CHUNK", 70)
    sqlite_store.write(bulk_events(500, step=DAY / 100))  # five days of events
    sqlite_store.write([syslog_event(SU_OPEN, at=BASE + 10 * DAY)])
    deleted = sqlite_store.apply_retention(max_age_days=3, max_size_mb=0, now=BASE + 10 * DAY)
    assert deleted == 500
    assert sqlite_store.count(EventQuery()) == 1
    assert sqlite_store.count(EventQuery(text="authentication")) == 0
    assert sqlite_store.count(EventQuery(text="cyrus")) == 1
    assert fts_is_consistent(db_path)


def test_retention_by_size_deletes_oldest_first(sqlite_store: SqliteStore, db_path: Path) -> None:
    events = bulk_events(3000, pad=900)
    for start in range(0, len(events), 1000):
        sqlite_store.write(events[start : start + 1000])
    assert used_bytes(db_path) > 2 * 1024 * 1024
    pages_before = raw(db_path).execute("PRAGMA page_count").fetchone()[0]

    deleted = sqlite_store.apply_retention(max_age_days=0, max_size_mb=2, now=BASE + DAY)

    assert 0 < deleted < 3000
    assert used_bytes(db_path) <= 2 * 1024 * 1024
    kept = list(sqlite_store.search(EventQuery(limit=5000, newest_first=False)))
    assert len(kept) == 3000 - deleted
    # Exactly the newest events are left.
    assert [event[ecs.ID] for event in kept] == [event[ecs.ID] for event in events[deleted:]]
    # incremental_vacuum gave the freed pages back.
    assert raw(db_path).execute("PRAGMA page_count").fetchone()[0] < pages_before
    assert fts_is_consistent(db_path)


def test_readers_keep_reading_during_retention(
    sqlite_store: SqliteStore, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store_module, "RETENTION_CHUNK", 100)
    sqlite_store.write(bulk_events(1500))
    # A reader in the middle of a read transaction (its snapshot) ...
    reader = raw(db_path)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM events").fetchone()[0] == 1500
    # ... and another store reading in a thread while retention deletes in chunks.
    other = SqliteStore(db_path)
    seen: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def keep_counting() -> None:
        try:
            while not done.is_set():
                seen.append(other.count(EventQuery()))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=keep_counting)
    thread.start()
    try:
        assert sqlite_store.apply_retention(max_age_days=1, max_size_mb=0, now=BASE + 30 * DAY) == 1500
    finally:
        done.set()
        thread.join(timeout=30)
    assert errors == []
    assert seen, "the reader thread never read"
    assert seen == sorted(seen, reverse=True)
    # The snapshot is unchanged until the reader ends its transaction.
    assert reader.execute("SELECT count(*) FROM events").fetchone()[0] == 1500
    reader.execute("COMMIT")
    assert reader.execute("SELECT count(*) FROM events").fetchone()[0] == 0
    assert other.count(EventQuery()) == 0
    reader.close()
    other.close()


WRITER_PROCESS = """
import sys
from siem.store.sqlite import SqliteStore
from tests.store.test_sqlite import bulk_events
store = SqliteStore(sys.argv[1])
events = bulk_events(6000)
print("ready", flush=True)
for start in range(0, len(events), 200):
    store.write(events[start : start + 200], checkpoints={"writer": str(start + 200)})
store.close()
"""


def test_reader_process_reads_while_writer_process_writes(db_path: Path) -> None:
    SqliteStore(db_path).close()  # created (and migrated) before either side starts
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER_PROCESS, str(db_path)],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True,
    )
    reader = SqliteStore(db_path)
    seen: list[int] = []
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        while writer.poll() is None and time.monotonic() < deadline:
            seen.append(reader.count(EventQuery()))
            list(reader.search(EventQuery(text="authentication", limit=5)))
        assert writer.wait(timeout=60) == 0
        assert seen == sorted(seen)
        # Every batch commits whole, with its checkpoint.
        assert all(count % 200 == 0 for count in seen)
        assert reader.count(EventQuery()) == 6000
        assert reader.checkpoint("writer") == "6000"
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
        reader.close()


def test_one_store_shared_by_writer_and_reader_threads(sqlite_store: SqliteStore) -> None:
    events = bulk_events(2000)
    errors: list[BaseException] = []

    def write_all() -> None:
        try:
            for start in range(0, len(events), 100):
                sqlite_store.write(events[start : start + 100], checkpoints={"t": str(start)})
        except BaseException as exc:
            errors.append(exc)

    writer = threading.Thread(target=write_all)
    writer.start()
    while writer.is_alive():
        list(sqlite_store.search(EventQuery(text="authentication", limit=10)))
    writer.join()
    assert errors == []
    assert sqlite_store.count(EventQuery()) == 2000
    assert sqlite_store.checkpoint("t") == "1900"


def test_undecodable_input_is_kept_exactly(sqlite_store: SqliteStore) -> None:
    line = b"<38>Nov 25 10:00:00 cam-07 login: bad \xff\xfe bytes".decode("utf-8", "surrogateescape")
    event = syslog_event(line, at=BASE, user__name="adm\udcffin")
    assert sqlite_store.write([event]).written == 1
    [stored] = list(sqlite_store.search(EventQuery(text="bytes")))
    assert stored == event
    assert sqlite_store.write([event]).duplicates == 1


def test_event_without_time_or_id_is_still_stored(sqlite_store: SqliteStore) -> None:
    odd = {ecs.ORIGINAL: "garbage line with no timestamp", ecs.TIMESTAMP: "not a time"}
    assert sqlite_store.write([odd, dict(odd)]) == WriteResult(written=1, duplicates=1)
    [stored] = list(sqlite_store.search(EventQuery(text="garbage")))
    assert stored == odd


def test_bad_full_text_syntax_is_a_query_error(sqlite_store: SqliteStore) -> None:
    sqlite_store.write(bulk_events(3))
    with pytest.raises(QueryError, match="full-text"):
        list(sqlite_store.search(EventQuery(text='authentication "failure')))
    with pytest.raises(QueryError, match="full-text"):
        sqlite_store.count(EventQuery(text='"a" AND AND'))
    # Punctuation in plain words needs no quoting from the user.
    assert sqlite_store.count(EventQuery(text="sshd(pam_unix)[19939]: rhost=218.188.2.4")) == 3


def test_a_file_that_is_not_a_store_is_refused(db_path: Path) -> None:
    db_path.write_bytes(b"this is a text file, not SQLite\n" * 200)
    with pytest.raises(StoreError, match="cannot open the store"):
        SqliteStore(db_path)
    with pytest.raises(StoreError, match="cannot create the store file"):
        SqliteStore(db_path.parent / "missing-dir" / "siem.db")


def test_closed_store_says_so(sqlite_store: SqliteStore) -> None:
    sqlite_store.close()
    sqlite_store.close()
    with pytest.raises(StoreError, match="closed"):
        sqlite_store.count(EventQuery())


@pytest.mark.corpus
def test_loghub_linux_sample_full_text(sqlite_store: SqliteStore, corpus_dir: Path) -> None:
    lines = (corpus_dir / "loghub" / "Linux" / "Linux_2k.log").read_text(errors="replace")
    events = [syslog_event(line, at=BASE + i, index=i) for i, line in enumerate(lines.splitlines())]
    assert sqlite_store.write(events).written == len(events)
    words = re.compile(r"(?=.*\bauthentication\b)(?=.*\bfailure\b)", re.IGNORECASE)
    expected = sum(1 for event in events if words.match(event[ecs.ORIGINAL]))
    assert expected > 100
    assert sqlite_store.count(EventQuery(text="authentication failure")) == expected
    rhost = sum(1 for event in events if "rhost=218.188.2.4" in event[ecs.ORIGINAL])
    assert sqlite_store.count(EventQuery(text="rhost=218.188.2.4")) == rhost

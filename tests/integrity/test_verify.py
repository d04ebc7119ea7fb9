"""Seals written by the real SqliteStore, verified; then the file edited with plain sqlite3."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from siem.errors import StoreError
from siem.integrity.anchor import read_anchor
from siem.integrity.chain import AUDIT, EVENTS, RETENTION
from siem.integrity.verify import SealedStore, current_head, verify
from siem.store.sqlite import SqliteStore
from siem.store.sqlite.migrations import LATEST, migrate
from siem.store.sqlite.seals import head_path, retire
from tests.integrity.conftest import NOW, make_event, tamper


def seal_rows(path: Path) -> list[tuple[int, str, int, int, int]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT id, kind, first_seq, last_seq, count FROM seals ORDER BY id").fetchall()
    finally:
        conn.close()


def test_intact_store_verifies_and_records_its_head(store: SqliteStore) -> None:
    store.audit("officer", "ack", "INC-1", {"status": "open"}, {"status": "acknowledged"})
    store.write([make_event(100)])
    result = verify(store)
    assert result.ok, result.to_dict()
    assert result.seals == 5  # three batches, the audit entry, the last batch
    assert result.events_checked == 31
    assert result.audit_checked == 1
    assert [row[1] for row in seal_rows(store.path)] == [EVENTS, EVENTS, EVENTS, EVENTS, AUDIT]
    head = read_anchor(head_path(store.path))
    assert head is not None and result.head is not None
    assert (head.seal, head.chain) == (result.head.seal, result.head.chain) == (5, result.head.chain)


def test_current_head_is_the_verified_head(store: SqliteStore) -> None:
    assert current_head(store) == verify(store).head
    assert current_head(SimpleNamespace(backend="elasticsearch")) is None


def test_replayed_batch_adds_no_seal(store: SqliteStore) -> None:
    before = seal_rows(store.path)
    written = store.write([make_event(index) for index in range(10, 20)])
    assert written.written == 0 and written.duplicates == 10
    assert seal_rows(store.path) == before
    assert verify(store).ok


def test_updated_event_names_its_batch(store: SqliteStore) -> None:
    tamper(store.path, "UPDATE events SET original = 'nothing happened' WHERE id = 'evt-00015'")
    result = verify(store)
    assert not result.ok
    first = result.first_broken
    assert first is not None
    assert (first.seal, first.kind, first.first, first.last) == (2, EVENTS, 11, 20)
    assert "changed" in first.reason
    assert "seal 2 (events 11–20, sealed " in first.describe()


def test_a_changed_index_column_is_caught_too(store: SqliteStore) -> None:
    # The site column alone decides what a site search finds.
    tamper(store.path, "UPDATE events SET site = 'elsewhere' WHERE id = 'evt-00003'")
    first = verify(store).first_broken
    assert first is not None and first.seal == 1


def test_deleted_event_names_its_batch(store: SqliteStore) -> None:
    tamper(store.path, "DELETE FROM events WHERE id = 'evt-00025'")
    first = verify(store).first_broken
    assert first is not None
    assert (first.seal, first.first, first.last) == (3, 21, 30)
    assert "1 of 10 rows are missing" in first.reason


def test_inserted_event_is_caught(store: SqliteStore) -> None:
    tamper(store.path, "INSERT INTO events (id, ts, doc) VALUES ('forged', 0, '{}')")
    result = verify(store)
    assert not result.ok
    assert "after the last seal" in result.problems[0].reason


def test_deleting_the_newest_batch_with_its_seal_is_caught_by_the_head(store: SqliteStore) -> None:
    tamper(store.path,
           "DROP TRIGGER seals_no_delete",
           "DELETE FROM events WHERE seq > 20",
           "DELETE FROM seals WHERE id = 3")
    first = verify(store).first_broken
    assert first is not None
    assert first.seal == 3
    assert "the newest batches were removed" in first.reason


def test_deleting_the_newest_events_only_is_caught(store: SqliteStore) -> None:
    tamper(store.path, "DELETE FROM events WHERE seq > 20")
    first = verify(store).first_broken
    assert first is not None and first.seal == 3
    assert "10 of 10 rows are missing" in first.reason
    # The next batch does not reuse the seqs of the removed ones: the gap stays visible.
    store.write([make_event(500)])
    assert verify(store).first_broken == first


def test_edited_seal_breaks_the_chain(store: SqliteStore) -> None:
    tamper(store.path, "DROP TRIGGER seals_no_update", "UPDATE seals SET count = 9 WHERE id = 2")
    first = verify(store).first_broken
    assert first is not None and first.seal == 2
    assert "does not match the chain" in first.reason


def test_edited_audit_entry_is_caught(store: SqliteStore) -> None:
    store.audit("officer", "resolve", "INC-7", {"status": "open"}, {"status": "resolved"})
    store.write([make_event(200)])
    with pytest.raises(sqlite3.IntegrityError):  # the append-only trigger stops a plain edit
        tamper(store.path, "UPDATE audit_log SET actor = 'someone else'")
    tamper(store.path, "DROP TRIGGER audit_log_no_update", "UPDATE audit_log SET actor = 'someone else'")
    first = verify(store).first_broken
    assert first is not None
    assert (first.seal, first.kind, first.first, first.last) == (5, AUDIT, 1, 1)
    assert "changed" in first.reason


def test_deleted_audit_entry_is_caught(store: SqliteStore) -> None:
    for index in range(3):
        store.audit("officer", "note", f"INC-{index}", None, {"text": "checked"})
    store.write([make_event(200)])
    tamper(store.path, "DROP TRIGGER audit_log_no_delete", "DELETE FROM audit_log WHERE id = 2")
    first = verify(store).first_broken
    assert first is not None
    assert (first.seal, first.kind) == (5, AUDIT)
    assert "1 of 3 rows are missing" in first.reason


def test_unsealed_audit_entries_are_reported_until_the_next_batch(store: SqliteStore) -> None:
    store.audit("officer", "ack", "INC-1", None, None)
    result = verify(store)
    assert result.ok and result.unsealed_audit == 1
    store.write([make_event(300)])
    result = verify(store)
    assert result.ok and result.unsealed_audit == 0 and result.audit_checked == 1


def test_retention_is_not_tampering(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "siem.db")
    try:
        store.write([make_event(index, age_days=40) for index in range(10)])  # seal 1: all old
        # seal 2: half old, half new (a late file mixed with live lines)
        store.write([make_event(10 + index, age_days=40 if index % 2 else 1) for index in range(10)])
        store.write([make_event(20 + index, age_days=1) for index in range(10)])  # seal 3: new
        assert store.apply_retention(max_age_days=30, max_size_mb=0, now=NOW) == 15
        result = verify(store)
        assert result.ok, result.to_dict()
        assert result.batches_retired == 1
        assert result.events_checked == 20  # 15 stored + 5 removed from batch 2, by their kept hashes
        kinds = [row[1] for row in seal_rows(store.path)]
        assert kinds == [EVENTS, EVENTS, EVENTS, RETENTION]
        # The rest of the half-removed batch is still checked against its seal.
        tamper(store.path, "UPDATE events SET doc = '{}' WHERE id = 'evt-00012'")
        first = verify(store).first_broken
        assert first is not None and first.seal == 2
    finally:
        store.close()


def test_a_batch_altered_before_retention_removed_it_stays_reported(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "siem.db")
    try:
        store.write([make_event(index, age_days=40) for index in range(10)])
        store.write([make_event(10 + index, age_days=1) for index in range(10)])
        tamper(store.path, "UPDATE events SET original = 'edited' WHERE id = 'evt-00004'")
        assert store.apply_retention(max_age_days=30, max_size_mb=0, now=NOW) == 10
        first = verify(store).first_broken
        assert first is not None
        assert (first.seal, first.first, first.last) == (1, 1, 10)
        assert "altered when retention removed them (retention seal 3)" in first.reason
    finally:
        store.close()


def test_retention_of_everything_then_new_events(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "siem.db")
    try:
        store.write([make_event(index, age_days=40) for index in range(10)])
        assert store.apply_retention(max_age_days=30, max_size_mb=0, now=NOW) == 10
        store.write([make_event(100 + index) for index in range(5)])
        result = verify(store)
        assert result.ok, result.to_dict()
        assert seal_rows(store.path)[-1][1:] == (EVENTS, 11, 15, 5)
    finally:
        store.close()


def test_size_retention_is_not_tampering(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "siem.db")
    try:
        for batch in range(4):
            store.write([make_event(batch * 50 + index, age_days=4 - batch, text="x" * 4000)
                         for index in range(50)])
        assert store.apply_retention(max_age_days=0, max_size_mb=1, now=NOW) > 0
        assert verify(store).ok
    finally:
        store.close()


def test_a_removal_that_is_not_oldest_first_is_caught(store: SqliteStore) -> None:
    # Someone uses the sealing code itself to delete the middle batch and seal the removal.
    conn = sqlite3.connect(store.path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        retire(conn, "SELECT seq FROM events WHERE seq BETWEEN 11 AND 20", (), NOW)
        conn.execute("COMMIT")
    finally:
        conn.close()
    result = verify(store)
    assert not result.ok
    first = result.first_broken
    assert first is not None and first.kind == RETENTION
    assert "does not look like retention" in first.reason


def test_since_skips_old_digests_but_counts_catch_deletions(store: SqliteStore) -> None:
    tamper(store.path, "DELETE FROM events WHERE id = 'evt-00004'")
    result = verify(store, since=NOW + 3600)
    assert result.events_checked == 0
    assert not result.ok
    assert "run without --since" in result.problems[0].reason


def test_anchor_catches_what_the_head_file_cannot(store: SqliteStore) -> None:
    anchor = verify(store).head
    assert anchor is not None
    # Remove the newest batch, its seal and the head file: only the anchor kept elsewhere knows.
    tamper(store.path, "DROP TRIGGER seals_no_delete", "DELETE FROM events WHERE seq > 20",
           "DELETE FROM seals WHERE id = 3")
    head_path(store.path).unlink()
    alone = verify(store)
    assert alone.ok and alone.warnings  # the honest limit: no head, no proof of truncation
    anchored = verify(store, anchor=anchor)
    first = anchored.first_broken
    assert first is not None and first.seal == 3
    assert "the anchor records seal 3" in first.reason


def test_odd_text_round_trips_through_the_seal(tmp_path: Path) -> None:
    texts = ["nul\x00inside", 'quote " and \\ backslash', "tiếng Việt 😀", "\u2028\x1f\x7f",
             "bad byte \udcff kept", ""]
    store = SqliteStore(tmp_path / "siem.db")
    try:
        store.write([make_event(index, text=text) for index, text in enumerate(texts)])
        store.write([make_event(index, text=text) for index, text in enumerate(texts)])  # replay
        result = verify(store)
        assert result.ok, result.to_dict()
        assert result.events_checked == len(texts)
    finally:
        store.close()


def test_events_stored_before_sealing_get_a_first_seal(tmp_path: Path) -> None:
    path = tmp_path / "siem.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, location=str(path), target=LATEST - 1)
    conn.executemany("INSERT INTO events (id, ts, original, doc) VALUES (?, ?, ?, '{}')",
                     [(f"old-{index}", 1000 + index, f"line {index}") for index in range(5)])
    conn.close()
    store = SqliteStore(path)
    try:
        assert verify(store).warnings  # nothing sealed yet
        store.write([make_event(1)])
        result = verify(store)
        assert result.ok, result.to_dict()
        assert seal_rows(path)[:2] == [(1, EVENTS, 1, 5, 5), (2, EVENTS, 6, 6, 1)]
    finally:
        store.close()


def test_a_store_without_seals_is_refused() -> None:
    from siem.store.elasticsearch.store import ElasticsearchStore

    assert not issubclass(ElasticsearchStore, SealedStore)  # so verify() refuses it, as below
    elastic = SimpleNamespace(backend="elasticsearch")
    with pytest.raises(StoreError, match="not supported on the elasticsearch store"):
        verify(elastic)


def test_verifying_while_the_writer_writes_gives_no_false_alarm(store: SqliteStore) -> None:
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for batch in range(40):
                store.write([make_event(1000 + batch * 5 + index) for index in range(5)])
                if batch % 10 == 0:
                    store.audit("officer", "note", f"INC-{batch}", None, None)
        except BaseException as exc:  # reported below
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    results = []
    while writer.is_alive() or not results:
        results.append(verify(store))
    writer.join(timeout=30)
    assert not errors
    assert all(result.ok for result in results), [r.to_dict() for r in results if not r.ok][:1]
    assert verify(store).events_checked == 230

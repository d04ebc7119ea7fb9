"""The embedded store: one SQLite file in WAL mode (https://www.sqlite.org/wal.html).

One SqliteStore owns one connection, guarded by a lock, so a store object may be shared
between threads (the pipeline writes from one writer thread). Other processes (the CLI)
open their own store; WAL lets them read while the writer writes.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from siem.alert import Alert
from siem.errors import QueryError, StoreError, StoreFullError
from siem.event import Event
from siem.store.base import (
    AggregateBucket,
    AlertAggregation,
    EventAggregation,
    EventQuery,
    SourceStats,
    StoreStats,
    WriteResult,
)
from siem.store.sqlite import aggregate, rows
from siem.store.sqlite.cases import CaseTables
from siem.store.sqlite.migrations import current_version, migrate
from siem.store.sqlite.query import uses_full_text, where_clause
from siem.store.sqlite.querylang import register_functions
from siem.store.sqlite.seals import SealTables, record_head, reserve_seqs, retire, seal_new_rows

#: Rows deleted per transaction by retention, so readers and the writer wait briefly at most.
RETENTION_CHUNK = 5000
#: WAL pages (4 KiB) after which a commit also checkpoints.
WAL_CHECKPOINT_PAGES = 10000
#: Free pages returned to the file system per step of retention's vacuum.
VACUUM_PAGES = 4096
#: Page cache per connection, in KiB: the bound on SQLite's share of a process's memory (plus a
#: few MB of its own); ``siem run`` reaches it within minutes of steady load and stays there
#: (``bench/memory.py --probe``: ~70 MB of SQLite allocations, flat).
PAGE_CACHE_KIB = 65536
#: Ids per ``IN (...)`` list (SQLite allows 32766 parameters; stay well below).
_ID_CHUNK = 500


class SqliteStore(CaseTables, SealTables):
    """The Store protocol on one SQLite file."""

    backend = "sqlite"

    def __init__(
        self,
        path: str | Path,
        *,
        fsync: bool = False,
        max_page_count: int | None = None,
        busy_timeout_ms: int = 10000,
    ) -> None:
        """Open (creating with mode 0600 and migrating) the store file at ``path``.

        ``fsync`` sets ``synchronous=FULL`` (durable against power loss) instead of NORMAL.
        ``max_page_count`` caps the file size in pages; tests use it to simulate a full disk.
        """
        self.path = Path(path)
        self._lock = threading.Lock()
        self._closed = False
        self._create_file()
        try:
            self._conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=busy_timeout_ms / 1000,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store: {exc}", path=self.path) from exc
        register_functions(self._conn)
        self._max_variables = self._conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        try:
            self._configure(fsync=fsync, max_page_count=max_page_count)
            self.schema_version = migrate(self._conn, location=str(self.path))
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise StoreError(f"cannot open the store: {exc}", path=self.path) from exc
        except StoreError:
            self._conn.close()
            raise

    def _create_file(self) -> None:
        if self.path.exists():
            return
        try:
            descriptor = os.open(self.path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        except OSError as exc:
            raise StoreError(f"cannot create the store file: {exc.strerror}", path=self.path) from exc
        os.close(descriptor)

    def _configure(self, *, fsync: bool, max_page_count: int | None) -> None:
        conn = self._conn
        new_file = conn.execute("PRAGMA page_count").fetchone()[0] == 0
        if new_file:
            # Only takes effect before the first table exists. (The page size stays 4 KiB:
            # each event dirties about one page of the random-order id index, so smaller pages
            # mean less written per event once the store is large.)
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"the store cannot use WAL mode (got {mode})", path=self.path)
        conn.execute(f"PRAGMA synchronous = {'FULL' if fsync else 'NORMAL'}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA temp_store = MEMORY")
        # Checkpoint every ~40 MB of WAL instead of ~4 MB: index pages rewritten by several
        # batches are copied to the database once (measured ~15% more events/s at 450k
        # events); the WAL file is cut back to 64 MB after a checkpoint.
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit = {64 * 1024 * 1024}")
        conn.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
        if max_page_count is not None:
            conn.execute(f"PRAGMA max_page_count = {int(max_page_count)}")

    # -- events ---------------------------------------------------------------------------

    def write(
        self, batch: Sequence[Event], *, checkpoints: Mapping[str, str] | None = None
    ) -> WriteResult:
        """Store events (ignoring ids already stored) and advance checkpoints, atomically."""
        now = time.time()
        now_ms = int(now * 1000)
        event_row = rows.event_row
        params = [event_row(event, now_ms) for event in batch]
        try:
            return self._write_rows(params, checkpoints, now)
        except UnicodeEncodeError:
            # Rare: text with lone surrogates, which SQLite cannot store as is.
            params = [rows.safe_event_row(event, now_ms) for event in batch]
        try:
            return self._write_rows(params, checkpoints, now)
        except UnicodeEncodeError as exc:
            raise StoreError(f"cannot write a checkpoint name or value: {exc}", path=self.path) from exc

    def _write_rows(
        self, params: list[rows.EventRow], checkpoints: Mapping[str, str] | None, now: float
    ) -> WriteResult:
        with self._lock:
            self._check_open()
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                # New rows get seq values above the current maximum (INTEGER PRIMARY KEY).
                last_seq = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
                last_seq = reserve_seqs(conn, last_seq)  # a seq is never sealed twice (seals.py)
                # A statement's rowcount is sqlite3_changes(), and an ignored duplicate changes
                # nothing: the sum is the number of new events (rows.insert_statements).
                written = 0
                for sql, values in rows.insert_statements(params, self._max_variables):
                    written += conn.execute(sql, values).rowcount
                if written:
                    conn.execute(rows.INDEX_NEW_EVENTS, (last_seq,))
                head = seal_new_rows(conn, last_seq, now, params)  # integrity seal, same transaction
                if checkpoints:
                    conn.executemany(
                        "INSERT INTO checkpoints (name, value, updated_at) VALUES (?, ?, ?)"
                        " ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
                        " updated_at = excluded.updated_at",
                        [(name, value, now) for name, value in checkpoints.items()],
                    )
                conn.execute("COMMIT")
            except UnicodeEncodeError:
                self._rollback()
                raise
            except sqlite3.Error as exc:
                self._rollback()
                raise self._error("cannot write events", exc) from exc
        record_head(self.path, head)
        return WriteResult(written=written, duplicates=len(params) - written)

    def checkpoint(self, name: str) -> str | None:
        """The last committed checkpoint value of a source, if any."""
        row = self._fetchone("SELECT value FROM checkpoints WHERE name = ?", (name,))
        return None if row is None else str(row[0])

    def search(self, query: EventQuery) -> Iterator[Event]:
        """Events matching the query, newest (or oldest) first, at most ``query.limit``."""
        where, params = where_clause(query)
        order = "DESC" if query.newest_first else "ASC"
        sql = f"{rows.EVENT_SELECT}{where} ORDER BY ts {order}, seq {order} LIMIT ?"
        found = self._fetchall(sql, (*params, max(0, query.limit)), full_text=uses_full_text(query))
        return iter([rows.row_event(original, doc) for original, doc in found])

    def count(self, query: EventQuery) -> int:
        """How many events match (``limit`` ignored)."""
        where, params = where_clause(query)
        row = self._fetchone(
            f"SELECT count(*) FROM events{where}", params, full_text=uses_full_text(query)
        )
        return int(row[0]) if row is not None else 0

    def scan(self, query: EventQuery, *, page: int = 1000) -> Iterator[Event]:
        """Every matching event, oldest first, by keyset pagination on (ts, seq): each page
        is one short read, so the writer is never held up for the whole scan."""
        where, params = where_clause(query)
        joiner = " AND " if where else " WHERE "
        size = max(1, page)
        full_text = uses_full_text(query)
        after: tuple[int, int] | None = None
        while True:
            keyset = ""
            extra: tuple[Any, ...] = ()
            if after is not None:
                keyset = f"{joiner}(ts > ? OR (ts = ? AND seq > ?))"
                extra = (after[0], after[0], after[1])
            sql = (f"SELECT original, doc, ts, seq FROM events{where}{keyset}"
                   " ORDER BY ts, seq LIMIT ?")
            found = self._fetchall(sql, (*params, *extra, size), full_text=full_text)
            for original, doc, _, _ in found:
                yield rows.row_event(original, doc)
            if len(found) < size:
                return
            after = (found[-1][2], found[-1][3])

    def get_events(self, ids: Sequence[str]) -> list[Event]:
        """The events with these ids that exist."""
        found: list[Event] = []
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), _ID_CHUNK):
            chunk = unique[start : start + _ID_CHUNK]
            marks = ", ".join("?" * len(chunk))
            selected = self._fetchall(f"{rows.EVENT_SELECT} WHERE id IN ({marks})", chunk)
            found.extend(rows.row_event(original, doc) for original, doc in selected)
        return found

    def aggregate_events(self, aggregation: EventAggregation) -> list[AggregateBucket]:
        """Counts of matching events per group (and time bucket): GROUP BY in SQLite."""
        full_text = uses_full_text(aggregation.query)
        results = [self._fetchall(sql, params, full_text=full_text)
                   for sql, params in aggregate.event_statements(aggregation)]
        return aggregate.event_results(results, aggregation)

    def aggregate_alerts(self, aggregation: AlertAggregation) -> list[AggregateBucket]:
        """Counts of not-suppressed alerts and their matches per group: one GROUP BY."""
        sql, params = aggregate.alert_sql(aggregation)
        return aggregate.alert_buckets(self._fetchall(sql, params), len(aggregation.group_by))

    # -- alerts ---------------------------------------------------------------------------

    def write_alerts(self, alerts: Sequence[Alert]) -> WriteResult:
        """Insert new alerts; for known ids widen the time span, keep the larger count and
        add the event ids. ``written`` counts new alerts, ``duplicates`` updated ones."""
        if not alerts:
            return WriteResult(written=0, duplicates=0)
        with self._lock:
            self._check_open()
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                existing: set[str] = set()
                ids = list({alert.id for alert in alerts})
                for start in range(0, len(ids), _ID_CHUNK):
                    chunk = ids[start : start + _ID_CHUNK]
                    marks = ", ".join("?" * len(chunk))
                    existing.update(
                        row[0]
                        for row in conn.execute(f"SELECT id FROM alerts WHERE id IN ({marks})", chunk)
                    )
                conn.executemany(rows.UPSERT_ALERT, [rows.alert_row(alert) for alert in alerts])
                conn.executemany(
                    "INSERT OR IGNORE INTO alert_events (alert_id, event_id) VALUES (?, ?)",
                    [(alert.id, event_id) for alert in alerts for event_id in alert.event_ids],
                )
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise self._error("cannot write alerts", exc) from exc
        new = len(ids) - len(existing)
        return WriteResult(written=new, duplicates=len(alerts) - new)

    def alerts(
        self, *, since: float | None = None, level: str | None = None, limit: int = 100
    ) -> list[Alert]:
        """Alerts seen since ``since``, of ``level`` or higher, newest first."""
        conditions: list[str] = []
        params: list[Any] = []
        if since is not None:
            conditions.append("last_seen >= ?")
            params.append(since)
        if level is not None:
            conditions.append("level_rank >= ?")
            params.append(rows.level_rank(level))
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        with self._lock:
            self._check_open()
            try:
                found = self._conn.execute(
                    f"SELECT {rows.ALERT_COLUMNS} FROM alerts{where}"
                    " ORDER BY last_seen DESC, id LIMIT ?",
                    (*params, max(0, limit)),
                ).fetchall()
                result: list[Alert] = []
                for row in found:
                    event_ids = tuple(
                        event_id
                        for (event_id,) in self._conn.execute(
                            "SELECT event_id FROM alert_events WHERE alert_id = ? ORDER BY event_id",
                            (row[0],),
                        )
                    )
                    result.append(rows.row_alert(tuple(row), event_ids))
            except sqlite3.Error as exc:
                raise self._error("cannot read alerts", exc) from exc
        return result

    # -- counters -------------------------------------------------------------------------

    def record_source_stats(self, stats: Sequence[SourceStats]) -> None:
        """Save each source's counters, replacing what was saved for it before."""
        now = time.time()
        params = [
            (s.source, s.received, s.bytes, s.dropped, s.parse_failures, s.last_event_at, s.rejected, now)
            for s in stats
        ]
        self._execute_many(
            "INSERT OR REPLACE INTO source_stats (source, received, bytes, dropped,"
            " parse_failures, last_event_at, rejected, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            params,
            what="cannot save source counters",
        )

    def source_stats(self) -> list[SourceStats]:
        """The saved per-source counters, by source name."""
        found = self._fetchall(
            "SELECT source, received, bytes, dropped, parse_failures, last_event_at, rejected"
            " FROM source_stats ORDER BY source",
            (),
        )
        return [SourceStats(*row) for row in found]

    # -- retention ------------------------------------------------------------------------

    def apply_retention(self, *, max_age_days: int, max_size_mb: int, now: float) -> int:
        """Delete events older than ``max_age_days``, then the oldest until the store's used
        size is under ``max_size_mb`` (0 = no limit); returns how many were deleted.

        Deletes run in chunks of RETENTION_CHUNK rows, one transaction each, so readers
        (never blocked in WAL mode) and the writer wait at most one chunk.
        """
        deleted = 0
        if max_age_days > 0:
            cutoff_ms = int((now - max_age_days * 86400) * 1000)
            while True:
                count = self._delete_chunk(
                    # Oldest first, so each sealed removal has a (ts, seq) boundary (seals.py).
                    "SELECT seq FROM events WHERE ts < ? ORDER BY ts, seq LIMIT ?",
                    (cutoff_ms, RETENTION_CHUNK),
                )
                deleted += count
                if count < RETENTION_CHUNK:
                    break
        if max_size_mb > 0:
            limit_bytes = max_size_mb * 1024 * 1024
            events = self._event_count()  # counted once: a count is a scan of an index
            while events > 0:
                used = self._used_bytes()
                if used <= limit_bytes:
                    break
                # Aim at the excess (by average row size), at most one chunk at a time.
                wanted = int((used - limit_bytes) / (used / events)) + 1
                count = self._delete_chunk(
                    "SELECT seq FROM events ORDER BY ts, seq LIMIT ?",
                    (min(wanted, RETENTION_CHUNK),),
                )
                deleted += count
                events -= count
                if count == 0:
                    break
        if deleted:
            self._reclaim()
        return deleted

    def _delete_chunk(self, select_sql: str, params: tuple[Any, ...]) -> int:
        """Delete the events ``select_sql`` selects, with a retention seal (seals.py)."""
        with self._lock:
            self._check_open()
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                count, head = retire(conn, select_sql, params, time.time())
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise self._error("cannot delete old events", exc) from exc
        record_head(self.path, head)
        return count

    def _event_count(self) -> int:
        row = self._fetchone("SELECT count(*) FROM events", ())
        return int(row[0])

    def _used_bytes(self) -> int:
        """Bytes of the pages in use (the file size less its free pages)."""
        with self._lock:
            self._check_open()
            try:
                conn = self._conn
                pages = conn.execute("PRAGMA page_count").fetchone()[0]
                free = conn.execute("PRAGMA freelist_count").fetchone()[0]
                size = conn.execute("PRAGMA page_size").fetchone()[0]
            except sqlite3.Error as exc:
                raise self._error("cannot measure the store", exc) from exc
        return (int(pages) - int(free)) * int(size)

    def _reclaim(self) -> None:
        """Merge FTS segments holding delete markers, then give free pages back to the disk,
        a bounded number per lock so the writer is not held up."""
        with self._lock:
            self._check_open()
            try:
                self._conn.execute("INSERT INTO events_fts (events_fts, rank) VALUES ('merge', 64)")
            except sqlite3.Error as exc:
                raise self._error("cannot reclaim free space", exc) from exc
        before = None
        while True:
            with self._lock:
                self._check_open()
                try:
                    free = self._conn.execute("PRAGMA freelist_count").fetchone()[0]
                    # Done, or a file made without auto_vacuum (the pragma then does nothing).
                    if not free or free == before:
                        return
                    before = free
                    # execute() steps a pragma once, which frees a single page; executescript
                    # runs it to the end (no transaction is open here, so it commits nothing).
                    self._conn.executescript(f"PRAGMA incremental_vacuum({VACUUM_PAGES})")
                except sqlite3.Error as exc:
                    raise self._error("cannot reclaim free space", exc) from exc

    # -- status and audit -----------------------------------------------------------------

    def stats(self) -> StoreStats:
        """Counts and size for ``siem status``."""
        with self._lock:
            self._check_open()
            try:
                conn = self._conn
                events, oldest, newest = conn.execute(
                    "SELECT count(*), min(ts), max(ts) FROM events"
                ).fetchone()
                alerts = conn.execute("SELECT count(*) FROM alerts").fetchone()[0]
                incidents = conn.execute("SELECT count(*) FROM incidents").fetchone()[0]
                pages = conn.execute("PRAGMA page_count").fetchone()[0]
                page_size = conn.execute("PRAGMA page_size").fetchone()[0]
                version = current_version(conn)
            except sqlite3.Error as exc:
                raise self._error("cannot read store statistics", exc) from exc
        return StoreStats(
            backend=self.backend,
            location=str(self.path),
            events=int(events),
            alerts=int(alerts),
            incidents=int(incidents),
            size_bytes=int(pages) * int(page_size),
            oldest_event_at=None if oldest is None else oldest / 1000,
            newest_event_at=None if newest is None else newest / 1000,
            schema_version=version,
        )

    def audit(self, actor: str, action: str, target: str, before: Any, after: Any) -> None:
        """Append one entry to the audit log."""
        self._execute_many(
            "INSERT INTO audit_log (at, actor, action, target, before, after)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(time.time(), actor, action, target, rows.dumps(before), rows.dumps(after))],
            what="cannot write the audit log",
        )

    def audit_log(self, target: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Audit entries, newest first, optionally for one target."""
        where = " WHERE target = ?" if target is not None else ""
        params: tuple[Any, ...] = (target,) if target is not None else ()
        found = self._fetchall(
            f"SELECT id, at, actor, action, target, before, after FROM audit_log{where}"
            " ORDER BY id DESC LIMIT ?",
            (*params, max(0, limit)),
        )
        return [
            {
                "id": ident,
                "at": at,
                "actor": actor,
                "action": action,
                "target": entry_target,
                "before": rows.loads(before) if before is not None else None,
                "after": rows.loads(after) if after is not None else None,
            }
            for ident, at, actor, action, entry_target, before, after in found
        ]

    def close(self) -> None:
        """Close the connection (every write has already committed). Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            # Only a hint to the query planner; closing matters more.
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA optimize")
            self._conn.close()

    # -- helpers --------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed", path=self.path)

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            # SQLite may have rolled back already (e.g. after SQLITE_FULL).
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")

    def _error(
        self, what: str, exc: sqlite3.Error, *, full_text: bool = False
    ) -> StoreError | QueryError:
        text = str(exc)
        if isinstance(exc, sqlite3.OperationalError):
            if "database or disk is full" in text:
                return StoreFullError(
                    f"{what}: the disk (or the store's size cap) is full; free space and retry",
                    path=self.path,
                )
            if "database is locked" in text:
                return StoreError(
                    f"{what}: the store is busy (locked by another process)", path=self.path
                )
            if full_text:
                # FTS5 reports a bad MATCH expression as an OperationalError ("fts5: syntax
                # error near ...", "unterminated string", "no such column: x" for ``x:``).
                return QueryError(f"bad full-text query: {text.removeprefix('fts5: ')}")
        return StoreError(f"{what}: {text}", path=self.path)

    def _fetchone(self, sql: str, params: Sequence[Any], *, full_text: bool = False) -> Any:
        with self._lock:
            self._check_open()
            try:
                return self._conn.execute(sql, params).fetchone()
            except sqlite3.Error as exc:
                raise self._error("cannot read the store", exc, full_text=full_text) from exc

    def _fetchall(
        self, sql: str, params: Sequence[Any], *, full_text: bool = False
    ) -> list[Any]:
        with self._lock:
            self._check_open()
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._error("cannot read the store", exc, full_text=full_text) from exc

    def _execute_many(self, sql: str, params: Sequence[Sequence[Any]], *, what: str) -> None:
        with self._lock:
            self._check_open()
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(sql, params)
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise self._error(what, exc) from exc

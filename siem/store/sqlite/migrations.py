"""Schema migrations of the SQLite store: numbered steps, each applied in one transaction.

``schema_version`` holds one row, the number of the last step applied. Opening a store
applies the missing steps in order; reopening an up-to-date file changes nothing. A file
written by newer code (a higher version than we know) is refused rather than guessed at.
Never edit a released step: add a new one at the end.

Full-text search uses an FTS5 external-content table over ``events.fts_text`` (SQLite FTS5,
https://www.sqlite.org/fts5.html section 4.4.3): the text is stored once, in ``events``.
A trigger removes deleted rows from the index; new rows are indexed by the store's
``write()`` with one INSERT ... SELECT per batch, in the same transaction (measured: about
twice as fast as a per-row insert trigger, which is why there is none). ``events.seq`` is an explicit
INTEGER PRIMARY KEY because FTS5 refers to rows by rowid and VACUUM may renumber implicit
rowids; the event id is a UNIQUE column, which costs the same as a TEXT primary key.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from siem.errors import StoreError

#: Step n (1-based) is MIGRATIONS[n - 1]: the statements that take version n-1 to n.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: events, alerts, incidents, audit log, checkpoints, per-source counters.
    (
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            ts INTEGER NOT NULL,
            dataset TEXT,
            site TEXT,
            zone TEXT,
            source_ip TEXT,
            destination_ip TEXT,
            host TEXT,
            user TEXT,
            original TEXT,
            doc TEXT NOT NULL
        )""",
        "CREATE INDEX events_ts ON events (ts)",
        "CREATE INDEX events_dataset ON events (dataset, ts)",
        # Partial indexes: many events lack these fields, and ``col = ?`` can still use them.
        # With ts (and the implicit seq) they also give newest-first order without a sort.
        "CREATE INDEX events_site ON events (site, ts) WHERE site IS NOT NULL",
        "CREATE INDEX events_source_ip ON events (source_ip, ts) WHERE source_ip IS NOT NULL",
        "CREATE INDEX events_destination_ip ON events (destination_ip, ts)"
        " WHERE destination_ip IS NOT NULL",
        "CREATE INDEX events_host ON events (host, ts) WHERE host IS NOT NULL",
        "CREATE INDEX events_user ON events (user, ts) WHERE user IS NOT NULL",
        """CREATE TABLE alerts (
            id TEXT PRIMARY KEY,
            rule_id TEXT NOT NULL,
            rule_title TEXT NOT NULL,
            level TEXT NOT NULL,
            level_rank INTEGER NOT NULL,
            first_seen REAL NOT NULL,
            last_seen REAL NOT NULL,
            count INTEGER NOT NULL,
            site TEXT,
            zone TEXT,
            summary TEXT NOT NULL,
            group_key TEXT NOT NULL,
            matched_fields TEXT NOT NULL,
            tags TEXT NOT NULL
        )""",
        "CREATE INDEX alerts_last_seen ON alerts (last_seen)",
        "CREATE INDEX alerts_rule ON alerts (rule_id)",
        """CREATE TABLE alert_events (
            alert_id TEXT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
            event_id TEXT NOT NULL,
            PRIMARY KEY (alert_id, event_id)
        ) WITHOUT ROWID""",
        """CREATE TABLE incidents (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            status TEXT NOT NULL,
            severity TEXT NOT NULL,
            owner TEXT,
            site TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            closed_at REAL,
            doc TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX incidents_status ON incidents (status, updated_at)",
        """CREATE TABLE incident_notes (
            id INTEGER PRIMARY KEY,
            incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
            at REAL NOT NULL,
            author TEXT NOT NULL,
            text TEXT NOT NULL
        )""",
        "CREATE INDEX incident_notes_incident ON incident_notes (incident_id, at)",
        """CREATE TABLE incident_links (
            incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('event', 'alert')),
            target_id TEXT NOT NULL,
            PRIMARY KEY (incident_id, kind, target_id)
        ) WITHOUT ROWID""",
        """CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            before TEXT,
            after TEXT
        )""",
        "CREATE INDEX audit_log_target ON audit_log (target, id)",
        """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END""",
        """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END""",
        """CREATE TABLE checkpoints (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at REAL NOT NULL
        )""",
        """CREATE TABLE source_stats (
            source TEXT PRIMARY KEY,
            received INTEGER NOT NULL,
            bytes INTEGER NOT NULL,
            dropped INTEGER NOT NULL,
            parse_failures INTEGER NOT NULL,
            last_event_at REAL,
            updated_at REAL NOT NULL
        )""",
    ),
    # 2: full-text index over the raw message (event.original, else message).
    (
        """ALTER TABLE events ADD COLUMN fts_text TEXT
        GENERATED ALWAYS AS (coalesce(original, json_extract(doc, '$.message'))) VIRTUAL""",
        """CREATE VIRTUAL TABLE events_fts USING fts5 (
            fts_text, content='events', content_rowid='seq',
            tokenize='unicode61 remove_diacritics 2'
        )""",
        """CREATE TRIGGER events_fts_delete AFTER DELETE ON events
        WHEN old.fts_text IS NOT NULL
        BEGIN
            INSERT INTO events_fts (events_fts, rowid, fts_text)
            VALUES ('delete', old.seq, old.fts_text);
        END""",
        "INSERT INTO events_fts (events_fts) VALUES ('rebuild')",
    ),
    # 3: alert groups (which raw alert folded into which group), suppressions, and the
    # incident columns the lifecycle needs (``owner`` is the assignee, ``closed_at`` the
    # resolve time; ``version`` guards concurrent updates).
    (
        "CREATE INDEX alerts_group ON alerts (rule_id, group_key, last_seen)",
        """CREATE TABLE alert_folds (
            alert_id TEXT PRIMARY KEY,
            group_id TEXT NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE suppressions (
            id TEXT PRIMARY KEY,
            rule TEXT,
            site TEXT,
            address TEXT,
            daily_window TEXT,
            expires_at REAL,
            reason TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at REAL NOT NULL,
            removed_at REAL,
            removed_by TEXT,
            hits INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE alert_suppressed (
            alert_id TEXT PRIMARY KEY REFERENCES alerts (id) ON DELETE CASCADE,
            suppression_id TEXT NOT NULL
        ) WITHOUT ROWID""",
        "ALTER TABLE incidents ADD COLUMN rule_id TEXT",
        "ALTER TABLE incidents ADD COLUMN entity TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE incidents ADD COLUMN zone TEXT",
        "ALTER TABLE incidents ADD COLUMN severity_rank INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE incidents ADD COLUMN summary TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE incidents ADD COLUMN opened_at REAL",
        "ALTER TABLE incidents ADD COLUMN acknowledged_at REAL",
        "ALTER TABLE incidents ADD COLUMN first_alert_at REAL",
        "ALTER TABLE incidents ADD COLUMN last_alert_at REAL",
        "ALTER TABLE incidents ADD COLUMN alert_count INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE incidents ADD COLUMN reopen_count INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE incidents ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
        "CREATE INDEX incidents_entity ON incidents (rule_id, entity, last_alert_at)",
        "CREATE INDEX incident_links_target ON incident_links (kind, target_id)",
    ),
    # 4: per-source count of inputs refused or cut short at a limit (connections, gzip bombs).
    ("ALTER TABLE source_stats ADD COLUMN rejected INTEGER NOT NULL DEFAULT 0",),
    # 5: integrity seals (seals.py): a hash chain over batches of events, audit entries and
    # retention removals; hashes of removed rows whose batch still holds events.
    (
        """CREATE TABLE seals (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            first_seq INTEGER NOT NULL,
            last_seq INTEGER NOT NULL,
            count INTEGER NOT NULL,
            sealed_at REAL NOT NULL,
            meta TEXT NOT NULL,
            digest BLOB NOT NULL,
            chain BLOB NOT NULL
        )""",
        "CREATE INDEX seals_kind ON seals (kind, last_seq)",
        """CREATE TRIGGER seals_no_update BEFORE UPDATE ON seals
        BEGIN SELECT RAISE(ABORT, 'seals are append-only'); END""",
        """CREATE TRIGGER seals_no_delete BEFORE DELETE ON seals
        BEGIN SELECT RAISE(ABORT, 'seals are append-only'); END""",
        """CREATE TABLE seal_retired (
            seq INTEGER PRIMARY KEY,
            ts INTEGER NOT NULL,
            row_hash BLOB NOT NULL,
            retention INTEGER NOT NULL
        )""",
    ),
)

LATEST = len(MIGRATIONS)


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version of an open database (0 for a new, empty file)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if exists is None:
        return 0
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0


def migrate(
    conn: sqlite3.Connection,
    *,
    location: str,
    target: int | None = None,
    steps: Sequence[Sequence[str]] = MIGRATIONS,
) -> int:
    """Apply the missing steps up to ``target`` (default: all), one transaction each; returns
    the version reached.

    ``conn`` must be in autocommit mode (``isolation_level=None``).
    """
    version = current_version(conn)
    if version > len(steps):
        raise StoreError(
            f"store schema version {version} is newer than this siem understands "
            f"(up to {len(steps)}); upgrade siem or use another data directory",
            path=location,
        )
    if target is None:
        target = len(steps)
    while version < target:
        statements = steps[version]
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            # Someone else may have migrated between our read and our lock.
            if current_version(conn) != version:
                conn.execute("ROLLBACK")
                version = current_version(conn)
                continue
            for statement in statements:
                conn.execute(statement)
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version + 1,))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(
                f"cannot upgrade the store to schema version {version + 1}: {exc}", path=location
            ) from exc
        version += 1
    return version

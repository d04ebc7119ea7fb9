"""Integrity seals of the SQLite store (schema step 5 of migrations.py).

Every committed ``write()`` that stores new events appends one ``events`` seal in the same
transaction: the seq range of the batch, its row count, the digest of its rows and the chain
value ``SHA-256(previous chain || digest || seal header)`` (format: siem/integrity/chain.py).
Audit-log entries appended since the last seal get an ``audit`` seal in the same transaction.
Seal ids are consecutive, event ranges tile ``1..N`` without gaps, and ``seals`` is append-only
(triggers), so an edited, deleted or inserted row breaks a digest, a count or the chain.

Retention (``retire``) removes the oldest events by (ts, seq) and appends a ``retention`` seal
saying what it removed: the boundary (ts, seq) of the removal, the seals whose events are now
all gone (checked against their digest at that moment: the evidence goes with the rows) and
the hashes of removed rows whose batch still holds events (``seal_retired``), so the rest of
such a batch can still be verified. Verification then checks that no event older than a
boundary survives, i.e. that "retention" looks like retention and not like a chosen deletion.

After each sealed commit the head (last seal id and chain value) is written beside the store
file (``siem.db.seal-head``), so deleting the newest batches and their seals is detected.

Honest limit: the chain is not keyed. Someone with write access to the store file and to the
head file can rewrite every seal after a change consistently, append a forged retention
seal (deleting everything older too), or truncate and rewrite the head file; that is only
caught against a head anchored elsewhere: ``siem verify --save-anchor`` to removable media or
another host, or the head printed in reports and e-mails and compared with
``siem verify --anchor``. A seal proves nothing about events before they were stored, and audit
entries written after the last event batch are unsealed until the next batch.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from siem.errors import StoreError
from siem.integrity.anchor import Anchor, read_anchor, write_anchor
from siem.integrity.chain import (
    AUDIT,
    EVENTS,
    GENESIS,
    RETENTION,
    Seal,
    batch_digest,
    encode_mixed_row,
    encode_row,
    link,
    row_hash,
)

log = logging.getLogger(__name__)

#: Columns of ``events`` a row hash covers, key first (every stored column but the generated one).
EVENT_COLUMNS = (
    "seq", "id", "ts", "dataset", "site", "zone", "source_ip", "destination_ip", "host", "user",
    "original", "doc",
)
#: Columns of ``audit_log`` an audit row hash covers, key first.
AUDIT_COLUMNS = ("id", "at", "actor", "action", "target", "before", "after")


_EVENT_SELECT = f"SELECT {', '.join(EVENT_COLUMNS)} FROM events"
#: Stands for the highest sealed seq while a batch is inserted (see ``reserve_seqs``).
PLACEHOLDER_ID = "\x00siem:seq-floor"
#: Suffix of the head file beside the store file.
HEAD_SUFFIX = ".seal-head"

_SEAL_SELECT = "SELECT id, kind, first_seq, last_seq, count, sealed_at, meta, digest, chain FROM seals"
_CHUNK = 500


def _seal(row: Sequence[Any]) -> Seal:
    ident, kind, first, last, count, sealed_at, meta, digest, chain = row
    return Seal(id=ident, kind=kind, first=first, last=last, count=count, sealed_at=sealed_at,
                meta=meta, digest=bytes(digest), chain=bytes(chain))


def head_path(store_path: Path) -> Path:
    """Where the head of a store's chain is kept."""
    return store_path.with_name(store_path.name + HEAD_SUFFIX)


# -- sealing (inside the writer's transaction) -----------------------------------------------


def last_seal(conn: sqlite3.Connection) -> Seal | None:
    """The newest seal, if any."""
    row = conn.execute(f"{_SEAL_SELECT} ORDER BY id DESC LIMIT 1").fetchone()
    return None if row is None else _seal(row)


def _sealed_up_to(conn: sqlite3.Connection, kind: str) -> int:
    row = conn.execute("SELECT max(last_seq) FROM seals WHERE kind = ?", (kind,)).fetchone()
    return int(row[0] or 0)


def _append(conn: sqlite3.Connection, head: Seal | None, kind: str, first: int, last: int,
            count: int, now: float, meta: str, digest: bytes) -> Seal:
    draft = Seal(id=1 if head is None else head.id + 1, kind=kind, first=first, last=last,
                 count=count, sealed_at=now, meta=meta, digest=digest, chain=b"")
    chain = link(GENESIS if head is None else head.chain, draft)
    conn.execute(
        "INSERT INTO seals (id, kind, first_seq, last_seq, count, sealed_at, meta, digest, chain)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (draft.id, kind, first, last, count, now, meta, digest, chain),
    )
    return Seal(draft.id, kind, first, last, count, now, meta, digest, chain)


def _event_hashes(conn: sqlite3.Connection, first: int, last: int) -> list[tuple[int, bytes]]:
    """(seq, row hash) of the stored events ``first..last``, by seq."""
    return [(row[0], row_hash(encode_row(row))) for row in conn.execute(
        f"{_EVENT_SELECT} WHERE seq BETWEEN ? AND ? ORDER BY seq", (first, last))]


def _audit_hashes(conn: sqlite3.Connection, first: int, last: int) -> list[bytes]:
    return [row_hash(encode_mixed_row(row)) for row in conn.execute(
        f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit_log WHERE id BETWEEN ? AND ? ORDER BY id",
        (first, last))]


def reserve_seqs(conn: sqlite3.Connection, last_seq: int) -> int:
    """The seq after which a new batch goes: ``last_seq``, or the highest sealed seq when the
    newest sealed events are gone (so a seq is never sealed twice). In the second case a
    placeholder row holds that seq until ``seal_new_rows`` removes it."""
    floor = _sealed_up_to(conn, EVENTS)
    if last_seq >= floor:
        return last_seq
    conn.execute("INSERT INTO events (seq, id, ts, doc) VALUES (?, ?, 0, '{}')", (floor, PLACEHOLDER_ID))
    return floor


def seal_new_rows(conn: sqlite3.Connection, last_seq: int, now: float,
                  inserted: Sequence[Sequence[Any]] = ()) -> Seal | None:
    """Seal the events stored after ``last_seq`` and the audit entries not sealed yet;
    returns the new head, or None when there was nothing to seal.

    ``inserted`` are the INSERT parameters (columns of ``EVENT_COLUMNS`` after seq) of the
    batch: when every one was stored (no duplicate), row n got seq ``last_seq + n`` and holds
    exactly those values, so they are hashed without reading the rows back.
    """
    conn.execute("DELETE FROM events WHERE seq = ? AND id = ?", (last_seq, PLACEHOLDER_ID))
    head = last_seal(conn)
    sealed = None
    if head is None and last_seq > 0:
        # Events stored before sealing began (an upgraded store): one first batch.
        hashes = [digest for _, digest in _event_hashes(conn, 1, last_seq)]
        if hashes:
            head = sealed = _append(conn, head, EVENTS, 1, last_seq, len(hashes), now,
                                    '{"before_sealing":true}', batch_digest(EVENTS, hashes))
    newest = int(conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])
    if newest > last_seq:
        if newest - last_seq == len(inserted):
            hashes = [row_hash(encode_row((seq, *values))) for seq, values in enumerate(inserted, last_seq + 1)]
        else:
            hashes = [digest for _, digest in _event_hashes(conn, last_seq + 1, newest)]
        head = sealed = _append(conn, head, EVENTS, last_seq + 1, newest, len(hashes), now, "{}",
                                batch_digest(EVENTS, hashes))
    audited = _sealed_up_to(conn, AUDIT)
    top = int(conn.execute("SELECT coalesce(max(id), 0) FROM audit_log").fetchone()[0])
    if top > audited:
        hashes = _audit_hashes(conn, audited + 1, top)
        sealed = _append(conn, head, AUDIT, audited + 1, top, len(hashes), now, "{}",
                         batch_digest(AUDIT, hashes))
    return sealed


def retire(conn: sqlite3.Connection, select_sql: str, params: Sequence[Any], now: float
           ) -> tuple[int, Seal | None]:
    """Delete the events whose seq ``select_sql`` selects (oldest first by ts, seq) and seal
    the removal; returns how many were deleted and the new head (None when nothing is sealed)."""
    found = conn.execute(f"{_EVENT_SELECT} WHERE seq IN ({select_sql}) ORDER BY seq", params).fetchall()
    seqs = [row[0] for row in found]
    for start in range(0, len(seqs), _CHUNK):
        chunk = seqs[start : start + _CHUNK]
        conn.execute(f"DELETE FROM events WHERE seq IN ({', '.join('?' * len(chunk))})", chunk)
    head = last_seal(conn)
    if not found or head is None:
        return len(found), None
    through = _sealed_up_to(conn, EVENTS)
    retention_id = head.id + 1
    hashed = [(row[0], row[2], row_hash(encode_row(row))) for row in found]
    conn.executemany(
        "INSERT OR REPLACE INTO seal_retired (seq, ts, row_hash, retention) VALUES (?, ?, ?, ?)",
        [(seq, ts, digest, retention_id) for seq, ts, digest in hashed if seq <= through],
    )
    retired, broken = _retire_batches(conn, [seq for seq in seqs if seq <= through])
    boundary = max((ts, seq) for seq, ts, _ in hashed)
    meta = json.dumps({"before": list(boundary), "through": through, "retired": _ranges(retired),
                       "broken": broken}, separators=(",", ":"), sort_keys=True)
    sealed = _append(conn, head, RETENTION, seqs[0], seqs[-1], len(found), now, meta,
                     batch_digest(RETENTION, [digest for _, _, digest in hashed]))
    return len(found), sealed


def _retire_batches(conn: sqlite3.Connection, seqs: list[int]) -> tuple[list[int], list[int]]:
    """Ids of the event seals whose rows are now all gone (after checking their digest against
    the removed rows' hashes), and those of them that did not match."""
    retired: list[int] = []
    broken: list[int] = []
    index = 0
    while index < len(seqs):
        row = conn.execute(
            "SELECT id, first_seq, last_seq, count, digest FROM seals WHERE kind = ? AND last_seq >= ?"
            " ORDER BY last_seq LIMIT 1", (EVENTS, seqs[index])).fetchone()
        if row is None:
            break
        ident, first, last, count, digest = row
        seq, index = seqs[index], bisect.bisect_right(seqs, last, lo=index)
        if first > seq or conn.execute(
                "SELECT 1 FROM events WHERE seq BETWEEN ? AND ? LIMIT 1", (first, last)).fetchone():
            continue
        hashes = [bytes(item) for (item,) in conn.execute(
            "SELECT row_hash FROM seal_retired WHERE seq BETWEEN ? AND ? ORDER BY seq", (first, last))]
        retired.append(ident)
        if len(hashes) != count or batch_digest(EVENTS, hashes) != bytes(digest):
            broken.append(ident)
        conn.execute("DELETE FROM seal_retired WHERE seq BETWEEN ? AND ?", (first, last))
    return retired, broken


def _ranges(ids: list[int]) -> list[list[int]]:
    """``[[first, last], ...]`` runs of consecutive ids."""
    runs: list[list[int]] = []
    for ident in sorted(ids):
        if runs and runs[-1][1] + 1 == ident:
            runs[-1][1] = ident
        else:
            runs.append([ident, ident])
    return runs


def record_head(store_path: Path, head: Seal | None) -> None:
    """Write the head file after a sealed commit. A failure is logged, not raised: the batch
    is committed, and verification reports a stale head as a shorter chain, not a break."""
    if head is None:
        return
    try:
        write_anchor(head_path(store_path), Anchor(seal=head.id, chain=head.chain, sealed_at=head.sealed_at))
    except StoreError as exc:
        log.warning("%s", exc)


# -- reading (verification) -----------------------------------------------------------------


class SealReader:
    """Read-only access to seals and the rows they cover, inside one read transaction."""

    def __init__(self, conn: sqlite3.Connection, head: Anchor | None) -> None:
        self._conn = conn
        self._head = head

    def last(self) -> Seal | None:
        """The newest seal, if any."""
        return last_seal(self._conn)

    def seals(self) -> list[Seal]:
        """Every seal, oldest first."""
        return [_seal(row) for row in self._conn.execute(f"{_SEAL_SELECT} ORDER BY id")]

    def event_hashes(self, first: int, last: int) -> list[tuple[int, bytes]]:
        """(seq, row hash) of the events stored in ``first..last`` and of those retention
        removed from there while the batch kept other events, by seq."""
        live = _event_hashes(self._conn, first, last)
        retired = [(seq, bytes(digest)) for seq, digest in self._conn.execute(
            "SELECT seq, row_hash FROM seal_retired WHERE seq BETWEEN ? AND ? ORDER BY seq", (first, last))]
        return sorted(live + retired) if retired else live

    def audit_hashes(self, first: int, last: int) -> list[bytes]:
        """Row hashes of the audit entries ``first..last``, by id."""
        return _audit_hashes(self._conn, first, last)

    def retention_violation(self, seal: Seal, before: tuple[int, int], through: int) -> str | None:
        """Why the removal ``seal`` records does not look like retention, or None: an event
        sealed before it and older than its boundary is still stored, or a removed row it
        lists is newer than the boundary."""
        ts, seq = before
        row = self._conn.execute(
            "SELECT seq FROM events WHERE ts <= ? AND seq <= ? AND (ts < ? OR seq <= ?) LIMIT 1",
            (ts, through, ts, seq)).fetchone()
        if row is not None:
            return f"event seq {row[0]} is older than what this retention removed, yet still stored"
        row = self._conn.execute(
            "SELECT seq FROM seal_retired WHERE retention = ? AND (ts > ? OR (ts = ? AND seq > ?)) LIMIT 1",
            (seal.id, ts, ts, seq)).fetchone()
        if row is not None:
            return f"removed event seq {row[0]} is newer than what this retention removed"
        return None

    def sealed_event_count(self) -> tuple[int, int]:
        """Events stored at or below the highest sealed seq, and removed rows kept in
        ``seal_retired`` (those of batches that still hold events)."""
        through = _sealed_up_to(self._conn, EVENTS)
        stored = self._conn.execute("SELECT count(*) FROM events WHERE seq <= ?", (through,)).fetchone()[0]
        removed = self._conn.execute("SELECT count(*) FROM seal_retired").fetchone()[0]
        return int(stored), int(removed)

    def unsealed(self) -> tuple[int, int]:
        """Events stored above the highest sealed seq, and audit entries not sealed yet."""
        events = self._conn.execute(
            "SELECT count(*) FROM events WHERE seq > ?", (_sealed_up_to(self._conn, EVENTS),)).fetchone()[0]
        audit = self._conn.execute(
            "SELECT count(*) FROM audit_log WHERE id > ?", (_sealed_up_to(self._conn, AUDIT),)).fetchone()[0]
        return int(events), int(audit)

    def head(self) -> Anchor | None:
        """The head recorded beside the store file after the last sealed commit, if any (read
        before the snapshot began, so the snapshot holds at least that seal)."""
        return self._head


class SealTables:
    """SqliteStore methods for verification (a mixin: it uses the store's path)."""

    path: Path

    @contextlib.contextmanager
    def integrity_snapshot(self) -> Iterator[SealReader]:
        """A SealReader over one consistent snapshot of the store, on a read-only connection of
        its own: in WAL mode neither this store's writer nor another process's waits for it."""
        head = read_anchor(head_path(self.path))  # first: a head never runs ahead of the snapshot
        try:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store to verify it: {exc}", path=self.path) from exc
        try:
            conn.execute("BEGIN")
            yield SealReader(conn, head)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the integrity seals: {exc}", path=self.path) from exc
        finally:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

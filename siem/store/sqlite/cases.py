"""Alert groups, suppressions and incidents in the SQLite store (schema step 3 of migrations.py).

A mixin of SqliteStore: it uses the store's connection and lock. Every change is written in
one transaction together with its audit-log entry, so a change is never saved without its
audit line (nor the reverse). Incident updates are optimistic: ``UPDATE ... WHERE version = ?``
and a ConflictError when another officer's change came first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from siem.alert import Alert
from siem.alerts.suppression import Suppression
from siem.errors import ConflictError, QueryError, StoreError, StoreFullError
from siem.incidents.model import Incident, Note, severity_rank
from siem.store.base import AlertQuery, AuditEntry, IncidentQuery
from siem.store.sqlite import rows

_CHUNK = 500
_PREFIX_MIN = 6

_INCIDENT_COLUMNS = (
    "id, title, status, severity, owner, site, created_at, updated_at, closed_at, rule_id, entity,"
    " zone, summary, opened_at, acknowledged_at, first_alert_at, last_alert_at, alert_count,"
    " reopen_count, version"
)
_SUPPRESSION_COLUMNS = (
    "id, reason, created_by, created_at, rule, site, address, daily_window, expires_at, removed_at,"
    " removed_by, hits"
)


def _incident(row: Sequence[Any]) -> Incident:
    (ident, title, status, severity, owner, site, created, updated, closed, rule_id, entity, zone,
     summary, opened, acked, first, last, count, reopens, version) = row
    return Incident(
        id=ident, title=title, status=status, severity=severity, created_at=created,
        updated_at=updated, opened_at=opened if opened is not None else created, rule_id=rule_id,
        entity=entity, site=site, zone=zone, assignee=owner, summary=summary,
        acknowledged_at=acked, resolved_at=closed, first_alert_at=first, last_alert_at=last,
        alert_count=count, reopen_count=reopens, version=version,
    )


def _incident_params(incident: Incident) -> tuple[Any, ...]:
    """Values for the columns of ``_INCIDENT_COLUMNS`` (without id and version) plus the rank."""
    i = incident
    return (
        i.title, i.status, i.severity, i.assignee, i.site, i.created_at, i.updated_at,
        i.resolved_at, i.rule_id, i.entity, i.zone, i.summary, i.opened_at, i.acknowledged_at,
        i.first_alert_at, i.last_alert_at, i.alert_count, i.reopen_count,
        severity_rank(i.severity),
    )


_INCIDENT_SET = (
    "title = ?, status = ?, severity = ?, owner = ?, site = ?, created_at = ?, updated_at = ?,"
    " closed_at = ?, rule_id = ?, entity = ?, zone = ?, summary = ?, opened_at = ?,"
    " acknowledged_at = ?, first_alert_at = ?, last_alert_at = ?, alert_count = ?,"
    " reopen_count = ?, severity_rank = ?"
)


class CaseTables:
    """Store methods for alert groups, suppressions and incidents (see siem/store/base.py)."""

    path: Path
    _conn: sqlite3.Connection
    _lock: threading.Lock
    _closed: bool

    # -- plumbing -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise StoreError("the store is closed", path=self.path)
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._abort(conn)
                raise self._failure(what, exc) from exc
            except BaseException:
                self._abort(conn)
                raise

    @staticmethod
    def _abort(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")

    def _failure(self, what: str, exc: sqlite3.Error) -> StoreError:
        text = str(exc)
        if "database or disk is full" in text:
            return StoreFullError(f"{what}: the disk is full; free space and retry", path=self.path)
        if "database is locked" in text:
            return StoreError(f"{what}: the store is busy (locked by another process)", path=self.path)
        return StoreError(f"{what}: {text}", path=self.path)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            if self._closed:
                raise StoreError("the store is closed", path=self.path)
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._failure("cannot read the store", exc) from exc

    @staticmethod
    def _audit(conn: sqlite3.Connection, entry: AuditEntry) -> None:
        conn.execute(
            "INSERT INTO audit_log (at, actor, action, target, before, after) VALUES (?, ?, ?, ?, ?, ?)",
            (time.time(), entry.actor, entry.action, entry.target, rows.dumps(entry.before),
             rows.dumps(entry.after)),
        )

    # -- alert groups ---------------------------------------------------------------------------

    def alert_group(self, rule_id: str, group_key: str, suppression_id: str | None) -> Alert | None:
        """The latest group alert of a rule and key (suppressed by ``suppression_id`` or not)."""
        params: tuple[str, ...] = ()
        if suppression_id is None:
            extra = " AND NOT EXISTS (SELECT 1 FROM alert_suppressed s WHERE s.alert_id = a.id)"
        else:
            extra = " AND EXISTS (SELECT 1 FROM alert_suppressed s WHERE s.alert_id = a.id AND s.suppression_id = ?)"
            params = (suppression_id,)
        found = self._rows(
            f"SELECT {rows.ALERT_COLUMNS} FROM alerts a WHERE rule_id = ? AND group_key = ?{extra}"
            " ORDER BY last_seen DESC LIMIT 1",
            (rule_id, group_key, *params),
        )
        return rows.row_alert(tuple(found[0]), ()) if found else None

    def folded_alert_ids(self, ids: Sequence[str]) -> set[str]:
        """Those of ``ids`` already folded into a group."""
        known: set[str] = set()
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            known.update(row[0] for row in self._rows(
                f"SELECT alert_id FROM alert_folds WHERE alert_id IN ({marks})", chunk))
        return known

    def save_alert_groups(
        self, groups: Sequence[Alert], members: Mapping[str, str], suppressed: Mapping[str, str]
    ) -> None:
        """Upsert group alerts, their members and suppression marks in one transaction."""
        if not groups and not members:
            return
        with self._transaction("cannot write alerts") as conn:
            conn.executemany(rows.UPSERT_ALERT, [rows.alert_row(group) for group in groups])
            conn.executemany(
                "INSERT OR IGNORE INTO alert_events (alert_id, event_id) VALUES (?, ?)",
                [(group.id, event_id) for group in groups for event_id in group.event_ids],
            )
            conn.executemany(
                "INSERT OR IGNORE INTO alert_folds (alert_id, group_id) VALUES (?, ?)",
                list(members.items()),
            )
            new_marks = [
                (alert_id, suppression_id)
                for alert_id, suppression_id in suppressed.items()
                if conn.execute("SELECT 1 FROM alert_suppressed WHERE alert_id = ?", (alert_id,)).fetchone()
                is None
            ]
            conn.executemany(
                "INSERT INTO alert_suppressed (alert_id, suppression_id) VALUES (?, ?)", new_marks
            )
            hits: dict[str, int] = {}
            for group_id in members.values():
                if group_id in suppressed:
                    hits[suppressed[group_id]] = hits.setdefault(suppressed[group_id], 0) + 1
            conn.executemany(
                "UPDATE suppressions SET hits = hits + ? WHERE id = ?",
                [(count, ident) for ident, count in hits.items()],
            )

    def get_alert(self, alert_id: str) -> Alert | None:
        """The alert with this id or unique id prefix."""
        found = self._rows(f"SELECT {rows.ALERT_COLUMNS} FROM alerts WHERE id = ?", (alert_id,))
        if not found and len(alert_id) >= _PREFIX_MIN:
            found = self._rows(
                f"SELECT {rows.ALERT_COLUMNS} FROM alerts WHERE id >= ? AND id < ? LIMIT 2",
                (alert_id, alert_id + "\uffff"),
            )
            if len(found) > 1:
                raise QueryError(f"alert id prefix {alert_id!r} is ambiguous; give more characters")
        if not found:
            return None
        row = tuple(found[0])
        event_ids = tuple(r[0] for r in self._rows(
            "SELECT event_id FROM alert_events WHERE alert_id = ? ORDER BY event_id", (row[0],)))
        return rows.row_alert(row, event_ids)

    def find_alerts(self, query: AlertQuery) -> list[Alert]:
        """Alerts matching ``query``, newest first (without their event ids, for speed)."""
        conditions: list[str] = []
        params: list[Any] = []
        for clause, value in (
            ("last_seen >= ?", query.since),
            ("level_rank >= ?", rows.level_rank(query.level) if query.level else None),
            ("site = ?", query.site),
            ("zone = ?", query.zone),
        ):
            if value is not None:
                conditions.append(clause)
                params.append(value)
        if query.rule is not None:
            # Only ``*`` is a wildcard: LIKE's own ``%`` and ``_`` in the value are literal.
            literal = query.rule.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conditions.append("(rule_id = ? OR rule_title LIKE ? ESCAPE '\\')")
            params.extend((query.rule, literal.replace("*", "%")))
        marked = "EXISTS (SELECT 1 FROM alert_suppressed s WHERE s.alert_id = alerts.id)"
        if query.suppressed is None:
            conditions.append(f"NOT {marked}")
        elif query.suppressed:
            conditions.append(marked)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        found = self._rows(
            f"SELECT {rows.ALERT_COLUMNS} FROM alerts{where} ORDER BY last_seen DESC, id LIMIT ?",
            (*params, max(0, query.limit)),
        )
        return [rows.row_alert(tuple(row), ()) for row in found]

    def alert_suppressions(self, alert_ids: Sequence[str]) -> dict[str, str]:
        """Suppression id by alert id for the suppressed ones among ``alert_ids``."""
        result: dict[str, str] = {}
        unique = list(dict.fromkeys(alert_ids))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            result.update((a, s) for a, s in self._rows(
                f"SELECT alert_id, suppression_id FROM alert_suppressed WHERE alert_id IN ({marks})", chunk))
        return result

    # -- suppressions ---------------------------------------------------------------------------

    def add_suppression(self, suppression: Suppression, audit: AuditEntry) -> None:
        """Store a new suppression with its audit entry."""
        s = suppression
        with self._transaction("cannot save the suppression") as conn:
            conn.execute(
                f"INSERT INTO suppressions ({_SUPPRESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (s.id, s.reason, s.created_by, s.created_at, s.rule, s.site, s.address, s.between,
                 s.expires_at, s.removed_at, s.removed_by, s.hits),
            )
            self._audit(conn, audit)

    def remove_suppression(self, suppression_id: str, *, at: float, actor: str) -> Suppression:
        """Mark a suppression removed and audit it."""
        with self._transaction("cannot remove the suppression") as conn:
            row = conn.execute(
                f"SELECT {_SUPPRESSION_COLUMNS} FROM suppressions WHERE id = ?", (suppression_id,)
            ).fetchone()
            if row is None:
                raise QueryError(f"no suppression {suppression_id!r} (see 'siem alerts suppressions')")
            before = Suppression(*row)
            if before.removed_at is not None:
                raise QueryError(f"suppression {suppression_id} was already removed by {before.removed_by}")
            conn.execute(
                "UPDATE suppressions SET removed_at = ?, removed_by = ? WHERE id = ?",
                (at, actor, suppression_id),
            )
            after = dataclasses.replace(before, removed_at=at, removed_by=actor)
            self._audit(conn, AuditEntry(actor, "suppression.removed", f"suppression:{suppression_id}",
                                         before.to_dict(), after.to_dict()))
        return after

    def suppressions(self, *, active_at: float | None = None) -> list[Suppression]:
        """Suppressions, newest first; only the active ones when ``active_at`` is given."""
        found = [Suppression(*row) for row in self._rows(
            f"SELECT {_SUPPRESSION_COLUMNS} FROM suppressions ORDER BY created_at DESC, id")]
        if active_at is None:
            return found
        return [s for s in found if s.is_active(active_at)]

    # -- incidents ------------------------------------------------------------------------------

    def insert_incident(self, incident: Incident, *, alert_ids: Sequence[str], audit: AuditEntry) -> bool:
        """Store a new incident (False if the id exists) with its alert links and audit entry."""
        with self._transaction("cannot save the incident") as conn:
            exists = conn.execute("SELECT 1 FROM incidents WHERE id = ?", (incident.id,)).fetchone()
            if exists is not None:
                return False
            conn.execute(
                f"INSERT INTO incidents ({_INCIDENT_COLUMNS}, severity_rank) VALUES"
                f" ({', '.join('?' * 21)})",
                self._insert_params(incident),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO incident_links (incident_id, kind, target_id) VALUES (?, 'alert', ?)",
                [(incident.id, alert_id) for alert_id in alert_ids],
            )
            self._audit(conn, audit)
        return True

    @staticmethod
    def _insert_params(incident: Incident) -> tuple[Any, ...]:
        i = incident
        return (
            i.id, i.title, i.status, i.severity, i.assignee, i.site, i.created_at, i.updated_at,
            i.resolved_at, i.rule_id, i.entity, i.zone, i.summary, i.opened_at, i.acknowledged_at,
            i.first_alert_at, i.last_alert_at, i.alert_count, i.reopen_count, i.version,
            severity_rank(i.severity),
        )

    def update_incident(
        self,
        incident: Incident,
        *,
        expected_version: int,
        audit: AuditEntry,
        note: Note | None = None,
        links: Sequence[tuple[str, str]] = (),
    ) -> Incident:
        """Save ``incident`` if nobody changed it since ``expected_version`` (else ConflictError)."""
        with self._transaction("cannot save the incident") as conn:
            changed = conn.execute(
                f"UPDATE incidents SET {_INCIDENT_SET}, version = version + 1 WHERE id = ? AND version = ?",
                (*_incident_params(incident), incident.id, expected_version),
            ).rowcount
            if changed == 0:
                row = conn.execute("SELECT version, updated_at FROM incidents WHERE id = ?",
                                   (incident.id,)).fetchone()
                if row is None:
                    raise QueryError(f"no incident {incident.id}")
                raise ConflictError(
                    f"incident {incident.id} was changed by someone else (now version {row[0]}, you had"
                    f" {expected_version}); reload it and try again"
                )
            if note is not None:
                conn.execute(
                    "INSERT INTO incident_notes (incident_id, at, author, text) VALUES (?, ?, ?, ?)",
                    (note.incident_id, note.at, note.author, note.text),
                )
            conn.executemany(
                "INSERT OR IGNORE INTO incident_links (incident_id, kind, target_id) VALUES (?, ?, ?)",
                [(incident.id, kind, target) for kind, target in links],
            )
            self._audit(conn, audit)
        incident.version = expected_version + 1
        return incident

    def get_incident(self, incident_id: str) -> Incident | None:
        """The incident with this id (case-insensitive)."""
        found = self._rows(
            f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE id = ? COLLATE NOCASE", (incident_id.strip(),)
        )
        return _incident(found[0]) if found else None

    def find_incidents(self, query: IncidentQuery) -> list[Incident]:
        """Incidents matching ``query``, highest severity first, then oldest opened first."""
        conditions: list[str] = []
        params: list[Any] = []
        if query.statuses:
            conditions.append(f"status IN ({', '.join('?' * len(query.statuses))})")
            params.extend(query.statuses)
        for clause, value in (
            ("severity_rank >= ?", severity_rank(query.severity) if query.severity else None),
            ("site = ?", query.site),
            ("zone = ?", query.zone),
            ("owner = ?", query.assignee),
            ("updated_at >= ?", query.since),
            ("rule_id = ?", query.rule_id),
            ("entity = ?", query.entity),
        ):
            if value is not None:
                conditions.append(clause)
                params.append(value)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        found = self._rows(
            f"SELECT {_INCIDENT_COLUMNS} FROM incidents{where}"
            " ORDER BY severity_rank DESC, opened_at ASC, id LIMIT ?",
            (*params, max(0, query.limit)),
        )
        return [_incident(row) for row in found]

    def incident_for_alert(self, alert_id: str) -> Incident | None:
        """The incident an alert is linked to."""
        found = self._rows(
            f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE id IN (SELECT incident_id FROM"
            " incident_links WHERE kind = 'alert' AND target_id = ?) ORDER BY created_at DESC LIMIT 1",
            (alert_id,),
        )
        return _incident(found[0]) if found else None

    def incident_links(self, incident_id: str, kind: str) -> list[str]:
        """Linked alert or event ids."""
        return [row[0] for row in self._rows(
            "SELECT target_id FROM incident_links WHERE incident_id = ? AND kind = ? ORDER BY target_id",
            (incident_id, kind))]

    def incident_notes(self, incident_id: str) -> list[Note]:
        """Notes, oldest first."""
        return [Note(*row) for row in self._rows(
            "SELECT incident_id, at, author, text FROM incident_notes WHERE incident_id = ? ORDER BY at, id",
            (incident_id,))]

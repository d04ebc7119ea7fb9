"""Conversion between flat ECS events / alerts and rows of the SQLite store.

An event row keeps the indexed fields in columns, ``event.original`` in its own column
(it is the largest field and the one full-text search reads) and every other field in
``doc``, as JSON. Reading a row puts ``event.original`` back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import orjson

from siem import event as ecs
from siem.alert import LEVELS, Alert

#: Flat ECS field -> column of ``events``; other fields are found with json_extract on ``doc``.
EVENT_COLUMNS: dict[str, str] = {
    ecs.ID: "id",
    ecs.DATASET: "dataset",
    ecs.LABEL_SITE: "site",
    ecs.LABEL_ZONE: "zone",
    ecs.SOURCE_IP: "source_ip",
    ecs.DESTINATION_IP: "destination_ip",
    ecs.HOST_NAME: "host",
    ecs.USER_NAME: "user",
    ecs.ORIGINAL: "original",
}

INSERT_EVENT = (
    "INSERT OR IGNORE INTO events (id, ts, dataset, site, zone, source_ip, destination_ip,"
    " host, user, original, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
EVENT_SELECT = "SELECT original, doc FROM events"
#: Add the rows written after ``seq = ?`` to the full-text index (see migrations.py).
INDEX_NEW_EVENTS = (
    "INSERT INTO events_fts (rowid, fts_text)"
    " SELECT seq, fts_text FROM events WHERE seq > ? AND fts_text IS NOT NULL"
)

EventRow = tuple[
    str, int, Any, Any, Any, Any, Any, Any, Any, str | None, str
]

# ASCII escapes keep lone surrogates (undecodable input bytes) as \\udcxx, valid UTF-8 text.
_fallback_encode = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), default=str).encode


def _encode(value: Any) -> str:
    """Compact JSON text. orjson (about 10 times faster) when it can; the standard library for
    what orjson refuses (lone surrogates from undecodable input, integers beyond 64 bits)."""
    try:
        return orjson.dumps(value, default=str).decode()
    except orjson.JSONEncodeError:
        return _fallback_encode(value)


def _decode(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _text(value: Any) -> Any:
    """A column value: text as is, scalars as text, lists/objects as nothing (found via doc)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list | dict | tuple):
        return None
    return str(value)


def event_row(event: Mapping[str, Any], now_ms: int) -> EventRow:
    """The ``INSERT_EVENT`` parameters of one event; ``now_ms`` stands in for a missing time."""
    original = event.get(ecs.ORIGINAL)
    if isinstance(original, str):
        doc = _encode({key: value for key, value in event.items() if key != ecs.ORIGINAL})
    else:
        original = None
        doc = _encode(event)
    ident = event.get(ecs.ID)
    return (
        # An event without an id (a bug upstream) still gets a stable one, from its content.
        str(ident) if ident else ecs.make_event_id(doc, original or ""),
        ecs.timestamp_ms(event, now_ms),
        _text(event.get(ecs.DATASET)),
        _text(event.get(ecs.LABEL_SITE)),
        _text(event.get(ecs.LABEL_ZONE)),
        _text(event.get(ecs.SOURCE_IP)),
        _text(event.get(ecs.DESTINATION_IP)),
        _text(event.get(ecs.HOST_NAME)),
        _text(event.get(ecs.USER_NAME)),
        original,
        doc,
    )


def safe_event_row(event: Mapping[str, Any], now_ms: int) -> EventRow:
    """Like ``event_row`` for an event holding text SQLite cannot take (lone surrogates from
    undecodable bytes): the exact event goes into ``doc`` (JSON escapes keep it), and the
    columns get the text with those characters replaced, so search still finds it."""
    doc = _fallback_encode(dict(event))
    row = event_row(event, now_ms)
    columns = [_utf8(value) for value in row[2:10]]
    return (_utf8(row[0]), row[1], *columns, doc)


def _utf8(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def row_event(original: str | None, doc: str) -> ecs.Event:
    """The flat event of a row selected with ``EVENT_SELECT``."""
    event: ecs.Event = _decode(doc)
    if original is not None and ecs.ORIGINAL not in event:
        event[ecs.ORIGINAL] = original
    return event


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return int(time.time() * 1000)


def dumps(value: Any) -> str:
    """Compact JSON (non-ASCII kept as is; unknown types as text)."""
    return _encode(value)


def loads(text: str) -> Any:
    """Parse JSON written by ``dumps``."""
    return _decode(text)


ALERT_COLUMNS = (
    "id, rule_id, rule_title, level, level_rank, first_seen, last_seen, count, site, zone,"
    " summary, group_key, matched_fields, tags"
)

UPSERT_ALERT = (
    f"INSERT INTO alerts ({ALERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET"
    " first_seen = min(first_seen, excluded.first_seen),"
    " last_seen = max(last_seen, excluded.last_seen),"
    " count = max(count, excluded.count),"
    " level = excluded.level, level_rank = excluded.level_rank,"
    " rule_title = excluded.rule_title, summary = excluded.summary,"
    " matched_fields = excluded.matched_fields, tags = excluded.tags"
)


def level_rank(level: str) -> int:
    """0 (informational) to 4 (critical); unknown levels rank lowest."""
    return LEVELS.index(level) if level in LEVELS else 0


def alert_row(alert: Alert) -> tuple[Any, ...]:
    """The ``UPSERT_ALERT`` parameters of one alert (event ids go to ``alert_events``)."""
    return (
        alert.id,
        alert.rule_id,
        alert.rule_title,
        alert.level,
        level_rank(alert.level),
        alert.first_seen,
        alert.last_seen,
        alert.count,
        alert.site,
        alert.zone,
        alert.summary,
        alert.group_key,
        _encode(alert.matched_fields),
        _encode(list(alert.tags)),
    )


def row_alert(row: tuple[Any, ...], event_ids: tuple[str, ...]) -> Alert:
    """An Alert from a row selected as ``ALERT_COLUMNS`` and its event ids."""
    (ident, rule_id, title, level, _rank, first, last, count, site, zone, summary, group_key,
     matched, tags) = row
    return Alert(
        id=ident,
        rule_id=rule_id,
        rule_title=title,
        level=level,
        first_seen=first,
        last_seen=last,
        event_ids=event_ids,
        matched_fields=_decode(matched),
        tags=tuple(_decode(tags)),
        site=site,
        zone=zone,
        summary=summary,
        count=count,
        group_key=group_key,
    )

"""Conversion between flat ECS events / alerts and rows of the SQLite store.

An event row keeps the indexed fields in columns, ``event.original`` in its own column
(it is the largest field and the one full-text search reads) and every other field in
``doc``, as JSON. Reading a row puts ``event.original`` back.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterator, Mapping, Sequence
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

#: Most rows per multi-row INSERT (11 parameters each; SQLite allows 32766 parameters since 3.32).
INSERT_CHUNK = 512
_ROW_WIDTH = 11
_ROW_MARKS = "(" + ", ".join("?" * _ROW_WIDTH) + ")"
_INSERT_HEAD = INSERT_EVENT.partition(" VALUES ")[0] + " VALUES "


def insert_statements(params: Sequence[EventRow], max_variables: int) -> Iterator[tuple[str, list[Any]]]:
    """``INSERT_EVENT`` for many rows as few multi-row INSERTs, in order: (SQL, flat parameters).

    One statement is one ``sqlite3_step``, during which Python's sqlite3 releases the GIL; with
    ``executemany`` the writer thread gives the GIL up and waits for it again once per row, which
    the processor thread turns into a convoy (bench/store_write.py --busy-thread). Rows are
    inserted in order, so seq values are the same as row by row, and a statement's change count
    is the number of new rows (ignored duplicates count 0).

    Statements hold a power of two of rows (the largest that fits, then the binary digits of the
    rest): compiling one costs ~13 µs per row, so only a few distinct texts may exist for the
    connection's statement cache to keep them all.
    """
    size = 1
    while size * 2 <= min(INSERT_CHUNK, max_variables // _ROW_WIDTH):
        size *= 2
    start = 0
    while start < len(params):
        while size > len(params) - start:
            size //= 2
        chunk = params[start : start + size]
        yield _statement(size), [value for row in chunk for value in row]
        start += size


@functools.cache
def _statement(rows_: int) -> str:
    return _INSERT_HEAD + ", ".join([_ROW_MARKS] * rows_)


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
        rest = dict(event)  # a C copy, then one deletion: the same keys in the same order
        del rest[ecs.ORIGINAL]
        doc = _encode(rest)
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

"""Generic JSON lines (one object per line) to ECS, dataset ``json``.

Reference: RFC 8259 (JSON) and the JSON Lines convention (https://jsonlines.org/). A document
that already looks like ECS (it has ``@timestamp`` or an ``ecs`` object) is flattened as is;
any other object is kept under ``json.`` with a time stamp from the first of ``@timestamp``,
``timestamp``, ``time``, ``ts``, ``date`` that reads as ISO 8601 or epoch seconds/milliseconds.
Tolerated deviations: a syslog envelope or a UTF-8 BOM before the object.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, tzinfo
from typing import Any

from collectors.base import RawRecord
from collectors.parsers import envelope
from siem import event as ecs
from siem.errors import ParseError
from siem.event import Event, from_nested

DATASET = "json"
TIME_KEYS = ("@timestamp", "timestamp", "time", "ts", "date", "eventtime")
#: Fields an incoming ECS document may not override (they identify our record).
PROTECTED = frozenset({ecs.ID, ecs.ORIGINAL, ecs.INPUT})


def parse_message(
    message: str, event: Event, *, tz: tzinfo = UTC, received: float | None = None
) -> None:
    """Add the fields of a JSON object to ``event``; ParseError when it is not one."""
    start = message.find("{")
    if start < 0:
        raise ParseError("no JSON object in the line")
    try:
        doc = json.loads(message[start:].lstrip("\ufeff"))
    except json.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON: {exc.msg} at column {exc.colno + start}") from exc
    except (RecursionError, ValueError) as exc:  # hostile nesting; an integer of 4,300 digits
        raise ParseError(f"JSON not readable: {exc}") from exc
    if not isinstance(doc, dict):
        raise ParseError("JSON value is not an object")
    envelope.set_dataset(event, DATASET)
    moment = _time(doc, tz)
    if "@timestamp" in doc or isinstance(doc.get("ecs"), dict):
        for key, value in from_nested(doc).items():
            if key not in PROTECTED:
                event[key] = value
    else:
        for key, value in from_nested(doc).items():
            event[f"json.{key}"] = value
    if moment is not None:
        event[ecs.TIMESTAMP] = ecs.format_timestamp(moment)
    if event.get(ecs.MESSAGE) == message:  # the whole object is in event.original already
        del event[ecs.MESSAGE]


def _time(doc: dict[str, Any], tz: tzinfo) -> datetime | None:
    for key in TIME_KEYS:
        value = doc.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC)
            except (ValueError, OverflowError, OSError):  # nan, beyond the year 9999
                continue
        if isinstance(value, str):
            moment = envelope.parse_iso(value, tz)
            if moment is not None:
                return moment
    return None


class JsonParser:
    """JSON lines, with or without a syslog envelope."""

    name = "json"

    def parse(self, record: RawRecord) -> list[Event]:
        """One event per line."""
        return envelope.parse_line(record, DATASET, parse_message)

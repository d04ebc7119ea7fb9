"""``ecs-json``: a record whose text is one event already in our flat ECS form.

Sources that make events themselves (packet metadata from pcap files and live capture) hand
them to the pipeline as JSON text, so they pass the same parse, enrich, detect and store stages
as every log line, and a network journal (spool) can hold them like any record. The event keeps
its own ``event.id`` (content-based, so a replay stores nothing twice). JSON: RFC 8259.
"""

from __future__ import annotations

import json

from collectors.base import RawRecord
from siem import event as ecs
from siem.errors import ParseError
from siem.event import Event

NAME = "ecs-json"


def encode(event: Event) -> str:
    """The record text of a prepared event (compact JSON, non-ASCII kept)."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


class EcsJsonParser:
    """Returns the prepared event of a record (ParseError when it is not one)."""

    name = NAME

    def parse(self, record: RawRecord) -> list[Event]:
        """The event the record carries, ``event.id`` and ``event.dataset`` as they were."""
        try:
            doc = json.loads(record.text)
        except json.JSONDecodeError as exc:
            raise ParseError(f"invalid JSON: {exc.msg} at column {exc.colno}") from exc
        except (RecursionError, ValueError) as exc:  # hostile nesting; an integer of 4,300 digits
            raise ParseError(f"JSON not readable: {exc}") from exc
        if not isinstance(doc, dict):
            raise ParseError("a prepared event must be a JSON object")
        if not isinstance(doc.get(ecs.DATASET), str):
            raise ParseError(f"a prepared event needs {ecs.DATASET}")
        event: Event = doc
        if not isinstance(event.get(ecs.ID), str):
            event[ecs.ID] = record.record_id()
        return [event]

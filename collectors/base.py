"""Contracts of the collectors: raw records, parsers and sources.

A source turns bytes from the world into RawRecords; a parser turns one RawRecord into ECS
events. A record no parser understands is never dropped: it becomes an event of dataset
``unknown`` with the raw text and the reason (see ``failure_event``).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from collectors.parsers.stamps import format_epoch
from siem import event as ecs
from siem.event import Event


@dataclass(slots=True)
class RawRecord:
    """One message as received: a syslog datagram or frame, a line of a file."""

    #: The text (decoded as UTF-8 with replacement where the bytes were not UTF-8).
    text: str
    #: Where it came from: ``udp://192.0.2.7:514``, ``file:///var/log/auth.log``.
    origin: str
    #: Receive time, seconds since the epoch.
    received: float
    #: Unique within the origin and stable on replay (file offset, spool position).
    key: str
    #: The original bytes when they were not valid UTF-8 (otherwise None).
    raw_bytes: bytes | None = None
    #: The message was longer than the limit and was cut.
    truncated: bool = False
    #: Parser to use (``auto`` detects).
    format: str = "auto"
    #: IANA time zone for timestamps without an offset.
    timezone: str = "UTC"
    #: ``(checkpoint name, value)`` to commit once this record's events are stored.
    checkpoint: tuple[str, str] | None = None
    #: The configured source this came from (for counters and ``siem status``).
    source: str = ""

    def record_id(self) -> str:
        """The stable event id for (the first event of) this record: ``make_event_id(origin, key,
        text)``, hashed in one piece (the same bytes, fewer calls; every event pays it)."""
        data = f"{self.origin}\0{self.key}\0{self.text}\0".encode("utf-8", "surrogatepass")
        return hashlib.blake2b(data, digest_size=16).hexdigest()


class Parser(Protocol):
    """Turns a raw record into events, or raises ParseError with the reason."""

    name: str

    def parse(self, record: RawRecord) -> list[Event]:
        """Events of one record (usually one; a pcap or a batch format may give several)."""
        ...


class Emitter(Protocol):
    """How a source hands records to the pipeline."""

    def put(self, record: RawRecord) -> None:
        """Hand over a record, blocking while the pipeline is full (backpressure)."""
        ...

    def offer(self, record: RawRecord) -> bool:
        """Hand over without blocking; False means it was dropped (and counted)."""
        ...


class Source(Protocol):
    """An input that runs until ``stop`` is set."""

    name: str

    def run(self, emit: Emitter, stop: threading.Event) -> None:
        """Receive records and emit them; return when stop is set."""
        ...


SourceFactory = Callable[..., Source]


def failure_event(record: RawRecord, reason: str) -> Event:
    """The event that keeps a record no parser understood, with the reason."""
    event: Event = {
        ecs.TIMESTAMP: format_epoch(record.received),
        ecs.ID: record.record_id(),
        ecs.KIND: "event",
        ecs.DATASET: ecs.UNKNOWN_DATASET,
        ecs.ORIGINAL: record.text,
        ecs.PARSE_ERROR: reason,
        ecs.INPUT: record.origin,
    }
    if record.truncated:
        event["event.truncated"] = True
    return event

"""Where a forwarder's pipeline writes: events to the disk buffer, checkpoints to the local store.

The pipeline commits a batch with ``write(events, checkpoints=...)``. Here the events are
appended to the buffer first (durable as the spool is: written through, fsynced with
``pipeline.fsync``), and only then are the sources' checkpoints (spool position, file offsets)
committed in the local store. A crash in between replays the batch into the buffer again; its
event ids are the same and the centre's store ignores ids it holds (at-least-once, stored once).
A full buffer raises BufferFullError, on which the pipeline pauses and retries: TCP and file
sources wait, UDP drops and counts.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence

import orjson

from siem.alert import Alert
from siem.event import Event
from siem.forward.outbox import BufferFullError, Outbox
from siem.store.base import SourceStats, Store, WriteResult

#: How long a batch waits for room in a full buffer before the pipeline hears of it (and logs it).
_FULL_WAIT_SECONDS = 5.0
_FULL_POLL_SECONDS = 0.25


def encode_event(event: Event) -> bytes:
    """Compact JSON of one event (lone surrogates escaped rather than refused)."""
    try:
        return orjson.dumps(event, default=str)
    except TypeError:
        return json.dumps(event, default=str, separators=(",", ":")).encode("ascii")


class BufferSink:
    """The subset of the Store contract a pipeline uses, writing events to an Outbox."""

    def __init__(self, store: Store, outbox: Outbox) -> None:
        self.store = store
        self.outbox = outbox
        #: Times the buffer filled up (a batch had to wait for room), and whether it is full now.
        self.full_waits = 0
        self.full = False
        self._lock = threading.Lock()
        self._closing = threading.Event()

    def closing(self) -> None:
        """Stop waiting for room in a full buffer (shutdown): a full buffer fails at once."""
        self._closing.set()

    def write(self, batch: Sequence[Event], *, checkpoints: Mapping[str, str] | None = None) -> WriteResult:
        """Buffer the events, then commit the checkpoints locally (BufferFullError when full)."""
        if batch:
            self._append([encode_event(event) for event in batch])
        if checkpoints:
            self.store.write([], checkpoints=checkpoints)
        return WriteResult(written=len(batch), duplicates=0)

    def _append(self, payloads: list[bytes]) -> None:
        deadline = time.monotonic() + _FULL_WAIT_SECONDS
        while True:
            try:
                self.outbox.append(payloads)
            except BufferFullError:
                if not self.full:
                    with self._lock:
                        self.full_waits += 1
                        self.full = True
                if self._closing.is_set() or time.monotonic() > deadline:
                    raise  # the pipeline logs it, waits and retries (sources wait meanwhile)
                self.outbox.wait_for_room(_FULL_POLL_SECONDS)
            else:
                self.full = False
                return

    def checkpoint(self, name: str) -> str | None:
        """A source's committed checkpoint, from the local store."""
        return self.store.checkpoint(name)

    def write_alerts(self, alerts: Sequence[Alert]) -> WriteResult:
        """Detection runs at the centre; a forwarder has no alerts to keep."""
        return WriteResult(written=0, duplicates=len(alerts))

    def source_stats(self) -> list[SourceStats]:
        """The saved per-source counters (local store)."""
        return self.store.source_stats()

    def record_source_stats(self, stats: Sequence[SourceStats]) -> None:
        """Save the per-source counters (local store, for ``siem status`` on the ward)."""
        self.store.record_source_stats(stats)

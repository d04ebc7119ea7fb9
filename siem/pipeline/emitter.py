"""The emitter a source hands records to: counts them, journals network records, queues them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from collectors.base import RawRecord

if TYPE_CHECKING:
    from siem.pipeline.runner import Pipeline


class SourceEmitter:
    """One source's way into a pipeline (``collectors.sources.contract.BatchEmitter``)."""

    def __init__(self, pipeline: Pipeline, source: str, *, spooled: bool) -> None:
        self._pipeline = pipeline
        self.source = source
        self.spooled = spooled

    def _count(self, records: Sequence[RawRecord]) -> None:
        size = 0
        for record in records:
            if record.raw_bytes is not None:
                size += len(record.raw_bytes)
            else:
                text = record.text
                size += len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
        self._pipeline.counters.received(self.source, len(records), size, records[-1].received)

    def put(self, record: RawRecord) -> None:
        """Hand over one record, waiting while the pipeline is full."""
        self.put_many([record])

    def offer(self, record: RawRecord) -> bool:
        """Hand over one record if it fits; False when dropped (and counted)."""
        return self.offer_many([record]) == 1

    def put_many(self, records: Sequence[RawRecord]) -> None:
        """Hand over records, waiting while the pipeline is full (backpressure)."""
        if records:
            self._count(records)
            taken = self._pipeline.enqueue(records, wait=True, spool=self.spooled)
            if taken < len(records):  # only when stopping while the disk is full
                self._pipeline.counters.dropped(self.source, len(records) - taken)

    def offer_many(self, records: Sequence[RawRecord]) -> int:
        """Hand over what fits now; the rest is dropped and counted."""
        if not records:
            return 0
        self._count(records)
        taken = self._pipeline.enqueue(records, wait=False, spool=self.spooled)
        if taken < len(records):
            self._pipeline.counters.dropped(self.source, len(records) - taken)
        return taken

    def rejected(self, count: int = 1) -> None:
        """Count inputs the source refused or cut short at a limit."""
        self._pipeline.counters.rejected(self.source, count)

    def free(self) -> int:
        """How many records the pipeline's queue takes now."""
        return self._pipeline.queue.free()

    def lost(self, count: int) -> None:
        """Count records lost before the source could hand them over (counted as dropped)."""
        self._pipeline.counters.dropped(self.source, count)

    def checkpoint(self, name: str) -> str | None:
        """The committed value of checkpoint ``name``."""
        return self._pipeline.checkpoint(name)

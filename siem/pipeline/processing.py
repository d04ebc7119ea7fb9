"""Parse, normalize and enrich a batch of raw records: the pipeline's CPU stage before detection.

One ``RecordProcessor`` runs in the pipeline's processor thread (``pipeline.workers: 0``) or in
each worker process (``siem.pipeline.workers``): the same code either way, so the events are
the same.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from collectors.base import Parser, RawRecord, failure_event
from siem import event as ecs
from siem.enrich.base import Enricher
from siem.errors import ParseError, SiemError
from siem.event import Event

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Processed:
    """A batch of records as events, with what the writer and the counters need of it."""

    events: list[Event]
    #: The newest checkpoint of each name among the records (committed with the events).
    checkpoints: dict[str, str]
    #: Events no parser understood, by source.
    failures: dict[str, int] = field(default_factory=dict)
    #: Records the batch held.
    records: int = 0


class RecordProcessor:
    """Parsers (one per format, made on first use), normalization and enrichers."""

    def __init__(
        self,
        parser_factory: Callable[[str], Parser],
        enrichers: Sequence[Enricher] = (),
        labels: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self._parser_factory = parser_factory
        self._parsers: dict[str, Parser] = {}
        self.enrichers = tuple(enrichers)
        self._labels = dict(labels or {})

    def process(self, records: Sequence[RawRecord]) -> Processed:
        """Events of ``records`` in record order, normalized and enriched."""
        events: list[Event] = []
        checkpoints: dict[str, str] = {}
        failures: dict[str, int] = {}
        for record in records:
            for event in self._parse(record):
                if event[ecs.DATASET] == ecs.UNKNOWN_DATASET:
                    failures[record.source] = failures.get(record.source, 0) + 1
                self._normalize(event, record)
                events.append(event)
            if record.checkpoint is not None:
                checkpoints[record.checkpoint[0]] = record.checkpoint[1]
        for enricher in self.enrichers:
            for event in events:
                enricher.enrich(event)
        return Processed(events, checkpoints, failures, len(records))

    def _parser(self, name: str) -> Parser:
        parser = self._parsers.get(name)
        if parser is None:
            parser = self._parsers[name] = self._parser_factory(name)
        return parser

    def _parse(self, record: RawRecord) -> list[Event]:
        try:
            return self._parser(record.format).parse(record)
        except ParseError as exc:
            return [failure_event(record, f"{record.format}: {exc.message}")]
        except SiemError:
            raise
        except Exception as exc:  # a parser bug must not lose the record or stop the pipeline
            log.exception("parser %s failed on a record of %s", record.format, record.origin)
            return [failure_event(record, f"parser {record.format} failed: {exc!r}")]

    def _normalize(self, event: Event, record: RawRecord) -> None:
        if ecs.TIMESTAMP not in event:
            event[ecs.TIMESTAMP] = ecs.format_timestamp(record.received)
        if ecs.MODULE not in event:
            event[ecs.MODULE] = str(event[ecs.DATASET]).partition(".")[0]
        if ecs.INPUT not in event:
            event[ecs.INPUT] = record.origin
        if record.origin.startswith("file://") and ecs.LOG_FILE_PATH not in event:
            event[ecs.LOG_FILE_PATH] = record.origin[7:]
        if record.raw_bytes is not None and ecs.ORIGINAL_BASE64 not in event:
            # the text was decoded with replacement characters: keep the bytes as received
            event[ecs.ORIGINAL_BASE64] = base64.b64encode(record.raw_bytes).decode("ascii")
        labels = self._labels.get(record.source)
        if labels:
            for key, value in labels.items():
                event.setdefault(key, value)

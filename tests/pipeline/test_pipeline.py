"""The stage runner with a real SQLite store and real loopback sockets.

A slow store (a subclass whose ``write`` sleeps) stands in where the queue's behaviour is what
is tested: the store itself is tested in tests/store/.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from collectors.base import Parser, RawRecord
from collectors.registry import create_parser
from collectors.sources.contract import SourceOptions
from collectors.sources.syslog import create_source
from siem import event as ecs
from siem.alert import Alert
from siem.config import Config, PipelineConfig
from siem.errors import ParseError
from siem.event import Event
from siem.pipeline import Pipeline
from siem.store.base import EventQuery, Store, WriteResult
from siem.store.factory import open_store
from siem.store.sqlite import SqliteStore


class SlowStore(SqliteStore):
    """A real store whose writes take ``delay`` seconds each (a slow disk)."""

    delay = 0.02

    def write(self, batch: Sequence[Event], *, checkpoints: Mapping[str, str] | None = None) -> WriteResult:
        time.sleep(self.delay)
        return super().write(batch, checkpoints=checkpoints)


@pytest.fixture
def store(data_dir: Path) -> Iterator[Store]:
    opened = open_store(Config(data_dir=str(data_dir)), data_dir)
    yield opened
    opened.close()


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_tcp_backpressure_keeps_the_queue_bounded_and_loses_nothing(data_dir: Path) -> None:
    store = SlowStore(data_dir / "siem.db")
    config = PipelineConfig(queue_size=500, batch_size=100, flush_interval=0.05)
    pipeline = Pipeline(store, create_parser, config=config, spool_dir=data_dir / "spool")
    pipeline.start()
    source = create_source(SourceOptions(name="tcp-in", transport="tcp", port=0))
    pipeline.add_source(source, spooled=True)
    total = 10_000
    payload = b"".join(b"<13>Nov 25 10:00:00 host app[1]: line %06d\n" % n for n in range(total))
    with socket.create_connection(("127.0.0.1", source.port)) as sender:
        sender.sendall(payload)  # blocks while the pipeline is full (TCP flow control)
    try:
        assert wait_until(lambda: store.count(EventQuery()) == total, timeout=60)
    finally:
        pipeline.stop()
    # The queue never held more than its capacity although the sender was far faster.
    assert pipeline.queue.high_water <= config.queue_size
    assert pipeline.totals.written == total
    [stats] = [s for s in store.source_stats() if s.source == "tcp-in"]
    assert (stats.received, stats.dropped, stats.parse_failures) == (total, 0, 0)
    # Everything committed: at most the open segment is left in the spool.
    assert len(list((data_dir / "spool").glob("*.seg"))) <= 1
    store.close()


def test_udp_drops_are_counted_when_the_queue_is_full(data_dir: Path) -> None:
    store = SlowStore(data_dir / "siem.db")
    store.delay = 0.2
    config = PipelineConfig(queue_size=20, batch_size=10, flush_interval=0.05)
    pipeline = Pipeline(store, create_parser, config=config, spool_dir=data_dir / "spool")
    pipeline.start()
    source = create_source(SourceOptions(name="udp-in", transport="udp", port=0))
    pipeline.add_source(source, spooled=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for number in range(2000):
            sender.sendto(b"<13>Nov 25 10:00:00 host app: datagram %d" % number, ("127.0.0.1", source.port))
    time.sleep(0.5)
    pipeline.stop()
    [stats] = [s for s in store.source_stats() if s.source == "udp-in"]
    stored = store.count(EventQuery())
    assert stats.dropped > 0
    assert stats.received == stored + stats.dropped
    assert pipeline.queue.high_water <= config.queue_size
    store.close()


class Tagger:
    """An enricher that labels every event."""

    def enrich(self, event: Event) -> None:
        event[ecs.LABEL_ZONE] = "dmz"


class FailedLogins:
    """A detector that alerts on each 'Failed password' event."""

    def detect(self, events: Sequence[Event]) -> list[Alert]:
        return [
            Alert(
                id=f"alert-{event[ecs.ID]}",
                rule_id="r1",
                rule_title="failed login",
                level="medium",
                first_seen=0.0,
                last_seen=0.0,
                event_ids=(event[ecs.ID],),
            )
            for event in events
            if "Failed password" in event.get(ecs.MESSAGE, "")
        ]


class BrokenParser:
    """A parser with a bug: it raises something other than ParseError on some records."""

    name = "broken"

    def parse(self, record: RawRecord) -> list[Event]:
        if "boom" in record.text:
            raise KeyError("bug")
        if "nope" in record.text:
            raise ParseError("not mine")
        return [{ecs.ID: record.record_id(), ecs.DATASET: "test", ecs.ORIGINAL: record.text}]


def test_enrichers_detector_and_parser_failures(store: Store, tmp_path: Path) -> None:
    parsers: dict[str, Callable[[], Parser]] = {"broken": BrokenParser}

    def factory(name: str) -> Parser:
        return parsers[name]() if name in parsers else create_parser(name)

    pipeline = Pipeline(
        store,
        factory,
        config=PipelineConfig(flush_interval=0.05),
        detector=FailedLogins(),
        enrichers=[Tagger()],
        labels={"files": {ecs.LABEL_SITE: "ward-3"}},
    )
    pipeline.start()
    emit = pipeline.emitter("files", spooled=False)
    emit.put_many(
        [
            RawRecord(
                "Dec 10 06:55:48 LabSZ sshd[24200]: Failed password for root", "file:///a", 1.0, "0", source="files"
            ),
            RawRecord("ok", "file:///b", 1.0, "0", format="broken", source="files"),
            RawRecord("boom", "file:///b", 1.0, "3", format="broken", source="files"),
            RawRecord("nope", "file:///b", 1.0, "5", format="broken", source="files"),
        ]
    )
    assert pipeline.wait_idle(10)
    pipeline.stop()
    events = list(store.search(EventQuery(limit=10)))
    assert len(events) == 4
    assert all(e[ecs.LABEL_ZONE] == "dmz" and e[ecs.LABEL_SITE] == "ward-3" for e in events)
    unknown = sorted(e[ecs.PARSE_ERROR] for e in events if e[ecs.DATASET] == ecs.UNKNOWN_DATASET)
    assert unknown == ["broken: not mine", "parser broken failed: KeyError('bug')"]
    assert [a.rule_id for a in store.alerts()] == ["r1"]
    assert pipeline.totals.alerts == 1
    assert pipeline.totals.parse_failures == 2

"""The UDP receive loop on real loopback sockets: batches, holding back while the pipeline is full
(the datagrams wait in the socket's receive buffer), kernel drops counted, ``receive_buffer_bytes``."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from collectors.base import RawRecord
from collectors.sources.contract import SourceOptions
from collectors.sources.syslog import UdpSyslogSource, kernel_drops
from siem.errors import ConfigError

#: A generous guess of the kernel's cost of one small datagram in a receive buffer (about 830
#: bytes measured on loopback), to send no more than the granted buffer holds.
_DATAGRAM_COST = 2048


class HoldingEmitter:
    """Takes records while ``room`` allows and tells the source how many fit (``free``)."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.records: list[RawRecord] = []
        self.batches: list[int] = []
        self.dropped = 0
        self.kernel_lost = 0
        self.rejections = 0
        self.lock = threading.Lock()

    def free(self) -> int:
        with self.lock:
            return max(0, self.room - len(self.records))

    def offer_many(self, records: Sequence[RawRecord]) -> int:
        with self.lock:
            taken = list(records[: max(0, self.room - len(self.records))])
            self.records.extend(taken)
            self.batches.append(len(records))
            self.dropped += len(records) - len(taken)
            return len(taken)

    def put_many(self, records: Sequence[RawRecord]) -> None:
        with self.lock:
            self.records.extend(records)

    def offer(self, record: RawRecord) -> bool:
        return self.offer_many([record]) == 1

    def put(self, record: RawRecord) -> None:
        self.put_many([record])

    def lost(self, count: int) -> None:
        with self.lock:
            self.kernel_lost += count

    def rejected(self, count: int = 1) -> None:
        with self.lock:
            self.rejections += count

    def checkpoint(self, name: str) -> str | None:
        return None


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def serve() -> Iterator[Callable[[UdpSyslogSource, HoldingEmitter], threading.Event]]:
    started: list[tuple[threading.Thread, threading.Event]] = []

    def run(source: UdpSyslogSource, emit: HoldingEmitter) -> threading.Event:
        stop = threading.Event()
        thread = threading.Thread(target=source.run, args=(emit, stop), daemon=True)
        thread.start()
        started.append((thread, stop))
        return stop

    yield run
    for thread, stop in started:
        stop.set()
        thread.join(5)
        assert not thread.is_alive()


def test_datagrams_wait_in_the_receive_buffer_and_arrive_in_batches_in_order(serve: Callable) -> None:  # type: ignore[type-arg]
    source = UdpSyslogSource(SourceOptions(name="u", transport="udp", port=0))
    per_sender = min(1000, source.receive_buffer // 3 // _DATAGRAM_COST)
    assert per_sender >= 20, f"receive buffer {source.receive_buffer} too small for this test"
    emit = HoldingEmitter(room=0)  # the pipeline is full
    serve(source, emit)
    senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
    try:
        for number in range(per_sender):
            for index, sender in enumerate(senders):
                sender.sendto(b"<13>Nov 25 10:00:00 h app: s%d n%d" % (index, number), ("127.0.0.1", source.port))
        ports = {sender.getsockname()[1]: index for index, sender in enumerate(senders)}
    finally:
        for sender in senders:
            sender.close()
    total = 3 * per_sender
    time.sleep(0.3)
    # Nothing read while there is no room: nothing dropped either, the kernel keeps them.
    assert (emit.records, emit.dropped, emit.kernel_lost) == ([], 0, 0)
    emit.room = 100
    assert wait_until(lambda: len(emit.records) == 100)
    time.sleep(0.1)
    assert len(emit.records) == 100 and emit.dropped == 0
    assert max(emit.batches) <= 100  # never more read than there was room for
    emit.room = 1_000_000
    assert wait_until(lambda: len(emit.records) >= total)
    time.sleep(0.1)
    assert len(emit.records) == total and emit.dropped == 0 and emit.kernel_lost == 0
    assert len(emit.batches) <= total // 10  # handed over in batches, not one call per datagram
    assert len(ports) == 3
    by_sender: dict[str, list[int]] = {}
    for record in emit.records:
        sender_tag, number = record.text.rsplit(" ", 2)[-2:]
        by_sender.setdefault(sender_tag, []).append(int(number[1:]))
    assert by_sender == {f"s{index}": list(range(per_sender)) for index in range(3)}
    assert len({record.key for record in emit.records}) == total


def test_stopping_reads_what_waits_and_counts_what_does_not_fit(serve: Callable) -> None:  # type: ignore[type-arg]
    source = UdpSyslogSource(SourceOptions(name="u", transport="udp", port=0))
    emit = HoldingEmitter(room=0)
    stop = serve(source, emit)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for number in range(50):
            sender.sendto(b"<13>msg %d" % number, ("127.0.0.1", source.port))
    time.sleep(0.2)
    assert emit.dropped == 0
    stop.set()
    assert wait_until(lambda: emit.dropped == 50, timeout=5)
    assert emit.records == []


def test_kernel_drops_are_counted_as_lost(serve: Callable, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[type-arg]
    source = UdpSyslogSource(SourceOptions(name="u", transport="udp", port=0, receive_buffer_bytes=4096))
    if source.kernel_drops is None:
        pytest.skip("this kernel does not report a socket's drops (SO_MEMINFO: Linux 4.6+)")
    emit = HoldingEmitter(room=0)
    with caplog.at_level(logging.WARNING, logger="collectors.sources.syslog"):
        serve(source, emit)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for number in range(200):
                sender.sendto(b"<13>Nov 25 10:00:00 h app: %d " % number + b"x" * 200, ("127.0.0.1", source.port))
        assert wait_until(lambda: emit.kernel_lost > 0, timeout=5)
        emit.room = 1_000_000
        assert wait_until(lambda: len(emit.records) + emit.kernel_lost == 200, timeout=5)
    time.sleep(0.1)
    assert 0 < len(emit.records) < 200
    assert len(emit.records) + emit.kernel_lost == 200 and emit.dropped == 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as fresh:
        assert kernel_drops(fresh) == 0
    assert "overflowed" in caplog.text and "receive_buffer_bytes" in caplog.text


def test_receive_buffer_granted_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    asked = 1024 * 1024
    with caplog.at_level(logging.INFO, logger="collectors.sources.syslog"):
        source = UdpSyslogSource(SourceOptions(name="u", transport="udp", port=0, receive_buffer_bytes=asked))
    source._socket.close()
    assert source.receive_buffer > 0
    if os.geteuid() == 0:  # SO_RCVBUFFORCE passes net.core.rmem_max
        assert source.receive_buffer == asked
        assert f"receive buffer {asked} bytes" in caplog.text
    elif source.receive_buffer < asked:
        assert "net.core.rmem_max" in caplog.text


def test_receive_buffer_bytes_comes_from_the_configuration(tmp_path: Path) -> None:
    from siem.config import SourceConfig, load_config
    from siem.pipeline.sources import source_options

    config_file = tmp_path / "siem.yaml"
    config_file.write_text("sources:\n  - {type: syslog, transport: udp, receive_buffer_bytes: 33554432}\n")
    assert source_options(load_config(str(config_file)).sources[0]).receive_buffer_bytes == 32 * 1024 * 1024
    assert source_options(SourceConfig(type="syslog")).receive_buffer_bytes == 8 * 1024 * 1024
    for bad in ("100", "2147483648"):
        config_file.write_text(f"sources:\n  - {{type: syslog, transport: udp, receive_buffer_bytes: {bad}}}\n")
        with pytest.raises(ConfigError, match=rf"sources\[0\]\.receive_buffer_bytes must be between 4096 and "
                                              rf"1073741824, not {bad}"):  # fmt: skip
            load_config(str(config_file))
    config_file.write_text("sources:\n  - {type: syslog, transport: udp, receive_buffer_bytes: lots}\n")
    with pytest.raises(ConfigError, match="receive_buffer_bytes"):
        load_config(str(config_file))


def test_a_burst_beyond_the_queue_is_stored_once_through_the_real_pipeline(data_dir: Path) -> None:
    from collectors.registry import create_parser
    from siem import event as ecs
    from siem.config import Config, PipelineConfig
    from siem.pipeline import Pipeline
    from siem.store.base import EventQuery
    from siem.store.factory import open_store

    store = open_store(Config(data_dir=str(data_dir)), data_dir)
    config = PipelineConfig(queue_size=50, batch_size=25, flush_interval=0.05)
    pipeline = Pipeline(store, create_parser, config=config, spool_dir=data_dir / "spool")
    pipeline.start()
    source = UdpSyslogSource(SourceOptions(name="udp-in", transport="udp", port=0))
    total = min(2000, source.receive_buffer // _DATAGRAM_COST)
    pipeline.add_source(source, spooled=True)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for number in range(total):  # far faster than the pipeline: 40 times its queue
                sender.sendto(b"<13>Nov 25 10:00:00 host app: burst %05d" % number, ("127.0.0.1", source.port))
        assert wait_until(lambda: store.count(EventQuery()) >= total, timeout=30)
        events = list(store.search(EventQuery(limit=total + 10)))
    finally:
        pipeline.stop()
    [stats] = [s for s in store.source_stats() if s.source == "udp-in"]
    store.close()
    # The queue overflowed many times over, yet the burst waited in the receive buffer: each
    # datagram spooled and stored once, none dropped.
    assert pipeline.queue.high_water <= config.queue_size
    assert (stats.received, stats.dropped) == (total, 0)
    messages = sorted(str(event.get(ecs.MESSAGE)) for event in events)
    assert messages == [f"burst {number:05d}" for number in range(total)]

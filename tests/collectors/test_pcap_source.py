"""The pcap source through the real pipeline into a real SQLite store, and ``siem ingest x.pcap``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.base import RawRecord
from collectors.parsers.ecs_json import EcsJsonParser
from collectors.pcap import read_pcap
from collectors.registry import create_parser
from collectors.sources.contract import SourceOptions
from collectors.sources.pcap import PcapSource, is_capture_file
from siem import event as ecs
from siem.config import Config, PipelineConfig
from siem.errors import ParseError
from siem.pipeline import Pipeline
from siem.store.base import EventQuery, Store
from siem.store.factory import open_store
from tests.collectors.waiting import wait_until
from tests.conftest import PROJECT_ROOT

PAYLOAD = 100
UDP_PACKETS = 4
#: Ethernet + IPv4 + UDP headers and the payload, as a flow record counts bytes (on the wire).
UDP_FRAME = 14 + 20 + 8 + PAYLOAD


def build_pcap(path: Path, *, base_port: int = 5000, start: float = 1_764_000_000.0) -> Path:
    """A small capture: one UDP flow of four packets and a DNS query with its answer."""
    from scapy.layers.dns import DNS, DNSQR, DNSRR
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Packet, Raw
    from scapy.utils import wrpcap

    packets: list[Packet] = []
    for n in range(UDP_PACKETS):
        frame = Ether() / IP(src="10.3.64.10", dst="10.3.2.20") / UDP(sport=base_port, dport=9999) / Raw(b"x" * PAYLOAD)
        frame.time = start + n * 0.1
        packets.append(frame)
    query = Ether() / IP(src="10.3.16.5", dst="10.0.2.53") / UDP(sport=base_port + 1, dport=53)
    query = query / DNS(id=7, rd=1, qd=DNSQR(qname="cam-w3-001.example."))
    query.time = start + 1
    answer = Ether() / IP(src="10.0.2.53", dst="10.3.16.5") / UDP(sport=53, dport=base_port + 1)
    answer = answer / DNS(id=7, qr=1, rd=1, ra=1, qd=DNSQR(qname="cam-w3-001.example."),
                          an=DNSRR(rrname="cam-w3-001.example.", rdata="10.3.64.10"))  # fmt: skip
    answer.time = start + 1.01
    packets += [query, answer]
    wrpcap(str(path), packets)
    return path


@pytest.fixture
def store(data_dir: Path) -> Iterator[Store]:
    opened = open_store(Config(data_dir=str(data_dir)), data_dir)
    yield opened
    opened.close()


def stored(store: Store) -> list[dict[str, object]]:
    return list(store.search(EventQuery(limit=100_000)))


def run_once(store: Store, *paths: str, resume: bool = True) -> Pipeline:
    """Read the files once (as ``siem ingest`` does) and stop; returns the stopped pipeline."""
    pipeline = Pipeline(store, create_parser, config=PipelineConfig(flush_interval=0.05))
    pipeline.start()
    source = PcapSource(SourceOptions(name="pcaps", kind="pcap", paths=paths, follow=False, resume=resume))
    pipeline.add_source(source, spooled=False)
    wait_until(lambda: not pipeline.sources_running())
    pipeline.stop()
    return pipeline


def test_flows_and_dns_are_stored_with_the_readers_ids(store: Store, tmp_path: Path) -> None:
    capture = build_pcap(tmp_path / "small.pcap")
    pipeline = run_once(store, str(capture))
    events = stored(store)
    expected_ids = {str(event[ecs.ID]) for event in read_pcap(capture)}
    assert {str(event[ecs.ID]) for event in events} == expected_ids
    flows = [e for e in events if e[ecs.DATASET] == "network.flow" and e.get(ecs.DESTINATION_PORT) == 9999]
    assert len(flows) == 1
    assert flows[0]["network.packets"] == UDP_PACKETS
    assert flows[0]["network.bytes"] == UDP_PACKETS * UDP_FRAME
    assert flows[0][ecs.SOURCE_IP] == "10.3.64.10"
    dns = [e for e in events if e[ecs.DATASET] == "network.dns"]
    assert dns and dns[0]["dns.question.name"] == "cam-w3-001.example"
    assert all(e[ecs.INPUT] == f"file://{capture}" for e in events)
    assert pipeline.totals.parse_failures == 0


def test_a_finished_file_is_not_read_again_after_a_restart(store: Store, tmp_path: Path) -> None:
    capture = build_pcap(tmp_path / "small.pcap")
    first = run_once(store, str(tmp_path / "*.pcap"))
    assert first.totals.records > 0
    count = store.count(EventQuery())
    second = run_once(store, str(tmp_path / "*.pcap"))
    assert second.totals.records == 0  # the checkpoint says the file is done
    # A changed file (new identity) is read again; its old events are duplicates.
    build_pcap(capture, base_port=6000)
    third = run_once(store, str(tmp_path / "*.pcap"))
    assert third.totals.records > 0
    assert store.count(EventQuery()) > count
    # Without resume (siem ingest), the file is read again and nothing new is stored.
    again = run_once(store, str(capture), resume=False)
    assert again.totals.records == third.totals.records
    assert again.totals.written == 0


def test_follow_reads_new_files_and_skips_a_bad_one(store: Store, tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / "broken.pcap").write_bytes(b"this is not a capture file\n")
    pipeline = Pipeline(store, create_parser, config=PipelineConfig(flush_interval=0.05))
    pipeline.start()
    options = SourceOptions(name="drop", kind="pcap", paths=(str(incoming / "*.pcap"),), poll_interval=0.05)
    pipeline.add_source(PcapSource(options), spooled=False)
    try:
        build_pcap(tmp_path / "tmp.pcap").rename(incoming / "later.pcap")
        wait_until(lambda: any(e[ecs.DATASET] == "network.dns" for e in stored(store)))
        assert pipeline.sources_running()  # the broken file did not stop the source
    finally:
        pipeline.stop()


def test_a_file_that_is_not_a_capture_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.pcap"
    bogus.write_text("hello\n")
    source = PcapSource(SourceOptions(name="p", kind="pcap", paths=(str(bogus),), follow=False))
    with pytest.raises(ParseError, match="not a pcap or pcapng file"):
        source.read_file(bogus, _NullEmitter(), threading.Event())


def test_capture_files_are_recognised_by_name_or_magic(tmp_path: Path) -> None:
    capture = build_pcap(tmp_path / "capture.bin")
    text = tmp_path / "auth.log"
    text.write_text("Nov 25 10:00:00 host sshd[1]: hello\n")
    assert is_capture_file(capture)
    assert is_capture_file(tmp_path / "anything.pcapng")
    assert not is_capture_file(text)


def test_ecs_json_parser_keeps_the_id_and_rejects_other_text() -> None:
    parser = EcsJsonParser()
    record = RawRecord(text='{"event.id":"abc","event.dataset":"network.flow"}', origin="x", received=0.0, key="1")
    assert parser.parse(record) == [{"event.id": "abc", "event.dataset": "network.flow"}]
    for text, reason in (("not json", "invalid JSON"), ("[1]", "JSON object"), ('{"a":1}', "event.dataset")):
        with pytest.raises(ParseError, match=reason):
            parser.parse(RawRecord(text=text, origin="x", received=0.0, key="1"))


def test_siem_ingest_reads_a_pcap_and_its_ids_are_stable(tmp_path: Path, data_dir: Path) -> None:
    capture = build_pcap(tmp_path / "capture.bin")  # found by its magic number, not its name
    log = tmp_path / "auth.log"
    log.write_text("Nov 25 10:00:00 host sshd[1]: Accepted password for root from 10.3.16.5 port 22 ssh2\n")
    command = [sys.executable, str(PROJECT_ROOT / "cli.py"), "--data-dir", str(data_dir), "ingest", "--json"]
    first = json.loads(
        subprocess.run([*command, str(capture), str(log)], check=True, capture_output=True, timeout=60).stdout
    )
    events = len(list(read_pcap(capture)))
    assert first["stored"] == events + 1
    assert first["parse_failures"] == 0
    second = json.loads(subprocess.run([*command, str(capture)], check=True, capture_output=True, timeout=60).stdout)
    assert second == {**second, "stored": 0, "duplicates": events}


def test_corpus_pcap_through_the_source_matches_the_reader(store: Store, corpus_dir: Path, tmp_path: Path) -> None:
    capture = corpus_dir / "pcaps" / "dns" / "cs__dns_axfr.pcapng"
    if not capture.is_file():
        pytest.skip(f"{capture} is not in the corpus")
    local = tmp_path / capture.name
    shutil.copyfile(capture, local)  # a copy in tmp, removed with it (the checkpoint names the path)
    run_once(store, str(local))
    assert sorted(str(e[ecs.ID]) for e in stored(store)) == sorted(str(e[ecs.ID]) for e in read_pcap(capture))


class _NullEmitter:
    def put(self, record: RawRecord) -> None:
        raise AssertionError("nothing should be emitted")

    def offer(self, record: RawRecord) -> bool:
        raise AssertionError("nothing should be emitted")

    def put_many(self, records: object) -> None:
        raise AssertionError("nothing should be emitted")

    def offer_many(self, records: object) -> int:
        raise AssertionError("nothing should be emitted")

    def checkpoint(self, name: str) -> str | None:
        return None

"""Truncated and hostile capture files through ``siem ingest`` and the pcap source (issue 8).

The files are written here with ``struct`` (pcap: draft-ietf-opsawg-pcap; pcapng:
draft-ietf-opsawg-pcapng): impossible record lengths, a huge snaplen, a record cut by the end of
the file, a cut file header, a pcapng block of absurd length. Each gives the good packets before
the damage, or a clear error naming the file; none hangs or stops the other files."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import root
from collectors.registry import create_parser
from collectors.sources.contract import SourceOptions
from collectors.sources.pcap import PcapSource
from siem.config import Config, PipelineConfig
from siem.errors import ParseError
from siem.pipeline import Pipeline
from siem.store.base import EventQuery
from siem.store.factory import open_store

PCAP_HEADER = struct.Struct("<IHHiIII")
GOOD_EVENTS = 4  # two DNS queries: a dns event and a flow event each


def _checksum(data: bytes) -> int:
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return int(~(total + (total >> 16)) & 0xFFFF)


def dns_query(number: int) -> bytes:
    """An Ethernet frame: IPv4, UDP to port 53, a DNS query for example.com."""
    query = struct.pack("!HHHHHH", 0x1000 + number, 0x0100, 1, 0, 0, 0) + b"\x07example\x03com\x00\x00\x01\x00\x01"
    udp = struct.pack("!HHHH", 40000 + number, 53, 8 + len(query), 0) + query
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), number, 0, 64, 17, 0, b"\n\0\0\1", b"\n\0\0\x35")
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + udp


def record(frame: bytes, second: int, caplen: int | None = None) -> bytes:
    return struct.pack("<IIII", 1_700_000_000 + second, 0, len(frame) if caplen is None else caplen, len(frame)) + frame


def pcap(*records: bytes, snaplen: int = 65535) -> bytes:
    return PCAP_HEADER.pack(0xA1B2C3D4, 2, 4, 0, 0, snaplen, 1) + b"".join(records)


GOOD = (record(dns_query(1), 1), record(dns_query(2), 2))

HOSTILE = {
    "bad-length": pcap(*GOOD, struct.pack("<IIII", 1_700_000_003, 0, 0xFFFFFFF0, 60) + b"\0" * 64),
    "huge-snaplen": pcap(*GOOD, snaplen=0xFFFFFFFF),
    "cut-record": pcap(*GOOD, record(dns_query(3), 3)[:30]),
    "zero-length-flood": pcap(*GOOD, *(struct.pack("<IIII", 1_700_000_004, 0, 0, 0) for _ in range(20000))),
}


def ingest(data_dir: Path, *paths: Path) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(root, ["--data-dir", str(data_dir), "ingest", "--json", *map(str, paths)])
    return result.exit_code, result.stdout, result.exception


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_ingest_keeps_the_packets_before_the_damage(name: str, data_dir: Path, tmp_path: Path) -> None:
    capture = tmp_path / f"{name}.pcap"
    capture.write_bytes(HOSTILE[name])
    started = time.monotonic()
    code, output, error = ingest(data_dir, capture)
    assert time.monotonic() - started < 30
    assert (code, error) == (0, None), output
    summary = json.loads(output.strip().splitlines()[-1])
    assert summary["stored"] == GOOD_EVENTS


def test_cut_header_is_a_clear_error_naming_the_file(data_dir: Path, tmp_path: Path) -> None:
    capture = tmp_path / "cut-header.pcap"
    capture.write_bytes(pcap()[:12])
    code, _, error = ingest(data_dir, capture)
    assert code != 0
    assert isinstance(error, ParseError)
    assert str(error) == f"{capture}: pcap file header is cut short"


def test_pcapng_block_of_absurd_length(data_dir: Path, tmp_path: Path) -> None:
    section = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
    interface = struct.pack("<IIHHII", 1, 20, 1, 0, 65535, 20)
    frame = dns_query(1)
    padded = frame + b"\0" * (-len(frame) % 4)
    packet = struct.pack("<IIIIIII", 6, 32 + len(padded), 0, 0, 0, len(frame), len(frame)) + padded
    packet += struct.pack("<I", 32 + len(padded))
    absurd = struct.pack("<II", 6, 0xFFFFFFF0) + b"\0" * 40
    capture = tmp_path / "absurd.pcapng"
    capture.write_bytes(section + interface + packet + absurd)
    code, output, error = ingest(data_dir, capture)
    assert (code, error) == (0, None), output
    assert json.loads(output.strip().splitlines()[-1])["stored"] == 2  # the one packet before


def test_pcap_source_skips_a_broken_file_and_reads_the_others(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "a-cut-header.pcap").write_bytes(pcap()[:12])
    (tmp_path / "b-bad-length.pcap").write_bytes(HOSTILE["bad-length"])
    (tmp_path / "c-good.pcap").write_bytes(pcap(record(dns_query(7), 7)))
    store = open_store(Config(data_dir=str(data_dir)), data_dir)
    pipeline = Pipeline(store, create_parser, config=PipelineConfig(flush_interval=0.05))
    pipeline.start()
    source = PcapSource(SourceOptions(name="pcap", kind="pcap", paths=(str(tmp_path / "*.pcap"),), poll_interval=0.1))
    pipeline.add_source(source, spooled=False)
    try:
        deadline = time.monotonic() + 20
        while store.count(EventQuery()) < GOOD_EVENTS + 2:
            assert time.monotonic() < deadline, "timed out"
            assert pipeline.failure is None
            time.sleep(0.1)
        assert pipeline.sources_running()  # the broken file did not stop the source
    finally:
        pipeline.stop()
        store.close()
    assert source.read_stats.damaged == 1

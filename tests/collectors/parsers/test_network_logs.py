"""Zeek and Suricata parsers on the corpus' real Zeek baselines and Suricata eve.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collectors.base import RawRecord
from collectors.parsers.suricata import SuricataEveParser
from collectors.parsers.zeek import ZeekParser

pytestmark = pytest.mark.corpus


def _zeek_tsv_files(corpus_dir: Path) -> list[Path]:
    files = sorted((corpus_dir / "network-logs" / "zeek").glob("**/*.log"))
    return [path for path in files if "#fields\t" in path.read_text(errors="replace")]


def test_zeek_tsv_logs(corpus_dir: Path) -> None:
    """Every data line of every Zeek ASCII log becomes one event of dataset zeek.<#path>."""
    files = _zeek_tsv_files(corpus_dir)
    assert len(files) > 100
    events = 0
    for path in files:
        parser = ZeekParser()
        origin = f"file://{path}"
        columns: list[str] = []
        log_path = ""
        for number, line in enumerate(path.read_text(errors="replace").splitlines()):
            if line.startswith("#fields\t"):
                columns = line.split("\t")[1:]
            elif line.startswith("#path\t"):
                log_path = line.split("\t")[1]
            result = parser.parse(RawRecord(line, origin, 1.7e9, str(number)))
            if line.startswith("#") or not line:
                assert result == []
                continue
            (event,) = result
            events += 1
            values = dict(zip(columns, line.split("\t"), strict=True))
            assert event["event.dataset"] == f"zeek.{log_path}"
            if values.get("id.orig_h", "-") != "-":
                assert event["source.ip"] == values["id.orig_h"]
                assert event["destination.port"] == int(values["id.resp_p"])
            if values.get("ts", "").replace(".", "").isdigit():
                assert event["@timestamp"].startswith("20") or event["@timestamp"].startswith("19")
    assert events > 3000


def test_zeek_conn_log_fields(corpus_dir: Path) -> None:
    path = next(p for p in _zeek_tsv_files(corpus_dir) if p.name == "conn.log")
    parser = ZeekParser()
    events = [
        event
        for number, line in enumerate(path.read_text().splitlines())
        for event in parser.parse(RawRecord(line, f"file://{path}", 1.7e9, str(number)))
    ]
    assert events
    for event in events:
        assert event["event.type"] == ["connection", "start", "end"]
        assert event["network.transport"] in ("tcp", "udp", "icmp", "unknown_transport")


def test_suricata_eve_fileinfo(corpus_dir: Path) -> None:
    path = (
        corpus_dir
        / "network-logs"
        / "suricata"
        / "suricata-verify_output-eve-fileinfo_expected_eve.json"
    )
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    parser = SuricataEveParser()
    for number, line in enumerate(lines):
        (event,) = parser.parse(RawRecord(line, f"file://{path}", 1.7e9, str(number)))
        raw = json.loads(line)
        assert event["event.dataset"] == "suricata.eve"
        assert event["source.ip"] == raw["src_ip"]
        assert event["destination.port"] == raw["dest_port"]
        assert event["file.name"] == raw["fileinfo"]["filename"]
        assert event["url.domain"] == raw["http"]["hostname"]

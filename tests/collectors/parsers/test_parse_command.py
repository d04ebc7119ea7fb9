"""``siem parse``: JSON lines on stdout for small files, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import root

FILTERLOG = (
    "<134>Jul  3 19:10:30 filterlog[72237]: 176,,,1520797901,igb1.27,match,pass,in,4,0xb8,,64,"
    "58355,0,none,17,udp,76,10.170.27.27,175.16.199.1,123,123,56"
)
SSHD = "Nov 25 09:00:02 web1 sshd[4243]: Failed password for root from 192.0.2.9 port 40022 ssh2"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)  # no ./siem.yaml here
    monkeypatch.delenv("SIEM_CONFIG", raising=False)
    return CliRunner()


def _run(runner: CliRunner, data_dir: Path, *args: str) -> tuple[int, list[dict[str, object]], str]:
    result = runner.invoke(root, ["--data-dir", str(data_dir), "parse", *args], catch_exceptions=False)
    events = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return result.exit_code, events, result.stderr


def test_named_format(runner: CliRunner, tmp_path: Path, data_dir: Path) -> None:
    path = tmp_path / "fw.log"
    path.write_text(FILTERLOG + "\n\nnot a filterlog line\n")
    code, events, err = _run(runner, data_dir, "--format", "pfsense", "--timezone", "Etc/GMT+4", str(path))
    assert code == 0
    assert [event["event.dataset"] for event in events] == ["pfsense", "unknown"]
    assert events[0]["source.ip"] == "10.170.27.27"
    assert events[0]["@timestamp"].endswith("T23:10:30.000Z")  # 19:10:30 at UTC-4
    assert str(events[1]["error.message"]).startswith("not a filterlog line")
    assert events[1]["event.original"] == "not a filterlog line"
    assert "2 records, 2 events, 1 not parsed" in err


def test_auto_format_and_nested(runner: CliRunner, tmp_path: Path, data_dir: Path) -> None:
    path = tmp_path / "mixed.log"
    path.write_text(f"{FILTERLOG}\n{SSHD}\n")
    code, events, _ = _run(runner, data_dir, "--nested", str(path))
    assert code == 0
    assert [event["event"]["dataset"] for event in events] == ["pfsense", "linux.auth"]  # type: ignore[index]
    assert events[1]["user"] == {"name": "root"}
    assert events[1]["event"]["outcome"] == "failure"  # type: ignore[index]


def test_zeek_tsv_keeps_header_state(runner: CliRunner, tmp_path: Path, data_dir: Path) -> None:
    path = tmp_path / "conn.log"
    path.write_text(
        "#separator \\x09\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\n"
        "1700000000.5\tC1\t192.0.2.1\t5353\t192.0.2.2\t53\tudp\n"
    )
    code, events, _ = _run(runner, data_dir, "--format", "zeek", str(path))
    assert code == 0
    assert len(events) == 1
    assert events[0]["event.dataset"] == "zeek.conn"
    assert events[0]["destination.port"] == 53
    assert events[0]["@timestamp"] == "2023-11-14T22:13:20.500Z"


def test_unknown_format_is_a_usage_error(runner: CliRunner, tmp_path: Path, data_dir: Path) -> None:
    path = tmp_path / "x.log"
    path.write_text("x\n")
    result = runner.invoke(root, ["--data-dir", str(data_dir), "parse", "--format", "nope", str(path)])
    assert result.exit_code == 2
    assert "unknown format 'nope'" in result.stderr
    assert "cisco.asa" in result.stderr


def test_unknown_time_zone_is_a_usage_error(runner: CliRunner, tmp_path: Path, data_dir: Path) -> None:
    path = tmp_path / "x.log"
    path.write_text("x\n")
    result = runner.invoke(root, ["--data-dir", str(data_dir), "parse", "--timezone", "Mars/X", str(path)])
    assert result.exit_code == 2
    assert "unknown time zone" in result.stderr


def test_invalid_utf8_is_kept(runner: CliRunner, tmp_path: Path, data_dir: Path) -> None:
    path = tmp_path / "bad.log"
    path.write_bytes(SSHD.replace("root", "r\xffot").encode("latin-1") + b"\n")
    code, events, _ = _run(runner, data_dir, "--format", "linux.auth", str(path))
    assert code == 0
    assert events[0]["user.name"] == "r\ufffdot"


@pytest.mark.corpus
def test_pcap(runner: CliRunner, corpus_dir: Path, data_dir: Path) -> None:
    pytest.importorskip("collectors.pcap")
    path = corpus_dir / "pcaps" / "dns" / "ndpi__bad-dns-traffic.pcap"
    code, events, _ = _run(runner, data_dir, str(path))
    assert code == 0
    datasets = {event["event.dataset"] for event in events}
    assert "network.dns" in datasets

"""Commands speak Vietnamese with ``--lang vi`` (or $SIEM_LANG): summaries, table headings, messages
and the one-line errors of the CLI boundary. English stays the default, and machine output
(``--json``, JSON lines) is the same in both languages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli import root
from siem.errors import ExitCode
from siem.i18n import set_language
from tests.conftest import PROJECT_ROOT

LINE = "<13>Nov 25 10:00:00 gate-7 sshd[42]: Failed password for root from 203.0.113.9 port 52144 ssh2\n"


@pytest.fixture(autouse=True)
def english_afterwards() -> Iterator[None]:
    """In-process runs with --lang vi leave the process in Vietnamese: restore English for later tests."""
    yield
    set_language("en")


def siem(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(root, ["--data-dir", str(data_dir), *args], env={"COLUMNS": "200"})


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    path = tmp_path / "auth.log"
    path.write_text(LINE, encoding="utf-8")
    return path


def test_ingest_search_and_status_in_vietnamese(data_dir: Path, log_file: Path) -> None:
    result = siem(data_dir, "--lang", "vi", "ingest", str(log_file))
    assert result.exit_code == 0, result.output
    assert "bản ghi: 1  sự kiện đã lưu: 1  trùng lặp: 0  lỗi phân tích: 0" in result.stdout
    result = siem(data_dir, "--lang", "vi", "search")
    assert result.exit_code == 0, result.output
    heading = result.stdout.splitlines()[0]
    assert "thời gian" in heading and "nội dung" in heading and "time" not in heading
    assert "Failed password for root" in result.stdout
    result = siem(data_dir, "--lang", "vi", "search", "no-such-word-anywhere")
    assert "Không có sự kiện phù hợp." in result.stderr
    result = siem(data_dir, "--lang", "vi", "status")
    assert result.exit_code == 0, result.output
    for label in ("kiểu lưu trữ", "sự kiện cũ nhất", "phiên bản lược đồ"):
        assert label in result.stdout
    assert "backend" not in result.stdout


def test_english_stays_the_default_and_json_is_the_same(data_dir: Path, log_file: Path) -> None:
    assert siem(data_dir, "--lang", "vi", "ingest", str(log_file)).exit_code == 0
    english = siem(data_dir, "status")  # right after a Vietnamese run: the language does not stick
    assert "backend" in english.stdout and "oldest event" in english.stdout and "kiểu lưu trữ" not in english.stdout
    documents = [json.loads(siem(data_dir, *lang, "status", "--json").stdout) for lang in ((), ("--lang", "vi"))]
    assert documents[0] == documents[1] and documents[0]["store"]["events"] == 1
    lines = [siem(data_dir, *lang, "search", "--json").stdout for lang in ((), ("--lang", "vi"))]
    assert lines[0] == lines[1] and json.loads(lines[0])["source.ip"] == "203.0.113.9"


def test_parse_counts_and_usage_errors_in_vietnamese(data_dir: Path, log_file: Path) -> None:
    result = siem(data_dir, "--lang", "vi", "parse", str(log_file))
    assert result.exit_code == 0, result.output
    assert "1 bản ghi, 1 sự kiện, 0 không phân tích được" in result.stderr
    assert json.loads(result.stdout)["user.name"] == "root"
    result = siem(data_dir, "--lang", "vi", "parse", "--timezone", "Mars/Olympus", str(log_file))
    assert result.exit_code == ExitCode.USAGE and "múi giờ không rõ 'Mars/Olympus'" in result.output
    result = siem(data_dir, "--lang", "vi", "search", "--field", "no-equals-sign")
    assert result.exit_code == ExitCode.USAGE and "không có dạng KEY=VALUE" in result.output


def test_rules_validate_summary_in_vietnamese(data_dir: Path) -> None:
    result = siem(data_dir, "--lang", "vi", "rules", "validate", str(PROJECT_ROOT / "rules" / "network"))
    assert result.exit_code == 0, result.output
    assert "luật hợp lệ" in result.stderr and "bộ lọc" in result.stderr


def _cli(data_dir: Path, *args: str, lang: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "SIEM_LANG"}
    if lang is not None:
        env["SIEM_LANG"] = lang
    return subprocess.run([sys.executable, str(PROJECT_ROOT / "cli.py"), "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=60, env=env, check=False)


def test_the_error_boundary_follows_the_language(data_dir: Path, tmp_path: Path) -> None:
    pattern = str(tmp_path / "nothing-here-*.log")
    english = _cli(data_dir, "ingest", pattern)
    assert english.returncode == ExitCode.SOURCE
    assert english.stderr.strip() == f"error: no file matches {pattern}"
    vietnamese = _cli(data_dir, "--lang", "vi", "ingest", pattern)
    assert vietnamese.returncode == english.returncode
    assert vietnamese.stderr.strip() == f"lỗi: không có tệp nào khớp với {pattern}"
    from_environment = _cli(data_dir, "ingest", pattern, lang="vi")
    assert from_environment.stderr.strip() == vietnamese.stderr.strip()

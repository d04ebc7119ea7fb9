"""``siem search`` against a real store file in a temporary data directory."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli import root
from siem import event as ecs
from siem.errors import QueryError
from siem.store.sqlite import SqliteStore

NOW = time.time()

LINES: list[tuple[str, dict[str, object], int]] = [
    ("<38>Nov 25 10:00:01 gw sshd[811]: Failed password for root from 203.0.113.9 port 52211",
     {ecs.SOURCE_IP: "203.0.113.9", ecs.USER_NAME: "root", ecs.PROCESS_PID: 811,
      ecs.LABEL_SITE: "ward-3"}, 3600),
    ("<38>Nov 25 10:05:00 gw sshd[812]: Accepted publickey for nurse from 10.2.3.4 port 40022",
     {ecs.SOURCE_IP: "10.2.3.4", ecs.USER_NAME: "nurse", ecs.PROCESS_PID: 812,
      ecs.LABEL_SITE: "icu"}, 1800),
    ("<86>Nov 18 09:00:00 cam-07 login: Đăng nhập thất bại [admin] from 10.9.0.7",
     {ecs.SOURCE_IP: "10.9.0.7", ecs.USER_NAME: "admin", ecs.LABEL_SITE: "ward-3"}, 7 * 86400),
]


@pytest.fixture
def events() -> list[ecs.Event]:
    made = []
    for index, (line, fields, age) in enumerate(LINES):
        event: ecs.Event = {
            ecs.TIMESTAMP: ecs.format_timestamp(NOW - age),
            ecs.ID: f"evt-{index}",
            ecs.DATASET: "linux.auth",
            ecs.ORIGINAL: line,
            ecs.HOST_NAME: line.split()[3],
        }
        event.update(fields)
        made.append(event)
    return made


@pytest.fixture
def filled(data_dir: Path, events: list[ecs.Event], monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A data directory whose store holds ``events``; no config file or env is read."""
    monkeypatch.delenv("SIEM_CONFIG", raising=False)
    monkeypatch.delenv("SIEM_HOME", raising=False)
    monkeypatch.chdir(data_dir)
    store = SqliteStore(data_dir / "siem.db")
    store.write(events)
    store.close()
    yield data_dir


def search(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(
        root, ["--data-dir", str(data_dir), "search", *args], env={"COLUMNS": "200"}
    )


def json_ids(result: Result) -> list[str]:
    return [json.loads(line)[ecs.ID] for line in result.stdout.splitlines()]


def test_full_text_as_table(filled: Path) -> None:
    result = search(filled, "failed password")
    assert result.exit_code == 0, result.output
    assert "203.0.113.9" in result.stdout
    assert "root" in result.stdout
    assert "ward-3" in result.stdout
    assert "10.2.3.4" not in result.stdout


def test_log_text_with_brackets_is_not_read_as_markup(filled: Path) -> None:
    result = search(filled, "thất bại")
    assert result.exit_code == 0, result.output
    assert "[admin]" in result.stdout


def test_json_lines_newest_first(filled: Path, events: list[ecs.Event]) -> None:
    result = search(filled, "--json")
    assert result.exit_code == 0, result.output
    assert json_ids(result) == ["evt-1", "evt-0", "evt-2"]
    first = json.loads(result.stdout.splitlines()[0])
    assert first == events[1]
    assert "Đăng nhập" in result.stdout  # not \u-escaped


def test_field_filters_and_since(filled: Path) -> None:
    assert json_ids(search(filled, "--json", "--field", "labels.site=ward-3")) == ["evt-0", "evt-2"]
    assert json_ids(search(filled, "--json", "-f", "labels.site=ward-3", "--since", "2d")) == ["evt-0"]
    # A numeric value also matches a number stored in the JSON document.
    assert json_ids(search(filled, "--json", "-f", "process.pid=812")) == ["evt-1"]
    # The same key twice means any of its values.
    result = search(filled, "--json", "-f", "user.name=root", "-f", "user.name=admin")
    assert sorted(json_ids(result)) == ["evt-0", "evt-2"]
    until = ecs.format_timestamp(NOW - 86400)
    assert json_ids(search(filled, "--json", "--until", until)) == ["evt-2"]


def test_limit_and_oldest_first(filled: Path) -> None:
    result = search(filled, "--json", "--limit", "2", "--oldest-first")
    assert json_ids(result) == ["evt-2", "evt-0"]
    assert "more may match" in result.stderr


def test_nothing_found_says_so_on_stderr(filled: Path) -> None:
    result = search(filled, "no-such-word-anywhere")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "No events match" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "3x"], "cannot read time '3x'"),
        (["--until", "yesterday"], "cannot read time 'yesterday'"),
        (["--field", "user.name"], "is not KEY=VALUE"),
        (["--limit", "0"], "--limit"),
    ],
)
def test_bad_options_are_usage_errors(filled: Path, args: list[str], message: str) -> None:
    result = search(filled, *args)
    assert result.exit_code == 2
    assert message in result.output


def test_bad_field_name_and_bad_fts_syntax_are_query_errors(filled: Path) -> None:
    result = search(filled, "--field", "user.name') OR 1=1 --=x")
    assert isinstance(result.exception, QueryError)
    assert "invalid field name" in str(result.exception)
    result = search(filled, 'failed "password')
    assert result.exit_code == QueryError.exit_code
    assert 'failed "password\n       ^' in result.stderr


def test_query_language_selects_by_field_address_block_and_text(filled: Path) -> None:
    result = search(filled, "user.name:ROOT OR source.ip:10.9.0.0/16", "--json", "--oldest-first")
    assert result.exit_code == 0, result.output
    assert json_ids(result) == ["evt-2", "evt-0"]
    result = search(filled, "publickey AND NOT labels.site:icu", "--json")
    assert json_ids(result) == []
    result = search(filled, "publickey AND labels.site:icu", "--json")
    assert json_ids(result) == ["evt-1"]

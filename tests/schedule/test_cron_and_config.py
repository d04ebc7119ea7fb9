"""Next-run maths (UTC and a time zone with DST) and the binding of the 'schedule:' section."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from siem.config import load_config
from siem.errors import ConfigError
from siem.schedule import cron
from siem.schedule.config import JobConfig

UTC_ZONE = ZoneInfo("UTC")
HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
NEW_YORK = ZoneInfo("America/New_York")


def at(text: str, zone: ZoneInfo = UTC_ZONE) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


def test_next_run_in_utc() -> None:
    start = at("2026-11-25 07:00:00")  # a Wednesday
    assert cron.next_run("0 7 * * *", UTC_ZONE, start) == at("2026-11-26 07:00:00")  # strictly after
    assert cron.next_run("0 7 * * *", UTC_ZONE, start - 1) == start
    assert cron.next_run("*/15 * * * *", UTC_ZONE, at("2026-11-25 07:07:30")) == at("2026-11-25 07:15:00")
    assert cron.next_run("0 7 * * 1", UTC_ZONE, start) == at("2026-11-30 07:00:00")  # next Monday
    assert cron.next_run("30 2 1 * *", UTC_ZONE, start) == at("2026-12-01 02:30:00")
    assert cron.next_run("*/10 * * * * *", UTC_ZONE, at("2026-11-25 07:00:01")) == at("2026-11-25 07:00:10")
    assert cron.previous_run("0 7 * * *", UTC_ZONE, start + 3600) == start
    assert cron.runs_between("0 * * * *", UTC_ZONE, start, start + 24 * 3600) == 24


def test_next_run_in_a_time_zone() -> None:
    # 07:00 in Hanoi (UTC+7, no DST) is midnight UTC.
    assert cron.next_run("0 7 * * *", HANOI, at("2026-11-25 12:00:00")) == at("2026-11-26 00:00:00")
    # New York springs forward on 2026-03-08: 02:30 does not exist that day; Debian cron (and
    # cronsim) run such a job at 03:00 local time, then at 02:30 again the next day.
    first = cron.next_run("30 2 * * *", NEW_YORK, at("2026-03-07 12:00:00", NEW_YORK))
    assert datetime.fromtimestamp(first, NEW_YORK).isoformat() == "2026-03-08T03:00:00-04:00"
    second = cron.next_run("30 2 * * *", NEW_YORK, first)
    assert datetime.fromtimestamp(second, UTC).isoformat() == "2026-03-09T06:30:00+00:00"
    # A day across the autumn change is 25 hours long: 24 hourly runs plus the repeated hour.
    start = at("2026-11-01 00:00:00", NEW_YORK)
    assert cron.runs_between("0 * * * *", NEW_YORK, start - 1, start + 25 * 3600 - 1) == 25


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "siem.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_schedule_section_binds_jobs(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """\
schedule:
  - name: weekly-scan
    cron: "0 7 * * 1"
    command: scan --profile cis-v8 --format markdown --output "weekly report.md"
    missed: run_once
    timezone: Asia/Ho_Chi_Minh
  - {name: daily-report, cron: "0 6 * * *", command: report --period week --format html --email}
"""))
    weekly, daily = config.schedule
    assert weekly == JobConfig(name="weekly-scan", cron="0 7 * * 1", missed="run_once", timezone="Asia/Ho_Chi_Minh",
                               command='scan --profile cis-v8 --format markdown --output "weekly report.md"')
    assert weekly.arguments()[-2:] == ["--output", "weekly report.md"]
    assert (daily.missed, daily.timezone, daily.timeout_minutes) == ("skip", "UTC", 60.0)


@pytest.mark.parametrize(("job", "message", "line"), [
    ('cron: "0 25 * * *"', r"schedule\[j\]\.cron: bad hour in '0 25 \* \* \*'", 4),
    ('cron: "0 7 * *"', r"schedule\[j\]\.cron: expected 5 fields, found 4", 4),
    ('cron: "0 7 * * *"\n    missed: later', r"schedule\[j\]\.missed must be one of skip, run_once", 5),
    ('cron: "0 7 * * *"\n    timezone: Mars/Olympus', r"unknown time zone 'Mars/Olympus'", 5),
])
def test_a_bad_job_names_the_key_and_its_line(tmp_path: Path, job: str, message: str, line: int) -> None:
    path = write(tmp_path, f"language: en\nschedule:\n  - name: j\n    {job}\n    command: scan\n")
    with pytest.raises(ConfigError, match=message) as raised:
        load_config(path)
    assert raised.value.path == path and raised.value.line == line


@pytest.mark.parametrize(("command", "message"), [
    ("run", "'siem run' cannot be a scheduled job"),
    ("scan --data-dir /elsewhere", "leave out --data-dir"),
    ("--debug scan", "must start with a siem command"),
    ("scan --output 'unclosed", "No closing quotation"),
])
def test_a_bad_command_is_refused(tmp_path: Path, command: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        load_config(write(tmp_path, f'schedule:\n  - name: j\n    cron: "* * * * *"\n    command: "{command}"\n'))
    assert raised.value.line == 4


def test_job_names_are_unique_and_safe(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="two jobs are named 'a'"):
        load_config(write(tmp_path, 'schedule:\n  - {name: a, cron: "* * * * *", command: scan}\n'
                                    '  - {name: a, cron: "0 * * * *", command: scan}\n'))
    with pytest.raises(ConfigError, match=r"job name '\.\./x'") as raised:
        load_config(write(tmp_path, 'schedule:\n  - {name: ../x, cron: "* * * * *", command: scan}\n'))
    assert raised.value.line == 2

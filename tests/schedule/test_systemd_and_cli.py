"""systemd timers made from cron expressions, checked against systemd's own calendar parser
(systemd-analyze, when installed), and the 'siem schedule' commands."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import root
from siem.schedule import cron
from siem.schedule.config import JobConfig
from siem.schedule.state import JobState, save_state
from siem.schedule.systemd import NotConvertible, on_calendar, units

BASE = datetime(2026, 11, 25, 7, 0, 0, tzinfo=UTC).timestamp()
EXPRESSIONS = [
    ("0 7 * * 1", "Asia/Ho_Chi_Minh", "Mon *-*-* 07:00:00 Asia/Ho_Chi_Minh"),
    ("*/15 * * * *", "UTC", "*-*-* *:00,15,30,45:00 UTC"),
    ("30 2 1,15 * *", "UTC", "*-*-01,15 02:30:00 UTC"),
    ("0 8-17/2 * * MON-FRI", "Asia/Ho_Chi_Minh", "Mon..Fri *-*-* 08,10,12,14,16:00:00 Asia/Ho_Chi_Minh"),
    ("0 0 * * 5,6,0", "UTC", "Fri..Sun *-*-* 00:00:00 UTC"),
    ("5 4 * 1,6-8 *", "UTC", "*-01,06..08-* 04:05:00 UTC"),
    ("*/20 * * * * *", "UTC", "*-*-* *:*:00,20,40 UTC"),
]


def job(expression: str, zone: str = "UTC", **settings: str) -> JobConfig:
    return JobConfig(name="j", cron=expression, command="scan --profile cis-v8", timezone=zone, **settings)


@pytest.mark.parametrize(("expression", "zone", "calendar"), EXPRESSIONS)
def test_on_calendar_text(expression: str, zone: str, calendar: str) -> None:
    assert on_calendar(job(expression, zone)) == calendar


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize(("expression", "zone", "calendar"), EXPRESSIONS)
def test_systemd_agrees_with_cron_on_the_next_runs(expression: str, zone: str, calendar: str) -> None:
    result = subprocess.run(
        ["systemd-analyze", "calendar", "--iterations=5", "--base-time=2026-11-25 07:00:00 UTC", calendar],
        capture_output=True, text=True, timeout=30, check=False, env={**os.environ, "TZ": "UTC"})
    if "--base-time" in result.stderr:
        pytest.skip("this systemd-analyze has no --base-time")
    assert result.returncode == 0, result.stderr
    found = re.findall(r"(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", result.stdout)
    systemd_times = [datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() for text in found]
    expected, moment = [], BASE
    for _ in range(5):
        moment = cron.next_run(expression, job(expression, zone).zone, moment)
        expected.append(moment)
    assert systemd_times == expected


def test_what_systemd_cannot_express_is_refused_with_the_reason() -> None:
    with pytest.raises(NotConvertible, match="day of month OR the day of week"):
        on_calendar(job("0 7 1 * 1"))
    with pytest.raises(NotConvertible, match="'L' and 'W'"):
        on_calendar(job("0 7 L * *"))
    with pytest.raises(NotConvertible, match="'L' and '#'"):
        on_calendar(job("0 7 * * 5#2"))


def test_units_carry_the_command_and_the_missed_policy(tmp_path: Path) -> None:
    made = units(job("0 7 * * 1", "Asia/Ho_Chi_Minh", missed="run_once"), executable=["/opt/siem/bin/siem"],
                 config_file=None, data_dir=tmp_path / "data dir", user="siem")
    assert made.service_name == "siem-j.service" and made.timer_name == "siem-j.timer"
    assert f"ExecStart=/opt/siem/bin/siem --data-dir '{tmp_path / 'data dir'}' scan --profile cis-v8" in made.service
    assert "User=siem" in made.service and "Type=oneshot" in made.service
    assert "OnCalendar=Mon *-*-* 07:00:00 Asia/Ho_Chi_Minh\nPersistent=true\nUnit=siem-j.service" in made.timer
    assert "Persistent=false" in units(job("0 7 * * 1"), executable=["siem"], config_file=None,
                                       data_dir=tmp_path).timer


CONFIG = """\
schedule:
  - {name: weekly-scan, cron: "0 7 * * 1", command: scan --profile cis-v8, missed: run_once,
     timezone: Asia/Ho_Chi_Minh}
  - {name: either-day, cron: "0 7 1 * 1", command: scan}
"""


def test_schedule_systemd_writes_units_and_names_what_it_left_out(tmp_path: Path, data_dir: Path) -> None:
    config = tmp_path / "siem.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    output = tmp_path / "units"
    result = CliRunner().invoke(root, ["--config", str(config), "--data-dir", str(data_dir), "schedule", "systemd",
                                       "--output", str(output), "--exec", "/usr/local/bin/siem"])
    assert result.exit_code == 1, result.output
    assert sorted(path.name for path in output.iterdir()) == ["siem-weekly-scan.service", "siem-weekly-scan.timer"]
    assert "not converted: either-day: cron runs when the day of month OR the day of week" in result.stderr
    service = (output / "siem-weekly-scan.service").read_text(encoding="utf-8")
    assert f"ExecStart=/usr/local/bin/siem --config {config} --data-dir {data_dir} scan --profile cis-v8" in service


def test_schedule_list_shows_next_and_last_runs(tmp_path: Path, data_dir: Path) -> None:
    config = tmp_path / "siem.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    save_state(data_dir, {"weekly-scan": JobState(anchor=BASE, last_due=BASE, started=BASE, finished=BASE + 5,
                                                  exit_code=1, result="failed", overlaps=2, missed=3)})
    base = ["--config", str(config), "--data-dir", str(data_dir), "schedule", "list"]
    rows = [json.loads(line) for line in CliRunner().invoke(root, [*base, "--json"]).stdout.splitlines()]
    weekly, other = rows
    assert (weekly["result"], weekly["exit_code"], weekly["overlaps_skipped"], weekly["missed_runs"]) == \
        ("failed", 1, 2, 3)
    assert datetime.fromtimestamp(weekly["next_run"], job("0 7 * * 1", "Asia/Ho_Chi_Minh").zone).strftime(
        "%a %H:%M") == "Mon 07:00"
    assert other["last_run"] is None and other["result"] is None
    table = CliRunner().invoke(root, ["--lang", "vi", *base]).stdout
    assert "Tác vụ theo lịch" in table and "failed (exit 1)" in table and "chưa chạy lần nào" in table
    assert "2 / 3" in table

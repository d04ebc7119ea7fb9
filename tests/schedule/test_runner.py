"""The scheduler driven by a fake clock through days of cron time, starting real processes:
real ``siem scan`` runs over a real store, and plain Python processes that sleep or fail."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from siem.schedule.config import JobConfig
from siem.schedule.runner import FAILED, INTERRUPTED, OK, TIMEOUT, Scheduler, siem_command
from siem.schedule.state import LOG_DIR, STATE_FILE, JobState, load_state, save_state
from siem.store.sqlite import SqliteStore
from tests.conftest import PROJECT_ROOT

UTC = ZoneInfo("UTC")
#: A stand-in program for jobs whose content does not matter: sleeps argv[1] seconds, exits argv[2].
SLEEPER = [sys.executable, "-c", "import sys, time; time.sleep(float(sys.argv[1])); sys.exit(int(sys.argv[2]))"]


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def scan_setup(tmp_path: Path, data_dir: Path) -> tuple[Path, Path]:
    """A store, a folder with one shipped check, and where the scan writes its report."""
    SqliteStore(data_dir / "siem.db").close()
    checks = tmp_path / "checks"
    checks.mkdir()
    shutil.copy(PROJECT_ROOT / "rules" / "compliance" / "checks" / "cleartext-management.yml", checks)
    return checks, tmp_path / "report.json"


@pytest.fixture
def schedulers() -> Iterator[list[Scheduler]]:
    made: list[Scheduler] = []
    yield made
    for scheduler in made:
        scheduler.stop()


def scan_job(checks: Path, report: Path, **settings: str) -> JobConfig:
    return JobConfig(name="weekly-scan", cron=settings.pop("cron", "0 7 * * 1"),
                     command=f"scan --checks {checks} --format json --output {report}", **settings)


def test_due_jobs_run_as_real_siem_scans(data_dir: Path, scan_setup: tuple[Path, Path],
                                         schedulers: list[Scheduler]) -> None:
    checks, report = scan_setup
    clock = Clock(at("2026-11-30 06:59:59"))  # a Monday
    scheduler = Scheduler([scan_job(checks, report)], data_dir, siem_command(None, data_dir), clock=clock)
    schedulers.append(scheduler)
    scheduler.catch_up()
    assert scheduler.due["weekly-scan"] == at("2026-11-30 07:00:00")
    scheduler.tick(clock.now)
    assert not scheduler.running and not report.exists()

    clock.now = at("2026-11-30 07:00:00")
    scheduler.tick(clock.now)
    assert "weekly-scan" in scheduler.running
    assert scheduler.wait_idle(60)
    state = load_state(data_dir)["weekly-scan"]
    assert (state.result, state.exit_code, state.last_due) == (OK, 0, at("2026-11-30 07:00:00"))
    assert json.loads(report.read_text(encoding="utf-8"))["results"][0]["status"] == "pass"
    assert scheduler.due["weekly-scan"] == at("2026-12-07 07:00:00")

    clock.now = at("2026-12-07 07:00:02")  # a pass a little late still runs the job, once
    scheduler.tick(clock.now)
    assert scheduler.wait_idle(60)
    history = (data_dir / "compliance" / "history.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(history) == 2
    log = (data_dir / LOG_DIR / "weekly-scan.log").read_text(encoding="utf-8")
    assert log.count("--- 2026-") == 2 and "due 2026-12-07 07:00:00 UTC: siem scan --checks" in log
    assert log.count("--- ok: exit 0 after ") == 2


def test_missed_runs_after_downtime_follow_the_policy(data_dir: Path, scan_setup: tuple[Path, Path],
                                                      schedulers: list[Scheduler]) -> None:
    checks, report = scan_setup
    yesterday = at("2026-11-24 12:00:00")
    save_state(data_dir, {"daily-scan": JobState(anchor=yesterday), "hourly-skip": JobState(anchor=yesterday),
                          "new-job": JobState(anchor=yesterday)})
    jobs = [
        JobConfig(name="daily-scan", cron="0 7 * * *", missed="run_once",
                  command=f"scan --checks {checks} --format json --output {report}"),
        JobConfig(name="hourly-skip", cron="0 * * * *", command="5 0"),
    ]
    clock = Clock(at("2026-11-25 12:00:30"))  # down for a day: one daily run and 24 hourly runs missed
    scheduler = Scheduler(jobs, data_dir, siem_command(None, data_dir), clock=clock)
    schedulers.append(scheduler)
    scheduler.catch_up()
    assert list(scheduler.running) == ["daily-scan"]  # run once now; the hourly job skips
    assert scheduler.wait_idle(60)
    state = load_state(data_dir)
    assert state["daily-scan"].last_due == at("2026-11-25 07:00:00") and state["daily-scan"].result == OK
    assert state["daily-scan"].missed == 0
    assert state["hourly-skip"].missed == 24 and state["hourly-skip"].result is None
    assert report.exists()
    # The anchor moved on: starting again at once finds nothing missed and runs nothing.
    again = Scheduler(jobs, data_dir, siem_command(None, data_dir), clock=clock)
    schedulers.append(again)
    again.catch_up()
    assert not again.running and load_state(data_dir)["hourly-skip"].missed == 24
    assert again.due == {"daily-scan": at("2026-11-26 07:00:00"), "hourly-skip": at("2026-11-25 13:00:00")}


def test_a_first_start_has_nothing_missed(data_dir: Path, schedulers: list[Scheduler]) -> None:
    clock = Clock(at("2026-11-25 12:00:30"))
    scheduler = Scheduler([JobConfig(name="j", cron="0 * * * *", command="0 0", missed="run_once")], data_dir,
                          SLEEPER, clock=clock)
    schedulers.append(scheduler)
    scheduler.catch_up()
    assert not scheduler.running and load_state(data_dir)["j"].anchor == clock.now


def test_overlapping_runs_are_skipped_and_counted_and_stop_ends_the_run(data_dir: Path,
                                                                        schedulers: list[Scheduler]) -> None:
    clock = Clock(at("2026-11-25 12:00:30"))
    scheduler = Scheduler([JobConfig(name="slow", cron="* * * * *", command="30 0")], data_dir, SLEEPER, clock=clock)
    schedulers.append(scheduler)
    scheduler.catch_up()
    for minute in (1, 2, 3):
        clock.now = at(f"2026-11-25 12:0{minute}:00")
        scheduler.tick(clock.now)
    assert list(scheduler.running) == ["slow"]
    assert load_state(data_dir)["slow"].overlaps == 2
    scheduler.stop()
    state = load_state(data_dir)["slow"]
    assert state.result == INTERRUPTED and state.exit_code is not None and state.exit_code < 0


def test_a_hung_job_times_out_and_a_failing_job_does_not_stop_the_others(data_dir: Path,
                                                                        schedulers: list[Scheduler]) -> None:
    clock = Clock(at("2026-11-25 12:00:30"))
    jobs = [JobConfig(name="hung", cron="* * * * *", command="30 0", timeout_minutes=0.5),
            JobConfig(name="failing", cron="* * * * *", command="0 3")]
    scheduler = Scheduler(jobs, data_dir, SLEEPER, clock=clock)
    schedulers.append(scheduler)
    scheduler.catch_up()
    clock.now = at("2026-11-25 12:01:00")
    scheduler.tick(clock.now)
    assert set(scheduler.running) == {"hung", "failing"}
    clock.now = at("2026-11-25 12:01:40")  # past the 30-second limit of the hung job
    scheduler.tick(clock.now)
    assert scheduler.wait_idle(30)
    state = load_state(data_dir)
    assert (state["hung"].result, state["failing"].result, state["failing"].exit_code) == (TIMEOUT, FAILED, 3)
    clock.now = at("2026-11-25 12:02:00")
    scheduler.tick(clock.now)  # both run again at the next minute
    assert set(scheduler.running) == {"hung", "failing"}


def test_a_real_job_that_fails_is_recorded(data_dir: Path, schedulers: list[Scheduler]) -> None:
    clock = Clock(at("2026-11-25 12:00:30"))
    job = JobConfig(name="bad-profile", cron="* * * * *", command="scan --profile no-such-profile")
    scheduler = Scheduler([job], data_dir, siem_command(None, data_dir), clock=clock)
    schedulers.append(scheduler)
    scheduler.catch_up()
    clock.now = at("2026-11-25 12:01:00")
    scheduler.tick(clock.now)
    assert scheduler.wait_idle(60)
    state = load_state(data_dir)["bad-profile"]
    assert (state.result, state.exit_code) == (FAILED, 4)  # ExitCode.RULES
    assert "no profile 'no-such-profile'" in (data_dir / LOG_DIR / "bad-profile.log").read_text(encoding="utf-8")


def test_a_damaged_state_file_is_kept_aside(data_dir: Path) -> None:
    path = data_dir / STATE_FILE
    path.parent.mkdir(parents=True)
    path.write_text("{not json", encoding="utf-8")
    assert load_state(data_dir) == {}
    assert path.with_name("state.json.bad").read_text(encoding="utf-8") == "{not json"

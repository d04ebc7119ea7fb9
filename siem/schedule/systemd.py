"""systemd ``.service`` + ``.timer`` units for the scheduled jobs, for hosts (Ansible) that run
them as timers instead of inside ``siem run``.

``OnCalendar=`` (systemd.time(7), "Calendar Events": ``DOW YYYY-MM-DD HH:MM:SS TZ``) is made
from the values cronsim parsed out of the cron fields. What cannot be converted is said, not
guessed: cron's rule that a job runs when the day of month OR the day of week matches (both
restricted) has no systemd form (systemd needs both), nor do cronsim's ``L``, ``W`` and ``#``.
``missed: run_once`` becomes ``Persistent=true`` (systemd starts a timer missed while the host
was down once, at boot), ``skip`` becomes ``Persistent=false``.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cronsim import CronSim

from siem.schedule.config import RUN_ONCE, JobConfig

_WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
_RANGES = {"second": (0, 59), "minute": (0, 59), "hour": (0, 23), "day": (1, 31), "month": (1, 12)}


class NotConvertible(ValueError):
    """A cron expression with no systemd OnCalendar equivalent; the message says why."""


@dataclass(frozen=True, slots=True)
class Units:
    """The two unit files of one job."""

    service_name: str
    service: str
    timer_name: str
    timer: str


def on_calendar(job: JobConfig) -> str:
    """The ``OnCalendar=`` value of a job's cron expression in its time zone."""
    sim = CronSim(job.cron, datetime.now(job.zone))
    days, weekdays = sim.days, sim.weekdays
    if not all(isinstance(value, int) and value > 0 for value in days):
        raise NotConvertible("'L' and 'W' in the day-of-month field have no systemd form")
    if not all(isinstance(value, int) for value in weekdays):
        raise NotConvertible("'L' and '#' in the day-of-week field have no systemd form")
    day_numbers = {int(value) % 7 for value in weekdays if isinstance(value, int)}
    all_days, all_weekdays = days == set(range(1, 32)), day_numbers == set(range(7))
    if not sim.day_and and not all_days and not all_weekdays:
        raise NotConvertible("cron runs when the day of month OR the day of week matches; "
                             "systemd needs both to match")
    date = f"*-{_field(sim.months, 'month')}-{_field(days, 'day')}"
    clock = ":".join(_field(values, name) for values, name in ((sim.hours, "hour"), (sim.minutes, "minute"),
                                                              (sim.seconds, "second")))
    parts = [] if all_weekdays else [_weekdays(day_numbers)]
    return " ".join([*parts, date, clock, job.timezone])


def _field(values: Iterable[int], name: str) -> str:
    low, high = _RANGES[name]
    ordered = sorted(values)
    if ordered == list(range(low, high + 1)):
        return "*"
    return ",".join(f"{start:02d}" if start == end else f"{start:02d}..{end:02d}" for start, end in _runs(ordered))


def _weekdays(numbers: set[int]) -> str:
    # Monday first, as systemd prints them; Sunday (0) last so Mon..Sun ranges stay contiguous.
    ordered = sorted(numbers, key=lambda day: (day + 6) % 7)
    keys = [(day + 6) % 7 for day in ordered]
    parts = []
    for start, end in _runs(keys):
        first, last = _WEEKDAYS[(start + 1) % 7], _WEEKDAYS[(end + 1) % 7]
        parts.append(first if start == end else f"{first}..{last}")
    return ",".join(parts)


def _runs(ordered: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted numbers; runs of two stay as two single values."""
    runs: list[tuple[int, int]] = []
    for value in ordered:
        if runs and value == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    result: list[tuple[int, int]] = []
    for start, end in runs:
        result.extend([(start, start), (end, end)] if end == start + 1 else [(start, end)])
    return result


def default_executable() -> list[str]:
    """The installed ``siem`` script beside this Python, else ``python -m cli``."""
    script = Path(sys.executable).parent / "siem"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli"]


def units(job: JobConfig, *, executable: Sequence[str], config_file: str | None, data_dir: Path,
          user: str | None = None) -> Units:
    """The service and timer of one job (NotConvertible when its cron has no systemd form)."""
    calendar = on_calendar(job)
    command = [*executable]
    if config_file:
        command += ["--config", str(Path(config_file).resolve())]
    command += ["--data-dir", str(data_dir.resolve()), *job.arguments()]
    service_name, timer_name = f"siem-{job.name}.service", f"siem-{job.name}.timer"
    service = "\n".join([
        "[Unit]",
        f"Description=siem scheduled job {job.name}: siem {job.command}",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=oneshot",
        f"ExecStart={shlex.join(command)}",
        f"TimeoutStartSec={int(job.timeout_minutes * 60)}",
        *([f"User={user}"] if user else []),
        "",
    ])
    timer = "\n".join([
        "[Unit]",
        f"Description=Timer of siem job {job.name} (cron: {job.cron}, {job.timezone})",
        "",
        "[Timer]",
        f"OnCalendar={calendar}",
        f"Persistent={'true' if job.missed == RUN_ONCE else 'false'}",
        f"Unit={service_name}",
        "",
        "[Install]",
        "WantedBy=timers.target",
        "",
    ])
    return Units(service_name, service, timer_name, timer)

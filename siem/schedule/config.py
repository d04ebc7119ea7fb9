"""The ``schedule:`` section of ``siem.yaml``: jobs with a cron expression and a command.

Example::

    schedule:
      - name: weekly-scan
        cron: "0 7 * * 1"                  # minute hour day-of-month month day-of-week
        command: scan --profile cis-v8 --email
        missed: run_once                   # after downtime: skip (default) or run_once
        timezone: Asia/Ho_Chi_Minh         # of the cron fields (default UTC)

A sixth, leading field of seconds is accepted (cronsim's extension), e.g. ``*/30 * * * * *``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from siem.errors import ConfigError
from siem.zones import find_zone

SKIP = "skip"
RUN_ONCE = "run_once"
MISSED_POLICIES = (SKIP, RUN_ONCE)
#: A job name is also a file and systemd unit name.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: Commands a job must not run: the long-running service itself.
FORBIDDEN_COMMANDS = ("run", "triage", "capture")
#: Options the runner adds itself (the job runs with the service's config and data).
RESERVED_OPTIONS = ("--config", "--data-dir")


class JobKeyError(ConfigError):
    """A ConfigError raised by a job's own checks, naming the key so the loader finds its line."""

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True, slots=True)
class JobConfig:
    """One scheduled job: when (cron, timezone), what (a ``siem`` argument string), and what
    to do about runs missed while the service was down."""

    name: str
    cron: str
    #: ``siem`` arguments, e.g. ``scan --profile cis-v8 --email`` (no --config/--data-dir).
    command: str
    missed: str = SKIP
    timezone: str = "UTC"
    #: A run still going after this many minutes is stopped (and recorded as timed out).
    timeout_minutes: float = 60.0

    def __post_init__(self) -> None:
        where = f"schedule[{self.name}]"
        if not _NAME.match(self.name):
            raise JobKeyError(f"schedule: job name {self.name!r} must be letters, digits, '.', '_' or '-' "
                            "(it names files and systemd units)", key="name")
        zone = find_zone(self.timezone)
        if zone is None:
            raise JobKeyError(f"{where}.timezone: unknown time zone {self.timezone!r} (an IANA name such as "
                            "Asia/Ho_Chi_Minh)", key="timezone")
        from siem.schedule.cron import CronExpressionError, check_expression

        try:
            check_expression(self.cron, zone)
        except CronExpressionError as exc:
            raise JobKeyError(f"{where}.cron: {exc} in {self.cron!r} (5 fields: minute hour day-of-month "
                            "month day-of-week)", key="cron") from exc
        if self.missed not in MISSED_POLICIES:
            raise JobKeyError(f"{where}.missed must be one of {', '.join(MISSED_POLICIES)}, not {self.missed!r}",
                            key="missed")
        if self.timeout_minutes <= 0:
            raise JobKeyError(f"{where}.timeout_minutes must be more than 0", key="timeout_minutes")
        try:
            words = self.arguments()
        except ValueError as exc:
            raise JobKeyError(f"{where}.command: {exc}", key="command") from exc
        if not words or words[0].startswith("-"):
            raise JobKeyError(f"{where}.command must start with a siem command, e.g. 'scan --profile cis-v8'",
                            key="command")
        if words[0] in FORBIDDEN_COMMANDS:
            raise JobKeyError(f"{where}.command: 'siem {words[0]}' cannot be a scheduled job", key="command")
        reserved = [word for word in words if word.split("=")[0] in RESERVED_OPTIONS]
        if reserved:
            raise JobKeyError(f"{where}.command: leave out {reserved[0]}: jobs run with the service's "
                            "configuration and data directory", key="command")

    def arguments(self) -> list[str]:
        """The command split as a shell would (quotes kept together)."""
        return shlex.split(self.command)

    @property
    def zone(self) -> ZoneInfo:
        """The time zone of the cron fields."""
        return ZoneInfo(self.timezone)


def validate_jobs(jobs: Sequence[JobConfig], path: str | None) -> None:
    """Checks across jobs: names are unique."""
    seen: set[str] = set()
    for job in jobs:
        if job.name in seen:
            raise ConfigError(f"schedule: two jobs are named {job.name!r}; names must be unique", path=path)
        seen.add(job.name)

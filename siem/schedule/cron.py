"""Run times of cron expressions (cronsim: https://github.com/cuu508/cronsim, Debian cron
semantics including its day-of-month/day-of-week OR rule and DST handling).

Times are seconds since the epoch; the expression is read in the job's time zone.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

#: Safety bound when counting runs in a long gap (a service down for a year, every second).
MAX_COUNT = 100_000


class CronExpressionError(ValueError):
    """A cron expression cronsim cannot read."""


def check_expression(expression: str, zone: ZoneInfo) -> None:
    """Raise CronExpressionError when ``expression`` is not a 5-field (or 6-field) cron line."""
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise CronExpressionError(f"expected 5 fields, found {len(fields)}")
    try:
        CronSim(expression, datetime.now(zone))
    except (CronSimError, ValueError) as exc:  # ValueError: a number of over 4,300 digits
        raise CronExpressionError(str(exc).rstrip(".").lower() or "bad expression") from exc


def next_run(expression: str, zone: ZoneInfo, after: float) -> float:
    """The first run strictly after ``after``."""
    return next(CronSim(expression, datetime.fromtimestamp(after, zone))).timestamp()


def previous_run(expression: str, zone: ZoneInfo, at: float) -> float:
    """The last run at or before ``at``."""
    return next(CronSim(expression, datetime.fromtimestamp(at + 1, zone), reverse=True)).timestamp()


def runs_between(expression: str, zone: ZoneInfo, after: float, until: float) -> int:
    """How many runs fall in ``(after, until]`` (at most MAX_COUNT)."""
    count = 0
    for moment in CronSim(expression, datetime.fromtimestamp(after, zone)):
        if moment.timestamp() > until or count >= MAX_COUNT:
            break
        count += 1
    return count

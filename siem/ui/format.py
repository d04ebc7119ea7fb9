"""Small text formatting shared by the tables and the triage screen: times, ages, severities."""

from __future__ import annotations

from datetime import UTC, datetime

#: Rich style per severity (critical stands out even on a monochrome-ish terminal).
SEVERITY_STYLES = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "informational": "dim",
}
STATUS_STYLES = {
    "new": "bold",
    "acknowledged": "magenta",
    "investigating": "blue",
    "resolved": "green",
    "false_positive": "dim green",
}


def severity_style(level: str) -> str:
    """The rich style of a severity (plain for unknown ones)."""
    return SEVERITY_STYLES.get(level, "")


def status_style(status: str) -> str:
    """The rich style of an incident status."""
    return STATUS_STYLES.get(status, "")


def when(moment: float | None) -> str:
    """``2026-11-25 08:00:01`` (UTC), or ``-``."""
    if moment is None:
        return "-"
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    """``45s``, ``12m``, ``3h05m``, ``2d04h``, or ``-``."""
    if seconds is None:
        return "-"
    total = int(max(0.0, seconds))
    if total < 60:
        return f"{total}s"
    minutes, _ = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"

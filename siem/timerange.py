"""Times a user types on the command line: durations back from now, or ISO 8601 moments.

``parse_moment("24h", now)`` is 24 hours before ``now``; ``"1d12h"``, ``"90m"``, ``"2w"``
work too (units s, m, h, d, w). ISO 8601 (``2026-11-25``, ``2026-11-25T08:00``,
``2026-11-25T08:00:00+07:00``) is taken as written; without an offset it means UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from siem.errors import QueryError

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")

HELP = "a duration back from now (30m, 24h, 7d, 1d12h) or an ISO time (2026-11-25T08:00)"


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``90s``, ``24h`` or ``1d12h``."""
    cleaned = text.strip().lower()
    if not _DURATION.fullmatch(cleaned):
        raise QueryError(f"cannot read duration {text!r}: use a number and s, m, h, d or w")
    return sum(float(number) * UNIT_SECONDS[unit] for number, unit in _PART.findall(cleaned))


def parse_moment(text: str, now: float) -> float:
    """Epoch seconds for a duration back from ``now``, ``now`` itself, or an ISO 8601 time."""
    cleaned = text.strip()
    if cleaned.lower() == "now":
        return now
    if _DURATION.fullmatch(cleaned.lower()):
        return now - parse_duration(cleaned)
    try:
        moment = datetime.fromisoformat(cleaned.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise QueryError(f"cannot read time {text!r}: use {HELP}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()

"""Durations and ISO times typed on the command line (siem/timerange.py)."""

from __future__ import annotations

import pytest

from siem.errors import QueryError
from siem.timerange import parse_duration, parse_moment

NOW = 1795132800.0  # 2026-11-20T00:00:00Z


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("24h", 86400), ("7d", 604800), ("2w", 1209600),
     ("1d12h", 129600), ("1.5h", 5400), (" 10M ", 600)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert parse_moment(text, NOW) == NOW - seconds


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("now", NOW),
        ("2026-11-20", NOW),
        ("2026-11-20T07:00:00+07:00", NOW),
        ("2026-11-19T23:30", NOW - 1800),
        ("2026-11-20T00:00:01.500Z", NOW + 1.5),
    ],
)
def test_iso_times(text: str, moment: float) -> None:
    assert parse_moment(text, NOW) == moment


@pytest.mark.parametrize("text", ["", "3x", "h", "24", "yesterday", "1d-2h", "2026-13-01"])
def test_bad_times_are_query_errors_that_say_what_works(text: str) -> None:
    with pytest.raises(QueryError, match="24h"):
        parse_moment(text, NOW)


def test_bad_duration() -> None:
    with pytest.raises(QueryError, match="s, m, h, d or w"):
        parse_duration("5y")

"""``siem.event.format_timestamp`` of epoch seconds, cheaper: every event formats its receive time.

The text of a whole second is computed once (by ``format_timestamp`` itself) and kept; the
milliseconds are appended. The fraction is rounded as ``datetime.fromtimestamp`` rounds it
(to microseconds, half to even, carrying into the next second), so the text is the same,
character for character, as ``format_timestamp(moment)`` (tests/collectors/parsers/test_stamps.py).
"""

from __future__ import annotations

import math

from siem import event as ecs

#: Whole second -> its text up to the decimal point ("2026-11-25T10:00:00."). Bounded: cleared when full.
_SECONDS: dict[int, str] = {}
_CACHE_SIZE = 4096
#: The last moment formatted and its text, one tuple (threads may share it): the records of one
#: network read share their receive time.
_PREVIOUS: tuple[float, str] = (math.nan, "")
#: Beyond these the general path runs (before 1970 the fraction rounds the other way; year 9999).
_FIRST, _END = 0.0, 253_402_300_000.0


def format_epoch(moment: float) -> str:
    """``format_timestamp(moment)`` for epoch seconds (ISO 8601 UTC, milliseconds, ``Z``)."""
    global _PREVIOUS
    last = _PREVIOUS
    if last[0] == moment:
        return last[1]
    if not _FIRST <= moment < _END:  # also NaN
        return ecs.format_timestamp(moment)
    fraction, whole = math.modf(moment)
    micro = round(fraction * 1e6)  # as datetime.fromtimestamp: half to even
    second = int(whole)
    if micro >= 1_000_000:
        micro -= 1_000_000
        second += 1
    prefix = _SECONDS.get(second)
    if prefix is None:
        text = ecs.format_timestamp(float(second))
        if not text.endswith(".000Z"):  # another format: no shortcut
            return ecs.format_timestamp(moment)
        if len(_SECONDS) >= _CACHE_SIZE:
            _SECONDS.clear()
        prefix = _SECONDS[second] = text[:-4]
    text = f"{prefix}{micro // 1000:03d}Z"
    _PREVIOUS = (moment, text)
    return text

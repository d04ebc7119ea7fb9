"""Minimal syslog envelope for vendor parsers run on whole lines, and the common event start.

Recognises, at the start of a line:

* an optional ``<PRI>`` (RFC 5424 section 6.2.1 / RFC 3164 section 4.1.1);
* an optional relay prefix ``FACILITY.SEVERITY:`` as written by Kiwi Syslog (``LOCAL4.WARNING:``);
* RFC 5424 headers ``1 TIMESTAMP HOST APP PROCID MSGID SD`` (section 6). MSGID and structured
  data are kept in the message (vendor parsers such as Juniper and Check Point read them);
* RFC 3164 headers ``Mmm dd hh:mm:ss HOST TAG[PID]:`` (section 4.1.2) with the deviations
  devices send: an ISO 8601 timestamp instead of the BSD one, a year (Cisco
  ``Aug 18 2026 18:24:29``), fractional seconds, no HOST, no TAG, a lone ``:`` after HOST;
* nothing at all (the line is the message; the receive time is the timestamp).

The full RFC parser is ``collectors/parsers/syslog.py``; this one only strips what vendor
parsers need stripped when they run on their own. Time stamps without an offset are read in
the record's time zone; one without a year gets the year that places it nearest to, and not
more than a day after, the receive time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache

from collectors.base import RawRecord
from collectors.parsers.stamps import format_epoch
from siem import event as ecs
from siem.errors import ParseError
from siem.event import Event
from siem.zones import find_zone

MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}

_PRI = re.compile(r"<(\d{1,3})>")
_RELAY = re.compile(r"[A-Z][A-Z0-9]*\.[A-Z]+: ")
_RFC5424 = re.compile(r"1 (\S+) (\S+) (\S+) (\S+) (\S+) ?(.*)", re.DOTALL)
_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?(Z|[+-]\d\d:?\d\d)?")
_BSD = re.compile(
    r"([A-Za-z]{3}) +(\d{1,2})(?: (\d{4}))? (\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?: (\d{4}))?(?= |$)"
)
# A TAG is a program name, optionally with [PID], ending in a colon (RFC 3164 section 4.1.3).
_TAG = re.compile(r"([A-Za-z0-9_][\w./()-]*)(?:\[(\d+)\])?:(?: |$)")
_HOST = re.compile(r"[A-Za-z0-9][\w.:-]*(?= |$)")


@dataclass(slots=True)
class Envelope:
    """What the envelope said; the fields are None where the line had no such part."""

    message: str
    priority: int | None = None
    timestamp: datetime | None = None
    #: The timestamp had no year (RFC 3164); resolved against the receive time.
    yearless: bool = False
    host: str | None = None
    app: str | None = None
    pid: int | None = None


@lru_cache(maxsize=64)
def zone(name: str) -> tzinfo:
    """The tzinfo for an IANA name (``UTC`` when empty); ParseError when unknown."""
    if not name or name == "UTC":
        return UTC
    found = find_zone(name)
    if found is None:
        raise ParseError(f"unknown time zone {name!r}")
    return found


def _offset(text: str) -> tzinfo:
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def number(text: str | None, digits: int = 18) -> int | None:
    """``text`` as a whole number when it is ASCII digits, at most ``digits`` of them, else None
    (``int`` refuses over 4300 digits, and takes "²" or "١٢" which ``isdigit`` lets through)."""
    if text and len(text) <= digits and text.isascii() and text.isdigit():
        return int(text)
    return None


def epoch_datetime(text: str) -> datetime | None:
    """A time written as epoch seconds, or milliseconds when longer than 11 digits (CEF ``rt``,
    LEEF ``devTime``); None when ``text`` is not such a number or lies beyond the year 9999."""
    stamp = number(text)
    if stamp is None:
        return None
    try:
        return datetime.fromtimestamp(stamp / 1000 if len(text) > 11 else stamp, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _micro(fraction: str | None) -> int:
    return int((fraction + "000000")[:6]) if fraction else 0


def iso_datetime(match: re.Match[str], tz: tzinfo) -> datetime:
    """A datetime from an ``_ISO`` match; naive stamps are read in ``tz``."""
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            _micro(fraction),
            tzinfo=_offset(offset) if offset else tz,
        )
    except (ValueError, OverflowError) as exc:  # month 15, hour 25, offset beyond a day
        raise ParseError(f"invalid date or time {match.group(0)!r}: {exc}") from exc


def parse_iso(text: str, tz: tzinfo = UTC) -> datetime | None:
    """ISO 8601 date and time at the start of ``text`` (naive read in ``tz``), else None."""
    match = _ISO.match(text)
    try:
        return iso_datetime(match, tz) if match else None
    except ParseError:  # shaped like a time, but month 13 or hour 25
        return None


def nearest_year(
    month: int, day: int, clock: tuple[int, int, int, int], tz: tzinfo, received: float
) -> datetime:
    """The date in the year that puts it nearest to, at most a day after, ``received``."""
    year = datetime.fromtimestamp(received, UTC).year
    for candidate in (year + 1, year, year - 1, year - 2, year - 3, year - 4):
        try:
            moment = datetime(candidate, month, day, *clock, tzinfo=tz)
        except ValueError:  # 29 February in a common year
            continue
        if moment.timestamp() <= received + 86400:
            return moment
    raise ParseError(f"no year fits the date {month:02d}-{day:02d}")


def bsd_datetime(match: re.Match[str], tz: tzinfo, received: float) -> tuple[datetime, bool]:
    """A datetime from a ``_BSD`` match and whether the year was inferred."""
    mon, day, year_before, hour, minute, second, fraction, year_after = match.groups()
    month = MONTHS.get(mon.lower())
    if month is None:
        raise ParseError(f"unknown month {mon!r}")
    clock = (int(hour), int(minute), int(second), _micro(fraction))
    year = year_before or year_after
    if year:
        try:
            return datetime(int(year), month, int(day), *clock, tzinfo=tz), False
        except (ValueError, OverflowError) as exc:
            raise ParseError(f"invalid date or time {match.group(0)!r}: {exc}") from exc
    return nearest_year(month, int(day), clock, tz, received), True


def split(text: str, tz: tzinfo, received: float) -> Envelope:
    """Strip the syslog envelope from ``text``; the rest is the message."""
    pos = 0
    priority: int | None = None
    match = _PRI.match(text)
    if match:
        priority = int(match.group(1))
        pos = match.end()
    match = _RELAY.match(text, pos)
    if match:
        pos = match.end()
    match = _RFC5424.match(text, pos)
    if match is not None and (match.group(1) == "-" or _ISO.match(match.group(1))):
        return _rfc5424(match, priority, tz)
    env = Envelope(message="", priority=priority)
    match = _ISO.match(text, pos) or _BSD.match(text, pos)
    if match:
        env.timestamp, env.yearless = _header_time(match, tz, received)
        pos = match.end()
    if env.timestamp is not None:
        pos = _skip_spaces(text, pos)
        tag = _TAG.match(text, pos)
        if tag is None:
            host = _HOST.match(text, pos)
            if host is not None:
                env.host = host.group(0)
                pos = _skip_spaces(text, host.end())
                if text.startswith(": ", pos):
                    pos += 2
                tag = _TAG.match(text, pos)
        if tag is not None:
            env.app = tag.group(1)
            env.pid = number(tag.group(2))
            pos = tag.end()
    env.message = text[pos:].rstrip("\r\n")
    return env


# Header time stamps repeat (many lines a second): parsed ones are kept for the same text,
# time zone and receive hour. Bounded: cleared when full.
_STAMPS: dict[tuple[str, tzinfo, int], tuple[datetime, bool]] = {}
_FORMATTED: dict[datetime, str] = {}
_CACHE_SIZE = 4096


def _header_time(match: re.Match[str], tz: tzinfo, received: float) -> tuple[datetime, bool]:
    key = (match.group(0), tz, int(received // 3600))
    cached = _STAMPS.get(key)
    if cached is None:
        cached = _read_header_time(match, tz, received)
        if len(_STAMPS) >= _CACHE_SIZE:
            _STAMPS.clear()
        _STAMPS[key] = cached
    return cached


def _read_header_time(match: re.Match[str], tz: tzinfo, received: float) -> tuple[datetime, bool]:
    if match.re is _ISO:
        return iso_datetime(match, tz), False
    return bsd_datetime(match, tz, received)


def formatted(moment: datetime) -> str:
    """``format_timestamp`` with a small cache (header stamps repeat)."""
    text = _FORMATTED.get(moment)
    if text is None:
        if len(_FORMATTED) >= _CACHE_SIZE:
            _FORMATTED.clear()
        text = _FORMATTED[moment] = ecs.format_timestamp(moment)
    return text


def _skip_spaces(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] == " ":
        pos += 1
    return pos


def _rfc5424(match: re.Match[str], priority: int | None, tz: tzinfo) -> Envelope:
    stamp, host, app, procid, msgid, rest = match.groups()
    env = Envelope(message="", priority=priority)
    if stamp != "-":
        env.timestamp = parse_iso(stamp, tz)
    env.host = None if host == "-" else host
    env.app = None if app == "-" else app
    env.pid = number(procid)
    if rest.startswith("- "):
        rest = rest[2:]
    elif rest == "-":
        rest = ""
    if rest.startswith("\ufeff"):  # BOM before an UTF-8 MSG (section 6.4)
        rest = rest[1:]
    env.message = (rest if msgid == "-" else f"{msgid} {rest}").rstrip("\r\n ")
    return env


def set_dataset(event: Event, dataset: str) -> None:
    """Label ``event`` with ``dataset`` and its module (the part before the first dot)."""
    event[ecs.DATASET] = dataset
    event[ecs.MODULE] = dataset.partition(".")[0]


def start_event(record: RawRecord, env: Envelope, dataset: str) -> Event:
    """The fields every event of a vendor parser has, from the record and its envelope."""
    moment = env.timestamp
    event: Event = {
        ecs.TIMESTAMP: formatted(moment)
        if moment is not None
        else format_epoch(record.received),
        ecs.ID: record.record_id(),
        ecs.KIND: "event",
        ecs.DATASET: dataset,
        ecs.MODULE: dataset.partition(".")[0],
        ecs.ORIGINAL: record.text,
        ecs.MESSAGE: env.message,
    }
    if env.host is not None:
        event[ecs.HOST_NAME] = env.host
    if env.app is not None:
        event[ecs.PROCESS_NAME] = env.app
    if env.pid is not None:
        event[ecs.PROCESS_PID] = env.pid
    if env.priority is not None:
        event[ecs.LOG_SYSLOG_PRIORITY] = env.priority
    if record.origin:
        event[ecs.INPUT] = record.origin
    if record.truncated:
        event["event.truncated"] = True
    return event


MessageParser = Callable[..., None]


def parse_line(record: RawRecord, dataset: str, parse_message: MessageParser) -> list[Event]:
    """Run a vendor ``parse_message`` on a whole line: strip the envelope, start the event."""
    tz = zone(record.timezone)
    env = split(record.text, tz, record.received)
    if not env.message.strip():
        raise ParseError("empty message")
    event = start_event(record, env, dataset)
    parse_message(env.message, event, tz=tz, received=record.received)
    return [event]

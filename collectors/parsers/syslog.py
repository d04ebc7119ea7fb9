"""Syslog envelope parser: RFC 5424 and RFC 3164 (BSD syslog), with common vendor deviations.

- RFC 5424 "The Syslog Protocol", section 6: ``<PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID
  MSGID STRUCTURED-DATA [MSG]``; NILVALUE ``-``; SD-PARAM escapes ``\\"``, ``\\\\``, ``\\]``
  (6.3.3); a UTF-8 BOM may open MSG (6.4).
- RFC 3164 "The BSD syslog Protocol", section 4.1: ``<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG``.

Deviations tolerated (seen from real devices and files): no ``<PRI>`` (lines of /var/log files);
a 3164 header with an ISO 8601 / RFC 3339 timestamp (rsyslog), with a year (``Mmm dd yyyy``) or
fractional seconds; no HOSTNAME (the TAG follows the timestamp); a ``<PRI>`` with no timestamp
at all (RFC 3164 4.3.3: the receive time is used). A timestamp without a year gets the year that
puts it nearest to, and not more than a day after, the receive time; a timestamp without an
offset is read in the record's time zone (``RawRecord.timezone``).
"""

from __future__ import annotations

import calendar
import re
import time
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from collectors.base import RawRecord
from collectors.parsers.stamps import format_epoch
from siem import event as ecs
from siem.errors import ParseError
from siem.event import Event
from siem.zones import find_zone

NILVALUE = "-"
BOM = "\ufeff"
DATASET = "syslog"

FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
    "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
)  # fmt: skip
SEVERITIES = (
    "emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug",
)  # fmt: skip
MONTHS = {name: index for index, name in enumerate(calendar.month_abbr) if name}

_PRI = re.compile(r"<(\d{1,3})>")
_RFC5424 = re.compile(
    r"(?P<version>[1-9]\d{0,2}) (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) "
)
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE,
)
# Mmm dd [yyyy] hh:mm:ss[.fff] (day may be space padded); Cisco may prefix '*' or '.'.
_BSD_TIME = re.compile(r"[*.]?([A-Z][a-z]{2}) {1,2}(\d{1,2})(?: (\d{4}))? (\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(?= |:|$)")
# TAG: the program name, an optional [PID], then a colon (RFC 3164 4.1.3). Not '%' (Cisco
# message ids) and not CEF/LEEF headers.
_TAG = re.compile(r"(?!(?:CEF|LEEF):)([\w./-][^\s\[\]:]{0,63})(?:\[([^\]\s]{0,32})\])?:(?: |$)")
# The usual RFC 3164 header in one regex, "Mmm dd hh:mm:ss HOST TAG[PID]: ": the time as _BSD_TIME
# reads it (no year, no fraction), a HOST the general path accepts (no ":", "=", leading "%")
# and _TAG. When it matches, the general path gives the same fields; when not, that path runs.
_FAST_3164 = re.compile(
    r"([A-Z][a-z]{2} {1,2}\d{1,2} \d{2}:\d{2}:\d{2}) ([^\s:%=][^\s:=]*) "
    r"(?!(?:CEF|LEEF):)([\w./-][^\s\[\]:]{0,63})(?:\[([^\]\s]{0,32})\])?:(?: |$)"
)
_SD_PARAM = re.compile(r' ([^\s="\]]{1,32})="((?:[^"\\]|\\.)*)"')
_SD_UNESCAPE = re.compile(r"\\([\"\\\]])")


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo | None:
    """The IANA time zone ``name`` (None for UTC, the fast path)."""
    if name in ("UTC", "Etc/UTC", "Z", ""):
        return None
    found = find_zone(name)
    if found is None:
        raise ParseError(f"unknown time zone {name!r}")
    return found


def _local_epoch(year: int, month: int, day: int, hour: int, minute: int, second: int, tz: ZoneInfo | None) -> float:
    if tz is None:
        if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]):
            raise ValueError(f"day is out of range for {year}-{month:02d}")
        return float(calendar.timegm((year, month, day, hour, minute, second)))
    return datetime(year, month, day, hour, minute, second, tzinfo=tz).timestamp()


def infer_year(month: int, day: int, hms: tuple[int, int, int], received: float, tz: ZoneInfo | None) -> float:
    """Epoch of a year-less time: the year nearest the receive time, at most a day after it."""
    year = time.gmtime(received).tm_year if tz is None else datetime.fromtimestamp(received, tz).year
    best: float | None = None
    for candidate in (year, year - 1, year + 1):
        try:
            moment = _local_epoch(candidate, month, day, *hms, tz)
        except ValueError:  # 29 February in a year without one
            continue
        if moment > received + 86400:
            continue
        if best is None or abs(moment - received) < abs(best - received):
            best = moment
    if best is None:
        raise ParseError(f"no year makes {month:02d}-{day:02d} a valid date near the receive time")
    return best


def parse_rfc3339(match: re.Match[str], tz: ZoneInfo | None) -> float:
    """Epoch seconds of an RFC 3339 / ISO 8601 match of ``_RFC3339``."""
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction = float(match.group(7)) if match.group(7) else 0.0
    offset = match.group(8)
    try:
        if offset is None:
            base = _local_epoch(year, month, day, hour, minute, second, tz)
        else:
            base = _local_epoch(year, month, day, hour, minute, second, None)
            if offset not in ("Z", "z"):
                sign = -1 if offset[0] == "-" else 1
                digits = offset[1:].replace(":", "")
                base -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
        if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
            raise ValueError("field out of range")
    except ValueError as exc:
        raise ParseError(f"invalid timestamp {match.group(0)!r}: {exc}") from exc
    return base + fraction


class _TimeCache:
    """Year-less BSD timestamps repeat a lot: cache their epoch per (text, zone, receive day)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str, int], float] = {}
        self._texts: dict[tuple[str, str, int], str] = {}

    def bsd_stamp_at(self, text: str, start: int, end: int, record: RawRecord) -> str:
        """``bsd_stamp`` of the BSD timestamp ``text[start:end]`` (which ``_BSD_TIME`` matches
        there), without running that regex when the text is cached."""
        stamp = self._texts.get((text[start:end], record.timezone, int(record.received // 3600)))
        if stamp is not None:
            return stamp
        match = _BSD_TIME.match(text, start)
        if match is None or match.end() != end:
            raise ValueError(f"no BSD timestamp at {start}-{end} of {text!r}")  # a bug: never happens
        return self.bsd_stamp(match, record)

    def bsd_stamp(self, match: re.Match[str], record: RawRecord) -> str:
        """``@timestamp`` text of a BSD timestamp match (``format_epoch`` of ``bsd``), cached alike."""
        key = (match.group(0), record.timezone, int(record.received // 3600))
        text = self._texts.get(key)
        if text is None:
            text = format_epoch(self.bsd(match, record))
            if len(self._texts) > 4096:
                self._texts.clear()
            self._texts[key] = text
        return text

    def bsd(self, match: re.Match[str], record: RawRecord) -> float:
        key = (match.group(0), record.timezone, int(record.received // 3600))
        cached = self._entries.get(key)
        if cached is not None:
            return cached
        month = MONTHS.get(match.group(1))
        if month is None:
            raise ParseError(f"unknown month {match.group(1)!r}")
        day = int(match.group(2))
        hms = (int(match.group(4)), int(match.group(5)), int(match.group(6)))
        tz = zone(record.timezone)
        try:
            if match.group(3):
                moment = _local_epoch(int(match.group(3)), month, day, *hms, tz)
            else:
                moment = infer_year(month, day, hms, record.received, tz)
        except ValueError as exc:
            raise ParseError(f"invalid timestamp {match.group(0)!r}: {exc}") from exc
        if match.group(7):
            moment += float(match.group(7))
        if len(self._entries) > 4096:
            self._entries.clear()
        self._entries[key] = moment
        return moment


#: The priority fields of each valid PRI value (0-191), in the order the parser sets them.
_PRIORITY_FIELDS: tuple[dict[str, int | str], ...] = tuple(
    {
        ecs.LOG_SYSLOG_PRIORITY: priority,
        "log.syslog.facility.code": priority >> 3,
        "log.syslog.facility.name": FACILITIES[priority >> 3],
        "log.syslog.severity.code": priority & 7,
        "log.syslog.severity.name": SEVERITIES[priority & 7],
    }
    for priority in range(192)
)
# Origins repeat (one per sender, or per connection): their sender address is kept. Bounded.
_OBSERVERS: dict[str, str | None] = {}
_CACHE_SIZE = 4096


def _tag(text: str, position: int, space: int) -> re.Match[str] | None:
    """``_TAG`` at ``position`` (``space``: the next space, or -1). A tag ends in a colon before
    any white space: a first word without one is no tag, and the regex need not run."""
    if text.find(":", position, space if space >= 0 else len(text)) < 0:
        return None
    return _TAG.match(text, position)


def observer_ip(origin: str) -> str | None:
    """The sender address of a network origin (``udp://192.0.2.7``, ``tcp://[2001:db8::1]``)."""
    try:
        return _OBSERVERS[origin]
    except KeyError:
        pass
    if len(_OBSERVERS) >= _CACHE_SIZE:
        _OBSERVERS.clear()
    address = _OBSERVERS[origin] = _observer_ip(origin)
    return address


def _observer_ip(origin: str) -> str | None:
    scheme, sep, rest = origin.partition("://")
    if not sep or scheme not in ("udp", "tcp", "tls"):
        return None
    if rest.startswith("["):
        return rest[1 : rest.find("]")]
    return rest.rsplit(":", 1)[0] if rest.count(":") == 1 else rest


def parse_structured_data(text: str) -> tuple[dict[str, dict[str, str]], str]:
    """RFC 5424 STRUCTURED-DATA at the start of ``text``: ({sd-id: {name: value}}, the rest)."""
    elements: dict[str, dict[str, str]] = {}
    position = 0
    while position < len(text) and text[position] == "[":
        end_id = position + 1
        while end_id < len(text) and text[end_id] not in ' ]"=':
            end_id += 1
        sd_id = text[position + 1 : end_id]
        if not sd_id:
            raise ParseError("structured data element without an SD-ID")
        params: dict[str, str] = {}
        position = end_id
        while True:
            match = _SD_PARAM.match(text, position)
            if match is None:
                break
            params[match.group(1)] = _SD_UNESCAPE.sub(r"\1", match.group(2))
            position = match.end()
        if position >= len(text) or text[position] != "]":
            raise ParseError(f"structured data element [{sd_id} is not closed by ']'")
        elements[sd_id] = params
        position += 1
    return elements, text[position:]


class SyslogParser:
    """RFC 5424 / RFC 3164 envelope to an ECS event of dataset ``syslog``."""

    name = "syslog"

    def __init__(self) -> None:
        self._times = _TimeCache()
        self._stamps: dict[float, str] = {}  # header times repeat: their text is kept
        self._iso_texts: dict[tuple[str, str], str] = {}

    def parse(self, record: RawRecord) -> list[Event]:
        """One event of the record; ParseError when the text is not syslog."""
        return [self.envelope(record)]

    def _iso_stamp(self, match: re.Match[str], record: RawRecord) -> str:
        """``@timestamp`` text of an ``_RFC3339`` match, kept per (stamp, time zone): stamps repeat."""
        key = (match.group(0), record.timezone)
        text = self._iso_texts.get(key)
        if text is None:
            text = self._stamp(parse_rfc3339(match, zone(record.timezone)))
            if len(self._iso_texts) >= _CACHE_SIZE:
                self._iso_texts.clear()
            self._iso_texts[key] = text
        return text

    def _stamp(self, moment: float) -> str:
        text = self._stamps.get(moment)
        if text is None:
            if len(self._stamps) >= _CACHE_SIZE:
                self._stamps.clear()
            text = self._stamps[moment] = format_epoch(moment)
        return text

    def envelope(self, record: RawRecord) -> Event:
        """The event with the syslog header fields and ``message`` (what follows the header)."""
        text = record.text
        event: Event = {
            ecs.ID: "",  # set once the text is known to be syslog (hashing costs)
            ecs.KIND: "event",
            ecs.MODULE: DATASET,
            ecs.DATASET: DATASET,
            ecs.ORIGINAL: text,
            ecs.CREATED: format_epoch(record.received),
            ecs.INPUT: record.origin,
        }
        if record.truncated:
            event["event.truncated"] = True
        sender = observer_ip(record.origin)
        if sender is not None:
            event[ecs.OBSERVER_IP] = sender
        position = 0
        pri = _PRI.match(text)
        if pri is not None:
            priority = int(pri.group(1))
            if priority > 191:
                raise ParseError(f"priority {priority} is out of range (0-191)")
            event.update(_PRIORITY_FIELDS[priority])
            position = pri.end()
            header = _RFC5424.match(text, position)
            if header is not None and (header.group("ts") == NILVALUE or _RFC3339.fullmatch(header.group("ts"))):
                self._rfc5424(record, event, header)
                event[ecs.ID] = record.record_id()
                return event
        self._rfc3164(record, event, text, position, has_pri=pri is not None)
        event[ecs.ID] = record.record_id()
        return event

    def _rfc5424(self, record: RawRecord, event: Event, header: re.Match[str]) -> None:
        event["log.syslog.version"] = header.group("version")
        stamp = header.group("ts")
        if stamp == NILVALUE:
            event[ecs.TIMESTAMP] = self._stamp(record.received)
        else:
            event[ecs.TIMESTAMP] = self._iso_stamp(_RFC3339.fullmatch(stamp), record)  # type: ignore[arg-type]
        fields = {
            "host": header.group("host"),
            "app": header.group("app"),
            "procid": header.group("procid"),
            "msgid": header.group("msgid"),
        }
        if fields["host"] != NILVALUE:
            event["log.syslog.hostname"] = event["host.hostname"] = event[ecs.HOST_NAME] = fields["host"]
        if fields["app"] != NILVALUE:
            event["log.syslog.appname"] = event[ecs.PROCESS_NAME] = fields["app"]
        if fields["procid"] != NILVALUE:
            event["log.syslog.procid"] = fields["procid"]
            procid = fields["procid"]
            if len(procid) <= 18 and procid.isascii() and procid.isdigit():  # not "²", not 5,000 digits
                event[ecs.PROCESS_PID] = int(procid)
        if fields["msgid"] != NILVALUE:
            event["log.syslog.msgid"] = fields["msgid"]
        rest = record.text[header.end() :]
        if rest.startswith(NILVALUE):
            rest = rest[1:]
        elif rest.startswith("["):
            elements, rest = parse_structured_data(rest)
            event["log.syslog.structured_data"] = elements
        else:
            raise ParseError("RFC 5424 header without STRUCTURED-DATA ('-' or '[...]')")
        if rest.startswith(" "):
            rest = rest[1:]
        elif rest:
            raise ParseError("RFC 5424: no space between STRUCTURED-DATA and MSG")
        if rest.startswith(BOM):
            rest = rest[1:]
        event[ecs.MESSAGE] = rest

    def _fast_rfc3164(self, record: RawRecord, event: Event, text: str, position: int) -> bool:
        """The usual header (``_FAST_3164``) into ``event`` as ``_rfc3164`` would; False if not one."""
        header = _FAST_3164.match(text, position)
        if header is None:
            return False
        event[ecs.TIMESTAMP] = self._times.bsd_stamp_at(text, position, header.end(1), record)
        event["log.syslog.hostname"] = event["host.hostname"] = event[ecs.HOST_NAME] = header.group(2)
        _set_program(event, header.group(3), header.group(4))
        event[ecs.MESSAGE] = text[header.end() :]
        return True

    def _rfc3164(self, record: RawRecord, event: Event, text: str, position: int, *, has_pri: bool) -> None:
        if self._fast_rfc3164(record, event, text, position):
            return
        stamp: str | None = None
        bsd = _BSD_TIME.match(text, position)
        if bsd is not None:
            stamp = self._times.bsd_stamp(bsd, record)
            position = bsd.end()
        else:
            iso = _RFC3339.match(text, position)
            if iso is not None and (iso.end() == len(text) or text[iso.end()] in " :"):
                stamp = self._iso_stamp(iso, record)
                position = iso.end()
        if stamp is None:
            if not has_pri:
                raise ParseError("not syslog: no <PRI> and no timestamp at the start")
            stamp = format_epoch(record.received)  # RFC 3164 4.3.3: no valid timestamp, use the receive time
            has_header = False
        else:
            has_header = True
            if text.startswith(":", position):  # Cisco: "Mar  1 18:46:11.123: %SYS-..."
                position += 1
            if text.startswith(" ", position):
                position += 1
        event[ecs.TIMESTAMP] = stamp
        space = text.find(" ", position)
        tag = _tag(text, position, space)
        if tag is None and has_header:
            host = text[position:space] if space > position else ""
            if host and not host.endswith(":") and host[0] != "%" and "=" not in host:
                event["log.syslog.hostname"] = event["host.hostname"] = event[ecs.HOST_NAME] = host
                position = space + 1
                if text.startswith(": ", position):  # Cisco ASA: "asa1 : %ASA-6-..."
                    position += 2
                tag = _tag(text, position, text.find(" ", position))
        if tag is not None:
            _set_program(event, tag.group(1), tag.group(2))
            position = tag.end()
        event[ecs.MESSAGE] = text[position:]


def _set_program(event: Event, program: str, pid: str | None) -> None:
    """The TAG's program (``cron(pam_unix)`` names process ``cron``) and optional PID fields."""
    event["log.syslog.appname"] = program
    paren = program.find("(")
    event[ecs.PROCESS_NAME] = program[:paren] if paren > 0 else program
    if pid:
        event["log.syslog.procid"] = pid
        if pid.isascii() and pid.isdigit():  # "²4410" passes isdigit, not int
            event[ecs.PROCESS_PID] = int(pid)

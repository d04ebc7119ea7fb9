"""Format auto-detection: the syslog envelope first, then a vendor parser for its message.

1. The record is parsed as syslog (``collectors/parsers/syslog.py``). If it is syslog, the
   message goes to the parser named for the program in ``PROGRAMS``, else to the first
   parser whose detector in ``DETECTORS`` matches the message (``re.search`` or a predicate).
   That parser's ``parse_message(message, event)`` adds its fields to the syslog event; when it
   raises ParseError the syslog event is kept as it is.
2. A record that is not syslog goes to the first parser whose detector matches the whole line
   (``parse(record)``: CEF, LEEF, JSON, Zeek, ...).
3. Nothing matched: an ``unknown`` event with the reason (never dropped).

To route a new vendor, add one line to ``PROGRAMS`` or ``DETECTORS`` (vendor parsers also list
their detectors in ``collectors/parsers/catalog.py``; those are tried after these). Names that
are not registered are skipped, so the table may name parsers that are written later.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

from collectors.base import Parser, RawRecord, failure_event
from collectors.parsers import MessageParser, envelope
from collectors.parsers.literals import required_literals
from collectors.parsers.syslog import SyslogParser
from siem import event as ecs
from siem.errors import ParseError, PluginError
from siem.event import Event

log = logging.getLogger(__name__)

Detector = re.Pattern[str] | Callable[[str], bool]

#: syslog program name (lower case, without a ``(pam_unix)`` suffix) -> parser of its message.
PROGRAMS: dict[str, str] = {
    "sshd": "linux.auth",
    "sudo": "linux.auth",
    "su": "linux.auth",
    "login": "linux.auth",
    "systemd-logind": "linux.auth",
    "filterlog": "pfsense",
    "rt_flow": "juniper.srx",
}

#: (parser name, detector) tried in order on the syslog message, or on the whole line.
DETECTORS: list[tuple[str, Detector]] = [
    ("cef", re.compile(r"^CEF:\d+\|")),
    ("leef", re.compile(r"^LEEF:\d(?:\.\d)?\|")),
    ("ufw", re.compile(r"\[UFW [A-Z]+\]")),
    # An interface name holds no "=": the scan stops at the next key, so a long run of "IN=x"
    # without a space is linear (with \S* it was quadratic, found by bench/fuzz.py).
    # \bIN= with the literal first (searched for quickly; see iptables._PAIR_PROTO).
    ("iptables", re.compile(r"IN(?<=\bIN)=[^\s=]* OUT=\S* ")),
]

#: Programs whose lines are Linux system logs when no message parser claims them.
PROGRAM_DATASETS: dict[str, str] = {
    **{name: "linux.auth" for name in ("sshd", "sudo", "su", "login", "systemd-logind", "passwd",
                                       "useradd", "userdel", "usermod", "groupadd", "chpasswd")},
    **{name: "linux.syslog" for name in ("kernel", "systemd", "cron", "crond", "anacron",
                                         "rsyslogd", "syslogd", "klogd", "networkmanager",
                                         "dhclient", "dbus-daemon", "logrotate", "ntpd",
                                         "chronyd", "xinetd", "ftpd", "auditd", "udevd")},
}  # fmt: skip


#: The start of a message the detectors read (the same as the catalog's).
DETECT_WINDOW = 4096


def _catalog_detectors() -> list[tuple[str, Detector]]:
    from collectors.parsers.catalog import DETECTORS as catalog

    return list(catalog)


class _Detection:
    """One detector with its cheap pre-test (a literal the match must contain)."""

    __slots__ = ("detector", "literals", "name")

    def __init__(self, name: str, detector: Detector) -> None:
        self.name = name
        self.detector = detector
        self.literals = required_literals(detector) if isinstance(detector, re.Pattern) else None


class AutoParser:
    """Parser ``auto``: detect the format of each record (see the module docstring)."""

    name = "auto"

    def __init__(self, resolve: Callable[[str], Parser] | None = None) -> None:
        if resolve is None:
            from collectors.registry import create_parser

            resolve = create_parser
        self._resolve = resolve
        self._syslog = SyslogParser()
        self._parsers: dict[str, Parser | None] = {}
        self._message_parsers: dict[str, MessageParser | None] = {}
        detectors: dict[str, _Detection] = {}  # the first detector of a name wins
        for name, detector in [*DETECTORS, *_catalog_detectors()]:
            if name not in detectors and self._parser(name) is not None:
                detectors[name] = _Detection(name, detector)
        self._detectors: Sequence[_Detection] = list(detectors.values())
        # (name, literals, test) flattened: the loop below runs for most lines, without a call per detector
        self._table = [
            (d.name, d.literals, d.detector.search if isinstance(d.detector, re.Pattern) else d.detector)
            for d in self._detectors
        ]
        self._programs = {program: name for program, name in PROGRAMS.items() if self._parser(name) is not None}

    def _parser(self, name: str) -> Parser | None:
        if name not in self._parsers:
            try:
                self._parsers[name] = self._resolve(name)
            except PluginError as exc:
                log.debug("auto: parser %s not available: %s", name, exc)
                self._parsers[name] = None
        return self._parsers[name]

    def _message_parser(self, name: str) -> MessageParser | None:
        if name not in self._message_parsers:
            parser = self._parser(name)
            function: Any = getattr(parser, "parse_message", None)
            if function is None and parser is not None:
                module = sys.modules.get(type(parser).__module__)
                function = getattr(module, "parse_message", None)
            self._message_parsers[name] = function
        return self._message_parsers[name]

    def _detect(self, text: str) -> str | None:
        text = text[:DETECT_WINDOW]  # see catalog.DETECT_WINDOW: bounded time on hostile lines
        for name, literals, test in self._table:  # none of a detector's literals there: it cannot match
            if literals is not None:
                for literal in literals:
                    if literal in text:
                        break
                else:
                    continue
            if test(text):
                return name
        return None

    def parse(self, record: RawRecord) -> list[Event]:
        """Events of the record; an ``unknown`` event with the reason when nothing fits."""
        try:
            event = self._syslog.envelope(record)
        except ParseError as exc:
            return self._whole_line(record, exc.message)
        message: str = event[ecs.MESSAGE]
        program = str(event.get(ecs.PROCESS_NAME, "")).lower()
        name = self._programs.get(program) or self._detect(message)
        if name is not None:
            self._apply(name, message, event, record)
        if event[ecs.DATASET] == "syslog" and program in PROGRAM_DATASETS:
            dataset = PROGRAM_DATASETS[program]
            event[ecs.DATASET] = dataset
            event[ecs.MODULE] = dataset.partition(".")[0]
        return [event]

    def _apply(self, name: str, message: str, event: Event, record: RawRecord) -> None:
        function = self._message_parser(name)
        before = dict(event)
        try:
            if function is not None:
                function(message, event, tz=envelope.zone(record.timezone), received=record.received)
                return
            parser = self._parser(name)
            if parser is None:
                return
            for key, value in parser.parse(record)[0].items():
                if key not in (ecs.ID, ecs.ORIGINAL):
                    event[key] = value
        except ParseError as exc:
            log.debug("auto: %s did not take %r: %s", name, message[:80], exc.message)
            event.clear()
            event.update(before)

    def _whole_line(self, record: RawRecord, reason: str) -> list[Event]:
        name = self._detect(record.text)
        parser = self._parser(name) if name is not None else None
        if parser is None:
            return [failure_event(record, f"no parser recognised the record ({reason})")]
        try:
            return parser.parse(record)
        except ParseError as exc:
            return [failure_event(record, f"{name}: {exc.message}")]

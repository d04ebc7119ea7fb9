"""``siem parse [--format NAME|auto] [--timezone TZ] FILE``: print the ECS events of a file.

One JSON line per event on stdout (flat dotted keys, or nested ECS with ``--nested``), so a
parser can be checked by eye or with ``jq``. A line no parser understands is printed as an
``unknown`` event with the reason (never dropped); the counts go to stderr. A ``.pcap`` or
``.pcapng`` file is read by ``collectors.pcap.read_pcap``. Lines without a year are dated
against the file's modification time (the closest thing to a receive time a file has).
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click

from collectors.base import Parser, RawRecord, failure_event
from siem.app import App, AppOptions
from siem.errors import ParseError, PluginError, SourceError
from siem.event import Event, to_nested
from siem.i18n import _

PCAP_SUFFIXES = (".pcap", ".pcapng", ".cap")


class _DetectingParser:
    """``auto`` without ``collectors.parsers.auto``: the catalog's detectors, line by line."""

    name = "auto"

    def __init__(self, app: App) -> None:
        self._app = app
        self._parsers: dict[str, Parser] = {}

    def parse(self, record: RawRecord) -> list[Event]:
        from collectors.parsers.catalog import detect

        name = detect(record.text)
        if name is None:
            raise ParseError("no parser recognised the line")  # the event's reason: data, kept in English
        if name not in self._parsers:
            self._parsers[name] = self._app.create_parser(name)
        return self._parsers[name].parse(record)


def _parser(app: App, name: str) -> Parser:
    if name == "auto":
        try:
            importlib.import_module("collectors.parsers.auto")
        except ImportError:
            return _DetectingParser(app)
    try:
        return app.create_parser(name)
    except PluginError as exc:
        from collectors.parsers.catalog import PARSERS

        known = ", ".join(sorted({"auto", "syslog", *PARSERS}))
        raise click.BadParameter(
            _("unknown format {name} (known: {known})").format(name=repr(name), known=known), param_hint="--format"
        ) from exc


def _records(path: Path, fmt: str, timezone: str) -> Iterator[RawRecord]:
    origin = f"file://{path.resolve()}"
    received = path.stat().st_mtime
    offset = 0
    with path.open("rb") as handle:
        for raw in handle:
            start = offset
            offset += len(raw)
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                continue
            try:
                text, raw_bytes = line.decode("utf-8"), None
            except UnicodeDecodeError:
                text, raw_bytes = line.decode("utf-8", errors="replace"), line
            yield RawRecord(
                text,
                origin,
                received,
                str(start),
                raw_bytes=raw_bytes,
                format=fmt,
                timezone=timezone,
            )


def _events(
    app: App, path: Path, fmt: str, timezone: str, counts: dict[str, int]
) -> Iterator[Event]:
    if path.suffix.lower() in PCAP_SUFFIXES:
        try:
            pcap = importlib.import_module("collectors.pcap")
        except ImportError as exc:
            raise SourceError(_("reading captures needs collectors.pcap, which is not installed")) from exc
        for event in pcap.read_pcap(path):
            counts["events"] += 1
            yield event
        return
    parser = _parser(app, fmt)
    for record in _records(path, fmt, timezone):
        counts["records"] += 1
        try:
            events = parser.parse(record)
        except ParseError as exc:
            events = [failure_event(record, exc.message)]
        for event in events:
            if event.get("event.dataset") == "unknown":
                counts["not parsed"] += 1
            counts["events"] += 1
            yield event


def write_events(events: Iterator[Event], out: IO[str], *, nested: bool) -> None:
    """Write one JSON object per line."""
    for event in events:
        document: Any = to_nested(event) if nested else event
        out.write(json.dumps(document, ensure_ascii=False, default=str))
        out.write("\n")


@click.command("parse")
@click.option(
    "--format", "fmt", default="auto", show_default=True, help="Parser name, or 'auto' to detect."
)
@click.option(
    "--timezone",
    default="UTC",
    show_default=True,
    help="IANA time zone for timestamps without an offset.",
)
@click.option(
    "--nested", is_flag=True, help="Print nested ECS documents instead of flat dotted keys."
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def parse_command(options: AppOptions, fmt: str, timezone: str, nested: bool, file: Path) -> None:
    """Print the ECS events a parser makes of FILE, one JSON line each."""
    from siem.zones import find_zone

    if find_zone(timezone) is None:
        raise click.BadParameter(_("unknown time zone {zone}").format(zone=repr(timezone)), param_hint="--timezone")
    app = App.from_options(options if options is not None else AppOptions())
    counts = {"records": 0, "events": 0, "not parsed": 0}
    try:
        write_events(_events(app, file, fmt, timezone, counts), sys.stdout, nested=nested)
    finally:
        app.close()
    click.echo(
        _("{records} records, {events} events, {failed} not parsed").format(
            records=counts["records"], events=counts["events"], failed=counts["not parsed"]),
        err=True,
    )

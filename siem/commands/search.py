"""``siem search``: stored events by time, field and full text, as a table or JSON lines."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Sequence
from typing import Any

import click

from siem import event as ecs
from siem.app import App, AppOptions
from siem.errors import QueryError
from siem.i18n import _
from siem.query import format_error, parse_query
from siem.query.ast import Node
from siem.store.base import EventQuery
from siem.timerange import HELP as TIME_HELP
from siem.timerange import parse_moment

MESSAGE_WIDTH = 120
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _parse(text: str | None) -> Node | None:
    if not text or not text.strip():
        return None
    try:
        return parse_query(text)
    except QueryError as exc:
        click.echo(format_error(text, exc), err=True)
        raise click.exceptions.Exit(exc.exit_code) from exc


def field_filters(pairs: Sequence[str]) -> dict[str, Any]:
    """``{"key": value}`` from ``key=value`` pairs; a key given twice matches any of its values.

    A numeric value also matches the number (``process.pid=42`` finds 42 and "42").
    """
    wanted: dict[str, list[Any]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(_("{pair} is not KEY=VALUE").format(pair=repr(pair)), param_hint="--field")
        values = wanted.setdefault(key, [])
        values.append(value)
        if _NUMBER.fullmatch(value):
            values.append(float(value) if "." in value else int(value))
    return {key: values[0] if len(values) == 1 else tuple(values) for key, values in wanted.items()}


def _moment(param: str, text: str | None, now: float) -> float | None:
    if text is None:
        return None
    try:
        return parse_moment(text, now)
    except QueryError as exc:
        raise click.BadParameter(exc.message, param_hint=param) from exc


def _endpoint(event: ecs.Event, ip_key: str, port_key: str) -> str:
    ip = event.get(ip_key)
    if ip is None:
        return ""
    port = event.get(port_key)
    return f"{ip}:{port}" if port is not None else str(ip)


def _time(event: ecs.Event) -> str:
    """``2026-11-25 08:00:01`` (UTC) from the ISO timestamp; other forms as they are."""
    stamp = str(event.get(ecs.TIMESTAMP, ""))
    return stamp[:19].replace("T", " ") if len(stamp) >= 19 and stamp[10] == "T" else stamp


def _message(event: ecs.Event) -> str:
    text = event.get(ecs.MESSAGE) or event.get(ecs.ORIGINAL) or ""
    text = " ".join(str(text).split())
    return text if len(text) <= MESSAGE_WIDTH else text[: MESSAGE_WIDTH - 1] + "…"


#: Table columns before the message, with the widest each may get.
COLUMNS = (("time", 19), ("dataset", 16), ("site", 12), ("source", 21), ("destination", 21),
           ("host/user", 24))
MESSAGE_MIN = 24


def headings() -> list[str]:
    """The column headings in the current language (the message last)."""
    names = {"time": _("time"), "dataset": _("dataset"), "site": _("site"), "source": _("source"),
             "destination": _("destination"), "host/user": _("host/user"), "message": _("message")}
    return [names[name] for name, _cap in COLUMNS] + [names["message"]]


def _cells(event: ecs.Event) -> tuple[str, ...]:
    who = " / ".join(str(event[key]) for key in (ecs.HOST_NAME, ecs.USER_NAME) if event.get(key))
    return (
        _time(event),
        str(event.get(ecs.DATASET, "")),
        str(event.get(ecs.LABEL_SITE) or ""),
        _endpoint(event, ecs.SOURCE_IP, ecs.SOURCE_PORT),
        _endpoint(event, ecs.DESTINATION_IP, ecs.DESTINATION_PORT),
        who,
        _message(event),
    )


def column_widths(rows: Sequence[Sequence[str]], total: int) -> list[int]:
    """Widths of the columns for a console ``total`` wide: each column as wide as its content
    (up to its cap), the message the rest; on a narrow console the widest columns shrink."""
    widths = [
        min(cap, max([len(name), *(len(row[index]) for row in rows)]))
        for index, (name, (_key, cap)) in enumerate(zip(headings(), COLUMNS, strict=False))
    ]
    room = total - len(COLUMNS)  # one space between columns
    # Time shrinks last: it is what people scan first.
    while sum(widths) + MESSAGE_MIN > room and max(widths) > 4:
        others = widths[1:]
        widest = 1 + others.index(max(others)) if max(others) > 6 else widths.index(max(widths))
        widths[widest] -= 1
    message = max(len(row[-1]) for row in rows) if rows else MESSAGE_MIN
    widths.append(max(MESSAGE_MIN, min(message, room - sum(widths))))
    return widths


def render_table(app: App, events: Iterable[ecs.Event]) -> int:
    """Print events as a table on stdout, one line each; returns how many."""
    from rich.table import Table
    from rich.text import Text

    rows = [_cells(event) for event in events]
    if not rows:
        return 0
    widths = column_widths(rows, app.console.width)
    table = Table(box=None, header_style="bold", pad_edge=False, collapse_padding=True)
    for name, width in zip(headings(), widths, strict=True):
        table.add_column(name, no_wrap=True, overflow="ellipsis", width=width)
    for row in rows:
        # Text(), not str: log lines are full of [brackets] that rich would read as markup.
        table.add_row(*(Text(cell) for cell in row))
    app.console.print(table)
    return len(rows)


def json_line(event: ecs.Event) -> str:
    """One event as one line of JSON (non-ASCII kept readable where the terminal allows)."""
    line = json.dumps(event, ensure_ascii=False, default=str)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from undecodable input bytes
        line = json.dumps(event, ensure_ascii=True, default=str)
    return line


@click.command("search")
@click.argument("text", metavar="[QUERY]", required=False)
@click.option("--since", metavar="WHEN", help=f"Events at or after WHEN: {TIME_HELP}.")
@click.option("--until", metavar="WHEN", help="Events at or before WHEN (same forms as --since).")
@click.option(
    "--field", "-f", "fields", multiple=True, metavar="KEY=VALUE",
    help="Exact match on a field, e.g. source.ip=10.0.0.5 (repeat for more; same key = any).",
)
@click.option("--limit", "-n", type=click.IntRange(min=1), default=50, show_default=True,
              help="Most events to show.")
@click.option("--oldest-first", is_flag=True, help="Oldest first (default: newest first).")
@click.option("--json", "as_json", is_flag=True, help="One JSON event per line on stdout.")
@click.pass_obj
def search_command(
    options: AppOptions,
    text: str | None,
    since: str | None,
    until: str | None,
    fields: tuple[str, ...],
    limit: int,
    oldest_first: bool,
    as_json: bool,
) -> None:
    """Search stored events. QUERY is in the search language (free words search the raw line), e.g.

    \b
      siem search "failed password" --since 24h
      siem search 'source.ip:10.2.0.0/16 AND event.action:deny AND NOT destination.port:(80 OR 443)'
      siem search --field source.ip=10.0.0.5 --field event.dataset=syslog --json
    """
    now = time.time()
    query = EventQuery(
        since=_moment("--since", since, now),
        until=_moment("--until", until, now),
        fields=field_filters(fields),
        expression=_parse(text),
        limit=limit,
        newest_first=not oldest_first,
    )
    app = App.from_options(options)
    try:
        events = app.store.search(query)
        if as_json:
            found = list(events)
            for event in found:
                click.echo(json_line(event))
            count = len(found)
        else:
            count = render_table(app, events)
        if count == 0:
            app.err_console.print(_("No events match."))
        elif count == limit:
            app.err_console.print(_("Showing the first {count} events; more may match (--limit).").format(count=count))
    finally:
        app.close()

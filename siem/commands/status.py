"""``siem status``: the store (size, counts, time span) and the counters of every source."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import click

from siem.app import App, AppOptions
from siem.event import format_timestamp
from siem.i18n import _
from siem.store.base import SourceStats, StoreStats


def _when(moment: float | None) -> str:
    return format_timestamp(moment) if moment is not None else "-"


def _iso(moment: float | None) -> str | None:
    return format_timestamp(moment) if moment is not None else None


def human_size(size: int) -> str:
    """Bytes as ``12.3 MB`` (powers of 1024, short units)."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def status_document(stats: StoreStats, sources: list[SourceStats]) -> dict[str, Any]:
    """What ``--json`` prints: the store and the sources, times as ISO 8601."""
    store = dataclasses.asdict(stats)
    store["oldest_event"] = _iso(stats.oldest_event_at)
    store["newest_event"] = _iso(stats.newest_event_at)
    rows = []
    for source in sources:
        row = dataclasses.asdict(source)
        row["last_event"] = _iso(source.last_event_at)
        rows.append(row)
    return {"store": store, "sources": rows}


def render(app: App, stats: StoreStats, sources: list[SourceStats]) -> None:
    """Print the store summary and the sources table."""
    from rich.table import Table
    from rich.text import Text

    summary = Table(box=None, show_header=False, pad_edge=False)
    summary.add_column(style="bold")
    summary.add_column()
    for label, value in (
        (_("backend"), stats.backend),
        (_("location"), stats.location),
        (_("size"), human_size(stats.size_bytes)),
        (_("events"), f"{stats.events:,}"),
        (_("alerts"), f"{stats.alerts:,}"),
        (_("incidents"), f"{stats.incidents:,}"),
        (_("oldest event"), _when(stats.oldest_event_at)),
        (_("newest event"), _when(stats.newest_event_at)),
        (_("schema version"), str(stats.schema_version)),
    ):
        summary.add_row(label, Text(value))
    app.console.print(summary)
    if not sources:
        app.console.print(_("No source counters yet (they are saved while 'siem run' works)."))
        return
    table = Table(box=None, header_style="bold", pad_edge=False, title=_("Sources"), title_justify="left")
    table.add_column(_("source"))
    for name in (_("received"), _("bytes"), _("dropped"), _("parse failures"), _("rejected")):
        table.add_column(name, justify="right")
    table.add_column(_("last event"))
    for source in sources:
        table.add_row(
            Text(source.source),
            f"{source.received:,}",
            human_size(source.bytes),
            Text(f"{source.dropped:,}", style="red" if source.dropped else ""),
            Text(f"{source.parse_failures:,}", style="yellow" if source.parse_failures else ""),
            Text(f"{source.rejected:,}", style="yellow" if source.rejected else ""),
            _when(source.last_event_at),
        )
    app.console.print(table)


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.pass_obj
def status_command(options: AppOptions, as_json: bool) -> None:
    """Show the store (size, events, alerts, time span) and each source's counters."""
    app = App.from_options(options)
    try:
        from siem.forward.status import read_state, render_forwarder

        stats = app.store.stats()
        sources = app.store.source_stats()
        forwarder = read_state(app.data_path)  # a ward forwarder's link and buffer
        if as_json:
            document = status_document(stats, sources)
            if forwarder is not None:
                document["forwarder"] = forwarder
            click.echo(json.dumps(document, ensure_ascii=False))
        else:
            render(app, stats, sources)
            if forwarder is not None:
                render_forwarder(app.console, forwarder)
    finally:
        app.close()

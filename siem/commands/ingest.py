"""``siem ingest PATH...``: read files (or globs) once through the same pipeline as ``siem run``.

Each line's event id comes from the file and its byte offset, so ingesting a file again
stores nothing new (the summary counts the duplicates). Progress goes to stderr, the summary
to stdout (``--json`` for a machine-readable one).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

import click

from collectors.sources.contract import SourceOptions
from collectors.sources.file import expand
from collectors.sources.pcap import is_capture_file
from siem.app import App, AppOptions
from siem.commands.run import mail_delivery, make_pipeline
from siem.errors import SourceError
from siem.i18n import _
from siem.pipeline import Pipeline, Totals
from siem.pipeline.sources import check_timezone

SOURCE_NAME = "ingest"
_REFRESH_SECONDS = 0.2


def ingest(app: App, paths: tuple[str, ...], *, fmt: str, timezone: str, progress: bool) -> Totals:
    """Run the files through the pipeline into the store; returns what was done."""
    check_timezone(timezone, where="--timezone")
    options = SourceOptions(
        name=SOURCE_NAME,
        kind="file",
        paths=paths,
        format=fmt,
        timezone=timezone,
        follow=False,
        resume=False,
    )
    files = expand(paths)
    if not files:
        raise SourceError(_("no file matches {paths}").format(paths=" ".join(paths)))
    app.create_parser(fmt)  # an unknown format fails here, before any work
    total_bytes = sum(path.stat().st_size for path in files)
    # Capture files go through the pcap source (packet metadata), the rest line by line.
    captures = tuple(str(path) for path in files if is_capture_file(path))
    logs = tuple(str(path) for path in files if not is_capture_file(path))
    sources = [app.create_source(replace(options, paths=logs))] if logs else []
    if captures:
        sources.append(app.create_source(replace(options, kind="pcap", paths=captures)))
    pipeline = make_pipeline(app, spool=False)
    with mail_delivery(app):
        pipeline.start()
        for source in sources:
            pipeline.add_source(source, spooled=False)
        try:
            if progress:
                _show_progress(app, pipeline, total_bytes)
            else:
                while pipeline.sources_running() and pipeline.failure is None:
                    time.sleep(_REFRESH_SECONDS)
        finally:
            pipeline.stop()
    return pipeline.totals


def _show_progress(app: App, pipeline: Pipeline, total_bytes: int) -> None:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn(_("ingest")),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        TextColumn(_("{records} records").format(records="{task.fields[records]:,}")),
    )
    counters = pipeline.counters.source(SOURCE_NAME)
    with Progress(*columns, console=app.err_console, transient=True) as bar:
        task = bar.add_task("ingest", total=total_bytes, records=0)
        while pipeline.sources_running() and pipeline.failure is None:
            bar.update(task, completed=counters.bytes, records=pipeline.totals.records)
            time.sleep(_REFRESH_SECONDS)
        bar.update(task, completed=total_bytes, records=pipeline.totals.records)


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", default="auto", show_default=True, help="Parser name, or auto to detect.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone of times without an offset.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def ingest_command(options: AppOptions, paths: tuple[str, ...], fmt: str, timezone: str, as_json: bool) -> None:
    """Run files through the same pipeline as 'run'."""
    app = App.from_options(options)
    try:
        totals = ingest(app, paths, fmt=fmt, timezone=timezone, progress=app.interactive)
    finally:
        app.close()
    summary = {
        "records": totals.records,
        "stored": totals.written,
        "duplicates": totals.duplicates,
        "parse_failures": totals.parse_failures,
        "alerts": totals.alerts,
    }
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(_("records: {records}  events stored: {stored}  duplicates: {duplicates}  "
                     "parse failures: {failures}").format(
            records=f"{totals.records:,}", stored=f"{totals.written:,}", duplicates=f"{totals.duplicates:,}",
            failures=f"{totals.parse_failures:,}"))

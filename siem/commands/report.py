"""``siem report``: a weekly or monthly report (HTML with charts, Markdown, JSON), by file or e-mail."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from siem.app import App, AppOptions
from siem.errors import ConfigError, ExitCode, QueryError
from siem.i18n import _
from siem.report.collect import ReportData
from siem.timerange import HELP as TIME_HELP
from siem.timerange import parse_moment


@click.command("report")
@click.option("--period", type=click.Choice(["week", "month"]), default="week", show_default=True,
              help="The last 7 or 30 days (local days of --timezone) up to --end.")
@click.option("--format", "output_format", type=click.Choice(["html", "markdown", "json"]), default="html",
              show_default=True, help="Report format.")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Write the report to FILE (default: the screen, or nothing with --email).")
@click.option("--email", "send_email", is_flag=True,
              help="Mail the report (HTML with a text part) to the city-wide e-mail routes.")
@click.option("--route", "routes", multiple=True, metavar="NAME",
              help="With --email: these routes instead of every route without sites (repeatable).")
@click.option("--end", default="now", show_default=True, metavar="WHEN",
              help=f"End of the period: {TIME_HELP}; a midnight means the days before it.")
@click.option("--timezone", metavar="ZONE",
              help="IANA time zone of the days and times shown (default: email.timezone, e.g. Asia/Ho_Chi_Minh).")
@click.option("--top", default=10, show_default=True, type=click.IntRange(1, 100),
              help="Rows in the top rules and top talkers.")
@click.option("--profile", metavar="NAME",
              help="Compliance scans of this profile (default: the profile of the newest scan).")
@click.option("--silent-hours", default=24.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="A device expected to log is silent after this many hours without an event.")
@click.pass_obj
def report_command(options: AppOptions, period: str, output_format: str, output: str | None, send_email: bool,
                   routes: tuple[str, ...], end: str, timezone: str | None, top: int, profile: str | None,
                   silent_hours: float) -> None:
    """Write a report of the period: events per day per ward, alerts by severity per ward,
    top rules and talkers, silent sources, compliance per ward with its trend, open
    incidents and time to resolve. Texts follow --lang (en, vi).

    \b
      siem report --period week --output week.html
      siem --lang vi report --period month --format markdown
      siem report --period week --end 2026-11-23T00:00+07:00 --email
    """
    from siem.enrich.inventory import Inventory
    from siem.report import html, jsondoc, markdown
    from siem.report.collect import ReportRequest, collect
    from siem.zones import find_zone

    now = time.time()
    try:
        end_at = parse_moment(end, now)
    except QueryError as exc:
        raise click.BadParameter(exc.message, param_hint="--end") from exc
    if routes and not send_email:
        raise click.BadParameter("--route needs --email", param_hint="--route")
    app = App.from_options(options)
    try:
        zone = timezone or app.config.email.timezone
        if find_zone(zone) is None:
            raise click.BadParameter(f"unknown time zone {zone!r} (use an IANA name such as Asia/Ho_Chi_Minh)",
                                     param_hint="--timezone")
        inventory = Inventory.load(app.config.inventory) if app.config.inventory else None
        request = ReportRequest(period=period, end=end_at, timezone=zone, language=app.config.language,
                                top=top, silent_hours=silent_hours, no_site=_("no site"), profile=profile)
        data = collect(app.store, request, inventory=inventory, data_path=app.data_path, now=now)
        renderers = {"html": html.render, "markdown": markdown.render, "json": jsondoc.render}
        text = renderers[output_format](data)
        if output is not None:
            try:
                Path(output).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise click.FileError(output, hint=exc.strerror) from exc
        elif not send_email:
            click.echo(text, nl=False)
        if send_email:
            _mail(app, data, routes, now)
    finally:
        app.close()


def _mail(app: App, data: ReportData, routes: tuple[str, ...], now: float) -> None:
    """Queue the report for the chosen routes and send the outbox now."""
    from siem.notify.dispatcher import OUTBOX_DIR, EmailDispatcher
    from siem.report import html, markdown, tables
    from siem.report.formatting import Formatter
    from siem.report.mail import queue_report, report_routes

    config = app.config.email
    try:
        chosen = report_routes(config, routes)
    except ConfigError as exc:
        raise ConfigError(exc.message, path=app.config.source_file) from exc
    subject = "[SIEM] " + tables.title(data, Formatter(data.language, data.timezone))
    outbox = app.data_path / OUTBOX_DIR
    queue_report(config, outbox, chosen, subject=subject, text=markdown.render(data), html=html.render(data),
                 key=f"{data.period}:{data.start:.0f}:{data.end:.0f}:{data.language}", now=now)
    report = EmailDispatcher(config, outbox, language=data.language).drain()
    app.err_console.print(_("sent: {sent}, refused: {failed}, waiting: {pending}").format(
        sent=report.sent, failed=report.failed, pending=report.pending))
    if report.error:
        app.err_console.print(f"[red]{report.error}[/red]")
        app.err_console.print(_("The report waits in the outbox; 'siem email send' or 'siem run' sends it later."))
        sys.exit(ExitCode.CONFIG if report.auth_failed else ExitCode.ERROR)
    if report.failed:
        sys.exit(ExitCode.ERROR)

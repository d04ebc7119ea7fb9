"""``siem email``: check the mail settings, see the outbox, and send what waits."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from siem.app import App, AppOptions
from siem.errors import ConfigError, ExitCode
from siem.i18n import _, set_language
from siem.notify.dispatcher import OUTBOX_DIR, DeliveryReport, EmailDispatcher, OutboxStatus, outbox_status


@click.group("email")
def email_group() -> None:
    """Check e-mail settings, show the outbox, send waiting mail."""


def _dispatcher(app: App) -> EmailDispatcher:
    set_language(app.config.language)
    if not app.config.email.enabled:
        raise ConfigError(_("e-mail is off: set email.enabled: true in the configuration"), path=app.config.source_file)
    if not app.config.email.routes:
        raise ConfigError(_("email.routes is empty: add a route with recipients"), path=app.config.source_file)
    return EmailDispatcher(app.config.email, app.data_path / OUTBOX_DIR, language=app.config.language)


def _print_report(app: App, report: DeliveryReport) -> None:
    app.console.print(_("sent: {sent}, refused: {failed}, waiting: {pending}").format(
        sent=report.sent, failed=report.failed, pending=report.pending))
    if report.busy:
        app.err_console.print(_("another siem process is sending the outbox; try again shortly"))
    if report.error:
        app.err_console.print(f"[red]{report.error}[/red]")


@email_group.command("test")
@click.option("--route", "route_name", help="Only this route (default: every route).")
@click.pass_obj
def test_command(options: AppOptions, route_name: str | None) -> None:
    """Send a test mail to each route's recipients now."""
    app = App.from_options(options)
    try:
        dispatcher = _dispatcher(app)
        names = [route.name for route in app.config.email.routes]
        if route_name is not None and route_name not in names:
            raise click.BadParameter(_("no route named {name} (routes: {names})").format(
                name=route_name, names=", ".join(names)), param_hint="--route")
        dispatcher.send_test(route_name)
        report = dispatcher.drain()
        _print_report(app, report)
        if report.error or report.failed:
            sys.exit(ExitCode.CONFIG if report.auth_failed else ExitCode.ERROR)
    finally:
        app.close()


@email_group.command("send")
@click.pass_obj
def send_command(options: AppOptions) -> None:
    """Turn waiting digests into mail and send everything in the outbox now."""
    app = App.from_options(options)
    try:
        dispatcher = _dispatcher(app)
        dispatcher.flush()
        report = dispatcher.drain()
        _print_report(app, report)
        if report.error:
            sys.exit(ExitCode.CONFIG if report.auth_failed else ExitCode.ERROR)
    finally:
        app.close()


@email_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def status_command(options: AppOptions, as_json: bool) -> None:
    """Show mail waiting in the outbox, refused mail and alerts waiting for a digest."""
    app = App.from_options(options)
    try:
        set_language(app.config.language)
        status = outbox_status(app.data_path / OUTBOX_DIR)
        if as_json:
            click.echo(json.dumps(status.as_dict(), ensure_ascii=False))
            return
        _print_status(app, status, app.data_path / OUTBOX_DIR)
    finally:
        app.close()


def _print_status(app: App, status: OutboxStatus, root: Path) -> None:
    from rich.table import Table

    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row(_("outbox"), str(root))
    table.add_row(_("waiting to send"), str(status.pending))
    table.add_row(_("sent (kept)"), str(status.sent))
    table.add_row(_("refused"), str(status.failed))
    for route, count in sorted(status.digest.items()):
        table.add_row(_("digest {route}").format(route=route), str(count))
    for route, count in sorted(status.storm.items()):
        table.add_row(_("held back {route}").format(route=route), str(count))
    app.console.print(table)

"""``siem alerts``: list and show folded alerts; create, remove and list suppressions."""

from __future__ import annotations

import json
import time

import click

from siem.alert import LEVELS
from siem.alerts.suppression import Suppression, check_criteria
from siem.app import App, AppOptions
from siem.errors import QueryError
from siem.event import make_event_id
from siem.i18n import _
from siem.store.base import AlertQuery, AuditEntry
from siem.timerange import HELP as TIME_HELP
from siem.timerange import parse_duration, parse_moment
from siem.ui import render


def moment_option(param: str, text: str | None, now: float) -> float | None:
    """A ``--since``-style value in epoch seconds, or a usage error naming the option."""
    if text is None:
        return None
    try:
        return parse_moment(text, now)
    except QueryError as exc:
        raise click.BadParameter(exc.message, param_hint=param) from exc


def expiry(text: str, now: float) -> float | None:
    """``never``, a duration from now (``7d``), or an ISO time, as epoch seconds."""
    cleaned = text.strip().lower()
    if cleaned == "never":
        return None
    try:
        if cleaned[:1].isdigit() and cleaned[-1:] in "smhdw" and "-" not in cleaned:
            return now + parse_duration(cleaned)
        moment = parse_moment(text, now)
    except QueryError as exc:
        raise click.BadParameter(exc.message, param_hint="--expires") from exc
    if moment <= now:
        raise click.BadParameter(_("the expiry is in the past"), param_hint="--expires")
    return moment


def _dump(document: object) -> None:
    click.echo(json.dumps(document, ensure_ascii=False, default=str))


@click.group("alerts")
def alerts_group() -> None:
    """Folded alerts and suppressions of known false positives."""


@alerts_group.command("list")
@click.option("--since", metavar="WHEN", help=f"Alerts last seen at or after WHEN: {TIME_HELP}.")
@click.option("--severity", type=click.Choice(LEVELS), help="This severity or higher.")
@click.option("--site", help="Only this site.")
@click.option("--zone", help="Only this zone.")
@click.option("--rule", help="Rule id or title (* wildcards).")
@click.option("--suppressed", "show_suppressed", is_flag=True, help="Show only suppressed alerts.")
@click.option("--all", "show_all", is_flag=True, help="Show suppressed alerts too.")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON alert per line on stdout.")
@click.pass_obj
def list_alerts(options: AppOptions, since: str | None, severity: str | None, site: str | None,
                zone: str | None, rule: str | None, show_suppressed: bool, show_all: bool, limit: int,
                as_json: bool) -> None:
    """List alerts, newest first (each line is a group of folded matches)."""
    now = time.time()
    suppressed: bool | None = True if show_suppressed else (False if show_all else None)
    query = AlertQuery(since=moment_option("--since", since, now), level=severity, site=site, zone=zone,
                       rule=rule, suppressed=suppressed, limit=limit)
    app = App.from_options(options)
    try:
        found = app.store.find_alerts(query)
        marks = app.store.alert_suppressions([alert.id for alert in found])
        if as_json:
            for alert in found:
                _dump(render.alert_document(alert, marks.get(alert.id)))
        elif found:
            app.console.print(render.alerts_table(found, marks))
        if not found:
            app.err_console.print(_("No alerts match."))
    finally:
        app.close()


@alerts_group.command("show")
@click.argument("alert_id")
@click.option("--json", "as_json", is_flag=True, help="The alert as JSON on stdout.")
@click.pass_obj
def show_alert(options: AppOptions, alert_id: str, as_json: bool) -> None:
    """Show one alert (ALERT_ID or its first characters)."""
    app = App.from_options(options)
    try:
        alert = app.store.get_alert(alert_id)
        if alert is None:
            raise QueryError(_("no alert {id} (see 'siem alerts list')").format(id=alert_id))
        mark = app.store.alert_suppressions([alert.id]).get(alert.id)
        incident = app.store.incident_for_alert(alert.id)
        if as_json:
            document = render.alert_document(alert, mark)
            document["incident"] = incident.id if incident else None
            _dump(document)
        else:
            app.console.print(render.alert_detail(alert, mark, incident.id if incident else None))
    finally:
        app.close()


@alerts_group.command("suppress")
@click.option("--rule", help="Rule id or title glob, e.g. 'SSH brute force*'.")
@click.option("--site", help="Only alerts of this site.")
@click.option("--address", help="An IP address or CIDR network (source, destination or host).")
@click.option("--between", metavar="HH:MM-HH:MM", help="Only in this daily window (UTC, event time).")
@click.option("--expires", default="30d", show_default=True,
              help="When it ends: a duration from now (7d), an ISO time, or 'never'.")
@click.option("--reason", required=True, help="Why these alerts are false positives.")
@click.option("--json", "as_json", is_flag=True, help="The new suppression as JSON on stdout.")
@click.pass_obj
def suppress(options: AppOptions, rule: str | None, site: str | None, address: str | None,
             between: str | None, expires: str, reason: str, as_json: bool) -> None:
    """Silence alerts that are known false positives (audited). Example:

    \b
      siem alerts suppress --rule "Failed Login*" --address 10.1.0.5 --reason "NVR retrying" --expires 7d
    """
    check_criteria(rule, site, address, between)
    if not reason.strip():
        raise click.BadParameter(_("give a reason"), param_hint="--reason")
    now = time.time()
    app = App.from_options(options)
    try:
        actor = app.officer
        item = Suppression(
            id="SUP-" + make_event_id("suppression", actor, repr(now), reason)[:8].upper(),
            reason=reason.strip(), created_by=actor, created_at=now, rule=rule, site=site, address=address,
            between=between.strip() if between else None, expires_at=expiry(expires, now),
        )
        app.store.add_suppression(item, AuditEntry(actor, "suppression.created", f"suppression:{item.id}",
                                                   None, item.to_dict()))
        if as_json:
            _dump(item.to_dict())
        else:
            click.echo(item.id)
            app.err_console.print(_("Suppression {id} created.").format(id=item.id))
    finally:
        app.close()


@alerts_group.command("unsuppress")
@click.argument("suppression_id")
@click.pass_obj
def unsuppress(options: AppOptions, suppression_id: str) -> None:
    """Remove a suppression (it stays listed as removed, and the removal is audited)."""
    app = App.from_options(options)
    try:
        app.store.remove_suppression(suppression_id.strip().upper(), at=time.time(), actor=app.officer)
        click.echo(suppression_id.strip().upper())
        app.err_console.print(_("Suppression {id} removed.").format(id=suppression_id.strip().upper()))
    finally:
        app.close()


@alerts_group.command("suppressions")
@click.option("--all", "show_all", is_flag=True, help="Include removed and expired ones.")
@click.option("--json", "as_json", is_flag=True, help="One JSON suppression per line on stdout.")
@click.pass_obj
def list_suppressions(options: AppOptions, show_all: bool, as_json: bool) -> None:
    """List suppressions (active ones unless --all)."""
    now = time.time()
    app = App.from_options(options)
    try:
        items = app.store.suppressions(active_at=None if show_all else now)
        if as_json:
            for item in items:
                _dump(item.to_dict())
        elif items:
            app.console.print(render.suppressions_table(items, now))
        if not items:
            app.err_console.print(_("No suppressions."))
    finally:
        app.close()

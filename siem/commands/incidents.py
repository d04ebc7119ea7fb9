"""``siem incidents``: list, show, change (ack, assign, note, escalate, resolve, reopen, link)
and export incidents. Every change is audited under the officer's name (config ``officer`` or
the OS user). ``--expect-version`` makes a change fail if someone else changed the incident
since you looked (the version is shown by ``show`` and in ``--json``)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import click

from siem.alert import LEVELS
from siem.app import App, AppOptions
from siem.commands.alerts import moment_option
from siem.errors import QueryError
from siem.i18n import _
from siem.incidents import export
from siem.incidents.model import OPEN_STATUSES, STATUSES, Incident
from siem.incidents.service import IncidentService
from siem.incidents.sla import sla_state
from siem.store.base import IncidentQuery
from siem.timerange import HELP as TIME_HELP
from siem.ui import render


def _dump(document: object) -> None:
    click.echo(json.dumps(document, ensure_ascii=False, default=str))


@click.group("incidents")
def incidents_group() -> None:
    """Incidents: related alerts gathered into one case."""


@incidents_group.command("list")
@click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES),
              help="Only these statuses (repeat; default: the open ones).")
@click.option("--all", "show_all", is_flag=True, help="Any status, closed ones too.")
@click.option("--severity", type=click.Choice(LEVELS), help="This severity or higher.")
@click.option("--site", help="Only this site.")
@click.option("--zone", help="Only this zone.")
@click.option("--assignee", help="Only incidents assigned to this officer.")
@click.option("--since", metavar="WHEN", help=f"Changed at or after WHEN: {TIME_HELP}.")
@click.option("--overdue", is_flag=True, help="Only incidents past their SLA.")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON incident per line on stdout.")
@click.pass_obj
def list_incidents(options: AppOptions, statuses: tuple[str, ...], show_all: bool, severity: str | None,
                   site: str | None, zone: str | None, assignee: str | None, since: str | None,
                   overdue: bool, limit: int, as_json: bool) -> None:
    """List incidents: highest severity first, then oldest first."""
    now = time.time()
    chosen = () if show_all else (statuses or OPEN_STATUSES)
    query = IncidentQuery(statuses=chosen, severity=severity, site=site, zone=zone, assignee=assignee,
                          since=moment_option("--since", since, now), limit=limit)
    app = App.from_options(options)
    try:
        sla = app.config.incidents.sla
        found = app.store.find_incidents(query)
        if overdue:
            found = [incident for incident in found if sla_state(incident, sla, now).overdue]
        if as_json:
            for incident in found:
                _dump(render.incident_document(incident, sla_state(incident, sla, now)))
        elif found:
            app.console.print(render.incidents_table(found, sla, now))
        if not found:
            app.err_console.print(_("No incidents match."))
    finally:
        app.close()


@incidents_group.command("show")
@click.argument("incident_id")
@click.option("--json", "as_json", is_flag=True, help="The whole case as JSON on stdout.")
@click.pass_obj
def show_incident(options: AppOptions, incident_id: str, as_json: bool) -> None:
    """Show an incident: facts, SLA, alerts, notes and timeline."""
    now = time.time()
    app = App.from_options(options)
    try:
        incident = IncidentService(app.store, app.officer).get(incident_id)
        sla = app.config.incidents.sla
        if as_json:
            _dump(export.case_document(app.store, incident, sla, now))
            return
        state = sla_state(incident, sla, now)
        app.console.print(render.panel(incident.id, render.incident_facts(incident, state, now)))
        alerts = [a for ident in app.store.incident_links(incident.id, "alert")
                  if (a := app.store.get_alert(ident)) is not None]
        if alerts:
            app.console.print(render.alerts_table(alerts, {}))
        evidence = app.store.incident_links(incident.id, "event")
        if evidence:
            app.console.print(_("evidence events") + ": " + ", ".join(evidence))
        app.console.print(render.timeline_table(app.store.audit_log(f"incident:{incident.id}", limit=1000)))
    finally:
        app.close()


def _change(options: AppOptions, as_json: bool, action: Callable[[IncidentService], Incident]) -> None:
    """Run one change as the officer and print the result (id and status, or JSON)."""
    app = App.from_options(options)
    try:
        incident = action(IncidentService(app.store, app.officer))
        if as_json:
            _dump(render.incident_document(incident, sla_state(incident, app.config.incidents.sla, time.time())))
        else:
            click.echo(f"{incident.id} {incident.status} {incident.severity} {incident.assignee or '-'}")
    finally:
        app.close()


_json = click.option("--json", "as_json", is_flag=True, help="The changed incident as JSON on stdout.")
_version = click.option("--expect-version", "version", type=int, metavar="N",
                        help="Fail if the incident is no longer at version N (someone else changed it).")


@incidents_group.command("open")
@click.argument("title")
@click.option("--severity", type=click.Choice(LEVELS), default="medium", show_default=True)
@click.option("--site", help="Site of the incident.")
@click.option("--alert", "alert_ids", multiple=True, metavar="ALERT_ID", help="Gather this alert (repeat).")
@_json
@click.pass_obj
def open_incident(options: AppOptions, title: str, severity: str, site: str | None,
                  alert_ids: tuple[str, ...], as_json: bool) -> None:
    """Open an incident by hand."""
    _change(options, as_json, lambda s: s.open_manual(title, severity, site=site, alert_ids=alert_ids))


@incidents_group.command("ack")
@click.argument("incident_id")
@_version
@_json
@click.pass_obj
def ack(options: AppOptions, incident_id: str, version: int | None, as_json: bool) -> None:
    """Acknowledge a new incident."""
    _change(options, as_json, lambda s: s.acknowledge(incident_id, version=version))


@incidents_group.command("investigate")
@click.argument("incident_id")
@_version
@_json
@click.pass_obj
def investigate(options: AppOptions, incident_id: str, version: int | None, as_json: bool) -> None:
    """Mark an incident as under investigation."""
    _change(options, as_json, lambda s: s.investigate(incident_id, version=version))


@incidents_group.command("assign")
@click.argument("incident_id")
@click.argument("assignee")
@_version
@_json
@click.pass_obj
def assign(options: AppOptions, incident_id: str, assignee: str, version: int | None, as_json: bool) -> None:
    """Assign an incident to an officer ('' to clear)."""
    _change(options, as_json, lambda s: s.assign(incident_id, assignee, version=version))


@incidents_group.command("note")
@click.argument("incident_id")
@click.argument("text")
@_version
@_json
@click.pass_obj
def note(options: AppOptions, incident_id: str, text: str, version: int | None, as_json: bool) -> None:
    """Add a note to an incident."""
    _change(options, as_json, lambda s: s.note(incident_id, text, version=version))


@incidents_group.command("escalate")
@click.argument("incident_id")
@click.option("--level", type=click.Choice(LEVELS), help="New severity (default: one level up).")
@click.option("--reason", required=True, help="Why (kept as a note).")
@_version
@_json
@click.pass_obj
def escalate(options: AppOptions, incident_id: str, level: str | None, reason: str, version: int | None,
             as_json: bool) -> None:
    """Raise an incident's severity, with a note saying why."""
    _change(options, as_json, lambda s: s.escalate(incident_id, level=level, reason=reason, version=version))


@incidents_group.command("resolve")
@click.argument("incident_id")
@click.option("--false-positive", is_flag=True, help="Close it as a false positive.")
@click.option("--reason", help="What was done (kept as a note).")
@_version
@_json
@click.pass_obj
def resolve(options: AppOptions, incident_id: str, false_positive: bool, reason: str | None,
            version: int | None, as_json: bool) -> None:
    """Resolve an incident (or close it as a false positive)."""
    _change(options, as_json, lambda s: s.resolve(incident_id, false_positive=false_positive, reason=reason,
                                                  version=version))


@incidents_group.command("reopen")
@click.argument("incident_id")
@click.option("--reason", help="Why (kept as a note).")
@_version
@_json
@click.pass_obj
def reopen(options: AppOptions, incident_id: str, reason: str | None, version: int | None, as_json: bool) -> None:
    """Reopen a resolved or false-positive incident."""
    _change(options, as_json, lambda s: s.reopen(incident_id, reason=reason, version=version))


@incidents_group.command("link")
@click.argument("incident_id")
@click.option("--event", "event_ids", multiple=True, metavar="EVENT_ID", help="A stored event (repeat).")
@click.option("--alert", "alert_ids", multiple=True, metavar="ALERT_ID", help="An alert (repeat).")
@_version
@_json
@click.pass_obj
def link(options: AppOptions, incident_id: str, event_ids: tuple[str, ...], alert_ids: tuple[str, ...],
         version: int | None, as_json: bool) -> None:
    """Link evidence events (ids from 'siem search --json') or alerts to an incident."""
    _change(options, as_json, lambda s: s.link(incident_id, event_ids=event_ids, alert_ids=alert_ids,
                                               version=version))


@incidents_group.command("export")
@click.argument("incident_id")
@click.option("--format", "form", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of stdout.")
@click.pass_obj
def export_incident(options: AppOptions, incident_id: str, form: str, output: Path | None) -> None:
    """Export the case file: facts, timeline, alerts, evidence events, notes, audit trail."""
    app = App.from_options(options)
    try:
        incident = IncidentService(app.store, app.officer).get(incident_id)
        document = export.case_document(app.store, incident, app.config.incidents.sla, time.time())
        text = export.to_json(document) if form == "json" else export.to_markdown(document)
        if output is None:
            click.echo(text, nl=False)
            return
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise QueryError(_("cannot write {path}: {reason}").format(path=output, reason=exc.strerror)) from exc
        app.err_console.print(_("Wrote {path}.").format(path=output))
    finally:
        app.close()

"""``siem schedule``: show the scheduled jobs (next and last runs) and write systemd timers."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from siem.app import App, AppOptions
from siem.i18n import gettext as _


@click.group("schedule")
def schedule_group() -> None:
    """Scheduled jobs from the 'schedule:' section of siem.yaml, which 'siem run' starts.

    \b
      siem schedule list
      siem schedule systemd --output deploy/units
    """


@schedule_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per job instead of a table.")
@click.pass_obj
def list_command(options: AppOptions, as_json: bool) -> None:
    """Each job's cron expression, next run, last run and its result."""
    from siem.schedule import cron
    from siem.schedule.state import load_state

    app = App.from_options(options)
    jobs = app.config.schedule
    if not jobs:
        click.echo(_("No scheduled jobs: add a 'schedule:' section to siem.yaml."), err=True)
        return
    state = load_state(app.data_path)
    now = time.time()
    rows: list[dict[str, Any]] = []
    for job in jobs:
        saved = state.get(job.name)
        rows.append({
            "name": job.name, "cron": job.cron, "timezone": job.timezone, "command": job.command,
            "missed": job.missed, "next_run": cron.next_run(job.cron, job.zone, now),
            "last_run": saved.started if saved else None, "result": saved.result if saved else None,
            "exit_code": saved.exit_code if saved else None,
            "overlaps_skipped": saved.overlaps if saved else 0, "missed_runs": saved.missed if saved else 0,
        })
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    click.echo(_table(rows, {job.name: job.zone for job in jobs}), nl=False)


def _table(rows: list[dict[str, Any]], zones: dict[str, Any]) -> str:
    import io

    from rich.console import Console
    from rich.table import Table

    table = Table(title=_("Scheduled jobs"))
    for column in (_("Job"), _("Cron"), _("Command"), _("Next run"), _("Last run"), _("Result"), _("Skipped")):
        table.add_column(column)
    for row in rows:
        zone = zones[row["name"]]
        result = row["result"] or _("never run")
        if row["exit_code"] is not None:
            result += f" (exit {row['exit_code']})"
        table.add_row(row["name"], f"{row['cron']}\n{row['timezone']}, {row['missed']}", f"siem {row['command']}",
                      _moment(row["next_run"], zone), _moment(row["last_run"], zone) if row["last_run"] else "-",
                      result, f"{row['overlaps_skipped']} / {row['missed_runs']}")
    buffer = io.StringIO()
    Console(file=buffer, width=140, no_color=True, highlight=False).print(table)
    return buffer.getvalue() + _("Skipped: runs still going when due again / runs missed while down.") + "\n"


def _moment(moment: float, zone: Any) -> str:
    return datetime.fromtimestamp(moment, zone).strftime("%Y-%m-%d %H:%M:%S %Z")


@schedule_group.command("systemd")
@click.option("--output", required=True, type=click.Path(file_okay=False), metavar="DIR",
              help="Folder for the siem-<job>.service and .timer files (created if missing).")
@click.option("--exec", "executable", metavar="PATH",
              help="The siem program in ExecStart= (default: the siem script beside this Python).")
@click.option("--user", metavar="NAME", help="User= of the services (default: none, i.e. root).")
@click.pass_obj
def systemd_command(options: AppOptions, output: str, executable: str | None, user: str | None) -> None:
    """Write systemd units (a oneshot service and a timer per job) so timers can run the jobs
    instead of 'siem run'. A job whose cron expression has no OnCalendar form is named, with
    the reason, and left out; the exit status is then 1.
    """
    from siem.schedule.systemd import NotConvertible, default_executable, units

    app = App.from_options(options)
    if not app.config.schedule:
        raise click.ClickException(_("No scheduled jobs: add a 'schedule:' section to siem.yaml."))
    folder = Path(output)
    command = [executable] if executable else default_executable()
    left_out = 0
    for job in app.config.schedule:
        try:
            made = units(job, executable=command, config_file=app.config.source_file, data_dir=app.data_path,
                         user=user)
        except NotConvertible as exc:
            left_out += 1
            click.echo(_("not converted: {job}: {reason}").format(job=job.name, reason=exc), err=True)
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / made.service_name).write_text(made.service, encoding="utf-8")
            (folder / made.timer_name).write_text(made.timer, encoding="utf-8")
        except OSError as exc:
            raise click.FileError(str(folder), hint=exc.strerror) from exc
        calendar = next(line for line in made.timer.splitlines() if line.startswith("OnCalendar="))
        click.echo(f"{folder / made.timer_name}: {calendar}")
    if left_out:
        sys.exit(1)

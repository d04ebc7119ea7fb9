"""``siem triage``: the full-screen triage of open incidents (see siem/ui/triage.py)."""

from __future__ import annotations

import click

from siem.app import App, AppOptions


@click.command("triage")
@click.option("--refresh", type=click.FloatRange(min=0.5), default=2.0, show_default=True,
              help="Seconds between refreshes of the queue.")
@click.pass_obj
def triage_command(options: AppOptions, refresh: float) -> None:
    """Work the queue of open incidents: a acknowledge, s assign, n note, e escalate,
    r resolve, f false positive, / search related events, q quit."""
    app = App.from_options(options)
    # Imported after the language is set: the key labels are translated when the class is made.
    from siem.ui.triage import TriageApp

    try:
        TriageApp(app.store, app.officer, app.config.incidents.sla, refresh_seconds=refresh).run()
    finally:
        app.close()

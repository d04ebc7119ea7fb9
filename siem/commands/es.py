"""``siem es setup`` and ``siem es status``: the Elasticsearch side of the store.

Both use ``store.elasticsearch`` from siem.yaml, whichever backend is chosen, so a cluster
can be prepared before switching ``store.backend`` to ``elasticsearch``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import click

from siem.app import App, AppOptions
from siem.errors import StoreError
from siem.i18n import _


@click.group("es")
def es_group() -> None:
    """Prepare and inspect the Elasticsearch cluster of the store."""


@es_group.command("setup")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per item on stdout.")
@click.pass_obj
def setup_command(options: AppOptions, as_json: bool) -> None:
    """Install the ECS index templates and the lifecycle policy (safe to run again)."""
    from siem.store.elasticsearch.setup import FAILED, install, open_cluster

    app = App.from_options(options)
    cluster = open_cluster(app.config.store.elasticsearch)
    try:
        items = install(cluster, retention_days=app.config.store.retention.max_age_days)
    finally:
        cluster.close()
    for item in items:
        if as_json:
            click.echo(json.dumps(dataclasses.asdict(item), ensure_ascii=False))
        else:
            detail = f" ({item.detail})" if item.detail else ""
            click.echo(f"{item.kind} {item.name}: {item.outcome}{detail}")
    failed = [item for item in items if item.outcome == FAILED]
    if failed:
        raise StoreError(_("{failed} of {total} setup items failed; see above").format(
            failed=len(failed), total=len(items)))


def _render(status: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    summary = Table(box=None, show_header=False, pad_edge=False)
    summary.add_column(style="bold")
    summary.add_column()
    labels = {"hosts": _("hosts"), "cluster": _("cluster"), "version": _("version"),
              "distribution": _("distribution"), "health": _("health"), "dead_letters": _("dead letters")}
    for key, label in labels.items():
        summary.add_row(label, Text(str(status[key])))
    for name, state in status["templates"].items():
        summary.add_row(name, Text(state, style="green" if state == "present" else "yellow"))
    console.print(summary)
    if not status["indices"]:
        console.print(_("No store indices yet (they are created by the first write)."))
        return
    table = Table(box=None, header_style="bold", pad_edge=False, title=_("Indices"),
                  title_justify="left")
    for name, justify in ((_("index"), "left"), (_("docs"), "right"), (_("size"), "right"),
                          (_("health"), "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in status["indices"]:
        table.add_row(Text(row["index"]), f"{row['docs']:,}", row["size"], row["health"])
    console.print(table)


@es_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.pass_obj
def status_command(options: AppOptions, as_json: bool) -> None:
    """Show the cluster, its version, the store's indices and the templates."""
    from siem.store.elasticsearch.setup import open_cluster, status

    app = App.from_options(options)
    cluster = open_cluster(app.config.store.elasticsearch)
    try:
        found = status(cluster)
    finally:
        cluster.close()
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False))
    else:
        _render(found)

